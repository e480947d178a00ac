"""fusionkit: face fusion on your own machine.

Merge a person's face into template images and videos, offline and fast. See the README for the two commands
that set everything up, and ``docs/`` for the concepts.

The face-analysis names (``detect_faces``, ``analyze``, ``Face``, ``FaceMesh``, ``load_image``) are
imported on first use, so ``import fusionkit`` stays light (no OpenCV, no onnxruntime).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fusionkit import errors
from fusionkit._version import __version__
from fusionkit.errors import FusionKitError

if TYPE_CHECKING:
    from fusionkit.domain.faces import Face, FaceMesh
    from fusionkit.imaging.decode import load_image
    from fusionkit.vision.api import analyze, detect_faces

__all__ = [
    "Face",
    "FaceMesh",
    "FusionKitError",
    "__version__",
    "analyze",
    "detect_faces",
    "errors",
    "load_image",
]

_LAZY = {
    "Face": "fusionkit.domain.faces",
    "FaceMesh": "fusionkit.domain.faces",
    "load_image": "fusionkit.imaging.decode",
    "analyze": "fusionkit.vision.api",
    "detect_faces": "fusionkit.vision.api",
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
