"""The C core: fast, pure image routines over NumPy arrays.

Every function validates its arguments in Python and raises :class:`fusionkit.errors.ParameterValueError`
before any C call; the C routines release the GIL, so threads run them in parallel.
"""

from fusionkit.core.blend import PoissonStats, blend_multiband, blend_poisson
from fusionkit.core.colour import RELIGHT_FACTORS, RobustStats, lab_stats, relight, robust_stats, transfer_colour
from fusionkit.core.filters import guided_filter, unsharp_mask
from fusionkit.core.masks import (
    box_radii_for_sigma,
    composite,
    dilate_mask,
    erode_mask,
    feather_mask,
    fill_polygon,
)
from fusionkit.core.warp import warp_mesh

__all__ = [
    "RELIGHT_FACTORS",
    "PoissonStats",
    "RobustStats",
    "blend_multiband",
    "blend_poisson",
    "box_radii_for_sigma",
    "composite",
    "dilate_mask",
    "erode_mask",
    "feather_mask",
    "fill_polygon",
    "guided_filter",
    "lab_stats",
    "relight",
    "robust_stats",
    "transfer_colour",
    "unsharp_mask",
    "warp_mesh",
]
