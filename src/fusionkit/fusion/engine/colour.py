"""Stage: light and colour. The user's face keeps its own detail (its structure, its likeness) but takes the
template's light and complexion: in linear RGB, each pixel of the user's texture is multiplied by the ratio of the
template's smooth skin colour to the user's at that place (a ratio image), so the template's shading (a highlight on
the forehead, the shadow under a cheekbone) and skin tone replace the user photo's, at every scale coarser than
``base_sigma``. Light and colour are separate: luminance takes the light's ratio, chroma (about grey) is rotated and
scaled from the user's skin to the template's, so grey stays grey. Eyes and the mouth opening take the light only
(teeth and eye whites keep their colour).

The smooth colours are normalised convolutions (Gaussian-weighted means over the skin the two textures share:
eyes, brows, lips, occluders and pixels the renderer did not draw are left out, so they neither darken nor tint
the light measured around them), computed at a reduced scale.

References
----------
Z. Liu, Y. Shan, Z. Zhang, "Expressive expression mapping with ratio images", SIGGRAPH 2001.
A. Shashua, T. Riklin-Raviv, "The quotient image: class-based re-rendering and recognition with varying
illuminations", IEEE TPAMI 23(2), 2001.
H. Knutsson, C.-F. Westin, "Normalized and differential convolution", CVPR 1993.
"""

from __future__ import annotations

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import relight
from fusionkit.fusion.engine._common import (
    F32,
    U8,
    feather_local,
    median_last,
    nonzero_box,
    percentile,
    subsample,
    u8,
)
from fusionkit.fusion.engine.mask import Regions

__all__ = ["ColourMatch", "linear_to_srgb", "match_colour", "srgb_to_linear"]

# Bounds of the light ratio (linear light: 16x is about 3x in sRGB values in mid-tones) and of the chroma factor's
# size.
_LIGHT_MIN, _LIGHT_MAX = 1 / 16, 16.0
_CHROMA_MIN, _CHROMA_MAX = 1 / 3, 3.0
# A region's colour is moved at most this far (CIE a*b* units) towards the user-template segment.
_MAX_SETTLE = 16.0
# A skin whose chroma about grey is under this (median over the face) is grey: a black-and-white photo.
_GREY_SKIN = 0.03
# Weight of the face's whole-skin mean in each smooth colour: where no skin is near (the hairline, the far side of
# a turned face) the ratio falls back to the whole face's.
_PRIOR = 0.02
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # linear-light luminance (ITU-R BT.709)

