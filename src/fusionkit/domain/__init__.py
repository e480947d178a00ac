"""Value objects shared by every layer (they import only :mod:`fusionkit.errors`).

Face and FaceMesh live here rather than in :mod:`fusionkit.vision` so that storage, fusion and the studio can
hold, persist and reload faces without importing onnxruntime.
"""

from fusionkit.domain.faces import MIN_FACE_SIZE, Face, FaceKeypoint, FaceMesh

__all__ = ["MIN_FACE_SIZE", "Face", "FaceKeypoint", "FaceMesh"]

from fusionkit.domain.studio import (
    SCHEMA_VERSION,
    Activity,
    ErasureReceipt,
    FusedResult,
    LogRecord,
    Material,
    MaterialFace,
    MaterialVideo,
    RetentionPolicy,
    VideoJob,
)

__all__ += [
    "SCHEMA_VERSION",
    "Activity",
    "ErasureReceipt",
    "FusedResult",
    "LogRecord",
    "Material",
    "MaterialFace",
    "MaterialVideo",
    "RetentionPolicy",
    "VideoJob",
]
