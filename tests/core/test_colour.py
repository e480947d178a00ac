"""Lab colour statistics and transfer: the C core against its NumPy twin and OpenCV's Lab, and bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionkit.core import lab_stats, relight, robust_stats, transfer_colour
from fusionkit.core._simd import SIMD_ALL, SIMD_NONE, simd_level
from fusionkit.errors import ParameterValueError
from tests.core.conftest_blend import images, masks
from tests.core.twins import colour as twin

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pairs(draw):  # type: ignore[no-untyped-def]
    src = draw(images(min_side=1, max_side=30, channels=(3, 4)))
    refimg = draw(images(min_side=1, max_side=30, channels=(3,)))
    return (
        src,
        draw(masks(*src.shape[:2])),
        refimg,
        draw(masks(*refimg.shape[:2])),
        draw(st.floats(0.0, 1.0)),
        draw(st.booleans()),
    )


@SETTINGS
@given(pairs())
def test_matches_twin(case) -> None:  # type: ignore[no-untyped-def]
    src, mask, refimg, rmask, strength, bgr = case
    order = "bgr" if bgr else "rgb"
    tm, ts = twin.lab_stats(refimg, rmask, bgr)
    mean, std = lab_stats(refimg, rmask, channel_order=order)
    assert np.abs(mean - tm).max() < 1e-3 and np.abs(std - ts).max() < 1e-2
    out = transfer_colour(src, mask, refimg, rmask, strength=strength, channel_order=order)
    expect = twin.transfer_colour(src, mask, tm, ts, strength, bgr)
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1
    assert (out[mask == 0] == src[mask == 0]).all()


def test_lab_agrees_with_opencv() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    mask = np.full((50, 60), 255, np.uint8)
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    mean, std = lab_stats(img, mask, channel_order="bgr")
    # OpenCV interpolates its gamma and cube-root curves, so agreement is to about 0.1 L unit.
    assert np.abs(mean - lab.mean(axis=0)).max() < 0.15
    assert np.abs(std - lab.std(axis=0)).max() < 0.15


def test_strength_zero_and_self_transfer_are_identity() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.full((40, 40), 255, np.uint8)
    assert (transfer_colour(img, mask, img, mask, strength=0.0) == img).all()
    assert np.abs(transfer_colour(img, mask, img, mask).astype(int) - img).max() <= 1


def test_transfer_moves_the_mean() -> None:
    rng = np.random.default_rng(2)
    src = np.clip(rng.normal(80, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
    refimg = np.clip(rng.normal([200, 150, 90], 10, (64, 64, 3)), 0, 255).astype(np.uint8)
    mask = np.full((64, 64), 255, np.uint8)
    out = transfer_colour(src, mask, refimg, mask)
    m_out, s_out = lab_stats(out, mask)
    m_ref, s_ref = lab_stats(refimg, mask)
    assert np.abs(m_out - m_ref).max() < 1.0 and np.abs(s_out - s_ref).max() < 1.0


def test_out_and_in_place() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    refimg = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    mask = np.full((20, 30), 200, np.uint8)
    rmask = np.full((10, 10), 255, np.uint8)
    expect = transfer_colour(img, mask, refimg, rmask, strength=0.5)
    assert (expect[..., 3] == img[..., 3]).all()
    transfer_colour(img, mask, refimg, rmask, strength=0.5, out=img)
    assert (img == expect).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src": np.zeros((8, 8, 3), np.float32)}, "dtype uint8"),
        ({"src": np.zeros((8, 8), np.uint8)}, "channel"),
        ({"mask": np.full((8, 9), 255, np.uint8)}, "must match"),
        ({"mask": np.zeros((8, 8), np.uint8)}, "all zero"),
        ({"reference_mask": np.zeros((5, 5), np.uint8)}, "all zero"),
        ({"strength": 1.5}, "strength"),
        ({"strength": -0.1}, "strength"),
        ({"strength": float("nan")}, "strength"),
        ({"channel_order": "hsv"}, "channel_order"),
        ({"out": np.zeros((8, 9, 3), np.uint8)}, "must match"),
    ],
)
def test_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {
        "src": np.zeros((8, 8, 3), np.uint8),
        "mask": np.full((8, 8), 255, np.uint8),
        "reference": np.zeros((5, 5, 3), np.uint8),
        "reference_mask": np.full((5, 5), 255, np.uint8),
        "strength": 1.0,
        "channel_order": "rgb",
        "out": None,
    }
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=message):
        transfer_colour(
            args["src"],
            args["mask"],
            args["reference"],
            args["reference_mask"],
            strength=args["strength"],
            channel_order=args["channel_order"],
            out=args["out"],
        )


def test_lab_stats_bad_input() -> None:
    with pytest.raises(ParameterValueError, match="all zero"):
        lab_stats(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8))
    with pytest.raises(ParameterValueError, match="channel_order"):
        lab_stats(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.uint8), channel_order="lab")  # type: ignore[arg-type]


@st.composite
def robust_cases(draw):  # type: ignore[no-untyped-def]
    img = draw(images(min_side=1, max_side=40, channels=(1, 3, 4)))
    # Clustered values with a few far outliers, the case the statistics exist for, or anything at all.
    if draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        centre = rng.integers(40, 200, img.shape[-1] if img.ndim == 3 else 1)
        spread = rng.integers(0, 12)
        img = np.clip(rng.normal(centre, spread + 0.1, img.shape if img.ndim == 3 else img.shape + (1,)), 0, 255)
        img = img.astype(np.uint8).reshape(img.shape if img.ndim == 3 and img.shape[-1] > 1 else img.shape[:2])
        outliers = rng.random(img.shape[:2]) < 0.1
        img[outliers] = 255 - img[outliers]
    mask = draw(st.one_of(st.none(), masks(*img.shape[:2])))
    return img, mask, draw(st.integers(1, 4)), draw(st.sampled_from([0.0, 1.0, 2.5, 4.0]))


@SETTINGS
@given(robust_cases())
def test_robust_stats_matches_twin(case) -> None:  # type: ignore[no-untyped-def]
    img, mask, step, spread = case
    mean, std, count = robust_stats(img, mask, step=step, spread=spread)
    tm, ts, tn = twin.robust_stats(img, mask, step, spread)
    assert count == tn
    assert np.abs(mean - tm).max() < 1e-6 and np.abs(std - ts).max() < 1e-6


def test_robust_stats_leaves_outliers_out() -> None:
    rng = np.random.default_rng(3)
    skin = np.clip(rng.normal((150, 140, 135), 4, (60, 60, 3)), 0, 255).astype(np.uint8)
    skin[:15] = (20, 15, 10)  # a dark fringe over a quarter of the sample
    mean, std, count = robust_stats(skin, np.full((60, 60), 255, np.uint8))
    assert count == 3600
    assert np.abs(mean - (150, 140, 135)).max() < 1.0 and std.max() < 6
    plain = skin.reshape(-1, 3).mean(axis=0)
    assert plain[0] < 120  # what the fringe does to a plain mean
    # A boolean mask, every other pixel, and an empty mask.
    sel = np.zeros((60, 60), bool)
    sel[30:] = True
    assert robust_stats(skin, sel, step=2)[2] == 15 * 30
    mean0, std0, n0 = robust_stats(skin, np.zeros((60, 60), np.uint8))
    assert n0 == 0 and not mean0.any() and not std0.any()


def test_robust_stats_bad_input() -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ParameterValueError, match="step"):
        robust_stats(img, step=0)
    with pytest.raises(ParameterValueError, match="spread"):
        robust_stats(img, spread=float("nan"))
    with pytest.raises(ParameterValueError, match="must match"):
        robust_stats(img, np.ones((3, 4), np.uint8))
    with pytest.raises(ParameterValueError, match="uint8"):
        robust_stats(img.astype(np.float32))  # type: ignore[arg-type]


def test_robust_stats_refuses_two_channels() -> None:
    with pytest.raises(ParameterValueError, match="channel"):
        robust_stats(np.zeros((5, 7, 2), np.uint8))


def random_factors(rng: np.random.Generator, gh: int, gw: int) -> np.ndarray:
    """A relighting grid of gh x gw cells with every factor spread over its useful range."""
    factors = np.empty((gh, gw, 6), np.float32)
    factors[..., 0] = rng.uniform(0.3, 3.0, (gh, gw))
    factors[..., 1] = rng.uniform(-1.0, 1.0, (gh, gw))
    factors[..., 2] = rng.uniform(0.0, 8.0, (gh, gw))
    factors[..., 3] = rng.uniform(0.02, 1.0, (gh, gw))
    factors[..., 4:] = rng.uniform(-0.6, 0.6, (gh, gw, 2))
    return factors


@st.composite
def relight_cases(draw):  # type: ignore[no-untyped-def]
    img = draw(images(min_side=1, max_side=24, channels=(3,)))
    h, w = img.shape[:2]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gh, gw = draw(st.integers(1, h)), draw(st.integers(1, w))
    factors = random_factors(rng, gh, gw)
    if draw(st.booleans()):  # hostile values: NaN, infinities, out of range, treated as neutral in C and twin
        bad = rng.random((gh, gw, 6)) < 0.2
        factors[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf, -5.0, 1e9], np.float32), bad.sum())
    neutral = rng.integers(0, 256, (h, w), dtype=np.uint8) if draw(st.booleans()) else None
    return img, factors, neutral, draw(st.floats(0.05, 1.0))


@SETTINGS
@given(relight_cases())
def test_relight_matches_twin(case) -> None:  # type: ignore[no-untyped-def]
    img, factors, neutral, top = case
    out = relight(img, factors, neutral=neutral, neutral_ceiling=top)
    # NaN in a cell spreads to the pixels interpolated from it, in C and twin alike (treated as neutral).
    expect = twin.relight(img, factors, neutral, top)
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1
    in_place = img.copy()
    relight(in_place, factors, neutral=neutral, neutral_ceiling=top, out=in_place)
    assert np.array_equal(in_place, out)


@pytest.mark.parametrize("grid", ["coarse", "fine"])
def test_relight_vector_kernel_gives_the_scalar_bytes(grid: str) -> None:
    # Rows long enough for the 8-pixel blocks and the scalar tail; a coarse grid (a block's pixels within 8
    # columns: loaded and permuted) and a fine one (gathered); the neutral mask on and off, with zeros; hostile
    # cells; black pixels (no luminance) and bright ones past the knee; in place too.
    rng = np.random.default_rng(11 if grid == "coarse" else 12)
    for width in (1, 9, 10, 11, 17, 64, 333):
        img = rng.integers(0, 256, (7, width, 3), dtype=np.uint8)
        img[0, : width // 2] = 0
        img[1, : width // 2] = 255
        gh, gw = (3, max(1, width // 40)) if grid == "coarse" else (7, width)
        factors = random_factors(rng, gh, gw)
        factors[rng.random((gh, gw, 6)) < 0.1] = np.nan
        neutral = rng.integers(0, 256, (7, width), dtype=np.uint8)
        neutral[rng.random((7, width)) < 0.5] = 0
        for n in (None, neutral):
            with simd_level(SIMD_NONE):
                expected = relight(img, factors, neutral=n, neutral_ceiling=0.7)
            with simd_level(SIMD_ALL):
                got = relight(img, factors, neutral=n, neutral_ceiling=0.7)
                in_place = img.copy()
                relight(in_place, factors, neutral=n, neutral_ceiling=0.7, out=in_place)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(in_place, expected)


def test_relight_samples_its_grid_as_opencv_resizes_it() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(20, 180, (23, 31, 3), dtype=np.uint8)
    grid = np.empty((4, 5, 6), np.float32)
    grid[..., 0], grid[..., 1], grid[..., 3], grid[..., 4:] = 1.0, 0.0, 1.0, 0.0
    grid[..., 2] = rng.uniform(0.5, 1.5, (4, 5))
    full = cv2.resize(grid, (31, 23), interpolation=cv2.INTER_LINEAR)
    one_by_one = np.stack([relight(img[i:i + 1, j:j + 1].copy(),
                                   full[i:i + 1, j:j + 1].copy())[0, 0]
                           for i in range(23) for j in range(31)]).reshape(23, 31, 3)
    assert np.abs(relight(img, grid).astype(int) - one_by_one.astype(int)).max() <= 1


def _factors(k: complex, light: float, ceiling: float = 1.0, skin: complex = 0j) -> np.ndarray:
    f = np.empty((1, 1, 6), np.float32)
    f[..., 0], f[..., 1], f[..., 2], f[..., 3], f[..., 4], f[..., 5] = k.real, k.imag, light, ceiling, skin.real, \
        skin.imag
    return f


def test_relight_neutral_factors_keep_the_image_below_the_knee() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 200, (20, 30, 3), dtype=np.uint8)  # luminance under 0.8 of the ceiling
    assert np.abs(relight(img, _factors(1 + 0j, 1.0)).astype(int) - img).max() <= 1


def test_relight_keeps_grey_grey_and_moves_skin_to_skin() -> None:
    def linear(rgb: np.ndarray) -> np.ndarray:
        c = rgb.astype(float) / 255
        return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)

    def luma(rgb: np.ndarray) -> float:
        return float(linear(rgb) @ np.array([0.2126, 0.7152, 0.0722]))

    def chroma(rgb: np.ndarray) -> complex:
        c = linear(rgb)
        return complex(c[0] / luma(rgb) - 1, c[2] / luma(rgb) - 1)

    pale, dark = np.array([228, 190, 170], np.uint8), np.array([120, 75, 55], np.uint8)
    k = chroma(dark) / chroma(pale)
    img = np.array([[pale, [128, 128, 128]]], np.uint8)
    out = relight(img, _factors(k, luma(dark) / luma(pale)))
    assert abs(chroma(out[0, 0]) - chroma(dark)) < 0.05
    assert np.ptp(out[0, 1].astype(int)) <= 1, "grey must stay grey"
    # A white highlight dimmed under a low ceiling takes the skin's colour in the share of light removed.
    white = np.full((1, 1, 3), 250, np.uint8)
    dimmed = relight(white, _factors(k, 1.0, ceiling=0.2, skin=chroma(dark)))
    assert dimmed[0, 0, 0] > dimmed[0, 0, 1] > dimmed[0, 0, 2], "a dimmed highlight shows the skin's hue"
    # Where neutral is full, the colour is not turned (eye whites, teeth) and the ceiling is neutral_ceiling.
    kept = relight(img, _factors(k, 1.0), neutral=np.full((1, 2), 255, np.uint8))
    assert np.abs(kept.astype(int) - img).max() <= 1


def test_relight_refuses_bad_factors() -> None:
    img = np.zeros((4, 5, 3), np.uint8)
    for bad in (np.zeros((4, 5, 4), np.float32), np.zeros((4, 5, 6), np.float64), np.zeros((0, 4, 6), np.float32),
                [[0.0] * 6]):
        with pytest.raises(ParameterValueError, match="factors must be a float32 grid"):
            relight(img, bad)  # type: ignore[arg-type]
    with pytest.raises(ParameterValueError):
        relight(np.zeros((4, 5), np.uint8), np.zeros((4, 5, 6), np.float32))
    with pytest.raises(ParameterValueError, match="neutral has shape"):
        relight(img, np.zeros((2, 2, 6), np.float32), neutral=np.zeros((5, 4), np.uint8))
    with pytest.raises(ParameterValueError, match="neutral_ceiling"):
        relight(img, np.zeros((2, 2, 6), np.float32), neutral_ceiling=0.0)


def test_relight_makes_bad_cells_neutral_before_interpolating() -> None:
    rng = np.random.default_rng(9)
    img = rng.integers(0, 180, (6, 8, 3), dtype=np.uint8)
    grid = np.zeros((2, 2, 6), np.float32)
    grid[..., 0], grid[..., 2], grid[..., 3] = 1.0, 1.0, 1.0
    grid[..., 2] = np.nan  # light unknown everywhere: the image is left as it is, not blackened
    assert np.abs(relight(img, grid).astype(int) - img).max() <= 1
    grid[..., 2] = 1.0
    grid[0, 0, 2] = np.inf  # one bad cell spoils nothing beyond it
    out = relight(img, grid)
    assert np.abs(out.astype(int) - img).max() <= 1


def test_colour_tables_built_by_racing_threads_give_the_same_bytes() -> None:
    """The core builds its colour tables once, on first use: threads that all make their first call at once (in a
    fresh process, where no table exists yet) must each get the bytes a lone call gives."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import threading, numpy as np
        from fusionkit.core import lab_stats, relight
        rng = np.random.default_rng(3)
        img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
        mask = np.full((37, 53), 255, np.uint8)
        grid = np.empty((5, 6, 6), np.float32)
        grid[..., 0], grid[..., 1], grid[..., 2] = 1.1, 0.05, 0.8
        grid[..., 3], grid[..., 4], grid[..., 5] = 0.9, 0.1, -0.05
        start, out = threading.Barrier(8), [None] * 8
        def first_call(i):
            start.wait()
            out[i] = (relight(img, grid), lab_stats(img, mask))
        threads = [threading.Thread(target=first_call, args=(i,)) for i in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        alone = relight(img, grid), lab_stats(img, mask)
        assert all(np.array_equal(o[0], alone[0]) for o in out)
        assert all(np.array_equal(o[1][0], alone[1][0]) and np.array_equal(o[1][1], alone[1][1]) for o in out)
        print("same")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
