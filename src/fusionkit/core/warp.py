"""Piecewise-affine mesh warp (C core)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionkit.core import views
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import ParameterValueError

__all__ = ["validate_triangles", "warp_mesh"]


def validate_triangles(triangles: Any, n_points: int, name: str = "triangles") -> npt.NDArray[np.int32]:
    """Validate an M x 3 array of point indices, each in ``[0, n_points)``; return it as C-contiguous int32."""
    try:
        tri = np.asarray(triangles)
    except (ValueError, TypeError, OverflowError):  # a ragged list, or values no array holds
        raise ParameterValueError(f"{name} must be an (M, 3) array of point indices") from None
    if tri.size == 0:
        return np.zeros((0, 3), np.int32)
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ParameterValueError(f"{name} must have shape (M, 3), one row of point indices per triangle, "
                                  f"got shape {tri.shape}")
    if not np.issubdtype(tri.dtype, np.integer):
        raise ParameterValueError(f"{name} must hold integer point indices, got dtype {tri.dtype}")
    if tri.shape[0] > 1 << 24:
        raise ParameterValueError(f"{name} has {tri.shape[0]} triangles, beyond the limit of {1 << 24}")
    bad = (tri < 0) | (tri >= n_points)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ParameterValueError(f"{name} row {row} is {tri[row].tolist()}, but indices must lie in "
                                  f"[0, {n_points}) for {n_points} points")
    return np.ascontiguousarray(tri, dtype=np.int32)


def warp_mesh(
    src: npt.NDArray[np.uint8],
    src_points: npt.ArrayLike,
    dst_points: npt.ArrayLike,
    triangles: npt.ArrayLike,
    out: npt.NDArray[np.uint8],
    *,
    coverage: npt.NDArray[np.uint8] | None = None,
) -> npt.NDArray[np.uint8]:
    """Warp ``src`` into ``out`` triangle by triangle (a piecewise-affine warp of a mesh).

    Every pixel of ``out`` whose centre lies inside a destination triangle gets ``src`` bilinearly sampled at the
    same barycentric position in the matching source triangle; pixels outside the mesh keep their values. Pixel
    centres sit at integer coordinates; samples outside ``src`` clamp to its edge. Where triangles overlap, the
    later one wins. Only the bounding box of the destination mesh is visited.

    Parameters
    ----------
    src
        Source image, uint8, (H, W) or (H, W, C) with C in 1, 3, 4. Any layout; read-only is fine.
    src_points, dst_points
        (N, 2) float (x, y) pixel coordinates of the mesh in ``src`` and in ``out``; same N, all finite.
    triangles
        (M, 3) integer indices into the points. Slivers (doubled area under 1e-3 pixels squared) cover
        nothing; either winding works.
    out
        Destination image, written in place: uint8, same channels as ``src``, writable, rows contiguous.
    coverage
        Optional (H, W) uint8 mask the size of ``out``; covered pixels are set to 255, the rest are left alone.
        A zero-filled one is allocated when omitted.

    Returns
    -------
    numpy.ndarray
        The coverage mask: 255 where ``out`` was written.

    Raises
    ------
    fusionkit.errors.ParameterValueError
        For a wrong dtype, shape or channel count, read-only or non-contiguous outputs, non-finite coordinates,
        mismatched point counts or out-of-range triangle indices.

    Examples
    --------
    >>> import numpy as np
    >>> src = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> out = np.zeros_like(src)
    >>> quad = [[0, 0], [3, 0], [3, 3], [0, 3]]
    >>> mask = warp_mesh(src, quad, quad, [[0, 1, 2], [0, 2, 3]], out)
    >>> bool((out == src).all()), int(mask.min())
    (True, 255)
    """
    src = views.input_image(src, "src")
    out = views.output_image(out, "out")
    if views.channels_of(src) != views.channels_of(out):
        raise ParameterValueError(f"src has {views.channels_of(src)} channel(s) but out has "
                                  f"{views.channels_of(out)}: they must match")
    sp = views.points(src_points, "src_points")
    dp = views.points(dst_points, "dst_points")
    if sp.shape != dp.shape:
        raise ParameterValueError(f"src_points has {sp.shape[0]} points but dst_points has {dp.shape[0]}: "
                                  "every mesh point needs a position in both")
    tri = validate_triangles(triangles, sp.shape[0])
    if coverage is None:
        coverage = np.zeros(out.shape[:2], np.uint8)
    else:
        coverage = views.output_image(coverage, "coverage", channels=(1,))
        if coverage.shape[:2] != out.shape[:2]:
            raise ParameterValueError(f"coverage has shape {coverage.shape[:2]} but out has {out.shape[:2]}: "
                                      "they must match")
    if np.shares_memory(src, out):
        src = src.copy()  # warping in place would read pixels already written
    rc = lib.fk_warp_mesh(views.view(src), views.view(out), views.view(coverage),
                          views.double_ptr(sp), views.double_ptr(dp), sp.shape[0],
                          ffi.from_buffer("int32_t[]", tri), tri.shape[0])
    check(rc, "warp_mesh")
    return coverage
