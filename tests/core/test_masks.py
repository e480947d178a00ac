"""Polygon fill, erosion/dilation, feathering and compositing against their NumPy twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fusionkit.core import (
    box_radii_for_sigma,
    composite,
    dilate_mask,
    erode_mask,
    feather_mask,
    fill_polygon,
)
from fusionkit.core._simd import SIMD_ALL, SIMD_NONE, simd_level
from fusionkit.errors import ParameterValueError
from tests.core.strategies import images, star_polygons
from tests.core.twins import box as box_twin
from tests.core.twins import mask as twin

masks = st.builds(lambda a: a, hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=30)))


# --- fill_polygon ---------------------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_fill_polygon_matches_exact_area(data):
    h, w = data.draw(st.integers(1, 20)), data.draw(st.integers(1, 20))
    poly = data.draw(star_polygons((h, w)))
    out = np.full((h, w), 77, np.uint8)  # stale content must be overwritten
    fill_polygon(poly, out)
    expected = twin.fill_polygon(poly, (h, w))
    assert np.abs(out.astype(int) - expected).max() <= 1


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_fill_polygon_matches_exact_area_over_strips_and_narrow_spans(data):
    # The core accumulates 32 rows at a time and only the columns a polygon spans: a tall mask, and polygons
    # far narrower than it, go through both.
    h, w = data.draw(st.integers(33, 90)), data.draw(st.integers(20, 70))
    poly = data.draw(star_polygons((h, w)))
    poly[:, 0] = poly[:, 0] * data.draw(st.floats(0.05, 1.0)) + data.draw(st.floats(-5.0, w))
    out = np.full((h, w), 77, np.uint8)
    fill_polygon(poly, out)
    expected = twin.fill_polygon(poly, (h, w))
    assert np.abs(out.astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("shape", "polygon"), [
    ((40, 64), [(10, 2), (-1e18, 2.7), (20, 30)]),  # rounding sends an interpolated x far off
    ((40, 64), [(10, 2), (1e18, 2.7), (20, 30)]),
    ((20, 100), [(-1e300, -0.25), (5, -0.25 + 2**-54), (5, 10)]),  # a slope that overflows to infinity
    ((20, 100), [(-1.7e308, 2), (5, 2.5), (5, 10)]),
    ((20, 100), [(1.7e308, 2), (50, 2.5), (50, 10)]),
])
def test_fill_polygon_huge_coordinates_stay_inside_the_accumulator(shape, polygon):
    # The core keeps cells only for the columns a polygon spans; coordinates near the largest doubles must not
    # write past them (the sanitizer build runs this too) nor leave a pixel outside 0-255 coverage.
    out = np.full(shape, 77, np.uint8)
    poly = np.array(polygon, np.float64)
    fill_polygon(poly, out)
    # Nothing lands beyond the polygon's own extent (a NaN cell once turned a whole row to 255).
    xs, ys = poly[:, 0], poly[:, 1]
    left, right = math.floor(max(xs.min(), -2.0)) - 1, math.ceil(min(xs.max(), shape[1] + 2.0)) + 2
    top, bottom = math.floor(ys.min()) - 1, math.ceil(ys.max()) + 2
    assert not out[:, max(right, 0):].any() and not out[:, :max(left, 0)].any()
    assert not out[max(bottom, 0):].any() and not out[:max(top, 0)].any()
    assert out.any()


def test_fill_polygon_of_many_points_matches_the_twin():
    # A polygon of many points is accumulated in one strip (each strip walks every edge).
    h, w = 70, 50
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    poly = np.stack([25 + 20 * np.cos(t), 35 + 33 * np.sin(t)], axis=1)
    out = np.zeros((h, w), np.uint8)
    fill_polygon(poly, out)
    assert np.abs(out.astype(int) - twin.fill_polygon(poly, (h, w))).max() <= 1


def test_fill_polygon_rectangle_has_exact_partial_pixels():
    out = np.zeros((10, 10), np.uint8)
    fill_polygon([[2, 2], [7.5, 2], [7.5, 6.3], [2, 6.3]], out)
    assert out[4, 4] == 255 and out[4, 8] == 0
    assert out[2, 4] == 128 and out[4, 2] == 128  # half-covered edge pixels
    assert out[6, 4] == 204  # 0.8 covered


def test_fill_polygon_clips_outside_and_degenerate():
    out = np.zeros((5, 5), np.uint8)
    fill_polygon([[-100, -100], [100, -100], [100, 100], [-100, 100]], out)
    assert (out == 255).all()
    fill_polygon([[20, 20], [30, 20], [30, 30]], out)
    assert (out == 0).all()
    fill_polygon([[0, 0], [4, 4]], out)  # fewer than 3 points: nothing
    assert (out == 0).all()
    fill_polygon([[0, 0], [2, 2], [4, 4]], out)  # zero area
    assert (out == 0).all()


def test_fill_polygon_into_roi_view_stays_inside():
    canvas = np.zeros((20, 20), np.uint8)
    fill_polygon([[-5, -5], [30, -5], [30, 30], [-5, 30]], canvas[5:10, 3:8])
    assert canvas[5:10, 3:8].min() == 255 and canvas.sum() == 25 * 255


@pytest.mark.parametrize("bad", [[[0, 0], [1, np.nan], [2, 2]], [[0, 0, 0]], "abc"])
def test_fill_polygon_bad_points(bad):
    with pytest.raises(ParameterValueError):
        fill_polygon(bad, np.zeros((4, 4), np.uint8))


def test_fill_polygon_needs_a_single_channel_mask():
    with pytest.raises(ParameterValueError, match="1 channel"):
        fill_polygon([[0, 0], [1, 0], [0, 1]], np.zeros((4, 4, 3), np.uint8))


# --- erode / dilate -------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(mask=masks, radius=st.integers(0, 6))
def test_erode_and_dilate_match_twin(mask, radius):
    np.testing.assert_array_equal(erode_mask(mask, radius), twin.morph(mask, radius, is_max=False))
    np.testing.assert_array_equal(dilate_mask(mask, radius), twin.morph(mask, radius, is_max=True))


def test_morph_in_place_and_on_roi():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (30, 30), dtype=np.uint8)
    roi = big[5:25, 7:20]
    expected = twin.morph(roi.copy(), 3, is_max=False)
    erode_mask(roi, 3, out=roi)
    np.testing.assert_array_equal(roi, expected)


def test_morph_all_zero_and_all_full():
    for value in (0, 255):
        m = np.full((9, 9), value, np.uint8)
        assert (erode_mask(m, 4) == value).all() and (dilate_mask(m, 4) == value).all()


@pytest.mark.parametrize("radius", [-1, 1.5, True, "2", 10**6])
def test_morph_bad_radius(radius):
    with pytest.raises(ParameterValueError, match="radius"):
        erode_mask(np.zeros((4, 4), np.uint8), radius)


# --- feather --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, 0.5, 1.0, 2.0, 3.7, 10.0, 50.0, 1000.0])
def test_box_radii_match_twin(sigma):
    assert box_radii_for_sigma(sigma) == box_twin.box_radii_for_sigma(sigma)


@settings(max_examples=80, deadline=None)
@given(mask=masks, sigma=st.floats(0, 12, allow_nan=False))
def test_feather_matches_twin_exactly(mask, sigma):
    np.testing.assert_array_equal(feather_mask(mask, sigma), twin.feather_mask(mask, sigma))


@pytest.mark.parametrize("shape", [(16, 16), (17, 200), (47, 129), (384, 332), (200, 3), (3, 200)])
def test_feather_of_face_sized_masks_matches_twin_exactly(shape):
    """Masks past the 30-pixel sides drawn above: the horizontal passes run over the transpose, in 16 x 16 blocks
    with byte-by-byte edges, here on a strided view."""
    rng = np.random.default_rng(sum(shape))
    h, w = shape
    frame = rng.integers(0, 256, (h + 5, w + 7), dtype=np.uint8)
    frame[2:2 + h, 3:3 + w] = np.where(rng.random((h, w)) < 0.4, 255, frame[2:2 + h, 3:3 + w] // 2)
    mask = frame[2:2 + h, 3:3 + w]
    for sigma in (0.3, 1.5, 9.6):
        np.testing.assert_array_equal(feather_mask(mask, sigma), twin.feather_mask(mask, sigma))


def test_feather_approximates_a_gaussian():
    import cv2

    m = np.zeros((101, 101), np.uint8)
    m[:, 50:] = 255
    ours = feather_mask(m, 8.0).astype(int)
    gauss = cv2.GaussianBlur(m, (0, 0), 8.0, borderType=cv2.BORDER_REPLICATE).astype(int)
    assert np.abs(ours - gauss).max() <= 6  # three boxes: within a few grey levels of a true Gaussian
    assert ours[50, 0] == 0 and ours[50, 100] == 255


def test_feather_keeps_all_zero_and_all_full_masks():
    for value in (0, 255):
        assert (feather_mask(np.full((7, 9), value, np.uint8), 5) == value).all()


@pytest.mark.parametrize("sigma", [-1, np.nan, np.inf, 1e9, "x", None])
def test_feather_bad_sigma(sigma):
    with pytest.raises(ParameterValueError, match="sigma"):
        feather_mask(np.zeros((4, 4), np.uint8), sigma)


def test_feather_output_must_match():
    with pytest.raises(ParameterValueError, match="out has shape"):
        feather_mask(np.zeros((4, 4), np.uint8), 1.0, out=np.zeros((4, 5), np.uint8))


# --- composite ------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_composite_matches_twin_exactly(data):
    dst = data.draw(images(max_side=20))
    c = 1 if dst.ndim == 2 else dst.shape[2]
    h = data.draw(st.integers(1, dst.shape[0]))
    w = data.draw(st.integers(1, dst.shape[1]))
    src = data.draw(hnp.arrays(np.uint8, (h, w) + dst.shape[2:]))
    mask = data.draw(hnp.arrays(np.uint8, (h, w)))
    x = data.draw(st.integers(0, dst.shape[1] - w))
    y = data.draw(st.integers(0, dst.shape[0] - h))
    expected = twin.composite(src, mask, dst, (x, y))
    got = dst.copy()
    composite(src, mask, got, (x, y))
    np.testing.assert_array_equal(got, expected)
    assert c in (1, 3, 4)


@pytest.mark.parametrize("level", [SIMD_NONE, SIMD_ALL], ids=["scalar", "simd"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_composite_kernels_match_the_twin_on_wide_rows(level: int, channels: int) -> None:
    # Rows long enough for the vector kernel's 16-pixel blocks and its tail, masks with empty blocks, full runs and
    # every value, at an offset into the destination.
    rng = np.random.default_rng(channels)
    for width in (1, 15, 16, 17, 47, 100, 333):
        shape = (9, width) + ((channels,) if channels > 1 else ())
        src = rng.integers(0, 256, shape, dtype=np.uint8)
        mask = rng.integers(0, 256, (9, width), dtype=np.uint8)
        mask[0] = 0
        mask[1] = 255
        mask[2, : width // 2] = 0
        dst = rng.integers(0, 256, (12, width + 5) + shape[2:], dtype=np.uint8)
        expected = twin.composite(src, mask, dst, (3, 2))
        got = dst.copy()
        with simd_level(level):
            composite(src, mask, got, (3, 2))
        np.testing.assert_array_equal(got, expected)


def test_composite_rounding_is_exact_for_every_value():
    s, m = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    for d in (0, 1, 127, 128, 254, 255):
        dst = np.full((256, 256), d, np.uint8)
        expected = twin.composite(s, m, dst, (0, 0))
        composite(s, m, dst, (0, 0))
        np.testing.assert_array_equal(dst, expected)


def test_composite_all_zero_and_all_full_masks():
    src = np.full((4, 4, 3), 200, np.uint8)
    dst = np.full((6, 6, 3), 10, np.uint8)
    composite(src, np.zeros((4, 4), np.uint8), dst, (1, 1))
    assert (dst == 10).all()
    composite(src, np.full((4, 4), 255, np.uint8), dst, (1, 1))
    assert (dst[1:5, 1:5] == 200).all() and dst.sum() == 16 * 3 * 200 + 20 * 3 * 10


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"origin": (3, 0)}, "does not fit"),
        ({"origin": (-1, 0)}, "does not fit"),
        ({"origin": "ab"}, "origin"),
        ({"mask": np.zeros((3, 4), np.uint8)}, "mask has shape"),
        ({"dst": np.zeros((6, 6), np.uint8)}, "channel"),
        ({"src": np.zeros((4, 4, 3), np.int16)}, "dtype uint8"),
    ],
)
def test_composite_bad_input(kwargs, needle):
    args = {"src": np.zeros((4, 4, 3), np.uint8), "mask": np.zeros((4, 4), np.uint8),
            "dst": np.zeros((6, 6, 3), np.uint8), "origin": (0, 0)}
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=needle):
        composite(**args)
