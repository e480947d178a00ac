"""Stage: blend. The fused face is laid into the template's region through the soft mask; one function per
:class:`~fusionkit.domain.options.BlendMode` in :data:`BLENDERS`; what covers the template's face comes back on top.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from fusionkit.core import blend_multiband, blend_poisson, composite, erode_mask
from fusionkit.domain.options import BlendMode
from fusionkit.fusion.engine._common import U8, feather_local
from fusionkit.fusion.engine.mask import FaceMask

__all__ = ["BLENDERS", "BlendStats", "Blender", "blend", "lay_back"]


@attrs.frozen
class BlendStats:
    """The Poisson solver's V-cycles and final relative residual (zeros for the other blends)."""

    cycles: int = 0
    residual: float = 0.0


#: ``blender(face, template, mask, out)``: lay ``face`` into ``out`` (the template's region, same size, holding
#: ``template``) through ``mask``.
Blender = Callable[[U8, U8, FaceMask, U8], BlendStats]


def _alpha(face: U8, template: U8, mask: FaceMask, out: U8) -> BlendStats:
    composite(face, mask.soft, out, (0, 0))
    return BlendStats()


def _multiband(face: U8, template: U8, mask: FaceMask, out: U8) -> BlendStats:
    blend_multiband(face, mask.soft, out, (0, 0))
    return BlendStats()


def _poisson(face: U8, template: U8, mask: FaceMask, out: U8) -> BlendStats:
    if (mask.hard >= 128).sum() <= 64:
        return _alpha(face, template, mask, out)  # too few pixels to solve for
    cloned = template.copy()
    stats = blend_poisson(face, mask.hard, cloned, (0, 0), tol=2e-3)
    composite(cloned, mask.soft, out, (0, 0))
    return BlendStats(stats.cycles, stats.residual)


#: One blender per mode; a new mode adds its function here (and its name to BlendMode).
BLENDERS: dict[BlendMode, Blender] = {
    BlendMode.POISSON: _poisson,
    BlendMode.MULTIBAND: _multiband,
    BlendMode.ALPHA: _alpha,
}


def blend(mode: BlendMode, face: U8, template: U8, mask: FaceMask, out: U8) -> BlendStats:
    """Lay ``face`` into ``out`` by ``mode``; nothing happens under an empty mask."""
    if not (mask.soft > 0).any():
        return BlendStats()
    return BLENDERS[mode](face, template, mask, out)


def lay_back(template: U8, fixed: U8, oval: U8, out: U8) -> None:
    """Put what covers the template's face (``fixed``, 0/255) back untouched: pyramid and Poisson blends spread
    colour across the mask's edge. (The user's own non-skin spots are only left out of the mask.)"""
    if fixed.any():
        composite(template, np.minimum(feather_local(erode_mask(fixed, 1), 1.0), oval), out, (0, 0))
