"""Fuzz target: the C core's public functions (``fusionkit.core``) with fuzzer-chosen arrays and arguments.

Run: ``python fuzz/fuzz_core.py [libFuzzer flags] fuzz/corpus/core``. The first byte picks the function, the rest
feeds a FuzzedDataProvider that builds its arguments: images and masks of chosen shapes (empty, thin, up to 48 px a
side, some 1 x 700), channel counts (1-5, 2-D), dtypes, layouts (Fortran order, flipped rows or columns, strided
rows and columns, ROI views, stride-0 broadcasts, read-only, lists), values, polygons and meshes (in range, huge,
NaN/inf, misshapen), triangles (out of range, wrong dtype), radii, sigmas, origins and flags; outputs that are the
input, overlap it, or are absent.

Documented outcome: a result, or ParameterValueError. Anything else is a finding: CoreError (the C core refused
what Python validated), any other exception, a sanitizer report (run it against the ASan/UBSan build, see README),
and a result that changes when the output is the input (``out=image``) or overlaps it, compared with the same call
on copies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import _harness
import atheris

with atheris.instrument_imports(include=["fusionkit"]):  # fusionkit only: NumPy, OpenCV stay fast
    import numpy as np

    from fusionkit import core
    from fusionkit.errors import ParameterValueError

TARGET = "core"
MAX_SIDE = 48

Provider = Any  # atheris.FuzzedDataProvider (atheris ships no type stubs)


def _dims(fdp: Provider) -> tuple[int, int]:
    kind = fdp.ConsumeIntInRange(0, 15)
    if kind == 0:
        return fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2)
    if kind == 1:
        n = fdp.ConsumeIntInRange(1, 700)
        return (1, n) if fdp.ConsumeBool() else (n, 1)
    return fdp.ConsumeIntInRange(1, MAX_SIDE), fdp.ConsumeIntInRange(1, MAX_SIDE)


def _values(fdp: Provider, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    mode = fdp.ConsumeIntInRange(0, 4)
    if mode == 0:
        flat = np.zeros(n, np.uint8)
    elif mode == 1:
        flat = np.full(n, 255, np.uint8)
    elif mode == 2:
        raw = fdp.ConsumeBytes(min(n, 4096))
        flat = np.resize(np.frombuffer(raw or b"\x80", np.uint8), n)
    elif mode == 3:  # a mask-like step: 0 or 255 by a seeded pattern
        flat = np.where(np.random.default_rng(fdp.ConsumeIntInRange(0, 1 << 16)).random(n) < 0.5, 0, 255)
    else:
        flat = np.random.default_rng(fdp.ConsumeIntInRange(0, 1 << 16)).integers(0, 256, n)
    return flat.astype(np.uint8).reshape(shape)


def _layout(fdp: Provider, arr: np.ndarray) -> Any:
    """The same pixels in one of many layouts (most of them valid inputs, some refused as outputs)."""
    kind = fdp.ConsumeIntInRange(0, 24)
    if kind <= 10:
        return arr
    h, w = arr.shape[:2]
    if kind == 11:
        return np.asfortranarray(arr)
    if kind == 12:
        return arr[::-1].copy()[::-1]
    if kind == 13:
        return arr[:, ::-1].copy()[:, ::-1]
    if kind == 14:
        base = np.zeros((2 * h, *arr.shape[1:]), np.uint8)
        base[::2] = arr
        return base[::2]
    if kind == 15:
        base = np.zeros((h + 3, w + 5, *arr.shape[2:]), np.uint8)
        base[1:1 + h, 2:2 + w] = arr
        return base[1:1 + h, 2:2 + w]
    if kind == 16:
        base = np.zeros((h, 2 * w, *arr.shape[2:]), np.uint8)
        base[:, ::2] = arr
        return base[:, ::2]
    if kind == 17:
        ro = arr.copy()
        ro.setflags(write=False)
        return ro
    if kind == 18 and h >= 1:
        return np.broadcast_to(arr[:1], arr.shape)
    if kind == 19 and arr.ndim == 3:
        return arr[..., ::-1].copy()[..., ::-1]
    if kind == 20:
        dtype = fdp.PickValueInList([np.uint16, np.float32, np.int8, np.bool_, np.float64])
        return arr.astype(dtype)
    if kind == 21 and arr.size <= 64:
        return arr.tolist()
    if kind == 22:
        return arr.reshape(-1) if fdp.ConsumeBool() else arr[..., None, None]
    if kind == 23 and arr.ndim == 3:
        return np.ascontiguousarray(np.swapaxes(np.swapaxes(arr, 0, 1).copy(), 0, 1))
    if kind == 24:
        return fdp.PickValueInList([None, 0, "image", b"\x00" * 4])
    return arr


def _shape(fdp: Provider, hw: tuple[int, int] | None, channels: list[int | None]) -> tuple[int, ...]:
    if hw is None or fdp.ConsumeIntInRange(0, 19) == 0:  # now and then a mismatched size
        hw = _dims(fdp)
    c = fdp.PickValueInList(channels)
    return hw if c is None else (*hw, c)


def _image(fdp: Provider, hw: tuple[int, int] | None = None,
           channels: list[int | None] | None = None) -> Any:
    if channels is None:
        channels = [None, 1, 3, 4, 2, 5]
    shape = _shape(fdp, hw, channels)
    return _layout(fdp, _values(fdp, shape))


def _hw(arr: Any) -> tuple[int, int] | None:
    return tuple(arr.shape[:2]) if isinstance(arr, np.ndarray) and arr.ndim >= 2 else None  # type: ignore[return-value]


def _channels(arr: Any) -> list[int | None]:
    if isinstance(arr, np.ndarray) and arr.ndim == 3:
        return [arr.shape[2]] * 7 + [None, 1, 3, 4]
    return [None] * 7 + [1, 3, 4]


def _number(fdp: Provider, lo: float, hi: float) -> Any:
    kind = fdp.ConsumeIntInRange(0, 12)
    if kind <= 6:
        return fdp.ConsumeFloatInRange(lo, hi)
    if kind == 7:
        return fdp.PickValueInList([lo, hi, 0.0, 1.0, np.nextafter(hi, np.inf), np.nextafter(lo, -np.inf)])
    if kind == 8:
        return fdp.PickValueInList([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324])
    if kind == 9:
        return fdp.ConsumeFloat()
    if kind == 10:
        return fdp.ConsumeIntInRange(-(1 << 40), 1 << 40)
    if kind == 11:
        return fdp.PickValueInList([None, "1", True, np.float32(hi), np.float16(lo), [1.0], 10**400])
    return fdp.ConsumeIntInRange(int(lo), int(min(hi, 1 << 20)))


def _whole(fdp: Provider, lo: int, hi: int) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind <= 5:
        return fdp.ConsumeIntInRange(lo, hi)
    if kind == 6:
        return fdp.PickValueInList([lo - 1, hi + 1, 65536, 65537, 1 << 31, -(1 << 31), 1 << 64])
    if kind == 7:
        return np.int64(fdp.ConsumeIntInRange(-(1 << 62), 1 << 62))
    if kind == 8:
        return fdp.PickValueInList([True, False, 2.0, None, "3", np.uint8(255), np.int8(-1)])
    return fdp.ConsumeIntInRange(-(1 << 40), 1 << 40)


def _points(fdp: Provider, hw: tuple[int, int] | None, n: int | None = None) -> Any:
    h, w = hw or (MAX_SIDE, MAX_SIDE)
    if n is None:
        n = fdp.ConsumeIntInRange(0, 40)
    kind = fdp.ConsumeIntInRange(0, 12)
    if kind <= 6:
        pts = np.array([[fdp.ConsumeFloatInRange(-w, 2 * w), fdp.ConsumeFloatInRange(-h, 2 * h)]
                        for _ in range(n)], np.float64).reshape(n, 2)
    elif kind == 7:
        pts = np.array([[fdp.ConsumeFloat(), fdp.ConsumeFloat()] for _ in range(n)], np.float64).reshape(n, 2)
    elif kind == 8:  # huge but finite coordinates
        scale = 10.0 ** fdp.ConsumeIntInRange(6, 300)
        pts = np.array([[fdp.ConsumeFloatInRange(-1, 1) * scale, fdp.ConsumeFloatInRange(-1, 1) * scale]
                        for _ in range(n)], np.float64).reshape(n, 2)
    elif kind == 9:
        pts = np.array([[fdp.ConsumeIntInRange(-2, w + 2), fdp.ConsumeIntInRange(-2, h + 2)]
                        for _ in range(n)], np.int32).reshape(n, 2)
    elif kind == 10:
        return fdp.PickValueInList([np.zeros((n, 3)), np.zeros(n), [[0, 0], [1]], "points", None,
                                    np.zeros((n, 2), "c8")])
    elif kind == 11:
        pts = np.array([[fdp.ConsumeFloatInRange(-w, 2 * w), fdp.ConsumeFloatInRange(-h, 2 * h)]
                        for _ in range(n)], np.float32).reshape(n, 2)
    else:
        pts = np.array([[fdp.ConsumeFloatInRange(-w, 2 * w), fdp.ConsumeFloatInRange(-h, 2 * h)]
                        for _ in range(n)], np.float64).reshape(n, 2).T.copy().T  # Fortran order
    return pts


def _triangles(fdp: Provider, n_points: int) -> Any:
    m = fdp.ConsumeIntInRange(0, 30)
    hi = max(n_points - 1, 0)
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind <= 5:
        return np.array([[fdp.ConsumeIntInRange(0, hi) for _ in range(3)] for _ in range(m)], np.int64).reshape(m, 3)
    if kind == 6:
        return np.array([[fdp.ConsumeIntInRange(-2, hi + 2) for _ in range(3)] for _ in range(m)]).reshape(m, 3)
    if kind == 7:
        dtype = fdp.PickValueInList([np.uint8, np.int16, np.uint64, np.float64, np.bool_])
        tri = np.array([[fdp.ConsumeIntInRange(0, hi) for _ in range(3)] for _ in range(m)])
        return tri.astype(dtype).reshape(m, 3)
    if kind == 8:
        return fdp.PickValueInList([np.zeros((m, 2), int), np.zeros(m, int), [[0, 1, 2], [0, 1]], None, "tri"])
    return [[fdp.ConsumeIntInRange(0, hi) for _ in range(3)] for _ in range(m)]


def _origin(fdp: Provider, src: Any, dst: Any) -> Any:
    kind = fdp.ConsumeIntInRange(0, 7)
    sh, dh = _hw(src), _hw(dst)
    if kind <= 4 and sh and dh:
        return (fdp.ConsumeIntInRange(0, max(dh[1] - sh[1], 0)), fdp.ConsumeIntInRange(0, max(dh[0] - sh[0], 0)))
    if kind == 5:
        return (fdp.ConsumeIntInRange(-(1 << 33), 1 << 33), fdp.ConsumeIntInRange(-(1 << 33), 1 << 33))
    if kind == 6:
        return fdp.PickValueInList([(0,), (0, 0, 0), None, "00", (0.5, 1.5), (float("nan"), 0), (1 << 70, 0)])
    return (0, 0)


# An output chosen by the fuzzer: absent, a fresh array, the input itself, or an array overlapping the input.
# Returns (out, how); how is "self" or "overlap" when the call must give what it gives on copies.
def _out(fdp: Provider, like: Any, channels: list[int | None] | None = None) -> tuple[Any, str]:
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind <= 2:
        return None, "none"
    if kind <= 4:
        if isinstance(like, np.ndarray):
            return np.zeros(like.shape, np.uint8), "fresh"
        return None, "none"
    if kind == 5 and isinstance(like, np.ndarray) and like.dtype == np.uint8 and like.flags.writeable:
        return like, "self"
    if kind == 6 and isinstance(like, np.ndarray) and like.dtype == np.uint8 and like.flags.writeable:
        return like, "self"
    return _image(fdp, _hw(like), channels or _channels(like)), "fresh"


def _overlapping_pair(fdp: Provider, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two views of one buffer, ``shape`` each, the second shifted down or right by a few pixels."""
    dy, dx = fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 2)
    base = _values(fdp, (shape[0] + dy, shape[1] + dx, *shape[2:]))
    a = base[: shape[0], : shape[1]]
    b = base[dy:, dx:]
    return (a, b) if fdp.ConsumeBool() else (b, a)


