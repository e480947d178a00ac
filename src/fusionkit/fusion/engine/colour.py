"""Stage: light and colour. The user's texture takes the template's colour region by region in CIE Lab (skin,
lips; the mouth opening and the eyes in lightness only), from robust statistics, with clipped spread ratios."""

from __future__ import annotations

import attrs
import cv2
import numpy as np

from fusionkit.core import composite, feather_mask
from fusionkit.fusion.engine._common import F32, U8, nonzero_box, u8
from fusionkit.fusion.engine._lab import LAB_SCALE, LAB_SHIFT, Stats, lab_float, robust_lab_stats
from fusionkit.fusion.engine.mask import Regions

__all__ = ["ColourMatch", "match_colour"]

# Spread ratios of the Lab transfer are kept within these bounds: a user photo with flat light next to a
# contrasty template must not blow highlights up, nor the reverse flatten the face.
_SPREAD_MIN, _SPREAD_MAX = 0.75, 1.35

_HALF = (slice(None, None, 2), slice(None, None, 2))


def _lab_lut(mapping: Stats) -> U8:
    """A (1, 256, 3) table applying a per-channel (scale, offset) in CIE Lab to OpenCV's 8-bit Lab."""
    scale, offset = mapping
    v = np.arange(256, dtype=np.float64)[:, None]
    lab = v * LAB_SCALE + LAB_SHIFT
    out = ((lab * scale + offset) - LAB_SHIFT) / LAB_SCALE
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)[None]


def _affine(src: Stats, ref: Stats, lightness_only: bool = False) -> Stats:
    """Per-channel (scale, offset) mapping src's statistics onto ref's, spread ratios clipped."""
    (ms, ss), (mr, sr) = src, ref
    scale = np.clip(sr / ss, _SPREAD_MIN, _SPREAD_MAX)
    offset = mr - ms * scale
    if lightness_only:
        scale[1:], offset[1:] = 1.0, 0.0
    return scale, offset


@attrs.frozen(kw_only=True, eq=False)
class ColourMatch:
    """The colour stage's output.

    Attributes
    ----------
    texture
        The user's texture (target geometry, RGB), in the template's colours when colour matching is on.
    lab_half
        ``texture`` in CIE Lab (float), every other row and column.
    user_skin, template_skin
        Robust (mean, spread) of the skin in CIE Lab, before matching.
    """

    texture: U8
    lab_half: F32
    user_skin: Stats
    template_skin: Stats


def match_colour(user_tex: U8, coverage: U8, tmpl_tex: U8, regions: Regions, sigma: float,
                 colour_match: bool) -> ColourMatch:
    """Give the user's texture the template's colours, region by region (see the module)."""
    # Statistics and the skin model come from every other row and column (plenty, and a quarter of the work).
    user_lab8 = u8(cv2.cvtColor(user_tex, cv2.COLOR_RGB2Lab))
    tmpl_lab8 = u8(cv2.cvtColor(np.ascontiguousarray(tmpl_tex[_HALF]), cv2.COLOR_RGB2Lab))
    user_lab = lab_float(user_lab8[_HALF])
    skin_half = regions.skin[_HALF]
    # Statistics from every other row and column of the half-size images: plenty, and a quarter of the work.
    user_skin = robust_lab_stats(user_lab8, regions.skin & (coverage > 0), step=4)
    tmpl_skin = robust_lab_stats(tmpl_lab8, np.ascontiguousarray(skin_half), step=2)
    if not colour_match:
        return ColourMatch(texture=user_tex, lab_half=user_lab, user_skin=user_skin, template_skin=tmpl_skin)
    # One Lab shift for the whole face turns teeth cyan and lips purple: skin, lips, and (lightness only) the
    # mouth opening and the eyes each get their own mapping (a lookup table per channel on 8-bit Lab), laid
    # over the skin mapping through feathered region masks.
    lips_only = np.where((regions.lips_outer >= 128) & (regions.mouth_open < 128), 255, 0).astype(np.uint8)
    lips_half = np.ascontiguousarray(lips_only[_HALF])
    skin_map = _affine(user_skin, tmpl_skin)
    lips_map = _affine(robust_lab_stats(user_lab8, lips_only, step=4), robust_lab_stats(tmpl_lab8, lips_half, step=2))
    light_map = _affine(user_skin, tmpl_skin, lightness_only=True)
    matched = u8(cv2.LUT(user_lab8, _lab_lut(skin_map)))
    soft_sigma = max(1.0, sigma / 4)
    for region, mapping in ((lips_only, lips_map), (np.maximum(regions.mouth_open, regions.eyes), light_map)):
        box = nonzero_box(region, int(np.ceil(3.5 * soft_sigma)) + 2)
        if box is None:
            continue
        ry0, ry1, rx0, rx1 = box
        weight = feather_mask(np.ascontiguousarray(region[ry0:ry1, rx0:rx1]), soft_sigma)
        local = u8(cv2.LUT(np.ascontiguousarray(user_lab8[ry0:ry1, rx0:rx1]), _lab_lut(mapping)))
        composite(local, weight, matched, (rx0, ry0))
    return ColourMatch(texture=u8(cv2.cvtColor(matched, cv2.COLOR_Lab2RGB)), lab_half=lab_float(matched[_HALF]),
                       user_skin=user_skin, template_skin=tmpl_skin)
