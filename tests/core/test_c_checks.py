"""The C core's own checks: whatever a caller of the raw binding passes, it never reads or writes outside."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fusionkit
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import CoreError, CoreNotBuiltError


def raw_view(arr, *, size=None, height=None, width=None, channels=None, stride=None):
    v = ffi.new("fk_image *")
    v.data = ffi.cast("uint8_t *", arr.__array_interface__["data"][0])
    v.height = arr.shape[0] if height is None else height
    v.width = arr.shape[1] if width is None else width
    v.channels = (1 if arr.ndim == 2 else arr.shape[2]) if channels is None else channels
    v.stride = arr.strides[0] if stride is None else stride
    v.size = arr.nbytes if size is None else size
    return v


def test_version_and_messages():
    assert ffi.string(lib.fk_version()).decode() == fusionkit.__version__
    assert ffi.string(lib.fk_status_message(lib.FK_EBOUNDS)).decode().startswith("a view reaches past")
    assert ffi.string(lib.fk_status_message(-999)).decode() == "unknown status"
    check(0, "noop")
    with pytest.raises(CoreError) as info:
        check(lib.FK_EINDEX, "warp_mesh")
    assert info.value.status == lib.FK_EINDEX and "point index" in info.value.message


@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"size": 15}, "FK_EBOUNDS"),  # one byte short of 4 x 4
        ({"stride": 3}, "FK_EBOUNDS"),  # rows overlap
        ({"height": 5}, "FK_EBOUNDS"),
        ({"height": 0}, "FK_ESHAPE"),
        ({"width": -1}, "FK_ESHAPE"),
        ({"channels": 2}, "FK_ECHANNELS"),
        ({"height": 70000}, "FK_ETOOLARGE"),
        ({"size": -1}, "FK_EBOUNDS"),
    ],
)
def test_bad_views_are_refused_by_every_routine(override, status):
    good = np.zeros((4, 4), np.uint8)
    guard = np.zeros(64, np.uint8)
    bad = raw_view(guard[:16].reshape(4, 4), **override)
    code = getattr(lib, status)
    pts = ffi.new("double[]", [0, 0, 3, 0, 0, 3])
    tri = ffi.new("int32_t[]", [0, 1, 2])
    g = raw_view(good)
    assert lib.fk_warp_mesh(bad, g, raw_view(good.copy()), pts, pts, 3, tri, 1) == code
    assert lib.fk_warp_mesh(g, bad, raw_view(good.copy()), pts, pts, 3, tri, 1) == code
    assert lib.fk_fill_polygon(bad, pts, 3) == code
    assert lib.fk_erode_mask(bad, g, 1) == code
    assert lib.fk_dilate_mask(g, bad, 1) == code
    assert lib.fk_feather_mask(bad, g, 2.0) == code
    assert lib.fk_composite(g, g, bad, 0, 0) == code
    d3, c3 = ffi.new("double[3]"), ffi.new("double[3]")
    count = ffi.new("int64_t *")
    assert lib.fk_robust_stats(bad, ffi.NULL, 1, 2.5, d3, c3, count) == code
    assert lib.fk_robust_stats(g, bad, 1, 2.5, d3, c3, count) == code
    # The blends, colour and filters refuse the same views (their first check may name another status).
    rgb = raw_view(np.zeros((4, 4, 3), np.uint8))
    cycles, residual = ffi.new("int32_t *"), ffi.new("double *")
    refused = [
        lib.fk_blend_multiband(bad, g, raw_view(good.copy()), 0, 0, 2),
        lib.fk_blend_multiband(g, g, bad, 0, 0, 2),
        lib.fk_blend_poisson(bad, g, raw_view(good.copy()), 0, 0, 0, 1e-3, 5, ffi.NULL, 0, cycles, residual),
        lib.fk_blend_poisson(g, bad, raw_view(good.copy()), 0, 0, 0, 1e-3, 5, ffi.NULL, 0, cycles, residual),
        lib.fk_lab_stats(rgb, bad, 0, d3, c3),
        lib.fk_colour_transfer(rgb, bad, rgb, 0, d3, c3, 1.0, d3, c3),
        lib.fk_guided_filter(bad, ffi.NULL, raw_view(good.copy()), 1, 0.01, 1.0),
        lib.fk_unsharp_mask(g, bad, raw_view(good.copy()), 1.0, 1.0, 1.0),
        lib.fk_relight(bad, ffi.new("float[]", 96), 4, 4, 96, ffi.NULL, 1.0, rgb),
        lib.fk_relight(rgb, ffi.new("float[]", 96), 4, 4, 96, ffi.NULL, 1.0, bad),
        lib.fk_relight(rgb, ffi.new("float[]", 96), 4, 4, 96, bad, 1.0, rgb),
        lib.fk_relight(rgb, ffi.new("float[]", 95), 4, 4, 95, ffi.NULL, 1.0, rgb),  # one factor short
        lib.fk_relight(rgb, ffi.new("float[]", 6), 0, 1, 6, ffi.NULL, 1.0, rgb),  # an empty grid
    ]
    assert all(rc < 0 for rc in refused), refused
    assert (guard == 0).all()


def test_mesh_arguments_checked_in_c():
    img = np.zeros((4, 4), np.uint8)
    cov = np.zeros((4, 4), np.uint8)
    pts = ffi.new("double[]", [0, 0, 3, 0, 0, 3])
    nan = ffi.new("double[]", [0, 0, float("nan"), 0, 0, 3])
    v, o, c = raw_view(img), raw_view(img.copy()), raw_view(cov)
    assert lib.fk_warp_mesh(v, o, c, pts, pts, 3, ffi.new("int32_t[]", [0, 1, 3]), 1) == lib.FK_EINDEX
    assert lib.fk_warp_mesh(v, o, c, pts, pts, 3, ffi.new("int32_t[]", [0, -1, 2]), 1) == lib.FK_EINDEX
    assert lib.fk_warp_mesh(v, o, c, nan, pts, 3, ffi.new("int32_t[]", [0, 1, 2]), 1) == lib.FK_ENONFINITE
    assert lib.fk_warp_mesh(v, o, c, ffi.NULL, pts, 3, ffi.new("int32_t[]", [0, 1, 2]), 1) == lib.FK_ENULL
    assert lib.fk_warp_mesh(v, o, c, pts, pts, -1, ffi.NULL, 0) == lib.FK_EARG
    assert lib.fk_warp_mesh(v, raw_view(np.zeros((4, 4, 3), np.uint8)), c, pts, pts, 3, ffi.NULL, 0) \
        == lib.FK_ECHANNELS
    assert lib.fk_composite(v, v, raw_view(np.zeros((4, 4), np.uint8)), 1, 0) == lib.FK_EBOUNDS
    assert lib.fk_feather_mask(v, o, -1.0) == lib.FK_EARG
    assert lib.fk_erode_mask(v, o, -3) == lib.FK_EARG
    assert lib.fk_fill_polygon(v, nan, 3) == lib.FK_ENONFINITE
    d3, c3, count = ffi.new("double[3]"), ffi.new("double[3]"), ffi.new("int64_t *")
    assert lib.fk_robust_stats(v, ffi.NULL, 0, 2.5, d3, c3, count) == lib.FK_EARG
    assert lib.fk_robust_stats(v, ffi.NULL, 1, float("nan"), d3, c3, count) == lib.FK_EARG
    assert lib.fk_robust_stats(v, ffi.NULL, 1, 2.5, d3, c3, ffi.NULL) == lib.FK_ENULL
    assert lib.fk_robust_stats(v, raw_view(np.zeros((4, 4, 3), np.uint8)), 1, 2.5, d3, c3, count) \
        == lib.FK_ECHANNELS


def test_missing_extension_raises_a_clear_error():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fusionkit._core':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        "    import fusionkit.core\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e.code, 'pip install' in str(e))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.split() == ["CoreNotBuiltError", "FailedOperation.CoreNotBuilt", "True"]
    assert issubclass(CoreNotBuiltError, ImportError)


def test_sanitized_core_is_the_one_under_test_when_asked():
    # `make test-sanitize` sets FUSIONKIT_EXPECT_CORE so that a mix-up of builds cannot pass silently.
    expected = os.environ.get("FUSIONKIT_EXPECT_CORE")
    from fusionkit import _core

    if expected:
        assert os.path.abspath(expected) in os.path.abspath(_core.__file__)
    else:
        assert _core.__file__.endswith(".so")


def test_a_single_row_may_keep_its_parents_stride():
    # A row cut from a larger image keeps the image's row stride, beyond the row's own bytes; the core never steps
    # over it, so it accepts the view (it used to refuse it with FK_EBOUNDS), and still refuses too short a buffer.
    parent = np.zeros((8, 64), np.uint8)
    pts = ffi.new("double[]", [0, 0, 50, 0, 0, 50])
    assert lib.fk_fill_polygon(raw_view(parent[3:4, 5:40], size=35), pts, 3) == lib.FK_OK
    assert parent[3, 5:40].all() and not parent[2].any() and not parent[4].any()
    assert lib.fk_fill_polygon(raw_view(parent[3:4, 5:40], size=34), pts, 3) == lib.FK_EBOUNDS
    assert lib.fk_fill_polygon(raw_view(parent[3:5, 5:40], size=64 + 34), pts, 3) == lib.FK_EBOUNDS
