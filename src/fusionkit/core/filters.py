"""Skin filters: an edge-preserving guided filter and an unsharp mask, mixed in through a mask (C core)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fusionkit.core import views
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import ParameterValueError

__all__ = ["MAX_GUIDED_RADIUS", "guided_filter", "unsharp_mask"]

#: Largest guided-filter radius, in pixels (window sums stay exact 32-bit integers).
MAX_GUIDED_RADIUS = 128
ImageArray = npt.NDArray[np.uint8]


def _prepare(image: Any, mask: Any, out: Any) -> tuple[ImageArray, ImageArray | None, ImageArray]:
    image = views.input_image(image, "image")
    if mask is not None:
        mask = views.input_image(mask, "mask", channels=(1,))
        if mask.shape[:2] != image.shape[:2]:
            raise ParameterValueError(
                f"mask has shape {mask.shape[:2]} but image has {image.shape[:2]}: they must match"
            )
    if out is None:
        out = np.empty_like(image, order="C")
    else:
        out = views.output_image(out, "out")
        if out.shape != image.shape:
            raise ParameterValueError(
                f"out has shape {out.shape} but image has {image.shape}: they must match"
            )
        if np.shares_memory(out, image) and out.__array_interface__ != image.__array_interface__:
            image = image.copy()
        if mask is not None and np.shares_memory(out, mask):
            mask = mask.copy()
    return image, mask, out


def _mask_view(mask: ImageArray | None) -> Any:
    return ffi.NULL if mask is None else views.view(mask)


def guided_filter(
    image: ImageArray,
    radius: int,
    eps: float,
    *,
    mask: ImageArray | None = None,
    strength: float = 1.0,
    out: ImageArray | None = None,
) -> ImageArray:
    """Smooth ``image`` while keeping its edges: the guided filter, each channel guiding itself.

    With ``I`` a channel scaled to 0-1 and means over the square window of ``radius`` (truncated at the
    image edges), ``a = var / (var + eps)``, ``b = (1 - a) * mean`` and the filtered value is ``mean(a) * I
    + mean(b)``: flat regions (variance well under ``eps``) are averaged, edges (variance well over it)
    kept. The result is mixed into ``image`` by ``strength * mask / 255``.

    Parameters
    ----------
    image
        (H, W) or (H, W, C) uint8, C in 1, 3, 4.
    radius
        Window radius in pixels, 1-128.
    eps
        Regulariser on the 0-1 intensity scale, in (0, 1]; about the squared contrast that counts as an edge
        (0.01 smooths texture below ~25 grey levels).
    mask
        Optional (H, W) uint8 weights; omitted means 255 everywhere; all zero returns ``image`` unchanged.
    strength
        0 (no change) to 1.
    out
        Optional output like ``image`` (may be ``image`` itself).

    Returns
    -------
    numpy.ndarray
        ``out``.

    References
    ----------
    K. He, J. Sun and X. Tang, "Guided image filtering", IEEE TPAMI 35(6), 2013.
    """
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, np.integer))
        or not 1 <= radius <= MAX_GUIDED_RADIUS
    ):
        raise ParameterValueError(
            f"radius must be a whole number of pixels within 1-{MAX_GUIDED_RADIUS}, got {radius!r}"
        )
    e = views.number(eps, "eps", 0.0, 1.0, lo_open=True)
    s = views.number(strength, "strength", 0.0, 1.0)
    image, mask, out = _prepare(image, mask, out)
    rc = lib.fk_guided_filter(views.view(image), _mask_view(mask), views.view(out), int(radius), e, s)
    check(rc, "guided_filter")
    return out


def unsharp_mask(
    image: ImageArray,
    amount: float,
    radius: float,
    *,
    mask: ImageArray | None = None,
    strength: float = 1.0,
    out: ImageArray | None = None,
) -> ImageArray:
    """Sharpen ``image``: ``image + amount * (image - blur(image))``, mixed in by ``strength * mask / 255``.

    The blur is three box passes approximating a Gaussian of standard deviation ``radius`` (as
    :func:`fusionkit.core.feather_mask`), each rounded to whole grey levels, edges replicated.

    Parameters
    ----------
    image
        (H, W) or (H, W, C) uint8, C in 1, 3, 4.
    amount
        Gain of the detail, 0-10 (1 doubles it).
    radius
        Standard deviation of the blur in pixels, in (0, 1000] (below about 0.8 the blur is the identity).
    mask
        Optional (H, W) uint8 weights; omitted means 255 everywhere; all zero returns ``image`` unchanged.
    strength
        0 (no change) to 1.
    out
        Optional output like ``image`` (may be ``image`` itself).

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    a = views.number(amount, "amount", 0.0, 10.0)
    r = views.number(radius, "radius", 0.0, 1000.0, lo_open=True)
    s = views.number(strength, "strength", 0.0, 1.0)
    image, mask, out = _prepare(image, mask, out)
    rc = lib.fk_unsharp_mask(views.view(image), _mask_view(mask), views.view(out), a, r, s)
    check(rc, "unsharp_mask")
    return out
