"""warp_mesh against its NumPy twin, on random meshes and on the degenerate cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay

from fusionkit.core import warp_mesh
from fusionkit.core._simd import SIMD_ALL, SIMD_AVX2, SIMD_NONE, simd_level
from fusionkit.errors import ParameterValueError
from tests.core.strategies import images, meshes
from tests.core.twins import warp as twin

QUAD = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
QUAD_TRIS = np.array([[0, 1, 2], [0, 2, 3]], np.int32)


@pytest.fixture(scope="module", autouse=True, params=["simd", "scalar"])
def kernels(request):
    """Every test here runs twice: on the SIMD kernels the CPU has (the default), and on the scalar ones."""
    with simd_level(SIMD_ALL if request.param == "simd" else SIMD_NONE):
        yield request.param


def assert_matches_twin(src, sp, dp, tri, out):
    expected, expected_cov = twin.warp_mesh(src, sp, dp, tri, out)
    got = out.copy()
    cov = warp_mesh(src, sp, dp, tri, got)
    np.testing.assert_array_equal(cov, expected_cov)
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max(initial=0) <= 1, f"max difference {diff.max()} grey levels"


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_matches_twin_on_random_meshes(data):
    src = data.draw(images())
    c = 1 if src.ndim == 2 else src.shape[2]
    out = data.draw(images(channels=(c,)))
    if src.ndim != out.ndim:
        out = out.reshape(src.shape[:0] + out.shape[:2] + src.shape[2:])
    sp, dp, tri = data.draw(meshes(src.shape, out.shape))
    assert_matches_twin(src, sp, dp, tri, out)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_matches_twin_on_grid_meshes(data):
    """A regular grid mesh with jittered destinations: shared edges, no gaps, like a face mesh."""
    h, w = data.draw(st.integers(8, 40)), data.draw(st.integers(8, 40))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    gx, gy = np.meshgrid(np.linspace(0, w - 1, 5), np.linspace(0, h - 1, 5))
    sp = np.stack([gx.ravel(), gy.ravel()], axis=1)
    dp = sp + rng.uniform(-1.5, 1.5, sp.shape)
    tri = []
    for r in range(4):
        for c in range(4):
            i = r * 5 + c
            tri += [[i, i + 1, i + 6], [i, i + 6, i + 5]]
    assert_matches_twin(src, sp, dp, np.array(tri), out)


def test_identity_warp_reproduces_the_image():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    quad = QUAD * [52, 36]
    out = np.zeros_like(src)
    cov = warp_mesh(src, quad, quad, QUAD_TRIS, out)
    np.testing.assert_array_equal(out, src)
    assert (cov == 255).all()


def test_translation_by_whole_pixels_shifts_the_image():
    rng = np.random.default_rng(2)
    src = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    quad = QUAD * [29, 19]
    out = np.zeros_like(src)
    warp_mesh(src, quad, quad + [5, 3], QUAD_TRIS, out)
    np.testing.assert_array_equal(out[3:, 5:], src[:-3, :-5])
    assert (out[:3] == 0).all() and (out[:, :5] == 0).all()


def test_half_pixel_shift_averages_neighbours():
    src = np.array([[0, 100, 200, 250]], np.uint8).repeat(3, axis=0)
    quad = QUAD * [3, 2]
    out = np.zeros_like(src)
    warp_mesh(src, quad + [0.5, 0], quad, QUAD_TRIS, out)
    assert out[1].tolist() == [50, 150, 225, 250]  # the last sample clamps to the edge


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_channel_counts(channels):
    rng = np.random.default_rng(channels)
    shape = (16, 16) if channels == 1 else (16, 16, channels)
    src = rng.integers(0, 256, shape, dtype=np.uint8)
    out = np.zeros_like(src)
    sp = np.array([[0, 0], [15, 2], [3, 15]], float)
    dp = np.array([[1, 1], [14, 0], [0, 14]], float)
    assert_matches_twin(src, sp, dp, [[0, 1, 2]], out)


def test_empty_mesh_changes_nothing():
    src = np.full((8, 8, 3), 7, np.uint8)
    out = np.full((8, 8, 3), 9, np.uint8)
    cov = warp_mesh(src, np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 3), np.int32), out)
    assert (out == 9).all() and (cov == 0).all()


def test_zero_area_triangles_cover_nothing():
    src = np.full((8, 8), 7, np.uint8)
    out = np.zeros((8, 8), np.uint8)
    pts = np.array([[0, 0], [4, 4], [7, 7]], float)  # collinear
    cov = warp_mesh(src, pts, pts, [[0, 1, 2], [1, 1, 2]], out)
    assert (cov == 0).all() and (out == 0).all()


def test_inverted_triangle_covers_the_same_pixels():
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    pts = np.array([[2.3, 1.7], [17.2, 4.1], [6.6, 18.4]])
    a, b = np.zeros_like(src), np.zeros_like(src)
    cov_a = warp_mesh(src, pts, pts, [[0, 1, 2]], a)
    cov_b = warp_mesh(src, pts, pts, [[0, 2, 1]], b)
    np.testing.assert_array_equal(cov_a, cov_b)
    np.testing.assert_array_equal(a, b)


def test_mesh_partly_and_wholly_outside():
    rng = np.random.default_rng(4)
    src = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    out = np.zeros_like(src)
    partly = np.array([[-20.0, -20.0], [8.0, -5.0], [4.0, 30.0]])
    assert_matches_twin(src, partly, partly, [[0, 1, 2]], out)
    away = partly + 1000
    cov = warp_mesh(src, partly, away, [[0, 1, 2]], out)
    assert (cov == 0).all() and (out == 0).all()
    huge = np.array([[-1e12, -1e12], [1e12, -1e12], [0.0, 1e12]])
    cov = warp_mesh(src, huge, huge, [[0, 1, 2]], out)  # absurd but finite: clamps, never overflows
    assert (cov == 255).all()


def test_one_by_one_images():
    src = np.array([[[10, 20, 30]]], np.uint8)
    out = np.zeros((1, 1, 3), np.uint8)
    pts = np.array([[-1.0, -1.0], [2.0, -1.0], [-1.0, 2.0]])
    cov = warp_mesh(src, pts, pts, [[0, 1, 2]], out)
    assert out.tolist() == [[[10, 20, 30]]] and cov.tolist() == [[255]]


def test_noncontiguous_and_readonly_inputs_and_roi_outputs():
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    src = big[::2, ::3]  # non-contiguous input: copied
    src_ro = np.array(src)
    src_ro.flags.writeable = False
    canvas = np.zeros((50, 50, 3), np.uint8)
    out = canvas[10:30, 5:25]  # an ROI view: written in place, rows strided
    sp = np.array([[0, 0], [19, 0], [0, 19], [19, 19]], float)
    dp = sp * 0.9 + 1
    expected, _ = twin.warp_mesh(src_ro, sp, dp, [[0, 1, 2], [1, 3, 2]], out)
    warp_mesh(src, sp, dp, [[0, 1, 2], [1, 3, 2]], out)
    warp_mesh(src_ro, sp, dp, [[0, 1, 2], [1, 3, 2]], out)
    assert np.abs(out.astype(int) - expected).max() <= 1
    outside = canvas.copy()
    outside[10:30, 5:25] = 0
    assert (outside == 0).all(), "the warp wrote outside its ROI"


def test_in_place_warp_reads_the_original():
    rng = np.random.default_rng(6)
    img = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    sp = np.array([[0, 0], [11, 0], [0, 11], [11, 11]], float)
    dp = sp[::-1].copy()  # rotate by 180 degrees
    expected, _ = twin.warp_mesh(img, sp, dp, [[0, 1, 2], [1, 3, 2]], img)
    warp_mesh(img, sp, dp, [[0, 1, 2], [1, 3, 2]], img)
    np.testing.assert_array_equal(img, expected)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"src": np.zeros((4, 4), np.float32)}, "dtype uint8"),
        ({"src": np.zeros((4, 4, 2), np.uint8)}, "channel"),
        ({"src": np.zeros((0, 4), np.uint8)}, "empty"),
        ({"src": [[1, 2]]}, "NumPy array"),
        ({"out": np.zeros((4, 4, 3), np.uint8)}, "channel"),
        ({"out": np.zeros((4, 8), np.uint8)[:, ::2]}, "contiguous rows"),
        ({"src_points": [[0, 0], [1, 1]]}, "2 points but dst_points has 3"),
        ({"src_points": [[0, 0, 0], [1, 1, 1], [2, 2, 2]]}, "shape (N, 2)"),
        ({"dst_points": [[0, 0], [np.nan, 1], [2, 2]]}, "NaN or infinite"),
        ({"dst_points": [[0, 0], [np.inf, 1], [2, 2]]}, "row 1"),
        ({"src_points": [["a", "b"], [1, 1], [2, 2]]}, "numbers"),
        ({"triangles": [[0, 1, 3]]}, "[0, 3)"),
        ({"triangles": [[0, -1, 2]]}, "[0, 3)"),
        ({"triangles": [[0, 1]]}, "shape (M, 3)"),
        ({"triangles": [[0.0, 1.0, 2.0]]}, "integer"),
        ({"coverage": np.zeros((5, 4), np.uint8)}, "coverage has shape"),
    ],
)
def test_bad_input_raises_typed_errors(kwargs, needle):
    args = {
        "src": np.zeros((4, 4), np.uint8),
        "src_points": [[0, 0], [3, 0], [0, 3]],
        "dst_points": [[0, 0], [3, 0], [0, 3]],
        "triangles": [[0, 1, 2]],
        "out": np.zeros((4, 4), np.uint8),
    }
    args.update(kwargs)
    out_before = np.array(args["out"], copy=True)
    with pytest.raises(ParameterValueError) as info:
        warp_mesh(**args)
    assert info.value.code == "InvalidParameterValue.ParameterValueError"
    assert needle in info.value.message
    assert isinstance(info.value, ValueError)
    np.testing.assert_array_equal(np.asarray(args["out"]), out_before)


def test_readonly_output_is_refused():
    out = np.zeros((4, 4), np.uint8)
    out.flags.writeable = False
    with pytest.raises(ParameterValueError, match="read-only"):
        warp_mesh(np.zeros((4, 4), np.uint8), QUAD, QUAD, QUAD_TRIS, out)


def test_absurd_size_is_refused_before_allocation():
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(70000, 10), strides=(0, 0))
    with pytest.raises(ParameterValueError, match="limit"):
        warp_mesh(huge, QUAD, QUAD, QUAD_TRIS, np.zeros((4, 4), np.uint8))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), channels=st.sampled_from([1, 3, 4]))
def test_matches_twin_inside_a_larger_source(data, channels):
    """Meshes whose source lies well inside the image take the fast (and, where the CPU has it, vector) spans."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h, w = data.draw(st.integers(24, 60)), data.draw(st.integers(24, 60))
    shape = (h, w) if channels == 1 else (h, w, channels)
    src = rng.integers(0, 256, shape, dtype=np.uint8)
    out = rng.integers(0, 256, shape, dtype=np.uint8)
    n = 12
    dp = rng.uniform([-2, -2], [w + 1, h + 1], (n, 2))
    scale = data.draw(st.floats(0.2, 1.5))
    sp = (dp - [w / 2, h / 2]) * scale * 0.5 + [w / 2, h / 2] + rng.normal(0, 1.0, (n, 2))
    tri = rng.integers(0, n, (10, 3))
    assert_matches_twin(src, sp, dp, tri, out)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matches_twin_on_near_identity_rgb_warps(data):
    """Face-mesh-like warps of RGB images wide enough for the 16-pixel block kernel: near-identity local maps,
    some mirrored, some sheared so that a block's samples straddle two (or more) source rows, and some reaching
    the last rows and columns of the source, where blocks fall back to the per-pixel path."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h, w = data.draw(st.integers(20, 48)), data.draw(st.integers(64, 160))
    src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    gx, gy = np.meshgrid(np.linspace(0, w - 1, 6), np.linspace(0, h - 1, 4))
    dp = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(-1.5, 1.5, (24, 2))
    scale = data.draw(st.sampled_from([1.0, -1.0])) * data.draw(st.floats(0.7, 1.25))
    shear = data.draw(st.floats(-0.15, 0.15))
    sp = np.stack([(dp[:, 0] - w / 2) * scale + w / 2, dp[:, 1] + shear * (dp[:, 0] - w / 2)], axis=1)
    sp = np.clip(sp + rng.normal(0, 0.7, sp.shape), 0.01, [w - 1.01, h - 1.01])
    tri = []
    for r in range(3):
        for c in range(5):
            i = r * 6 + c
            tri += [[i, i + 1, i + 7], [i, i + 7, i + 6]]
    assert_matches_twin(src, sp, dp, np.array(tri), out)


def face_like_warp(seed: int, channels: int):
    """A Delaunay mesh over the middle of a random image, its source a smooth displacement of a few percent away
    (as in face fusion), so most spans take the fast and vector kernels and some the clamped one."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(40, 240, 2))
    shape = (h, w) if channels == 1 else (h, w, channels)
    src = rng.integers(0, 256, shape, dtype=np.uint8)
    out = rng.integers(0, 256, shape, dtype=np.uint8)
    dp = rng.uniform([0.05 * w, 0.05 * h], [0.95 * w, 0.95 * h], (60, 2))
    disp = 0.03 * np.stack([w * np.sin(dp[:, 1] / h * 3), h * np.cos(dp[:, 0] / w * 3)], axis=1)
    sp = np.clip(dp + disp + rng.normal(0, 0.5, dp.shape), -0.5, [w - 0.5, h - 0.5])
    tri = Delaunay(dp).simplices.astype(np.int32)
    return src, sp, dp, tri, out


def warp_at(level: int, src, sp, dp, tri, out):
    got = out.copy()
    with simd_level(level):
        cov = warp_mesh(src, sp, dp, tri, got)
    return got, cov


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_simd_kernels_match_the_scalar_ones(seed, channels):
    """The AVX2 spans give the scalar kernels' output bit for bit; the AVX-512 block kernel for RGB steps its
    positions in 16.16 within a block, so it may differ by one grey level (never in coverage)."""
    args = face_like_warp(seed, channels)
    scalar, scalar_cov = warp_at(SIMD_NONE, *args)
    avx2, avx2_cov = warp_at(SIMD_AVX2, *args)
    every, every_cov = warp_at(SIMD_ALL, *args)
    np.testing.assert_array_equal(avx2, scalar)
    np.testing.assert_array_equal(avx2_cov, scalar_cov)
    np.testing.assert_array_equal(every_cov, scalar_cov)
    assert np.abs(every.astype(int) - scalar.astype(int)).max() <= 1
