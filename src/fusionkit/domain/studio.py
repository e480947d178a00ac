"""The studio's values: activities, materials and their faces, fused results, request log records, the retention
policy and erasure receipts.

Every value is frozen and validated on construction, and round-trips through JSON with :meth:`to_json` /
:meth:`from_json`. Each JSON document carries ``"schema"`` (:data:`SCHEMA_VERSION`) and ``"kind"``; a document
of a newer schema or another kind is refused with :class:`~fusionkit.errors.StorageError`.
"""

from __future__ import annotations

import base64
import enum
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import attrs
import numpy as np

from fusionkit.domain import ids
from fusionkit.domain.faces import Face, FaceMesh
from fusionkit.errors import ParameterValueError, StorageError

__all__ = [
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
    "RetentionPolicy",
    "VideoJob",
]

#: The version written into every JSON document; readers accept this version and older ones.
SCHEMA_VERSION = 1

_T = TypeVar("_T")


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterValueError(f"expected an ISO 8601 timestamp, got {value!r}") from None
    if not isinstance(value, datetime):
        raise ParameterValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ParameterValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc)


def _utc_or_none(value: Any) -> datetime | None:
    return None if value is None else _utc(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _id_of(prefix: str, what: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not ids.is_id(value, prefix):
            raise ParameterValueError(f"{attribute.name} must be a {what} id ({prefix}_...), got {value!r}")

    return check


def _optional_id_of(prefix: str, what: str) -> Any:
    inner = _id_of(prefix, what)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def _name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not value.isprintable():
        raise ParameterValueError(f"{attribute.name} must be 1-200 printable characters, got {value!r}")


def _degree_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ParameterValueError(f"{attribute.name} must be within 0-100 or None, got {value!r}")


def _one_of(*allowed: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            raise ParameterValueError(f"{attribute.name} must be one of {allowed}, got {value!r}")

    return check


class _Status(str, enum.Enum):
    """A status with the service's string value; compares equal to it and prints as it."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class MaterialStatus(_Status):
    """A material's status: ``ready``; for a video also ``preprocessing``, ``preprocessing_failed`` or
    ``role_not_in_video``."""

    READY = "ready"
    PREPROCESSING = "preprocessing"
    PREPROCESSING_FAILED = "preprocessing_failed"
    ROLE_NOT_IN_VIDEO = "role_not_in_video"


class JobStatus(_Status):
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


_S = TypeVar("_S", bound=_Status)


def _status(kind: type[_S], value: Any) -> _S:
    try:
        return kind(value)
    except ValueError:
        allowed = tuple(m.value for m in kind)
        raise ParameterValueError(f"status must be one of {allowed}, got {value!r}") from None


def _material_status(value: Any) -> MaterialStatus:
    return _status(MaterialStatus, value)


def _job_status(value: Any) -> JobStatus:
    return _status(JobStatus, value)


def _matches(pattern: str) -> Any:
    compiled = re.compile(pattern)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ParameterValueError(f"{attribute.name} must match {pattern}, got {value!r}")

    return check


def _count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterValueError(f"{attribute.name} must be a whole number >= 0, got {value!r}")


def _check_doc(data: Mapping[str, Any], kind: str) -> None:
    if not isinstance(data, Mapping):
        raise StorageError(f"a {kind} document must be a JSON object")
    if data.get("kind") != kind:
        raise StorageError(f"expected a {kind} document, got kind {data.get('kind')!r}")
    schema = data.get("schema")
    if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
        raise StorageError(f"{kind} document has schema {schema!r}; this fusionkit reads 1-{SCHEMA_VERSION}")


def _loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"not a JSON document: {exc}") from None


def json_field(key: str | None = None, *, encode: Any = None, decode: Any = None, omit_none: bool = False,
               stored: bool = True, required: bool = False) -> dict[str, Any]:
    """attrs field metadata for :class:`_Json`'s derived JSON: the document's ``key`` when it differs from the
    field's name, an ``encode``/``decode`` pair for a value the generic rules do not cover, ``omit_none`` to leave
    the key out when the value is None, ``stored=False`` for a field that never goes to JSON, ``required`` for a
    field with a default that a document must still carry."""
    return {"json": {"key": key, "encode": encode, "decode": decode, "omit_none": omit_none, "stored": stored,
                     "required": required}}


_NO_META: dict[str, Any] = {"key": None, "encode": None, "decode": None, "omit_none": False, "stored": True,
                            "required": False}


def _encode(value: Any) -> Any:
    """A field's value as JSON: datetimes as ISO text (``Z``), periods as seconds, enums as their values, nested
    values by their ``to_dict``, sequences as lists and mappings as plain dicts."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


class _Json:
    """JSON documents derived once from the attrs fields (in their order, after ``schema`` and ``kind``), with
    :func:`json_field` metadata where a key, an encoding or an omission differs; ``to_json``/``from_json`` over
    ``to_dict``/``from_dict``. Reading takes every field it finds and leaves missing optional ones at their
    defaults (documents written before a field existed still read)."""

    KIND: ClassVar[str] = ""

    def _header(self) -> dict[str, Any]:
        """Keys written after ``schema`` and ``kind``, derived from the value (none by default)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.KIND, **self._header()}
        for f in attrs.fields(type(self)):  # type: ignore[arg-type]
            meta = f.metadata.get("json", _NO_META)
            if not meta["stored"]:
                continue
            value = getattr(self, f.name)
            if value is None and meta["omit_none"]:
                continue
            out[meta["key"] or f.name] = meta["encode"](value) if meta["encode"] and value is not None \
                else _encode(value)
        return out

    @classmethod
    def from_dict(cls: type[_T], data: Mapping[str, Any]) -> _T:
        _check_doc(data, cls.KIND)  # type: ignore[attr-defined]
        kwargs: dict[str, Any] = {}
        for f in attrs.fields(cls):  # type: ignore[arg-type]
            meta = f.metadata.get("json", _NO_META)
            if not meta["stored"] or not f.init:
                continue
            key = meta["key"] or f.name
            if key in data:
                value = data[key]
                kwargs[f.name] = meta["decode"](value) if meta["decode"] and value is not None else value
            elif f.default is attrs.NOTHING or meta["required"]:
                raise KeyError(key)
        return cls(**kwargs)

    def to_json(self) -> str:
        """The value as a compact JSON document (with ``schema`` and ``kind``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls: type[_T], text: str | bytes) -> _T:
        """Rebuild the value from :meth:`to_json`'s output."""
        try:
            return cls.from_dict(_loads(text))  # type: ignore[attr-defined, no-any-return]
        except (KeyError, TypeError) as exc:
            raise StorageError(f"incomplete {cls.__name__} document: {exc!r}") from None


@attrs.frozen(kw_only=True)
class Activity(_Json):
    """A named group of materials (a campaign), with default fusion degrees for its materials.

    Attributes
    ----------
    id
        ``ac_...``.
    name
        1-200 printable characters, for people; never part of a storage key.
    created, updated
        UTC timestamps.
    fuse_face_degree, fuse_profile_degree
        0-100 defaults for fusions into this activity's materials, or ``None`` for the library's.
    """

    KIND: ClassVar[str] = "activity"

    id: str = attrs.field(validator=_id_of(ids.ACTIVITY, "activity"))
    name: str = attrs.field(validator=_name)
    created: datetime = attrs.field(converter=_utc)
    updated: datetime = attrs.field(converter=_utc)
    fuse_face_degree: float | None = attrs.field(default=None, validator=_degree_or_none)
    fuse_profile_degree: float | None = attrs.field(default=None, validator=_degree_or_none)



@attrs.frozen(kw_only=True)
class MaterialFace:
    """One face of a material, found and indexed at upload.

    Attributes
    ----------
    id
        ``<material_id>_<index>``: stable for the material's life; pass it as a merge's ``template_face``.
    index
        0 for the largest face, then by decreasing size.
    mesh
        The face's detection and 468-point mesh, in the material's pixel coordinates.
    """

    id: str = attrs.field()
    index: int = attrs.field(validator=_count)
    mesh: FaceMesh = attrs.field(validator=attrs.validators.instance_of(FaceMesh))

    @id.validator
    def _check_id(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or "_" not in value:
            raise ParameterValueError(f"a material face id is <material_id>_<index>, got {value!r}")
        mid, _, n = value.rpartition("_")
        if not ids.is_id(mid, ids.MATERIAL) or n != str(self.index):
            raise ParameterValueError(f"a material face id is <material_id>_<index>, got {value!r}")

    @property
    def material_id(self) -> str:
        """The material this face belongs to."""
        return self.id.rpartition("_")[0]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` in pixels."""
        b = self.mesh.face.box
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the 468 mesh points are stored exactly, as base64 of little-endian float32 ``(468, 3)``
        (``points_f32le``), which parses about twenty times faster than lists of decimal numbers."""
        mesh = {"face": self.mesh.face.to_dict(), "presence": self.mesh.presence,
                "points_f32le": base64.b64encode(np.ascontiguousarray(self.mesh.points, "<f4").tobytes()).decode()}
        return {"id": self.id, "index": self.index, "box": list(self.box), "mesh": mesh}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaterialFace:
        mesh = data["mesh"]
        if "points_f32le" in mesh:
            try:
                raw = base64.b64decode(mesh["points_f32le"], validate=True)
            except (ValueError, TypeError):
                raise ParameterValueError("a material face's mesh points are not valid base64") from None
            if len(raw) % 12:
                raise ParameterValueError("a material face's mesh points are not (N, 3) float32")
            points = np.frombuffer(raw, dtype="<f4").reshape(-1, 3)
            face_mesh = FaceMesh(face=Face.from_dict(mesh["face"]), points=points, presence=mesh["presence"])
        else:
            face_mesh = FaceMesh.from_dict(mesh)
        return cls(id=data["id"], index=data["index"], mesh=face_mesh)


def _faces(value: Any) -> tuple[MaterialFace, ...]:
    return tuple(value)


def _decode_faces(value: Any) -> list[MaterialFace]:
    return [MaterialFace.from_dict(f) for f in value]


def _video_meta(value: Any) -> dict[str, Any] | None:
    return None if value is None else _json_scalar_map(value)


@attrs.frozen(kw_only=True)
class Material(_Json):
    """A template picture of an activity, with the faces found in it at upload.

    Attributes
    ----------
    id, activity_id
        ``mt_...`` and the owning ``ac_...``.
    name
        1-200 printable characters.
    kind
        ``"image"`` or ``"video"`` (an MP4 template).
    status
        ``"ready"`` once stored and indexed; a video material may also be ``"preprocessing"`` (uploaded with
        ``wait=False``, its tracking running; ``video["progress"]`` goes 0-1), ``"preprocessing_failed"`` (its faces
        could not be tracked) or ``"role_not_in_video"`` (no face on its first frame, or a reference face not found).
    source_format
        ``"jpeg"`` or ``"png"``; ``"mp4"`` for a video.
    width, height, source_bytes
        The stored source's size in pixels and bytes.
    source_sha256
        Hex digest of the stored source bytes.
    faces
        The faces, largest first; ``faces[i].id == f"{id}_{i}"``.
    fuse_face_degree, fuse_profile_degree
        0-100 defaults for fusions into this material, or ``None`` for the activity's.
    created, updated
        UTC timestamps.
    video
        For a video: its metadata from the container (duration_s, fps, frame_count, width, height, bit_rate,
        video_codec, audio_codec, audio_channels, audio_sample_rate, size_bytes), and ``tracked_faces`` and
        ``error`` from preprocessing; ``None`` for an image.
    """

    KIND: ClassVar[str] = "material"

    id: str = attrs.field(validator=_id_of(ids.MATERIAL, "material"))
    activity_id: str = attrs.field(validator=_id_of(ids.ACTIVITY, "activity"))
    name: str = attrs.field(validator=_name)
    kind: str = attrs.field(default="image", validator=_one_of("image", "video"),
                            metadata=json_field("material_kind", required=True))
    status: MaterialStatus = attrs.field(default=MaterialStatus.READY, converter=_material_status,
                                         metadata=json_field(required=True))
    source_format: str = attrs.field(validator=_one_of("jpeg", "png", "mp4"))
    width: int = attrs.field(validator=_count)
    height: int = attrs.field(validator=_count)
    source_bytes: int = attrs.field(validator=_count)
    source_sha256: str = attrs.field(validator=_matches(r"[0-9a-f]{64}"))
    faces: tuple[MaterialFace, ...] = attrs.field(converter=_faces, metadata=json_field(decode=_decode_faces))
    fuse_face_degree: float | None = attrs.field(default=None, validator=_degree_or_none)
    fuse_profile_degree: float | None = attrs.field(default=None, validator=_degree_or_none)
    created: datetime = attrs.field(converter=_utc)
    updated: datetime = attrs.field(converter=_utc)
    video: dict[str, Any] | None = attrs.field(default=None, converter=_video_meta, metadata=json_field(omit_none=True))

    @faces.validator
    def _check_faces(self, attribute: attrs.Attribute[Any], value: tuple[MaterialFace, ...]) -> None:
        for i, face in enumerate(value):
            if not isinstance(face, MaterialFace) or face.id != f"{self.id}_{i}" or face.index != i:
                raise ParameterValueError(f"face {i} of material {self.id} must have id {self.id}_{i}")

    @property
    def face_ids(self) -> tuple[str, ...]:
        """The faces' ids, largest face first."""
        return tuple(f.id for f in self.faces)



def _json_scalar_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ParameterValueError(f"parameters must be a mapping, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ParameterValueError(f"parameter names must be strings, got {k!r}")
        if v is not None and not isinstance(v, (str, int, float, bool, list)):
            raise ParameterValueError(f"parameter {k} must be a JSON scalar or list, got {type(v).__name__}")
        out[k] = v
    return out


@attrs.frozen(kw_only=True)
class FusedResult(_Json):
    """The outcome of :meth:`fusionkit.studio.Studio.fuse`.

    Attributes
    ----------
    id, activity_id, material_id, request_id
        ``rs_...``, the activity and material fused into, and the request that made it.
    created
        UTC timestamp.
    expires
        When the stored copy expires (created + the retention policy's image-result period), or ``None`` when
        the result was not stored.
    format
        ``"jpeg"`` or ``"png"``.
    size
        Encoded bytes, or 0 when nothing was encoded (``response="array"`` without storage).
    url
        The stored copy's URL, or ``None``.
    parameters
        What was used: degrees, template face indices, response kind.
    response
        ``"url"``, ``"base64"``, ``"bytes"`` or ``"array"``: what :attr:`payload` holds.
    payload
        The URL (str), base64 text (str), encoded bytes, or an RGB uint8 array; never written to JSON.
    """

    KIND: ClassVar[str] = "fused_result"

    id: str = attrs.field(validator=_id_of(ids.RESULT, "result"))
    activity_id: str = attrs.field(validator=_id_of(ids.ACTIVITY, "activity"))
    material_id: str = attrs.field(validator=_id_of(ids.MATERIAL, "material"))
    request_id: str | None = attrs.field(default=None, validator=_optional_id_of(ids.REQUEST, "request"))
    created: datetime = attrs.field(converter=_utc)
    expires: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    format: str = attrs.field(validator=_one_of("jpeg", "png"))
    size: int = attrs.field(default=0, validator=_count, metadata=json_field(required=True))
    url: str | None = attrs.field(default=None)
    parameters: dict[str, Any] = attrs.field(factory=dict, converter=_json_scalar_map, hash=False)
    response: str = attrs.field(default="url", validator=_one_of("url", "base64", "bytes", "array"))
    payload: Any = attrs.field(default=None, eq=False, hash=False, repr=False, metadata=json_field(stored=False))

    def is_expired(self, now: datetime) -> bool:
        """True when a stored copy has expired at ``now``."""
        return self.expires is not None and now >= self.expires



def _optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or len(value) > 2048):
        raise ParameterValueError(f"{attribute.name} must be a string of at most 2048 characters or None")


#: A video job's statuses and their numbers (as the cloud API reports them).
JOB_STATUSES = {"queued": 1, "processing": 3, "failed": 5, "completed": 7}


def _progress(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ParameterValueError(f"progress must be within 0-1, got {value!r}")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value]


@attrs.frozen(kw_only=True)
class VideoJob(_Json):
    """A video fusion job of :attr:`fusionkit.studio.Studio.videos`, stored as ``jobs/{id}.json``.

    Attributes
    ----------
    id, activity_id, material_id, request_id
        ``jb_...``, the video material fused into, and the submitting request.
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

    id: str = attrs.field(validator=_id_of(ids.JOB, "job"))
    activity_id: str = attrs.field(validator=_id_of(ids.ACTIVITY, "activity"))
    material_id: str = attrs.field(validator=_id_of(ids.MATERIAL, "material"))
    request_id: str = attrs.field(validator=_id_of(ids.REQUEST, "request"))
    status: JobStatus = attrs.field(default=JobStatus.QUEUED, converter=_job_status)
    progress: float = attrs.field(default=0.0, converter=float, validator=_progress)
    error_code: str | None = attrs.field(default=None, validator=_optional_str)
    error_message: str | None = attrs.field(default=None, validator=_optional_str)
    attempts: int = attrs.field(default=0, validator=_count)
    parameters: dict[str, Any] = attrs.field(factory=dict, converter=_json_scalar_map, hash=False)
    user_designated_url: str | None = attrs.field(default=None, validator=_optional_str)
    queue_length: int = attrs.field(default=0, validator=_count)
    estimated_seconds: float = attrs.field(default=0.0, converter=float)
    url: str | None = attrs.field(default=None, validator=_optional_str)
    md5: str | None = attrs.field(default=None, validator=_optional_str)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration_s: float | None = None
    frame_count: int | None = None
    faces: list[dict[str, Any]] = attrs.field(factory=list, converter=_dicts, hash=False)
    created: datetime = attrs.field(converter=_utc)
    updated: datetime = attrs.field(converter=_utc)
    expires: datetime | None = attrs.field(default=None, converter=_utc_or_none)

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




def _milliseconds(value: float) -> float:
    return round(value, 3)



@attrs.frozen(kw_only=True)
class LogRecord(_Json):
    """One line of the request log (the fields the service's privacy terms name).

    Attributes
    ----------
    timestamp
        When the call started (UTC).
    request_id
        ``rq_...``, given by the caller's request context or generated.
    interface
        The public call, e.g. ``"FuseFace"``, ``"UploadMaterial"``.
    time_cost_ms
        Wall time of the call in milliseconds.
    app_id, account_id, sub_account_id, client_ip, reporting_ip, region
        From the request context, when given.
    video_url, result_url, image_url
        URLs involved in the call, where they apply.
    error_code
        The error's stable code when the call failed, else ``None``.
    activity_id, material_id, result_id
        The objects the call referred to (so a data-subject erasure can find the line).
    """

    KIND: ClassVar[str] = "log_record"

    timestamp: datetime = attrs.field(converter=_utc)
    request_id: str = attrs.field(validator=_id_of(ids.REQUEST, "request"))
    interface: str = attrs.field(validator=_matches(r"[A-Za-z][A-Za-z0-9]{0,63}"))
    time_cost_ms: float = attrs.field(converter=float, metadata=json_field(encode=_milliseconds))
    app_id: str | None = attrs.field(default=None, validator=_optional_str)
    account_id: str | None = attrs.field(default=None, validator=_optional_str)
    sub_account_id: str | None = attrs.field(default=None, validator=_optional_str)
    client_ip: str | None = attrs.field(default=None, validator=_optional_str)
    reporting_ip: str | None = attrs.field(default=None, validator=_optional_str)
    region: str | None = attrs.field(default=None, validator=_optional_str)
    video_url: str | None = attrs.field(default=None, validator=_optional_str)
    result_url: str | None = attrs.field(default=None, validator=_optional_str)
    image_url: str | None = attrs.field(default=None, validator=_optional_str)
    error_code: str | None = attrs.field(default=None, validator=_optional_str)
    activity_id: str | None = attrs.field(default=None, validator=_optional_str)
    material_id: str | None = attrs.field(default=None, validator=_optional_str)
    result_id: str | None = attrs.field(default=None, validator=_optional_str)

    @time_cost_ms.validator
    def _check_cost(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not math.isfinite(value) or value < 0:
            raise ParameterValueError(f"time_cost_ms must be finite and >= 0, got {value!r}")

    def refers_to(self, any_of: frozenset[str]) -> bool:
        """True when the record's request, activity, material or result id is in ``any_of``."""
        return bool({self.request_id, self.activity_id, self.material_id, self.result_id} & any_of)



def _period(value: Any) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ParameterValueError(f"a retention period must be a positive timedelta or seconds, got {value!r}")
    return value


def _period_or_none(value: Any) -> timedelta | None:
    return None if value is None else _period(value)


@attrs.frozen(kw_only=True)
class RetentionPolicy(_Json):
    """How long the studio keeps what it stores.

    Attributes
    ----------
    logs
        Request log lines (default 7 days).
    image_results
        Stored fused images (default 7 days).
    video_results
        Stored fused videos (default 1 day).
    materials
        ``None`` (default): materials stay until deleted.
    """

    KIND: ClassVar[str] = "retention_policy"

    logs: timedelta = attrs.field(default=timedelta(days=7), converter=_period,
                                  metadata=json_field("logs_s", required=True))
    image_results: timedelta = attrs.field(default=timedelta(days=7), converter=_period,
                                           metadata=json_field("image_results_s", required=True))
    video_results: timedelta = attrs.field(default=timedelta(days=1), converter=_period,
                                           metadata=json_field("video_results_s", required=True))
    materials: timedelta | None = attrs.field(default=None, converter=_period_or_none,
                                              metadata=json_field("materials_s"))



#: The categories an :class:`ErasureReceipt` counts.
ERASURE_CATEGORIES = ("activities", "materials", "faces", "sources", "tracks", "results", "log_records")


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ParameterValueError("counts must be a mapping of category to count")
    out = {c: 0 for c in ERASURE_CATEGORIES}
    for k, v in value.items():
        if k not in out or isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ParameterValueError(f"bad erasure count {k!r}: {v!r}")
        out[k] = v
    return out


@attrs.frozen(kw_only=True)
class ErasureReceipt(_Json):
    """What a deletion or a data-subject erasure removed, and when.

    Attributes
    ----------
    id
        ``er_...``.
    completed
        UTC timestamp when everything listed was gone.
    subject_ids
        The ids the request named.
    counts
        Objects removed per category (:data:`ERASURE_CATEGORIES`).
    """

    KIND: ClassVar[str] = "erasure_receipt"

    id: str = attrs.field(validator=_id_of(ids.ERASURE, "erasure receipt"))
    completed: datetime = attrs.field(converter=_utc)
    subject_ids: tuple[str, ...] = attrs.field(converter=_strings)
    counts: dict[str, int] = attrs.field(converter=_counts, hash=False)

    @property
    def total(self) -> int:
        """Objects removed in all categories."""
        return sum(self.counts.values())

