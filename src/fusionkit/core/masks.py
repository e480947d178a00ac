"""8-bit masks: anti-aliased polygons, erosion and dilation, feathering and alpha compositing (C core)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionkit.core import views
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import ParameterValueError

__all__ = ["box_radii_for_sigma", "composite", "dilate_mask", "erode_mask", "feather_mask", "fill_polygon"]

#: Largest feather sigma, in pixels (box radii stay under the core's exact-division limit).
MAX_SIGMA = 1000.0
MaskArray = npt.NDArray[np.uint8]


def _out_mask(out: MaskArray | None, shape: tuple[int, ...], name: str = "out") -> MaskArray:
    if out is None:
        return np.empty(shape[:2], np.uint8)
    out = views.output_image(out, name, channels=(1,))
    if out.shape[:2] != shape[:2]:
        raise ParameterValueError(f"{name} has shape {out.shape[:2]} but the mask has {shape[:2]}: they must match")
    return out


def fill_polygon(polygon: npt.ArrayLike, out: MaskArray) -> MaskArray:
    """Fill a polygon into an 8-bit mask with anti-aliased edges.

    Each pixel gets the exact fraction of its square (centred on integer coordinates) that the polygon covers,
    times 255 and rounded. Parts outside the mask are clipped away.

    Parameters
    ----------
    polygon
        (N, 2) float (x, y) vertices in pixels, in order, either winding. Fewer than 3 fill nothing.
    out
        (H, W) uint8 mask, overwritten in place.

    Returns
    -------
    numpy.ndarray
        ``out``.

    References
    ----------
    R. Levien, "Inside the fastest font renderer in the world" (font-rs), 2016: signed-area accumulation.
    """
    out = views.output_image(out, "out", channels=(1,))
    pts = views.points(polygon, "polygon")
    rc = lib.fk_fill_polygon(views.view(out), views.double_ptr(pts), pts.shape[0])
    check(rc, "fill_polygon")
    return out


def _radius(radius: Any) -> int:
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
        raise ParameterValueError(f"radius must be a whole number of pixels, got {radius!r}")
    if not 0 <= radius <= views.MAX_SIDE:
        raise ParameterValueError(f"radius must be within 0-{views.MAX_SIDE} pixels, got {radius}")
    return int(radius)


def erode_mask(mask: MaskArray, radius: int, out: MaskArray | None = None) -> MaskArray:
    """Shrink a mask: each pixel becomes the minimum over the square of side ``2 * radius + 1`` around it.

    Pixels beyond the edge repeat the edge, so a mask touching the border is not eaten from outside.

    Parameters
    ----------
    mask
        (H, W) uint8 mask.
    radius
        Chebyshev radius in pixels, 0-65536 (0 copies the mask). A radius past the mask's longer side acts as
        that side less one (the window already covers the whole mask), so the work stays bounded by the mask.
    out
        Optional (H, W) uint8 output; may be ``mask`` itself.
    """
    mask = views.input_image(mask, "mask", channels=(1,))
    r = _radius(radius)
    out = _out_mask(out, mask.shape)
    check(lib.fk_erode_mask(views.view(mask), views.view(out), r), "erode_mask")
    return out


def dilate_mask(mask: MaskArray, radius: int, out: MaskArray | None = None) -> MaskArray:
    """Grow a mask: each pixel becomes the maximum over the square of side ``2 * radius + 1`` around it.

    Parameters are as for :func:`erode_mask`.
    """
    mask = views.input_image(mask, "mask", channels=(1,))
    r = _radius(radius)
    out = _out_mask(out, mask.shape)
    check(lib.fk_dilate_mask(views.view(mask), views.view(out), r), "dilate_mask")
    return out


def _sigma(sigma: Any) -> float:
    return views.number(sigma, "sigma", 0.0, MAX_SIGMA, unit="pixels")


def box_radii_for_sigma(sigma: float) -> tuple[int, int, int]:
    """The radii of the three box blurs that :func:`feather_mask` uses to approximate a Gaussian of ``sigma``."""
    radii = ffi.new("int32_t[3]")
    check(lib.fk_box_sizes_for_gauss(_sigma(sigma), radii), "box_radii_for_sigma")
    return int(radii[0]), int(radii[1]), int(radii[2])


def feather_mask(mask: MaskArray, sigma: float, out: MaskArray | None = None) -> MaskArray:
    """Soften a mask's edges with three box blurs that approximate a Gaussian of standard deviation ``sigma``.

    Every pass rounds to the nearest grey level; pixels beyond the edge repeat the edge.

    Parameters
    ----------
    mask
        (H, W) uint8 mask.
    sigma
        Standard deviation of the approximated Gaussian, in pixels, 0-1000 (below about 0.8 nothing changes).
    out
        Optional (H, W) uint8 output; may be ``mask`` itself.

    References
    ----------
    W. M. Wells, "Efficient synthesis of Gaussian filters by cascaded uniform filters", IEEE TPAMI 8(2), 1986.
    """
    mask = views.input_image(mask, "mask", channels=(1,))
    s = _sigma(sigma)
    out = _out_mask(out, mask.shape)
    check(lib.fk_feather_mask(views.view(mask), views.view(out), s), "feather_mask")
    return out


def composite(
    src: npt.NDArray[np.uint8], mask: MaskArray, dst: npt.NDArray[np.uint8], origin: tuple[int, int] = (0, 0)
) -> npt.NDArray[np.uint8]:
    """Alpha-composite ``src`` into ``dst`` through ``mask``, with ``src``'s top-left corner at ``origin``.

    ``dst[y + i, x + j] = round((src[i, j] * m + dst[y + i, x + j] * (255 - m)) / 255)`` per channel, where
    ``m = mask[i, j]``.

    Parameters
    ----------
    src
        (h, w) or (h, w, C) uint8 ROI to paste.
    mask
        (h, w) uint8 opacity, 255 = all ``src``.
    dst
        (H, W[, C]) uint8 image, written in place; same channels as ``src``.
    origin
        (x, y) of the ROI's top-left corner in ``dst``, in pixels; the ROI must lie wholly inside ``dst``.

    Returns
    -------
    numpy.ndarray
        ``dst``.
    """
    src = views.input_image(src, "src")
    mask = views.input_image(mask, "mask", channels=(1,))
    dst = views.output_image(dst, "dst")
    if mask.shape[:2] != src.shape[:2]:
        raise ParameterValueError(f"mask has shape {mask.shape[:2]} but src has {src.shape[:2]}: they must match")
    if views.channels_of(src) != views.channels_of(dst):
        raise ParameterValueError(f"src has {views.channels_of(src)} channel(s) but dst has "
                                  f"{views.channels_of(dst)}: they must match")
    try:
        x, y = (int(v) for v in origin)
    except (TypeError, ValueError) as exc:
        raise ParameterValueError(f"origin must be an (x, y) pair of whole pixels, got {origin!r}") from exc
    h, w = src.shape[:2]
    if x < 0 or y < 0 or x + w > dst.shape[1] or y + h > dst.shape[0]:
        raise ParameterValueError(f"the {w}x{h} ROI at origin ({x}, {y}) does not fit inside the "
                                  f"{dst.shape[1]}x{dst.shape[0]} destination: move or crop it")
    if np.shares_memory(src, dst):
        src = src.copy()
    if np.shares_memory(mask, dst):
        mask = mask.copy()
    check(lib.fk_composite(views.view(src), views.view(mask), views.view(dst), x, y), "composite")
    return dst
