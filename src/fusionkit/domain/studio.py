"""The studio's values, one module per aggregate: activities, materials (and their faces), fused results, video
jobs, request log records, the retention policy and erasure receipts; what they share is in
:mod:`fusionkit.domain.documents`. This module gathers them under one name."""

from fusionkit.domain.activities import Activity
from fusionkit.domain.documents import SCHEMA_VERSION, json_field
from fusionkit.domain.jobs import JOB_STATUSES, JobStatus, VideoJob
from fusionkit.domain.logs import LogRecord
from fusionkit.domain.materials import Material, MaterialFace, MaterialStatus, MaterialVideo
from fusionkit.domain.results import FusedResult
from fusionkit.domain.retention import ERASURE_CATEGORIES, ErasureReceipt, RetentionPolicy

__all__ = [
    "ERASURE_CATEGORIES",
    "JOB_STATUSES",
    "SCHEMA_VERSION",
    "Activity",
    "ErasureReceipt",
    "FusedResult",
    "JobStatus",
    "LogRecord",
    "Material",
    "MaterialFace",
    "MaterialStatus",
    "MaterialVideo",
    "RetentionPolicy",
    "VideoJob",
    "json_field",
]
