"""Image and video face fusion: geometry, colour, masks and compositing over the C core (see :func:`fuse` and
:func:`fuse_video`)."""

from fusionkit.fusion.api import FusionResult, Merge, MergeReport, fuse
from fusionkit.fusion.engine import FaceFusionReport
from fusionkit.fusion.video import VideoFusionResult, VideoTracks, fuse_video, track_video

__all__ = [
    "FaceFusionReport",
    "FusionResult",
    "Merge",
    "MergeReport",
    "VideoFusionResult",
    "VideoTracks",
    "fuse",
    "fuse_video",
    "track_video",
]
