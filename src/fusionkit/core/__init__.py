"""The C core: fast, pure image routines over NumPy arrays.

Every function validates its arguments in Python and raises :class:`fusionkit.errors.ParameterValueError`
before any C call; the C routines release the GIL, so threads run them in parallel.
"""

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
    "box_radii_for_sigma",
    "composite",
    "dilate_mask",
    "erode_mask",
    "feather_mask",
    "fill_polygon",
    "warp_mesh",
]
