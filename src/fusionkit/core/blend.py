"""Seamless blending of a source ROI into a destination: multi-band and Poisson (C core)."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from fusionkit.core import views
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import ParameterValueError

__all__ = ["MAX_LEVELS", "PoissonStats", "blend_multiband", "blend_poisson", "default_levels"]

#: Largest pyramid level count :func:`blend_multiband` accepts (the C core's FK_MAX_LEVELS).
MAX_LEVELS = 12
#: Largest number of V-cycles :func:`blend_poisson` runs.
MAX_CYCLES = 1000

ImageArray = npt.NDArray[np.uint8]


class PoissonStats(NamedTuple):
    """What the Poisson solver did: V-cycles run and the final relative residual."""

    cycles: int
    residual: float
    converged: bool


def _blend_args(
    src: Any, mask: Any, dst: Any, origin: Any
) -> tuple[ImageArray, ImageArray, ImageArray, int, int]:
    src = views.input_image(src, "src")
    mask = views.input_image(mask, "mask", channels=(1,))
    dst = views.output_image(dst, "dst")
    if mask.shape[:2] != src.shape[:2]:
        raise ParameterValueError(
            f"mask has shape {mask.shape[:2]} but src has {src.shape[:2]}: they must match"
        )
    if views.channels_of(src) != views.channels_of(dst):
        raise ParameterValueError(
            f"src has {views.channels_of(src)} channel(s) but dst has "
            f"{views.channels_of(dst)}: they must match"
        )
    try:
        x, y = (int(v) for v in origin)
    except (TypeError, ValueError) as exc:
        raise ParameterValueError(f"origin must be an (x, y) pair of whole pixels, got {origin!r}") from exc
    h, w = src.shape[:2]
    if x < 0 or y < 0 or x + w > dst.shape[1] or y + h > dst.shape[0]:
        raise ParameterValueError(
            f"the {w}x{h} ROI at origin ({x}, {y}) does not fit inside the "
            f"{dst.shape[1]}x{dst.shape[0]} destination: move or crop it"
        )
    if np.shares_memory(src, dst):
        src = src.copy()
    if np.shares_memory(mask, dst):
        mask = mask.copy()
    return src, mask, dst, x, y


def default_levels(height: int, width: int) -> int:
    """The pyramid depth :func:`blend_multiband` uses by default for an ROI of ``height`` x ``width`` pixels.

    The largest count up to 6 whose coarsest level still has at least 16 pixels on the shorter side (1 for
    ROIs under 32 pixels).
    """
    side = min(height, width)
    levels = 1
    while levels < 6 and side >> levels >= 16:
        levels += 1
    return levels


def blend_multiband(
    src: ImageArray,
    mask: ImageArray,
    dst: ImageArray,
    origin: tuple[int, int] = (0, 0),
    *,
    levels: int | None = None,
) -> ImageArray:
    """Blend ``src`` into ``dst`` through ``mask`` band by band (a Laplacian-pyramid blend).

    Each band of the Laplacian pyramid of ``src`` and of the ``dst`` region under it is mixed with the
    matching level of the Gaussian pyramid of ``mask / 255``, and the pyramid is collapsed: low frequencies
    blend over a wide transition and fine detail over a narrow one, so seams vanish without ghosting. Where
    the mask's influence ends (3 * 2**levels pixels beyond its bounding box) ``dst`` is left untouched.
    Kernels: 5-tap [1 4 6 4 1] / 16 reduce, (1 6 1) / 8 and (1 1) / 2 expand, edges replicated at the ROI's
    borders.

    Parameters
    ----------
    src
        (h, w) or (h, w, C) uint8 ROI to blend in, C in 1, 3, 4.
    mask
        (h, w) uint8 weight of ``src``, 255 = all ``src``. An all-zero mask raises; an all-255 mask pastes
        ``src``.
    dst
        (H, W[, C]) uint8 destination, written in place; same channels as ``src``.
    origin
        (x, y) of the ROI's top-left corner in ``dst``, in pixels; the ROI must lie wholly inside ``dst``.
    levels
        Pyramid levels, 1 (a plain alpha blend) to 12, with ``min(h, w) >= 2 ** (levels - 1)``; default
        :func:`default_levels`.

    Returns
    -------
    numpy.ndarray
        ``dst``.

    Raises
    ------
    fusionkit.errors.ParameterValueError
        For wrong dtypes, shapes or channels, an ROI outside ``dst``, an empty mask or levels out of range.

    References
    ----------
    P. J. Burt and E. H. Adelson, "A multiresolution spline with application to image mosaics", ACM
    Transactions on Graphics 2(4), 1983.

    Examples
    --------
    >>> import numpy as np
    >>> dst = np.zeros((64, 64, 3), np.uint8)
    >>> src = np.full((32, 32, 3), 200, np.uint8)
    >>> mask = np.full((32, 32), 255, np.uint8)
    >>> _ = blend_multiband(src, mask, dst, (16, 16))
    >>> int(dst[32, 32, 0]), int(dst[0, 0, 0])
    (200, 0)
    """
    src, mask, dst, x, y = _blend_args(src, mask, dst, origin)
    h, w = src.shape[:2]
    if levels is None:
        lv = default_levels(h, w)
    else:
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
            raise ParameterValueError(f"levels must be a whole number, got {levels!r}")
        lv = int(levels)
        if not 1 <= lv <= MAX_LEVELS:
            raise ParameterValueError(f"levels must be within 1-{MAX_LEVELS}, got {lv}")
        if min(h, w) < 1 << (lv - 1):
            raise ParameterValueError(
                f"levels={lv} needs an ROI of at least {1 << (lv - 1)} pixels a side, "
                f"but it is {w}x{h}: use fewer levels (at most "
                f"{min(h, w).bit_length()})"
            )
    if not mask.any():
        raise ParameterValueError(
            "mask is all zero, so there is nothing to blend: pass a mask with some non-zero pixels"
        )
    rc = lib.fk_blend_multiband(views.view(src), views.view(mask), views.view(dst), x, y, lv)
    check(rc, "blend_multiband")
    return dst


def _tolerance(tol: Any) -> float:
    return views.number(tol, "tol (a relative residual)", 1e-7, 0.5)


def blend_poisson(
    src: ImageArray,
    mask: ImageArray,
    dst: ImageArray,
    origin: tuple[int, int] = (0, 0),
    *,
    mode: Literal["normal", "mixed"] = "normal",
    tol: float = 1e-3,
    max_cycles: int = 50,
    solution: npt.NDArray[np.float32] | None = None,
) -> PoissonStats:
    """Clone ``src`` into ``dst`` seamlessly: solve Poisson's equation inside the mask (Perez et al. 2003).

    Inside Omega (pixels with ``mask >= 128``, except the ROI's outer 1-pixel ring) the result keeps the
    gradients of ``src`` (``"normal"``) or, edge by edge, whichever of ``src``'s and ``dst``'s is stronger
    (``"mixed"``, for transparent or holed objects), and meets ``dst`` on Omega's boundary; everything
    outside Omega keeps ``dst``. For p in Omega with 4-neighbours q and guidance v_pq the discrete equation
    is ``4 f_p - sum_{q in Omega} f_q = sum_{q not in Omega} dst_q + sum_{q in Omega} v_pq``: edges that
    cross the seam carry no guidance, only continuity with ``dst``, so the step across the seam stays at the
    destination's level. It is solved in float32 by multigrid V-cycles (red-black Gauss-Seidel, full
    weighting, bilinear prolongation, extra relaxation next to the seam) on Omega's bounding box only,
    starting from ``src`` offset by the mean boundary difference, until the relative residual ``||b - A
    f||_2 / max(||b||_2, 1)`` (all channels together) is at most ``tol`` or ``max_cycles`` have run.

    Parameters
    ----------
    src
        (h, w) or (h, w, C) uint8 ROI to clone, C in 1, 3, 4.
    mask
        (h, w) uint8; pixels >= 128 are cloned. A full mask is fine (the ROI's ring is the boundary); a mask
        with no pixel >= 128 inside that ring raises.
    dst
        (H, W[, C]) uint8 destination, written in place; same channels as ``src``.
    origin
        (x, y) of the ROI's top-left corner in ``dst``, in pixels; the ROI must lie wholly inside ``dst``.
    mode
        ``"normal"`` or ``"mixed"``.
    tol
        Relative residual to reach, 1e-7 to 0.5 (default 1e-3).
    max_cycles
        Most V-cycles to run, 0-1000.
    solution
        Optional (h, w[, C]) float32 C-contiguous array that receives the unrounded result over the ROI.

    Returns
    -------
    PoissonStats
        ``cycles`` run, the final relative ``residual``, and ``converged`` (``residual <= tol``).

    Raises
    ------
    fusionkit.errors.ParameterValueError
        For wrong dtypes, shapes or channels, an ROI outside ``dst``, an empty mask, an unknown mode, or
        ``tol`` or ``max_cycles`` out of range.

    References
    ----------
    P. Perez, M. Gangnet and A. Blake, "Poisson image editing", ACM Transactions on Graphics 22(3), 2003. W.
    L. Briggs, V. E. Henson and S. F. McCormick, "A Multigrid Tutorial", 2nd ed., SIAM, 2000.

    Examples
    --------
    >>> import numpy as np
    >>> dst = np.full((40, 40, 3), 100, np.uint8)
    >>> src = np.full((20, 20, 3), 180, np.uint8)
    >>> mask = np.full((20, 20), 255, np.uint8)
    >>> stats = blend_poisson(src, mask, dst, (10, 10))
    >>> stats.converged, int(dst[20, 20, 0])   # flat source: the boundary colour wins
    (True, 100)
    """
    src, mask, dst, x, y = _blend_args(src, mask, dst, origin)
    if mode not in ("normal", "mixed"):
        raise ParameterValueError(f"mode must be 'normal' or 'mixed', got {mode!r}")
    t = _tolerance(tol)
    if (
        isinstance(max_cycles, bool)
        or not isinstance(max_cycles, (int, np.integer))
        or not 0 <= max_cycles <= MAX_CYCLES
    ):
        raise ParameterValueError(
            f"max_cycles must be a whole number within 0-{MAX_CYCLES}, got {max_cycles!r}"
        )
    h, w = src.shape[:2]
    if h < 3 or w < 3 or not (mask[1:-1, 1:-1] >= 128).any():
        raise ParameterValueError(
            "mask has no pixel >= 128 inside the ROI's 1-pixel ring, so there is nothing to "
            "solve for: pass a mask that selects some interior pixels"
        )
    sol_ptr: Any = ffi.NULL
    sol_len = 0
    if solution is not None:
        if (
            not isinstance(solution, np.ndarray)
            or solution.dtype != np.float32
            or solution.shape != src.shape
            or not solution.flags.c_contiguous
            or not solution.flags.writeable
        ):
            raise ParameterValueError(
                f"solution must be a writable C-contiguous float32 array of shape {src.shape}"
            )
        sol_ptr = ffi.from_buffer("float[]", solution, require_writable=True)
        sol_len = solution.size
    cycles = ffi.new("int32_t *")
    residual = ffi.new("double *")
    rc = lib.fk_blend_poisson(
        views.view(src),
        views.view(mask),
        views.view(dst),
        x,
        y,
        0 if mode == "normal" else 1,
        t,
        int(max_cycles),
        sol_ptr,
        sol_len,
        cycles,
        residual,
    )
    check(rc, "blend_poisson")
    return PoissonStats(int(cycles[0]), float(residual[0]), bool(residual[0] <= t))
