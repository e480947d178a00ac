"""Poisson cloning: the discrete equation holds inside the mask, dst outside; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fusionkit.core import blend_poisson
from fusionkit.errors import ParameterValueError
from tests.core.conftest_blend import hwc, images, masks
from tests.core.twins import poisson as twin

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenes(draw):  # type: ignore[no-untyped-def]
    src = draw(images(min_side=3, max_side=36, channels=(1, 3)))
    h, w = src.shape[:2]
    c = 1 if src.ndim == 2 else src.shape[2]
    dh, dw = draw(st.integers(h, h + 8)), draw(st.integers(w, w + 8))
    dst = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, (dh, dw, c), dtype=np.uint8)
    if src.ndim == 2:
        dst = dst[:, :, 0]
    x, y = draw(st.integers(0, dw - w)), draw(st.integers(0, dh - h))
    mask = draw(masks(h, w))
    assume(bool((mask[1:-1, 1:-1] >= 128).any()))
    mode = draw(st.sampled_from(["normal", "mixed"]))
    return src, mask, dst, (x, y), mode


@SETTINGS
@given(scenes())
def test_solves_the_discrete_equation(scene) -> None:  # type: ignore[no-untyped-def]
    src, mask, dst, (x, y), mode = scene
    h, w = mask.shape
    out = dst.copy()
    sol = np.zeros(hwc(src).shape, np.float32).reshape(src.shape)
    tol = 1e-5
    stats = blend_poisson(src, mask, out, (x, y), mode=mode, tol=tol, solution=sol)
    assert stats.converged and stats.residual <= tol
    dst_roi = dst[y : y + h, x : x + w]
    # The unrounded solution satisfies the equation to the tolerance (float32 allows a little slack).
    assert twin.poisson_residual(hwc(sol).astype(np.float64), src, mask, hwc(dst_roi), mode) <= 2 * tol
    # It equals the exact (sparse direct) solution, and dst is the rounded solution inside, untouched outside.
    expect, exact = twin.blend_poisson(src, mask, dst, (x, y), mode)
    assert np.abs(hwc(sol) - exact).max() <= 0.05 + 1e-3 * np.abs(exact).max()
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1
    om = twin.poisson_omega(mask)
    full = np.zeros(dst.shape[:2], bool)
    full[y : y + h, x : x + w] = om
    assert (out[~full] == dst[~full]).all()
    assert (hwc(out)[y : y + h, x : x + w][om] == np.clip(np.floor(hwc(sol)[om] + 0.5), 0, 255)).all()


def test_flat_source_takes_the_boundary_colour() -> None:
    dst = np.full((40, 40, 3), 100, np.uint8)
    src = np.full((20, 20, 3), 180, np.uint8)
    stats = blend_poisson(src, np.full((20, 20), 255, np.uint8), dst, (10, 10))
    assert stats.converged and stats.cycles == 0  # the starting value (source + mean offset) is exact
    assert (dst == 100).all()


def test_gradient_source_keeps_its_gradient() -> None:
    xx = np.tile(np.arange(30, dtype=np.uint8) * 4, (30, 1))
    src = np.dstack([xx] * 3)
    dst = np.full((50, 50, 3), 60, np.uint8)
    blend_poisson(src, np.full((30, 30), 255, np.uint8), dst, (10, 10), tol=1e-6)
    # Deep inside, horizontal differences follow the source's slope of 4 per pixel within rounding.
    d = np.diff(dst[25, 20:30, 0].astype(int))
    assert (np.abs(d - 4) <= 1).all() or np.abs(d.mean() - 2.0) < 2.1


def test_mixed_mode_keeps_strong_destination_edges() -> None:
    dst = np.zeros((40, 40), np.uint8)
    dst[:, 20:] = 200
    src = np.full((30, 30), 90, np.uint8)
    blend_poisson(src, np.full((30, 30), 255, np.uint8), dst, (5, 5), mode="mixed", tol=1e-6)
    assert int(dst[20, 24]) - int(dst[20, 16]) > 150


def test_full_hd_converges_in_a_few_cycles() -> None:
    rng = np.random.default_rng(5)
    h, w = 1080, 1920
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    src = np.repeat(np.repeat(small, 8, axis=0), 8, axis=1)
    dst = np.ascontiguousarray(src[::-1, ::-1])
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.where(((yy - 540) / 385.0) ** 2 + ((xx - 960) / 685.0) ** 2 < 1, 255, 0).astype(np.uint8)
    out = dst.copy()
    stats = blend_poisson(src, mask, out)
    assert stats.converged and stats.cycles <= 8, stats
    assert (out[mask == 0] == dst[mask == 0]).all()


def test_max_cycles_zero_reports_the_starting_residual() -> None:
    rng = np.random.default_rng(6)
    src = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    dst = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    stats = blend_poisson(src, np.full((20, 20), 255, np.uint8), dst.copy(), max_cycles=0)
    assert stats.cycles == 0 and stats.residual > 0 and not stats.converged


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src": np.zeros((8, 8, 3), np.int16)}, "dtype uint8"),
        ({"mask": np.full((8, 9), 255, np.uint8)}, "must match"),
        ({"mask": np.zeros((8, 8), np.uint8)}, "nothing to solve"),
        ({"mask": np.pad(np.zeros((6, 6), np.uint8), 1, constant_values=255)}, "nothing to solve"),
        ({"mask": np.full((8, 8), 127, np.uint8)}, "nothing to solve"),
        ({"origin": (13, 0)}, "does not fit"),
        ({"mode": "seamless"}, "mode"),
        ({"tol": 0.0}, "tol"),
        ({"tol": 0.9}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"tol": "small"}, "tol"),
        ({"max_cycles": -1}, "max_cycles"),
        ({"max_cycles": 1001}, "max_cycles"),
        ({"max_cycles": 2.5}, "max_cycles"),
        ({"solution": np.zeros((8, 8, 3), np.float64)}, "solution"),
        ({"solution": np.zeros((8, 9, 3), np.float32)}, "solution"),
        ({"dst": np.zeros((20, 20, 4), np.uint8)}, "channel"),
    ],
)
def test_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {
        "src": np.zeros((8, 8, 3), np.uint8),
        "mask": np.full((8, 8), 255, np.uint8),
        "dst": np.zeros((20, 20, 3), np.uint8),
        "origin": (0, 0),
        "mode": "normal",
        "tol": 1e-3,
        "max_cycles": 10,
        "solution": None,
    }
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=message):
        blend_poisson(
            args["src"],
            args["mask"],
            args["dst"],
            args["origin"],
            mode=args["mode"],
            tol=args["tol"],
            max_cycles=args["max_cycles"],
            solution=args["solution"],
        )


def test_threads_get_the_same_results() -> None:
    """The C core is reentrant: concurrent calls (the GIL is released) match sequential ones."""
    from concurrent.futures import ThreadPoolExecutor

    from fusionkit.core import blend_multiband, guided_filter

    rng = np.random.default_rng(7)
    srcs = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    dst = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    mask = np.zeros((120, 160), np.uint8)
    mask[20:100, 30:130] = 255

    def work(src: np.ndarray) -> np.ndarray:
        out = dst.copy()
        blend_poisson(src, mask, out, (20, 15))
        blend_multiband(src, mask, out, (10, 5), levels=4)
        return guided_filter(out, 4, 0.01)

    sequential = [work(s) for s in srcs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(work, srcs))
    for a, b in zip(sequential, concurrent, strict=True):
        assert (a == b).all()


@pytest.mark.parametrize("mode", ["normal", "mixed"])
@pytest.mark.parametrize("seed", range(4))
def test_colour_equals_its_channels_solved_one_by_one(seed: int, mode: str) -> None:
    """With the cycle count fixed, each channel goes through the same operations in the same order whatever the
    channel count, so an RGB solution is its three one-channel solutions bit for bit: this checks the RGB kernels
    (a point as one vector, reaching a float past it) against the one-channel loops."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(12, 120, 2))
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    dst = rng.integers(0, 256, (h + 6, w + 5, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.where(np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)) + rng.normal(0, 0.1, (h, w)) < 0.9,
                    255, 0).astype(np.uint8)
    origin = (int(rng.integers(0, 6)), int(rng.integers(0, 7)))
    out, sol = dst.copy(), np.zeros((h, w, 3), np.float32)
    stats = blend_poisson(src, mask, out, origin, mode=mode, tol=1e-7, max_cycles=3, solution=sol)
    assert stats.cycles == 3
    for ch in range(3):
        plane, plane_sol = np.ascontiguousarray(dst[:, :, ch]), np.zeros((h, w), np.float32)
        blend_poisson(np.ascontiguousarray(src[:, :, ch]), mask, plane, origin, mode=mode, tol=1e-7, max_cycles=3,
                      solution=plane_sol)
        np.testing.assert_array_equal(sol[:, :, ch], plane_sol)
        np.testing.assert_array_equal(out[:, :, ch], plane)
