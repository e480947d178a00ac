"""Face analysis on onnxruntime: BlazeFace detection, the 468-point MediaPipe face mesh and its topology, and
drawing the faces found on a copy of the picture (:func:`draw_faces`).

The models ship inside the package (``models/``, MediaPipe's, Apache-2.0, see ``models/NOTICE``)
and are checked against ``models/manifest.json`` (sha256) when first used. One onnxruntime session per model and
:class:`RuntimeOptions` is created lazily and shared by all threads; importing this package loads nothing.
"""

from fusionkit.vision._runtime import BATCH_RUNTIME, RuntimeOptions, current_runtime, using_runtime
from fusionkit.vision.api import analyze, detect_faces
from fusionkit.vision.detector import DETECTOR_MODELS, DetectorModel, FaceDetector
from fusionkit.vision.draw import draw_faces
from fusionkit.vision.landmarker import FaceLandmarker
from fusionkit.vision.topology import REGION_NAMES, MeshTopology, mesh_topology, mesh_topology_connections

__all__ = [
    "BATCH_RUNTIME",
    "DETECTOR_MODELS",
    "REGION_NAMES",
    "DetectorModel",
    "FaceDetector",
    "FaceLandmarker",
    "MeshTopology",
    "RuntimeOptions",
    "analyze",
    "current_runtime",
    "detect_faces",
    "draw_faces",
    "mesh_topology",
    "mesh_topology_connections",
    "using_runtime",
]
