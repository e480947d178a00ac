"""Colour statistics and transfer in CIE Lab inside a mask (C core)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fusionkit.core import views
from fusionkit.core._loader import check, ffi, lib
from fusionkit.errors import ParameterValueError

__all__ = ["RELIGHT_FACTORS", "RobustStats", "lab_stats", "relight", "robust_stats", "transfer_colour"]

ImageArray = npt.NDArray[np.uint8]
Stats = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _order(channel_order: Any) -> int:
    if channel_order not in ("rgb", "bgr"):
        raise ParameterValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
    return 1 if channel_order == "bgr" else 0


def _image_and_mask(image: Any, mask: Any, name: str, mask_name: str) -> tuple[ImageArray, ImageArray]:
    image = views.input_image(image, name, channels=(3, 4))
    mask = views.input_image(mask, mask_name, channels=(1,))
    if mask.shape[:2] != image.shape[:2]:
        raise ParameterValueError(
            f"{mask_name} has shape {mask.shape[:2]} but {name} has {image.shape[:2]}: they must match"
        )
    if not mask.any():
        raise ParameterValueError(
            f"{mask_name} is all zero, so {name} has no pixels to measure: pass a mask "
            "with some non-zero pixels"
        )
    return image, mask


def lab_stats(image: ImageArray, mask: ImageArray, *, channel_order: Literal["rgb", "bgr"] = "rgb") -> Stats:
    """Mask-weighted mean and standard deviation of an sRGB image's CIE Lab channels.

    Parameters
    ----------
    image
        (H, W, 3) or (H, W, 4) uint8 sRGB image (alpha ignored).
    mask
        (H, W) uint8 weights, 0-255; an all-zero mask raises.
    channel_order
        ``"rgb"`` or ``"bgr"`` (OpenCV's order).

    Returns
    -------
    (mean, std)
        Two float64 arrays of 3: L (0-100), a and b, D65 white.
    """
    image, mask = _image_and_mask(image, mask, "image", "mask")
    mean = np.zeros(3)
    std = np.zeros(3)
    rc = lib.fk_lab_stats(
        views.view(image),
        views.view(mask),
        _order(channel_order),
        ffi.from_buffer("double[]", mean),
        ffi.from_buffer("double[]", std),
    )
    check(rc, "lab_stats")
    return mean, std


RobustStats = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]


def robust_stats(image: ImageArray, mask: ImageArray | None = None, *, step: int = 1,
                 spread: float = 2.5) -> RobustStats:
    """Per-channel mean and standard deviation of 8-bit pixels, outliers left out (hair, shadows, highlights).

    The sample is the pixels on every ``step``-th row and column where ``mask`` is non-zero (every pixel without
    a mask). A pixel farther than ``spread`` robust spreads (1.4826 times the median absolute deviation)
    from the median in any channel is an outlier; the moments are those of the other pixels, or of the whole
    sample when fewer than 16 remain. Medians come from histograms: O(pixels), no sort.

    Parameters
    ----------
    image
        (H, W) or (H, W, C) uint8, C 1, 3 or 4, any colour space (statistics are in its own 0-255 units).
    mask
        (H, W) uint8 or bool, or None.
    step
        Sample every ``step``-th row and column (1-65536): 2 quarters the work and is plenty for statistics.
    spread
        Outlier distance in robust spreads, 0-1e6.

    Returns
    -------
    (mean, std, count)
        Two float64 arrays of C values (0-255 units) and the sample's size; with an empty sample both arrays
        are 0 and count is 0.
    """
    image = views.input_image(image, "image")
    if mask is not None:
        if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
            mask = mask.view(np.uint8)  # one byte each, 0 or 1
        mask = views.input_image(mask, "mask", channels=(1,))
        if mask.shape[:2] != image.shape[:2]:
            raise ParameterValueError(
                f"mask has shape {mask.shape[:2]} but image has {image.shape[:2]}: they must match")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 1 <= step <= 65536:
        raise ParameterValueError(f"step must be a whole number within 1-65536, got {step!r}")
    spread = views.number(spread, "spread", 0.0, 1e6)
    channels = 1 if image.ndim == 2 else image.shape[2]
    mean = np.zeros(channels)
    std = np.zeros(channels)
    count = ffi.new("int64_t *")
    rc = lib.fk_robust_stats(views.view(image), ffi.NULL if mask is None else views.view(mask), int(step),
                             spread, ffi.from_buffer("double[]", mean), ffi.from_buffer("double[]", std), count)
    check(rc, "robust_stats")
    return mean, std, int(count[0])


def _strength(strength: Any) -> float:
    return views.number(strength, "strength", 0.0, 1.0)


def transfer_colour(
    src: ImageArray,
    mask: ImageArray,
    reference: ImageArray,
    reference_mask: ImageArray,
    *,
    strength: float = 1.0,
    channel_order: Literal["rgb", "bgr"] = "rgb",
    out: ImageArray | None = None,
) -> ImageArray:
    """Give ``src``'s masked region the Lab colour statistics of ``reference``'s masked region.

    Each Lab channel of ``src`` is mapped to ``(v - src_mean) * ref_std / src_std + ref_mean`` (Reinhard et
    al.), with the statistics weighted by the masks (a channel with no spread in ``src`` is only shifted);
    the result is mixed into ``src`` by ``strength * mask / 255``, so pixels where ``mask`` is 0 are copied
    unchanged.

    Parameters
    ----------
    src
        (H, W, 3|4) uint8 sRGB image to recolour.
    mask
        (H, W) uint8: where to measure and recolour ``src``; an all-zero mask raises.
    reference
        (H2, W2, 3|4) uint8 sRGB image whose colours to take.
    reference_mask
        (H2, W2) uint8: where to measure ``reference``; an all-zero mask raises.
    strength
        0 (no change) to 1 (full transfer).
    channel_order
        ``"rgb"`` or ``"bgr"``, for both images.
    out
        Optional output like ``src`` (may be ``src`` itself); allocated when omitted.

    Returns
    -------
    numpy.ndarray
        ``out``.

    References
    ----------
    E. Reinhard, M. Ashikhmin, B. Gooch and P. Shirley, "Color transfer between images", IEEE Computer
    Graphics and Applications 21(5), 2001.
    """
    src, mask = _image_and_mask(src, mask, "src", "mask")
    reference, reference_mask = _image_and_mask(reference, reference_mask, "reference", "reference_mask")
    s = _strength(strength)
    order = _order(channel_order)
    if out is None:
        out = np.empty_like(src, order="C")
    else:
        out = views.output_image(out, "out", channels=(3, 4))
        if out.shape != src.shape:
            raise ParameterValueError(f"out has shape {out.shape} but src has {src.shape}: they must match")
        if np.shares_memory(out, src) and out.__array_interface__ != src.__array_interface__:
            src = src.copy()
    tmean, tstd = lab_stats(reference, reference_mask, channel_order=channel_order)
    smean, sstd = np.zeros(3), np.zeros(3)
    rc = lib.fk_colour_transfer(
        views.view(src),
        views.view(mask),
        views.view(out),
        order,
        ffi.from_buffer("double[]", tmean),
        ffi.from_buffer("double[]", tstd),
        s,
        ffi.from_buffer("double[]", smean),
        ffi.from_buffer("double[]", sstd),
    )
    check(rc, "transfer_colour")
    return out


_MAX_GRID_SIDE = 65536  # the core's largest side (FK_MAX_SIDE)

#: The per-pixel factors :func:`relight` takes, in order along the last axis.
RELIGHT_FACTORS = ("chroma_re", "chroma_im", "light", "ceiling", "skin_re", "skin_im")


def relight(image: ImageArray, factors: npt.NDArray[np.float32], *, neutral: ImageArray | None = None,
            neutral_ceiling: float = 1.0, out: ImageArray | None = None) -> ImageArray:
    """Put an sRGB face in another light and complexion, per pixel (the light and colour stage of a fusion).

    The factors come on a coarse grid spread over the image, sampled bilinearly at each pixel (as
    ``cv2.resize(factors, (W, H), interpolation=cv2.INTER_LINEAR)`` would give them). Each pixel, decoded to
    linear light (R, G, B) with luminance Y (BT.709), has chroma ``z = (R / Y - 1) + i (B / Y - 1)`` (grey is 0; G
    follows from the luminance weights). It becomes ``Y' = light * Y`` and ``z' = k * z`` with the complex
    ``k = chroma_re + i chroma_im``: chroma is rotated and scaled about grey, so grey stays grey (grey hair, the
    light's colour in a highlight) while the skin's colour, and colours near it, move to the template's. Where
    ``neutral`` is set (0-255), ``k`` moves towards 1 and the ceiling towards ``neutral_ceiling`` (eyes and teeth
    keep their colour). Luminance above 0.8 ``ceiling`` is rolled off smoothly towards ``ceiling``; the share of
    light so removed is a highlight's, so the chroma moves by that share towards ``skin_re + i skin_im`` (a flash
    highlight dimmed to the template's light shows skin, not a grey spot). The pixel is encoded back to sRGB.

    Parameters
    ----------
    image
        (H, W, 3) uint8 sRGB.
    factors
        (GH, GW, 6) float32 grid: ``chroma_re, chroma_im, light, ceiling, skin_re, skin_im``
        (:data:`RELIGHT_FACTORS`); light >= 0 (a linear-light ratio), ceiling 0-1 (linear luminance), skin the
        target skin's chroma. A cell's non-finite or out-of-range values are made neutral before it is
        interpolated (k = 1 and skin 0 when either part is non-finite or beyond 1e3; light 1 when non-finite, 0 when
        negative, 1e3 at most; ceiling 1 outside (0, 1]).
    neutral
        Optional (H, W) uint8 mask, 0-255.
    neutral_ceiling
        0-1: the ceiling where ``neutral`` is 255.
    out
        Optional (H, W, 3) uint8 output (may be ``image``); allocated when omitted.

    Returns
    -------
    numpy.ndarray
        ``out``.

    References
    ----------
    Z. Liu, Y. Shan, Z. Zhang, "Expressive expression mapping with ratio images", SIGGRAPH 2001.
    """
    image = views.input_image(image, "image", channels=(3,))
    h, w = image.shape[:2]
    if (not isinstance(factors, np.ndarray) or factors.dtype != np.float32 or factors.ndim != 3
            or factors.shape[2] != 6 or factors.shape[0] < 1 or factors.shape[1] < 1):
        got = f"{factors.dtype} {factors.shape}" if isinstance(factors, np.ndarray) else type(factors).__name__
        raise ParameterValueError(f"factors must be a float32 grid of shape (rows, columns, 6), six factors a "
                                  f"cell, got {got}")
    if max(factors.shape[:2]) > _MAX_GRID_SIDE:
        raise ParameterValueError(f"factors grid is {factors.shape[0]}x{factors.shape[1]} cells; at most "
                                  f"{_MAX_GRID_SIDE} a side")
    factors = np.ascontiguousarray(factors)
    ceiling = views.number(neutral_ceiling, "neutral_ceiling", 0.0, 1.0, lo_open=True)
    if neutral is not None:
        neutral = views.input_image(neutral, "neutral", channels=(1,))
        if neutral.shape[:2] != (h, w):
            raise ParameterValueError(f"neutral has shape {neutral.shape[:2]} but image has {(h, w)}: they must match")
    if out is None:
        out = np.empty_like(image, order="C")
    else:
        out = views.output_image(out, "out", channels=(3,))
        if out.shape != image.shape:
            raise ParameterValueError(f"out has shape {out.shape} but image has {image.shape}: they must match")
        if np.shares_memory(out, image) and out.__array_interface__ != image.__array_interface__:
            image = image.copy()
    rc = lib.fk_relight(views.view(image), ffi.from_buffer("float[]", factors), factors.shape[0], factors.shape[1],
                        factors.size, ffi.NULL if neutral is None else views.view(neutral), ceiling,
                        views.view(out))
    check(rc, "relight")
    return out
