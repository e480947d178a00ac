"""The key layout of a studio root, built only from ids that :func:`fusionkit.domain.ids.is_id` accepts.

::

    activities/{activity_id}.json
    activities/{activity_id}/materials/{material_id}      membership marker (the per-activity listing)
    materials/{material_id}/material.json                  metadata, faces and meshes, default degrees
    materials/{material_id}/source.{jpg|png|mp4}
    materials/{material_id}/tracks.npz                     a video material's per-frame face tracks
    results/image/{YYYY-MM-DD}/{material_id}.{result_id}.json + .{jpg|png}
    results/video/{YYYY-MM-DD}/{job_id}.mp4                a fused video (its record is the job document)
    jobs/{job_id}.json                                     a video job
    jobs/{job_id}/user_{n}.png                             the job's user images, deleted when it ends
    logs/{YYYY-MM-DD}/{HH}.jsonl

Results sit in per-day folders so that expiry is a prefix delete; their names start with the material id so that
deleting a material finds its results by listing names, without reading a document.
"""

from __future__ import annotations

from datetime import date, datetime

from fusionkit.domain import ids
from fusionkit.errors import StorageError

__all__ = [
    "ACTIVITIES",
    "JOBS",
    "LOGS",
    "MATERIALS",
    "RESULTS_IMAGE",
    "RESULTS_VIDEO",
    "activity_doc",
    "activity_members",
    "job_doc",
    "job_folder",
    "job_user",
    "log_file",
    "log_folder",
    "material_doc",
    "material_folder",
    "material_marker",
    "material_source",
    "material_tracks",
    "result_blob",
    "result_doc",
    "result_folder",
    "video_result",
    "video_result_folder",
]

ACTIVITIES = "activities"
MATERIALS = "materials"
RESULTS_IMAGE = "results/image"
RESULTS_VIDEO = "results/video"
JOBS = "jobs"
LOGS = "logs"
_EXT = {"jpeg": "jpg", "png": "png", "mp4": "mp4"}


def _need(value: str, prefix: str) -> str:
    if not ids.is_id(value, prefix):
        raise StorageError(f"refusing to build a storage key from {value!r}")
    return value


def activity_doc(activity_id: str) -> str:
    return f"{ACTIVITIES}/{_need(activity_id, ids.ACTIVITY)}.json"


def activity_folder(activity_id: str) -> str:
    return f"{ACTIVITIES}/{_need(activity_id, ids.ACTIVITY)}"


def activity_members(activity_id: str) -> str:
    return f"{activity_folder(activity_id)}/materials"


def material_marker(activity_id: str, material_id: str) -> str:
    return f"{activity_members(activity_id)}/{_need(material_id, ids.MATERIAL)}"


def material_folder(material_id: str) -> str:
    return f"{MATERIALS}/{_need(material_id, ids.MATERIAL)}"


def material_doc(material_id: str) -> str:
    return f"{material_folder(material_id)}/material.json"


def material_source(material_id: str, fmt: str) -> str:
    return f"{material_folder(material_id)}/source.{_EXT[fmt]}"


def material_tracks(material_id: str) -> str:
    return f"{material_folder(material_id)}/tracks.npz"


def material_references(material_id: str) -> str:
    """A video material's reference faces (mesh points, one face per reference photo)."""
    return f"{material_folder(material_id)}/references.npz"


def result_folder(day: date) -> str:
    return f"{RESULTS_IMAGE}/{day.isoformat()}"


def result_doc(day: date, material_id: str, result_id: str) -> str:
    return f"{result_folder(day)}/{_need(material_id, ids.MATERIAL)}.{_need(result_id, ids.RESULT)}.json"


def result_blob(day: date, material_id: str, result_id: str, fmt: str) -> str:
    return f"{result_folder(day)}/{_need(material_id, ids.MATERIAL)}.{_need(result_id, ids.RESULT)}.{_EXT[fmt]}"


def log_folder(day: date) -> str:
    return f"{LOGS}/{day.isoformat()}"


def log_file(when: datetime) -> str:
    return f"{log_folder(when.date())}/{when.hour:02d}.jsonl"


def job_doc(job_id: str) -> str:
    return f"{JOBS}/{_need(job_id, ids.JOB)}.json"


def job_folder(job_id: str) -> str:
    return f"{JOBS}/{_need(job_id, ids.JOB)}"


def job_user(job_id: str, index: int) -> str:
    return f"{job_folder(job_id)}/user_{int(index)}.png"


def job_options(job_id: str) -> str:
    """The job's fusion options (FuseOptions.to_dict as JSON), beside its user images until it ends."""
    return f"{job_folder(job_id)}/options.json"


def video_result_folder(day: date) -> str:
    return f"{RESULTS_VIDEO}/{day.isoformat()}"


def video_result(day: date, job_id: str) -> str:
    return f"{video_result_folder(day)}/{_need(job_id, ids.JOB)}.mp4"
