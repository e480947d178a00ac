"""A video fusion job and its statuses (with the numbers the cloud API reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import (
    JsonDocument,
    Status,
    count,
    id_of,
    json_field,
    json_scalar_map,
    optional_id_of,
    optional_str,
    status_of,
    utc,
    utc_or_none,
)
from fusionkit.errors import ParameterValueError

__all__ = ["JOB_STATUSES", "JobStatus", "VideoJob"]

class JobStatus(Status):
    """A video job's status; :attr:`code` is the number the cloud API reports (1, 3, 5, 7)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    FAILED = "failed"
    COMPLETED = "completed"

    @property
    def code(self) -> int:
        return JOB_STATUSES[self.value]

    @property
    def done(self) -> bool:
        """Failed or completed."""
        return self in (JobStatus.FAILED, JobStatus.COMPLETED)


def _job_status(value: Any) -> JobStatus:
    return status_of(JobStatus, value)


#: A video job's statuses and their numbers (as the cloud API reports them).
JOB_STATUSES = {"queued": 1, "processing": 3, "failed": 5, "completed": 7}


def _progress(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ParameterValueError(f"progress must be within 0-1, got {value!r}")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value]


@attrs.frozen(kw_only=True)
class VideoJob(JsonDocument):
    """A video fusion job of :attr:`fusionkit.studio.Studio.videos`, stored as ``jobs/{id}.json``.

    Attributes
    ----------
    id, activity_id, material_id, request_id
        ``jb_...``, the video material fused into, and the submitting request.
    subject
        The end user it was for (``us_...``, a keyed hash of the context's ``user_id``), or ``None``.
    status
        ``"queued"``, ``"processing"``, ``"failed"`` or ``"completed"`` (:attr:`status_code` 1, 3, 5, 7).
    progress
        0-1.
    error_code, error_message
        Why it failed (``None`` otherwise).
    attempts
        How many times a worker has started it (an interrupted job is retried once).
    parameters
        The degrees and template faces used, and ``users``: how many user images are stored with the job.
    user_designated_url
        Where the result goes instead of the studio, when given.
    queue_length, estimated_seconds
        At submission: jobs ahead of it in this process, and the estimated time until it is done.
    url, md5, width, height, fps, duration_s, frame_count
        The output, once completed.
    faces
        Once completed, per fused face: ``template_face``, ``frames_present``, ``frames_fused``, ``fused`` (frame
        runs ``[first, last + 1]``) and ``skipped`` (runs by reason: ``pose_too_large``, ``occluded``).
    created, updated, expires
        UTC; ``expires`` is set on completion for a result stored in the studio.
    """

    KIND: ClassVar[str] = "video_job"

    id: str = attrs.field(validator=id_of(ids.JOB, "job"))
    activity_id: str = attrs.field(validator=id_of(ids.ACTIVITY, "activity"))
    material_id: str = attrs.field(validator=id_of(ids.MATERIAL, "material"))
    request_id: str = attrs.field(validator=id_of(ids.REQUEST, "request"))
    subject: str | None = attrs.field(default=None, validator=optional_id_of(ids.SUBJECT, "end user"),
                                      metadata=json_field(omit_none=True))
    status: JobStatus = attrs.field(default=JobStatus.QUEUED, converter=_job_status)
    progress: float = attrs.field(default=0.0, converter=float, validator=_progress)
    error_code: str | None = attrs.field(default=None, validator=optional_str)
    error_message: str | None = attrs.field(default=None, validator=optional_str)
    attempts: int = attrs.field(default=0, validator=count)
    parameters: dict[str, Any] = attrs.field(factory=dict, converter=json_scalar_map, hash=False)
    user_designated_url: str | None = attrs.field(default=None, validator=optional_str)
    queue_length: int = attrs.field(default=0, validator=count)
    estimated_seconds: float = attrs.field(default=0.0, converter=float)
    url: str | None = attrs.field(default=None, validator=optional_str)
    md5: str | None = attrs.field(default=None, validator=optional_str)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    frame_count: int | None = None
    faces: list[dict[str, Any]] = attrs.field(factory=list, converter=_dicts, hash=False)
    created: datetime = attrs.field(converter=utc)
    updated: datetime = attrs.field(converter=utc)
    expires: datetime | None = attrs.field(default=None, converter=utc_or_none)

    @property
    def status_code(self) -> int:
        """1 queued, 3 processing, 5 failed, 7 completed."""
        return self.status.code

    @property
    def done(self) -> bool:
        """Failed or completed."""
        return self.status.done

    def is_expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def _header(self) -> dict[str, Any]:
        return {"status_code": self.status_code}