def _same_on_copies(call: Callable[[Any, Any], Any], image: np.ndarray, out: np.ndarray, how: str) -> None:
    """Run ``call(image, out)`` aliased as given, and on copies; the outputs must agree."""
    expect_out = np.array(out, copy=True)
    try:
        expected = call(np.array(image, copy=True), expect_out)
    except ParameterValueError:
        expected = None
    got = call(image, out)
    if expected is None:
        raise AssertionError(f"the call succeeded with out {how} but raised on copies")
    if not np.array_equal(np.asarray(got), np.asarray(expected)):
        diff = int(np.count_nonzero(np.asarray(got) != np.asarray(expected)))
        raise AssertionError(f"with out {how} (partly the same memory as the input) the result differs from the "
                             f"result on copies in {diff} values")


def _known_hang(polygon: Any) -> bool:
    """The reported fill_polygon hang (fuzz/regressions/core/fill-polygon-huge-y-timeout): an edge lying wholly at
    y >= 2**31 makes the C core loop from INT_MIN (a float-to-int overflow), seconds per edge. A hang cannot be
    tolerated after the fact like an exception, so such polygons are skipped unless FUZZ_STRICT=1."""
    if _harness.strict() or not isinstance(polygon, np.ndarray) or polygon.ndim != 2 or polygon.shape[1:] != (2,):
        return False
    with np.errstate(all="ignore"):
        y = polygon[:, 1].astype(np.float64)
    return bool((np.abs(y[np.isfinite(y)]) >= 2.0**31 - 2).any())


