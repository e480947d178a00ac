"""fusionkit: face fusion on your own machine.

Merge a person's face into template images and videos, offline and fast. See the README for the two commands
that set everything up, and ``docs/`` for the concepts.

The public names (``fuse``, ``Merge``, ``FuseOptions``, ``detect_faces``, ``analyze``, ...) are imported on first
use, so ``import fusionkit`` stays light (no OpenCV, no onnxruntime).

>>> import fusionkit
>>> result = fusionkit.fuse("template.jpg", "me.jpg")          # doctest: +SKIP
>>> result.save("fused.jpg")                                    # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fusionkit import errors
from fusionkit._version import __version__
from fusionkit.errors import FusionKitError

if TYPE_CHECKING:
    from fusionkit.domain.faces import Face, FaceMesh
    from fusionkit.domain.models import ModelSpec, PluginSpec
    from fusionkit.domain.options import BlendMode, Expression, FuseOptions, LabelOptions, LogoParam, OutputFormat
    from fusionkit.fusion.api import FusionResult, Merge, fuse
    from fusionkit.fusion.batch import BatchItem, FuseRequest, fuse_many
    from fusionkit.fusion.renderers import OnnxEnhancer, OnnxSwapper
    from fusionkit.fusion.video import VideoFusionResult, fuse_video, track_video
    from fusionkit.imaging.decode import load_image
    from fusionkit.imaging.video import VideoInfo, VideoLimits, probe_video
    from fusionkit.studio import Studio, open
    from fusionkit.vision import RuntimeOptions, using_runtime
    from fusionkit.vision.api import analyze, detect_faces

__all__ = [
    "BatchItem",
    "BlendMode",
    "Expression",
    "Face",
    "FaceMesh",
    "FuseOptions",
    "FuseRequest",
    "FusionKitError",
    "FusionResult",
    "LabelOptions",
    "LogoParam",
    "Merge",
    "ModelSpec",
    "OnnxEnhancer",
    "OnnxSwapper",
    "OutputFormat",
    "PluginSpec",
    "RuntimeOptions",
    "Studio",
    "VideoFusionResult",
    "VideoInfo",
    "VideoLimits",
    "__version__",
    "analyze",
    "detect_faces",
    "errors",
    "fuse",
    "fuse_many",
    "fuse_video",
    "load_image",
    "open",
    "probe_video",
    "track_video",
    "using_runtime",
]

_LAZY = {
    "BlendMode": "fusionkit.domain.options",
    "Expression": "fusionkit.domain.options",
    "FuseOptions": "fusionkit.domain.options",
    "LabelOptions": "fusionkit.domain.options",
    "LogoParam": "fusionkit.domain.options",
    "OutputFormat": "fusionkit.domain.options",
    "FusionResult": "fusionkit.fusion.api",
    "Merge": "fusionkit.fusion.api",
    "fuse": "fusionkit.fusion.api",
    "VideoFusionResult": "fusionkit.fusion.video",
    "fuse_video": "fusionkit.fusion.video",
    "fuse_many": "fusionkit.fusion.batch",
    "FuseRequest": "fusionkit.fusion.batch",
    "BatchItem": "fusionkit.fusion.batch",
    "track_video": "fusionkit.fusion.video",
    "VideoInfo": "fusionkit.imaging.video",
    "VideoLimits": "fusionkit.imaging.video",
    "probe_video": "fusionkit.imaging.video",
    "Face": "fusionkit.domain.faces",
    "FaceMesh": "fusionkit.domain.faces",
    "load_image": "fusionkit.imaging.decode",
    "analyze": "fusionkit.vision.api",
    "detect_faces": "fusionkit.vision.api",
    "open": "fusionkit.studio",
    "Studio": "fusionkit.studio",
    "ModelSpec": "fusionkit.domain.models",
    "PluginSpec": "fusionkit.domain.models",
    "OnnxSwapper": "fusionkit.fusion.renderers",
    "OnnxEnhancer": "fusionkit.fusion.renderers",
    "RuntimeOptions": "fusionkit.vision",
    "using_runtime": "fusionkit.vision",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fusionkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
