"""Arguments that could scale the work without bound (radii, sigmas, grid sizes) cost no more than the image needs.

A radius beyond the image's sides gives the same result as one of those sides (windows are truncated or
edge-replicated there), so the core clamps it: each test proves the results identical, and checks the work by
timing the call against its clamped (or otherwise equivalent) twin on the same machine, with a wide margin: before
the clamps the large calls were hundreds of times slower.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fusionkit.core as fc
from tests.core.twins import filter as filter_twin
from tests.core.twins import mask as twin

masks = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=40))


def best_seconds(fn: Callable[[], Any], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def assert_no_dearer(big: Callable[[], Any], clamped: Callable[[], Any], factor: float = 10.0) -> None:
    """``big`` costs at most ``factor`` times ``clamped`` (plus 20 ms of slack for a busy machine)."""
    clamped()
    t_clamped = best_seconds(clamped)
    t_big = best_seconds(big, repeats=3)
    assert t_big <= factor * t_clamped + 0.02, (t_big, t_clamped)


@settings(max_examples=150, deadline=None)
@given(mask=masks, radius=st.integers(0, 50), is_max=st.booleans())
def test_morph_matches_twin_at_every_radius(mask: np.ndarray, radius: int, is_max: bool) -> None:
    # Radii from 4 up double the window; beyond the image's sides they are clamped.
    fn = fc.dilate_mask if is_max else fc.erode_mask
    clamped = min(radius, max(mask.shape) - 1)
    np.testing.assert_array_equal(fn(mask, radius), twin.morph(mask, clamped, is_max=is_max))
    np.testing.assert_array_equal(fn(mask, radius), fn(mask, clamped))


@settings(max_examples=30, deadline=None)
@given(mask=masks, radius=st.sampled_from([0, 1, 65535, 65536]), is_max=st.booleans())
def test_morph_beyond_the_image_equals_the_clamped_radius(mask: np.ndarray, radius: int, is_max: bool) -> None:
    fn = fc.dilate_mask if is_max else fc.erode_mask
    clamped = min(radius, max(mask.shape) - 1)
    np.testing.assert_array_equal(fn(mask, radius), fn(mask, clamped))


def test_morph_with_a_huge_radius_costs_what_the_clamped_one_does() -> None:
    mask = (np.random.default_rng(0).random((256, 256)) < 0.2).astype(np.uint8) * 255
    for fn in (fc.dilate_mask, fc.erode_mask):
        np.testing.assert_array_equal(fn(mask, 65535), fn(mask, 255))
        assert_no_dearer(lambda fn=fn: fn(mask, 65535), lambda fn=fn: fn(mask, 255))


def test_morph_with_a_large_radius_costs_little_more_than_a_small_one() -> None:
    # Doubling windows: radius 200 costs a few passes more than radius 4, not fifty times as much.
    mask = (np.random.default_rng(1).random((400, 400)) < 0.2).astype(np.uint8) * 255
    assert_no_dearer(lambda: fc.dilate_mask(mask, 200), lambda: fc.dilate_mask(mask, 4))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_guided_filter_radius_beyond_the_image_equals_the_clamped_radius(data: Any) -> None:
    h, w = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    c = data.draw(st.sampled_from((1, 3, 4)))
    img = data.draw(hnp.arrays(np.uint8, (h, w, c)))
    clamped = max(h, w, 2) - 1
    radius = data.draw(st.integers(clamped, fc.filters.MAX_GUIDED_RADIUS))
    np.testing.assert_array_equal(fc.guided_filter(img, radius, 0.01), fc.guided_filter(img, clamped, 0.01))


def test_guided_filter_on_a_thin_image_with_the_largest_radius() -> None:
    # The ring of a and b rows is at most the image's height (it was 2 * radius + 2 rows of the image's width).
    img = np.random.default_rng(2).integers(0, 256, (3, 300, 3), dtype=np.uint8)
    got = fc.guided_filter(img, 128, 0.01)
    assert np.abs(got.astype(int) - filter_twin.guided_filter(img, 128, 0.01)).max() <= 1


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_feather_with_a_wide_sigma_on_thin_masks_matches_twin(data: Any) -> None:
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    if data.draw(st.booleans()):
        h = data.draw(st.integers(1, 300))
    else:
        w = data.draw(st.integers(1, 300))
    mask = data.draw(hnp.arrays(np.uint8, (h, w)))
    sigma = data.draw(st.floats(0.0, fc.masks.MAX_SIGMA))
    np.testing.assert_array_equal(fc.feather_mask(mask, sigma), twin.feather_mask(mask, sigma))


def test_feather_with_the_widest_sigma_costs_what_the_image_does() -> None:
    # Each box window used to be started by summing its 2r + 1 pixels, on every row: O(r) a row.
    mask = np.random.default_rng(3).integers(0, 256, (20000, 1), dtype=np.uint8)
    assert_no_dearer(lambda: fc.feather_mask(mask, 1000.0), lambda: fc.feather_mask(mask, 1.0))
    assert_no_dearer(lambda: fc.feather_mask(mask.T, 1000.0), lambda: fc.feather_mask(mask.T, 1.0))


def test_relight_through_a_grid_wider_than_the_image() -> None:
    # A one-pixel-wide image samples the middle two columns of an even grid, half and half: only those count,
    # and only those are interpolated, however wide the grid.
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (3000, 1, 3), dtype=np.uint8)
    wide = rng.uniform(0.2, 1.5, (2, 65536, 6)).astype(np.float32)
    narrow = np.ascontiguousarray(wide[:, 32767:32769])
    np.testing.assert_array_equal(fc.relight(image, wide), fc.relight(image, narrow))
    assert_no_dearer(lambda: fc.relight(image, wide), lambda: fc.relight(image, narrow))