def op_fill_polygon(fdp: Provider) -> None:
    out = _image(fdp, None, [None, 1, 3])
    polygon = _points(fdp, _hw(out))
    if _known_hang(polygon):
        return
    core.fill_polygon(polygon, out)


def _morph(fn: Callable[..., Any]) -> Callable[[Provider], None]:
    def op(fdp: Provider) -> None:
        radius = _whole(fdp, 0, 40)
        if fdp.ConsumeIntInRange(0, 3) == 0:
            mask, out = _overlapping_pair(fdp, _dims(fdp))
            _same_on_copies(lambda m, o: fn(m, radius, out=o), mask, out, "overlapping")
            return
        mask = _image(fdp, None, [None] * 6 + [1, 3])
        out, how = _out(fdp, mask, [None, 1])
        if how == "self":
            _same_on_copies(lambda m, o: fn(m, radius, out=o), mask, out, "the input itself")
        else:
            fn(mask, radius, out=out)
    return op


def op_feather(fdp: Provider) -> None:
    sigma = _number(fdp, 0.0, 1000.0)
    if fdp.ConsumeIntInRange(0, 3) == 0:
        mask, out = _overlapping_pair(fdp, _dims(fdp))
        _same_on_copies(lambda m, o: core.feather_mask(m, sigma, out=o), mask, out, "overlapping")
        return
    mask = _image(fdp, None, [None] * 6 + [1, 3])
    out, how = _out(fdp, mask, [None, 1])
    if how == "self":
        _same_on_copies(lambda m, o: core.feather_mask(m, sigma, out=o), mask, out, "the input itself")
    else:
        core.feather_mask(mask, sigma, out=out)


