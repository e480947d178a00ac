"""Multi-band (Laplacian pyramid) blending: the C core against its NumPy twin, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionkit.core import blend_multiband
from fusionkit.core.blend import default_levels
from fusionkit.errors import ParameterValueError
from tests.core.conftest_blend import images, masks
from tests.core.twins import blend as twin

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scenes(draw):  # type: ignore[no-untyped-def]
    src = draw(images(min_side=2, max_side=40))
    h, w = src.shape[:2]
    c = 1 if src.ndim == 2 else src.shape[2]
    dh, dw = draw(st.integers(h, h + 12)), draw(st.integers(w, w + 12))
    dst = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, (dh, dw, c), dtype=np.uint8)
    if src.ndim == 2:
        dst = dst[:, :, 0]
    x, y = draw(st.integers(0, dw - w)), draw(st.integers(0, dh - h))
    mask = draw(masks(h, w))
    max_levels = min(h, w).bit_length()
    levels = draw(st.integers(1, min(max_levels, 6)))
    return src, mask, dst, (x, y), levels


@SETTINGS
@given(scenes())
def test_matches_twin(scene) -> None:  # type: ignore[no-untyped-def]
    src, mask, dst, origin, levels = scene
    out = dst.copy()
    blend_multiband(src, mask, out, origin, levels=levels)
    expect = twin.blend_multiband(src, mask, dst, origin, levels)
    diff = np.abs(out.astype(int) - expect.astype(int))
    assert diff.max() <= 2, f"max difference {diff.max()} grey levels"


def test_twin_agreement_on_a_face_sized_scene() -> None:
    rng = np.random.default_rng(3)
    h, w = 240, 320
    yy, xx = np.mgrid[0:h, 0:w]
    src = np.clip(128 + 90 * np.sin(xx / 9.0)[..., None] + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(
        np.uint8
    )
    dst = np.clip(90 + 60 * np.cos(yy / 13.0)[..., None] + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(
        np.uint8
    )
    mask = np.where(((yy - 120) / 80.0) ** 2 + ((xx - 160) / 110.0) ** 2 < 1, 255, 0).astype(np.uint8)
    out = dst.copy()
    blend_multiband(src, mask, out, levels=6)
    expect = twin.blend_multiband(src, mask, dst, (0, 0), 6)
    diff = np.abs(out.astype(int) - expect.astype(int))
    # The twin works in float64, the core in float32: a value a hair from .5 rounds the other way, rarely (2 of
    # 230,400 here). A systematic slip (a rounding offset, a window a column short) moves far more.
    assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.0005 * diff.size
    # Deep inside the mask the source wins, far outside the destination is untouched.
    assert np.abs(out[120, 160].astype(int) - src[120, 160].astype(int)).max() <= 3
    assert (out[:, :5] == dst[:, :5]).all() or np.abs(out[:, :5].astype(int) - dst[:, :5]).max() <= 2


SMALL_SIZES = [(2, 2), (3, 5), (7, 3), (4, 9), (6, 6)]  # rows of one to a few pixels at every level


@pytest.mark.parametrize("case", range(8 + len(SMALL_SIZES)))
def test_colour_equals_its_channels_blended_one_by_one(case: int) -> None:
    """Each channel goes through the same operations in the same order whatever the channel count, so an RGB blend
    is its three one-channel blends bit for bit: this checks the RGB kernels (which move a pixel as one vector and
    reach a spare float past each row) against the one-channel loops, sizes small and odd included."""
    rng = np.random.default_rng(case)
    h, w = SMALL_SIZES[case - 8] if case >= 8 else (int(v) for v in rng.integers(2, 90, 2))
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    dst = rng.integers(0, 256, (h + 9, w + 7, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.clip(255 * (1.5 - np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))), 0, 255).astype(np.uint8)
    origin = (int(rng.integers(0, 8)), int(rng.integers(0, 10)))
    levels = int(rng.integers(1, max(2, min(h, w).bit_length()) + 1))
    out = dst.copy()
    blend_multiband(src, mask, out, origin, levels=levels)
    for ch in range(3):
        plane = np.ascontiguousarray(dst[:, :, ch])
        blend_multiband(np.ascontiguousarray(src[:, :, ch]), mask, plane, origin, levels=levels)
        np.testing.assert_array_equal(out[:, :, ch], plane)


def test_full_mask_pastes_the_source() -> None:
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    dst = rng.integers(0, 256, (60, 70, 3), dtype=np.uint8)
    out = dst.copy()
    blend_multiband(src, np.full((33, 47), 255, np.uint8), out, (5, 9), levels=4)
    assert np.abs(out[9:42, 5:52].astype(int) - src).max() <= 1
    outside = np.ones(out.shape[:2], bool)
    outside[9:42, 5:52] = False
    assert (out[outside] == dst[outside]).all()


def test_far_from_the_mask_dst_is_untouched() -> None:
    rng = np.random.default_rng(2)
    src = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    dst = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    mask = np.zeros((200, 200), np.uint8)
    mask[10:20, 10:20] = 255
    out = dst.copy()
    blend_multiband(src, mask, out, levels=3)
    margin = 3 << 3
    assert (out[20 + margin :, :] == dst[20 + margin :, :]).all()


def test_default_levels() -> None:
    assert default_levels(1080, 1920) == 6
    assert default_levels(100, 100) == 3
    assert default_levels(10, 10) == 1
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    out = np.zeros_like(src)
    blend_multiband(src, np.full((100, 100), 128, np.uint8), out)
    expect = twin.blend_multiband(src, np.full((100, 100), 128, np.uint8), np.zeros_like(src), (0, 0), 3)
    assert np.abs(out.astype(int) - expect).max() <= 2


def test_in_place_source_from_dst() -> None:
    rng = np.random.default_rng(4)
    dst = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    mask = np.full((20, 20), 255, np.uint8)
    expect = twin.blend_multiband(dst[0:20, 0:20].copy(), mask, dst, (25, 25), 3)
    blend_multiband(dst[0:20, 0:20], mask, dst, (25, 25), levels=3)
    assert np.abs(dst.astype(int) - expect).max() <= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src": np.zeros((8, 8, 3), np.float32)}, "dtype uint8"),
        ({"mask": np.full((8, 9), 255, np.uint8)}, "must match"),
        ({"mask": np.zeros((8, 8), np.uint8)}, "all zero"),
        ({"dst": np.zeros((20, 20), np.uint8)}, "channel"),
        ({"origin": (15, 0)}, "does not fit"),
        ({"origin": (-1, 0)}, "does not fit"),
        ({"origin": "a"}, "origin"),
        ({"levels": 0}, "levels"),
        ({"levels": 13}, "levels"),
        ({"levels": 5}, "pixels a side"),
        ({"levels": 2.0}, "whole number"),
        ({"levels": True}, "whole number"),
        ({"src": np.zeros((0, 8, 3), np.uint8)}, "empty"),
        ({"src": np.zeros((8, 8, 2), np.uint8)}, "channel"),
    ],
)
def test_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {
        "src": np.zeros((8, 8, 3), np.uint8),
        "mask": np.full((8, 8), 255, np.uint8),
        "dst": np.zeros((20, 20, 3), np.uint8),
        "origin": (0, 0),
        "levels": 2,
    }
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=message):
        blend_multiband(args["src"], args["mask"], args["dst"], args["origin"], levels=args["levels"])


def test_read_only_dst() -> None:
    dst = np.zeros((20, 20, 3), np.uint8)
    dst.flags.writeable = False
    with pytest.raises(ParameterValueError, match="read-only"):
        blend_multiband(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 255, np.uint8), dst)