_TO_LINEAR = np.where(np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92,
                      ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LUT_STEPS = 16384
_grid = np.arange(_LUT_STEPS, dtype=np.float64) / (_LUT_STEPS - 1)
_TO_SRGB = np.clip(np.round(255 * np.where(_grid <= 0.0031308, 12.92 * _grid,
                                           1.055 * _grid ** (1 / 2.4) - 0.055)), 0, 255).astype(np.uint8)
del _grid


def srgb_to_linear(image: U8) -> F32:
    """sRGB uint8 -> linear light, float32 0-1 (IEC 61966-2-1), by table (OpenCV's table lookup: the table's
    numbers, two to four times faster than NumPy's indexing)."""
    out = np.asarray(cv2.LUT(np.ascontiguousarray(image), _TO_LINEAR), np.float32)
    return out.reshape(image.shape)  # OpenCV returns an (H, W, 1) image as (H, W)


def linear_to_srgb(image: F32) -> U8:
    """Linear light (float32, clipped to 0-1) -> sRGB uint8, by a 16384-step table."""
    idx = np.clip(image * np.float32(_LUT_STEPS - 1) + np.float32(0.5), 0, _LUT_STEPS - 1).astype(np.intp)
    return u8(_TO_SRGB[idx])


@attrs.frozen(kw_only=True, eq=False)
class ColourMatch:
    """The colour stage's output: ``texture``, the user's face (target geometry, RGB uint8) in the template's light
    and complexion (the renderer's texture unchanged when colour matching is off)."""

    texture: U8


def _smooth(linear: F32, weight: F32, sigma: float, factor: int) -> F32:
    """Gaussian-weighted mean of ``linear`` under ``weight`` (normalised convolution) at 1/``factor`` scale, with a
    small pull towards the whole region's weighted mean where the weight nearby is thin."""
    (smooth,) = _smooth_all((linear,), weight, sigma, factor)
    return smooth


def _smooth_all(images: tuple[F32, ...], weight: F32, sigma: float, factor: int) -> list[F32]:
    """:func:`_smooth` of each image under one ``weight``, whose shrunk and blurred copy is made once."""
    h, w = weight.shape
    size = (max(1, w // factor), max(1, h // factor))
    s = max(0.5, sigma / factor)
    den = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    total = max(float(den.sum()), 1e-6)
    den = cv2.GaussianBlur(den, (0, 0), s)
    den_prior = (den + np.float32(_PRIOR))[..., None]
    out = []
    for linear in images:
        num = cv2.resize(linear * weight[..., None], size, interpolation=cv2.INTER_AREA)
        mean = num.reshape(-1, 3).sum(axis=0) / total  # area averaging keeps the sums' ratio
        num = cv2.GaussianBlur(num, (0, 0), s)
        smooth: F32 = ((num + _PRIOR * mean.astype(np.float32)) / den_prior).astype(np.float32)
        out.append(np.maximum(smooth, np.float32(1e-4)))
    return out


def match_colour(user_tex: U8, coverage: U8, tmpl_tex: U8, parts: Regions, occluders: U8, base_sigma: float,
                 colour_match: bool) -> ColourMatch:
    """Give the user's texture the template's light and complexion (see the module).

    Parameters
    ----------
    user_tex, tmpl_tex
        Both faces in the target geometry (the inner region), RGB uint8.
    coverage
        Where ``user_tex`` holds the user's face (0-255).
    parts
        The face's regions; light is measured on ``parts.skin``.
    occluders
        0/255: what covers either face (left out of the measurement).
    base_sigma
        Pixels: the finest scale of the light taken from the template (coarser detail is the template's, finer
        the user's).
    """
    if not colour_match:
        return ColourMatch(texture=user_tex)
    clear = (coverage >= 128) & (occluders < 128)
    skin = parts.skin & clear
    if skin.sum() < 64:
        skin = coverage >= 128
    # The light is smooth: it is measured on every k-th pixel and smoothed at 1/factor of the region's size.
    factor = max(1, int(base_sigma / 3))
    k = max(1, factor // 2)
    user_k = srgb_to_linear(subsample(user_tex, k))
    tmpl_k = srgb_to_linear(subsample(tmpl_tex, k))
    weight = skin[::k, ::k].astype(np.float32)
    sigma_k, factor_k = base_sigma / k, max(1, factor // k)
    eps = np.float32(1e-4)
    t_s, u_s = _smooth_all((tmpl_k, user_k), weight, sigma_k, factor_k)
    if float(median_last(np.abs(_chroma(u_s)).ravel())) < _GREY_SKIN \
            and float(median_last(np.abs(_chroma(t_s)).ravel())) >= _GREY_SKIN:
        # A black-and-white user photo has no skin hue to turn: it is first tinted with the template's skin colour
        # (its chromaticity, luminance kept), and then relit like any other.
        t_mean = np.median(t_s.reshape(-1, 3), axis=0)
        tint = (t_mean / max(float(t_mean @ _LUMA), 1e-4)).astype(np.float32)
        user_tex = linear_to_srgb(srgb_to_linear(user_tex) * tint)
        user_k = srgb_to_linear(subsample(user_tex, k))
        u_s = _smooth(user_k, weight, sigma_k, factor_k)
    # A second pass leaves out what is far darker or brighter than the light around it in either face (nostrils,
    # creases, a specular highlight): they are detail, not light, and would tilt the ratio around them.
    size_k = (weight.shape[1], weight.shape[0])
    for smooth, linear in ((t_s, tmpl_k), (u_s, user_k)):
        rel = (linear @ _LUMA) / np.maximum(cv2.resize(smooth @ _LUMA, size_k, interpolation=cv2.INTER_LINEAR), eps)
        weight[(rel < 0.5) | (rel > 2.0)] = 0
    t_s, u_s = _smooth_all((tmpl_k, user_k), weight, sigma_k, factor_k)
    t_luma = t_s @ _LUMA
    light = np.clip(t_luma / (u_s @ _LUMA), _LIGHT_MIN, _LIGHT_MAX)
    # The skin's chroma about grey, user's to template's, as one complex factor (a rotation and a scaling): grey
    # hair, a highlight (the light's colour) and grey brows stay grey, the skin and the colours near it move to the
    # template's. A per-channel ratio would tint every grey pixel with the ratio itself (teal brows when a ruddy
    # user goes into a yellower template).
    z_user, skin_chroma = _chroma(u_s), _chroma(t_s)
    flat = np.abs(z_user) < 1e-4  # a grey user skin (or none): its chroma cannot be turned, leave it
    chroma = np.where(flat, np.complex64(1), skin_chroma / np.where(flat, np.complex64(1), z_user))
    size = np.abs(chroma)
    chroma *= np.clip(size, _CHROMA_MIN, _CHROMA_MAX) / np.maximum(size, 1e-6)
    # No skin of the fused face is lit much brighter than the template's skin around it: a highlight of the user
    # photo's light (a shiny nose tip), multiplied by a large ratio, would be a flat white patch. Above 80% of the
    # ceiling lightness is rolled off (in the core, the colour moving towards the skin's in the share of light
    # removed); the ceiling is 1.3x the template's smooth skin, and its brightest skin on the eyes and teeth.
    on = weight > 0
    top = percentile(tmpl_k[on] @ _LUMA, 99.5) if on.any() else 1.0
    top = min(1.0, max(top, 0.05))
    local = np.minimum(np.float32(1.3) * t_luma, np.float32(top))
    # The smooth factors stay on their coarse grid: the core samples it at every pixel. Eye whites, irises and
    # teeth take the light, not the skin's change of colour, and may be as bright as the template's brightest skin.
    grid = np.dstack([chroma.real, chroma.imag, light, local, skin_chroma.real, skin_chroma.imag]).astype(np.float32)
    neutral = feather_local(np.maximum(parts.mouth_open, parts.eyes), max(1.0, base_sigma / 6))
    texture = relight(user_tex, grid, neutral=neutral, neutral_ceiling=top)
    # Eye surrounds and lips are not skin: their colour may be the user's, the template's or in between, never a
    # third colour that the skin's light and hue would give them.
    _settle_regions(texture, user_tex, tmpl_tex, _feature_regions(parts), clear, max(1.0, base_sigma / 4))
    return ColourMatch(texture=texture)


def _chroma(linear: F32) -> NDArray[np.complex64]:
    """Chroma about grey of linear RGB (the core's relighting convention): (R / Y - 1) + i (B / Y - 1)."""
    y = np.maximum(linear @ _LUMA, np.float32(1e-6))
    out: NDArray[np.complex64] = ((linear[..., 0] / y - 1) + 1j * (linear[..., 2] / y - 1)).astype(np.complex64)
    return out


def _feature_regions(parts: Regions) -> tuple[U8, ...]:
    """0/255 masks of the eye surrounds (each eye's contour scaled 1.9x about its centre, less the eye) and the lips
    (without the mouth opening). (The brows need no settling: turning chroma about grey keeps grey brows grey.)"""
    lips = np.where((parts.lips_outer >= 128) & (parts.mouth_open < 128), 255, 0).astype(np.uint8)
    return parts.eye_surround, lips


def _lab(rgb: U8) -> F32:
    lab: F32 = np.asarray(cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab), np.float32)
    return lab


def _settle_regions(texture: U8, user_tex: U8, tmpl_tex: U8, regions: tuple[U8, ...], clear: NDArray[np.bool_],
                    sigma: float) -> None:
    """Shift each region's colour (CIE a*, b*) in ``texture``, in place, so that its median lies between the user's
    and the template's medians of the same region (at the nearest point of that segment).

    Medians come from every third row and column of the region; the shift is applied as the sRGB change it makes at the
    region's median colour (one offset for the region, feathered out around it), which is exact enough for the
    few a*b* units it moves and costs no per-pixel Lab conversion.
    """
    pad = int(np.ceil(4 * sigma)) + 2  # the shift's reach (see the weight below)
    for region in regions:
        box = nonzero_box(region, pad)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        third = (slice(y0, y1, 3), slice(x0, x1, 3))
        on = (region[third] >= 128) & clear[third]
        n = int(np.count_nonzero(on))
        if n < 8:
            continue
        # One Lab conversion and one median for the three images (the conversion is per pixel).
        picked = np.concatenate([img[third][on] for img in (texture, tmpl_tex, user_tex)])
        labs = _lab(picked[None])[0].reshape(3, n, 3)
        medians = median_last(np.ascontiguousarray(labs.transpose(0, 2, 1)))  # (image, L a b)
        f, t, u = medians[0, 1:], medians[1, 1:], medians[2, 1:]
        tu = u - t
        along = float(min(max(np.dot(f - t, tu) / max(float(np.dot(tu, tu)), 1e-9), 0.0), 1.0))
        shift = (t + along * tu) - f
        size = float(np.hypot(*shift))
        if size < 0.5:
            continue
        shift *= min(1.0, _MAX_SETTLE / size)  # a region is nudged, never repainted
        centre = medians[0].astype(np.float32)
        moved = centre.copy()
        moved[1:] += shift.astype(np.float32)
        rgb = cv2.cvtColor(np.stack([centre, moved])[None], cv2.COLOR_Lab2RGB)[0] * np.float32(255)
        offset = rgb[1] - rgb[0]
        # The whole region takes the shift, its surroundings fade out of it.
        # The region and 2 sigma around it whole, fading out over 2 sigma more (by the distance to the region:
        # round, smooth and cheap).
        outside = u8(cv2.threshold(region[y0:y1, x0:x1], 127, 255, cv2.THRESH_BINARY_INV)[1])  # 255 off the region
        distance = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
        weight = np.clip(np.float32(2) - distance * np.float32(1 / (2 * sigma)), 0, 1)
        roi = texture[y0:y1, x0:x1]
        change = weight[..., None] * offset
        cv2.add(roi, change, dst=roi, dtype=cv2.CV_8U)