def op_box_radii(fdp: Provider) -> None:
    r = core.box_radii_for_sigma(_number(fdp, 0.0, 1000.0))
    if not all(isinstance(v, int) and v >= 0 for v in r):
        raise AssertionError(f"box_radii_for_sigma gave {r}")


def _blend_inputs(fdp: Provider) -> tuple[Any, Any, Any, Any]:
    dst = _image(fdp, None, [None, 1, 3, 4, 3, 3])
    dh = _hw(dst) or (8, 8)
    hw = (fdp.ConsumeIntInRange(1, max(dh[0], 1)), fdp.ConsumeIntInRange(1, max(dh[1], 1)))
    src = _image(fdp, hw, _channels(dst))
    mask = _image(fdp, hw, [None] * 6 + [1, 3])
    if fdp.ConsumeIntInRange(0, 9) == 0 and isinstance(dst, np.ndarray) and dst.ndim >= 2:
        src = dst[: hw[0], : hw[1]]  # src is part of dst
    return src, mask, dst, _origin(fdp, src, dst)


def op_composite(fdp: Provider) -> None:
    src, mask, dst, origin = _blend_inputs(fdp)
    core.composite(src, mask, dst, origin)


def op_blend_multiband(fdp: Provider) -> None:
    src, mask, dst, origin = _blend_inputs(fdp)
    levels = None if fdp.ConsumeBool() else _whole(fdp, 1, 12)
    core.blend_multiband(src, mask, dst, origin, levels=levels)


