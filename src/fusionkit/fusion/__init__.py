"""Image face fusion: geometry, colour, masks and compositing over the C core (see :func:`fuse`)."""

from fusionkit.fusion.api import FusionResult, Merge, MergeReport, fuse
from fusionkit.fusion.engine import FaceFusionReport

__all__ = ["FaceFusionReport", "FusionResult", "Merge", "MergeReport", "fuse"]
