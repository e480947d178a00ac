"""Every public routine of fusionkit.core over views of larger arrays: regions, steps, flips, single rows and columns.

Each test places its arrays as views into bigger random parents (any offset, sizes down to 1x1, row and column
steps, negative steps, a channel subset or reversal) and checks that the call gives exactly what it gives on
contiguous copies, leaves the parents alone outside the views, and never fails in the C core: an output whose
layout cannot be written in place is refused with a ParameterValueError, and that is the only refusal allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fusionkit.core as fc
from fusionkit.errors import ParameterValueError

SETTINGS = settings(max_examples=60, deadline=None)


class Placed:
    """``data`` copied into a view of a larger random parent, and how the view was cut."""

    def __init__(self, draw: Any, data: np.ndarray, *, output: bool) -> None:
        h, w = data.shape[:2]
        c = data.shape[2] if data.ndim == 3 else 0
        rs = draw(st.sampled_from((1, 2, -1, -2)))
        cs = draw(st.sampled_from((1, 2, -1)))
        chs = draw(st.sampled_from((1, -1))) if c else 1
        extra = draw(st.integers(0, 1)) if c else 0  # e.g. the RGB of an RGBA image
        if output and draw(st.integers(0, 3)) > 0:  # mostly layouts that can be written in place
            rs, cs, chs, extra = abs(rs), 1, 1, 0
        top, left, bottom, right = (draw(st.integers(0, 3)) for _ in range(4))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        shape = (top + (h - 1) * abs(rs) + 1 + bottom, left + (w - 1) * abs(cs) + 1 + right)
        shape += (c + extra,) if c else ()
        self.parent = rng.integers(0, 256, shape).astype(data.dtype)
        idx = (_axis(top, h, rs), _axis(left, w, cs)) + ((_axis(0, c, chs),) if c else ())
        self.index = idx
        self.view = self.parent[idx]
        self.view[...] = data
        self.before = self.parent.copy()
        # A layout the core cannot write in place (refused for outputs; inputs are copied).
        self.odd = (h > 1 and rs < 0) or (w > 1 and (cs != 1 or extra > 0)) or (c > 1 and chs < 0)

    def untouched_outside(self) -> bool:
        expected = self.before.copy()
        expected[self.index] = self.view
        return bool(np.array_equal(expected, self.parent))


def _axis(start: int, n: int, step: int) -> slice:
    if step > 0:
        return slice(start, start + (n - 1) * step + 1, step)
    return slice(start + (n - 1) * -step, start - 1 if start > 0 else None, step)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def same_as_contiguous(
    draw: Any, fn: Callable[..., Any], inputs: dict[str, Any], outputs: dict[str, Any], **scalars: Any
) -> None:
    """Call ``fn`` on views and on contiguous copies; both must agree (or the views be refused, when an output
    has a layout that cannot be written in place)."""
    placed_in = {k: Placed(draw, v, output=False) for k, v in inputs.items() if v is not None}
    placed_out = {k: Placed(draw, v, output=True) for k, v in outputs.items() if v is not None}
    plain = {k: np.array(v, copy=True) for k, v in {**inputs, **outputs}.items() if v is not None}
    nones = {k: None for k, v in {**inputs, **outputs}.items() if v is None}
    expected = fn(**plain, **nones, **scalars)
    try:
        got = fn(**{k: p.view for k, p in {**placed_in, **placed_out}.items()}, **nones, **scalars)
    except ParameterValueError as exc:
        assert any(p.odd for p in placed_out.values()), f"refused a view it can write in place: {exc}"
        assert all(p.untouched_outside() and np.array_equal(p.parent, p.before) for p in placed_out.values())
        return
    assert _equal(got, expected)
    for k, p in placed_out.items():
        assert np.array_equal(p.view, plain[k]), k
        assert p.untouched_outside(), k
    for k, p in placed_in.items():
        assert np.array_equal(p.parent, p.before), k


def image(draw: Any, h: int, w: int, channels: tuple[int, ...] = (1, 3, 4)) -> np.ndarray:
    c = draw(st.sampled_from(channels))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    if draw(st.booleans()):  # smooth content too, where filters and blends do more than shuffle noise
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.clip(128 + 100 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 4.0)[..., None] + img / 16, 0, 255)
        img = img.astype(np.uint8)
    return img[:, :, 0] if c == 1 and draw(st.booleans()) else img


def mask(draw: Any, h: int, w: int, *, nonzero: bool = True) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = np.where(rng.random((h, w)) < draw(st.floats(0.0, 1.0)), rng.integers(0, 256, (h, w)), 0).astype(np.uint8)
    if nonzero:
        m[rng.integers(h), rng.integers(w)] = 255
    return m


def side(draw: Any, lo: int = 1, hi: int = 10) -> int:
    # Sizes of 1 are the edge cases of interest: weigh them up.
    return draw(st.one_of(st.just(lo), st.integers(lo, hi)))


@SETTINGS
@given(st.data())
def test_fill_polygon(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    poly = data.draw(st.lists(st.tuples(st.floats(-3, w + 3), st.floats(-3, h + 3)), min_size=3, max_size=6))
    same_as_contiguous(data.draw, lambda out: fc.fill_polygon(poly, out), {}, {"out": np.zeros((h, w), np.uint8)})


@SETTINGS
@given(st.data())
def test_erode_and_dilate(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    fn = data.draw(st.sampled_from((fc.erode_mask, fc.dilate_mask)))
    radius = data.draw(st.integers(0, 12))
    out = np.zeros((h, w), np.uint8) if data.draw(st.booleans()) else None
    same_as_contiguous(data.draw, lambda mask, out: fn(mask, radius, out), {"mask": mask(data.draw, h, w)},
                       {"out": out})


@SETTINGS
@given(st.data())
def test_feather_mask(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    sigma = data.draw(st.floats(0.0, 6.0))
    out = np.zeros((h, w), np.uint8) if data.draw(st.booleans()) else None
    same_as_contiguous(data.draw, lambda mask, out: fc.feather_mask(mask, sigma, out),
                       {"mask": mask(data.draw, h, w)}, {"out": out})


def _roi(draw: Any, lo: int = 1) -> tuple[int, int, int, int, tuple[int, int]]:
    h, w = side(draw, lo), side(draw, lo)
    dh, dw = h + draw(st.integers(0, 4)), w + draw(st.integers(0, 4))
    origin = (draw(st.integers(0, dw - w)), draw(st.integers(0, dh - h)))
    return h, w, dh, dw, origin


@SETTINGS
@given(st.data())
def test_composite(data: Any) -> None:
    h, w, dh, dw, origin = _roi(data.draw)
    src = image(data.draw, h, w)
    dst = np.random.default_rng(0).integers(0, 256, (dh, dw) + src.shape[2:], dtype=np.uint8)
    same_as_contiguous(data.draw, lambda src, mask, dst: fc.composite(src, mask, dst, origin),
                       {"src": src, "mask": mask(data.draw, h, w, nonzero=False)}, {"dst": dst})


@SETTINGS
@given(st.data())
def test_blend_multiband(data: Any) -> None:
    h, w, dh, dw, origin = _roi(data.draw)
    src = image(data.draw, h, w)
    dst = np.random.default_rng(1).integers(0, 256, (dh, dw) + src.shape[2:], dtype=np.uint8)
    levels = data.draw(st.integers(1, max(1, min(h, w).bit_length())))
    same_as_contiguous(data.draw, lambda src, mask, dst: fc.blend_multiband(src, mask, dst, origin, levels=levels),
                       {"src": src, "mask": mask(data.draw, h, w)}, {"dst": dst})


@SETTINGS
@given(st.data())
def test_blend_poisson(data: Any) -> None:
    h, w, dh, dw, origin = _roi(data.draw, lo=3)
    src = image(data.draw, h, w)
    dst = np.random.default_rng(2).integers(0, 256, (dh, dw) + src.shape[2:], dtype=np.uint8)
    m = mask(data.draw, h, w)
    m[1 + data.draw(st.integers(0, h - 3)), 1 + data.draw(st.integers(0, w - 3))] = 255
    mode = data.draw(st.sampled_from(("normal", "mixed")))
    same_as_contiguous(data.draw, lambda src, mask, dst: fc.blend_poisson(src, mask, dst, origin, mode=mode),
                       {"src": src, "mask": m}, {"dst": dst})


@SETTINGS
@given(st.data())
def test_colour_statistics(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    order = data.draw(st.sampled_from(("rgb", "bgr")))
    same_as_contiguous(data.draw, lambda image, mask: fc.lab_stats(image, mask, channel_order=order),
                       {"image": image(data.draw, h, w, (3, 4)), "mask": mask(data.draw, h, w)}, {})
    step = data.draw(st.integers(1, 3))
    m = mask(data.draw, h, w) if data.draw(st.booleans()) else None
    same_as_contiguous(data.draw, lambda image, mask: fc.robust_stats(image, mask, step=step),
                       {"image": image(data.draw, h, w), "mask": m}, {})


@SETTINGS
@given(st.data())
def test_transfer_colour(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    rh, rw = side(data.draw), side(data.draw)
    src = image(data.draw, h, w, (3, 4))
    out = np.zeros_like(src) if data.draw(st.booleans()) else None
    same_as_contiguous(
        data.draw,
        lambda src, mask, reference, reference_mask, out: fc.transfer_colour(
            src, mask, reference, reference_mask, strength=0.7, out=out),
        {"src": src, "mask": mask(data.draw, h, w), "reference": image(data.draw, rh, rw, (3, 4)),
         "reference_mask": mask(data.draw, rh, rw)},
        {"out": out},
    )


@SETTINGS
@given(st.data())
def test_relight(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    gh, gw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    factors = rng.uniform(0.0, 1.5, (gh, gw, 6)).astype(np.float32)
    neutral = mask(data.draw, h, w) if data.draw(st.booleans()) else None
    out = np.zeros((h, w, 3), np.uint8) if data.draw(st.booleans()) else None
    same_as_contiguous(data.draw, lambda image, neutral, out: fc.relight(image, factors, neutral=neutral, out=out),
                       {"image": image(data.draw, h, w, (3,)), "neutral": neutral}, {"out": out})


@SETTINGS
@given(st.data())
def test_guided_filter_and_unsharp_mask(data: Any) -> None:
    h, w = side(data.draw), side(data.draw)
    img = image(data.draw, h, w)
    m = mask(data.draw, h, w) if data.draw(st.booleans()) else None
    out = np.zeros_like(img) if data.draw(st.booleans()) else None
    if data.draw(st.booleans()):
        radius = data.draw(st.integers(1, 12))

        def fn(image: Any, mask: Any, out: Any) -> Any:
            return fc.guided_filter(image, radius, 0.01, mask=mask, strength=0.8, out=out)
    else:
        sigma = data.draw(st.floats(0.1, 5.0))

        def fn(image: Any, mask: Any, out: Any) -> Any:
            return fc.unsharp_mask(image, 1.5, sigma, mask=mask, strength=0.8, out=out)
    same_as_contiguous(data.draw, fn, {"image": img, "mask": m}, {"out": out})


@SETTINGS
@given(st.data())
def test_warp_mesh(data: Any) -> None:
    sh, sw = side(data.draw), side(data.draw)
    dh, dw = side(data.draw), side(data.draw)
    src = image(data.draw, sh, sw)
    out = np.random.default_rng(3).integers(0, 256, (dh, dw) + src.shape[2:], dtype=np.uint8)
    n = data.draw(st.integers(3, 6))
    sp = [(data.draw(st.floats(-2, sw + 1)), data.draw(st.floats(-2, sh + 1))) for _ in range(n)]
    dp = [(data.draw(st.floats(-2, dw + 1)), data.draw(st.floats(-2, dh + 1))) for _ in range(n)]
    tri = data.draw(st.lists(st.tuples(*[st.integers(0, n - 1)] * 3), min_size=1, max_size=6))
    coverage = np.zeros((dh, dw), np.uint8) if data.draw(st.booleans()) else None
    same_as_contiguous(data.draw, lambda src, out, coverage: fc.warp_mesh(src, sp, dp, tri, out, coverage=coverage),
                       {"src": src}, {"out": out, "coverage": coverage})


def test_the_reported_one_row_views() -> None:
    # The reproductions from the hardening issue: each failed in the C core (CoreError) before.
    tri = [[0, 0], [50, 0], [0, 50]]
    out = np.zeros((64, 64), np.uint8)
    fc.fill_polygon(tri, out[3:4, 5:40])
    assert np.array_equal(out[3:4, 5:40], fc.fill_polygon(tri, np.zeros((1, 35), np.uint8)))  # view coordinates
    assert out[3, 5:40].all() and not out[:3].any() and not out[4:].any() and not out[3, 40:].any()
    fc.fill_polygon(tri, out[10:11, 7:8])  # 1x1
    img = np.zeros((64, 64, 3), np.uint8)
    fc.warp_mesh(img[3:4, 5:40], tri, tri, [[0, 1, 2]], img[5:6, 5:40])
    fc.guided_filter(img[3:4, 5:40], 2, 0.01)
    fc.guided_filter(img[3:4, 5:6], 2, 0.01)
    full = np.full((64, 64), 255, np.uint8)
    fc.blend_multiband(img[3:4, 5:40], full[20:21, 0:35], img[7:8, 5:40])
    fc.blend_multiband(img[3:4, 5:6], full[20:21, 0:1], img[7:8, 5:6])
    fc.dilate_mask(out[3:4, 5:40], 2, out=out[9:10, 5:40])
    assert out[9, 5:40].tolist() == [128] * 35  # the 64 in the corner is dilated away
    row = np.zeros(64, np.uint8)
    fc.dilate_mask(row[None, :], 2, out=row[None, :])  # a row axis of stride 0
    col = np.zeros((64, 64), np.uint8)[:, ::-1]
    fc.erode_mask(col[:, 3:4], 1, out=col[:, 5:6])  # a column of negative column stride