def op_blend_poisson(fdp: Provider) -> None:
    src, mask, dst, origin = _blend_inputs(fdp)
    mode = fdp.PickValueInList(["normal", "mixed", "normal", "mixed", "other", None])
    tol = _number(fdp, 1e-7, 0.5)
    cycles = _whole(fdp, 0, 60)
    solution = None
    if fdp.ConsumeBool() and isinstance(src, np.ndarray):
        kind = fdp.ConsumeIntInRange(0, 4)
        shape = src.shape if kind <= 2 else (src.shape[0] + 1, *src.shape[1:])
        solution = np.zeros(shape, np.float32 if kind != 3 else np.float64)
        if kind == 4:
            solution = np.asfortranarray(solution)
    stats = core.blend_poisson(src, mask, dst, origin, mode=mode, tol=tol, max_cycles=cycles, solution=solution)
    if not (stats.cycles >= 0 and (stats.residual >= 0 or np.isnan(stats.residual))):
        raise AssertionError(f"blend_poisson gave {stats}")


def op_lab_stats(fdp: Provider) -> None:
    image = _image(fdp, None, [3, 4, 3, 4, 1, None])
    mask = _image(fdp, _hw(image), [None] * 6 + [1])
    order = fdp.PickValueInList(["rgb", "bgr", "rgb", "hsv"])
    mean, std = core.lab_stats(image, mask, channel_order=order)
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std >= 0).all()):
        raise AssertionError(f"lab_stats gave mean {mean} std {std}")


def op_robust_stats(fdp: Provider) -> None:
    image = _image(fdp)
    mask = None
    if fdp.ConsumeBool():
        mask = _image(fdp, _hw(image), [None] * 6 + [1])
        if fdp.ConsumeBool() and isinstance(mask, np.ndarray):
            mask = mask.astype(bool)
    mean, std, count = core.robust_stats(image, mask, step=_whole(fdp, 1, 8), spread=_number(fdp, 0.0, 1e6))
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and count >= 0):
        raise AssertionError(f"robust_stats gave mean {mean} std {std} count {count}")


def op_transfer_colour(fdp: Provider) -> None:
    src = _image(fdp, None, [3, 4, 3, 4, 1])
    mask = _image(fdp, _hw(src), [None] * 6 + [1])
    ref = _image(fdp, None, _channels(src))
    ref_mask = _image(fdp, _hw(ref), [None] * 6 + [1])
    strength = _number(fdp, 0.0, 1.0)
    order = fdp.PickValueInList(["rgb", "bgr"])
    out, how = _out(fdp, src)
    if how == "self":
        _same_on_copies(lambda s, o: core.transfer_colour(s, mask, ref, ref_mask, strength=strength,
                                                          channel_order=order, out=o), src, out, "the input itself")
    else:
        core.transfer_colour(src, mask, ref, ref_mask, strength=strength, channel_order=order, out=out)


