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