def op_relight(fdp: Provider) -> None:
    image = _image(fdp, None, [3, 3, 3, 4, None])
    gh, gw = fdp.ConsumeIntInRange(0, 6), fdp.ConsumeIntInRange(0, 6)
    kind = fdp.ConsumeIntInRange(0, 5)
    if kind <= 3:
        values = [fdp.ConsumeFloatInRange(-2.0, 2.0) if kind < 3 else fdp.ConsumeFloat() for _ in range(gh * gw * 6)]
        with np.errstate(over="ignore"):  # doubles beyond float32 become inf, as intended
            factors = np.array(values, np.float32).reshape(gh, gw, 6)
    elif kind == 4:
        factors = np.ones((gh, gw, fdp.ConsumeIntInRange(5, 7)), fdp.PickValueInList([np.float32, np.float64]))
    else:
        factors = np.ones((gh, gw, 6), np.float32)[::-1, ::-1]
    neutral = _image(fdp, _hw(image), [None] * 6 + [1]) if fdp.ConsumeBool() else None
    ceiling = _number(fdp, 0.0, 1.0)
    out, how = _out(fdp, image, [3])
    if how == "self":
        _same_on_copies(lambda i, o: core.relight(i, factors, neutral=neutral, neutral_ceiling=ceiling, out=o),
                        image, out, "the input itself")
    else:
        core.relight(image, factors, neutral=neutral, neutral_ceiling=ceiling, out=out)


def _filter(fn: Callable[..., Any], args: Callable[[Provider], tuple[Any, ...]]) -> Callable[[Provider], None]:
    def op(fdp: Provider) -> None:
        params = args(fdp)
        strength = _number(fdp, 0.0, 1.0)
        if fdp.ConsumeIntInRange(0, 4) == 0:
            image, out = _overlapping_pair(fdp, _shape(fdp, _dims(fdp), [None, 1, 3, 4]))
            _same_on_copies(lambda i, o: fn(i, *params, strength=strength, out=o), image, out, "overlapping")
            return
        image = _image(fdp)
        mask = _image(fdp, _hw(image), [None] * 6 + [1]) if fdp.ConsumeBool() else None
        out, how = _out(fdp, image)
        if how == "self":
            _same_on_copies(lambda i, o: fn(i, *params, mask=mask, strength=strength, out=o), image, out,
                            "the input itself")
        else:
            fn(image, *params, mask=mask, strength=strength, out=out)
    return op


def op_warp_mesh(fdp: Provider) -> None:
    src = _image(fdp)
    out = _image(fdp, None, _channels(src))
    n = fdp.ConsumeIntInRange(0, 30)
    sp = _points(fdp, _hw(src), n)
    dp = _points(fdp, _hw(out), n if fdp.ConsumeIntInRange(0, 9) else fdp.ConsumeIntInRange(0, 30))
    tri = _triangles(fdp, n)
    coverage = None
    if fdp.ConsumeBool():
        coverage = _image(fdp, _hw(out), [None] * 6 + [1, 3])
    if fdp.ConsumeIntInRange(0, 9) == 0 and isinstance(src, np.ndarray) and src.flags.writeable:
        out = src
    cov = core.warp_mesh(src, sp, dp, tri, out, coverage=coverage)
    if not (isinstance(cov, np.ndarray) and cov.dtype == np.uint8):
        raise AssertionError("warp_mesh returned no uint8 coverage mask")


OPS: list[Callable[[Provider], None]] = [
    op_fill_polygon,
    _morph(core.erode_mask),
    _morph(core.dilate_mask),
    op_feather,
    op_box_radii,
    op_composite,
    op_blend_multiband,
    op_blend_poisson,
    op_lab_stats,
    op_robust_stats,
    op_transfer_colour,
    op_relight,
    _filter(core.guided_filter, lambda fdp: (_whole(fdp, 1, 128), _number(fdp, 0.0, 1.0))),
    _filter(core.unsharp_mask, lambda fdp: (_number(fdp, 0.0, 10.0), _number(fdp, 0.0, 60.0))),
    op_warp_mesh,
]


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    op = OPS[data[0] % len(OPS)]
    fdp = atheris.FuzzedDataProvider(data[1:])
    try:
        op(fdp)
    except ParameterValueError:
        return
    except Exception as exc:
        _harness.finding(TARGET, exc, data)


if __name__ == "__main__":
    _harness.run(TestOneInput)
