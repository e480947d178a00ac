"""A material: a template picture or video of an activity, with the faces found in it, and its status."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs
import numpy as np

from fusionkit.domain import ids
from fusionkit.domain.documents import (
    JsonDocument,
    Status,
    count,
    degree_or_none,
    id_of,
    json_field,
    matches,
    one_of,
    status_of,
    utc,
    valid_name,
)
from fusionkit.domain.faces import Face, FaceMesh
from fusionkit.errors import ParameterValueError

__all__ = ["Material", "MaterialFace", "MaterialStatus", "MaterialVideo"]

class MaterialStatus(Status):
    """A material's status: ``ready``; for a video also ``preprocessing``, ``preprocessing_failed`` or
    ``role_not_in_video``."""

    READY = "ready"
    PREPROCESSING = "preprocessing"
    PREPROCESSING_FAILED = "preprocessing_failed"
    ROLE_NOT_IN_VIDEO = "role_not_in_video"


def _material_status(value: Any) -> MaterialStatus:
    return status_of(MaterialStatus, value)


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
    index: int = attrs.field(validator=count)
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


def _number(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ParameterValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


def _optional_count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        count(instance, attribute, value)


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ParameterValueError(f"{attribute.name} must be text or None, got {value!r}")


def _fraction(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ParameterValueError(f"{attribute.name} must be within 0-1, got {value!r}")


#: MaterialVideo fields left out of its JSON while they are None (they exist only for some uploads).
_OMITTED_WHEN_NONE = ("attempts", "reference_faces")


@attrs.frozen(kw_only=True)
class MaterialVideo(Mapping[str, Any]):
    """What a video material's container says about it, and how its preprocessing went; also readable as a
    mapping (``material.video["progress"]``), as the JSON document stores it.

    Attributes
    ----------
    size_bytes, duration_s, fps, frame_count, width, height, bit_rate, video_codec, audio_codec, audio_channels,
    audio_sample_rate
        From the container, as :class:`fusionkit.VideoInfo` reports them (bytes, seconds, frames per second, pixels,
        bits per second; ``audio_codec`` is ``None`` without audio).
    tracked_faces
        Faces followed through the video.
    error
        Why the preprocessing ended without faces or failed; ``None`` when it did not.
    progress
        0-1: how far the tracking has gone (1 once it ended).
    attempts
        Times the background tracking started (uploads with ``wait=False``; ``None`` otherwise).
    reference_faces
        How many reference photos named the people to follow (``None`` without them).
    """

    size_bytes: int = attrs.field(validator=count)
    duration_s: float = attrs.field(validator=_number)
    fps: float = attrs.field(validator=_number)
    frame_count: int = attrs.field(validator=count)
    width: int = attrs.field(validator=count)
    height: int = attrs.field(validator=count)
    bit_rate: int = attrs.field(validator=count)
    video_codec: str = attrs.field(validator=attrs.validators.instance_of(str))
    audio_codec: str | None = attrs.field(validator=_optional_text)
    audio_channels: int = attrs.field(validator=count)
    audio_sample_rate: int = attrs.field(validator=count)
    tracked_faces: int = attrs.field(default=0, validator=count)
    error: str | None = attrs.field(default=None, validator=_optional_text)
    progress: float = attrs.field(default=0.0, validator=_fraction)
    attempts: int | None = attrs.field(default=None, validator=_optional_count)
    reference_faces: int | None = attrs.field(default=None, validator=_optional_count)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in the material's document (its fields in order, ``attempts`` and
        ``reference_faces`` left out while ``None``)."""
        out = attrs.asdict(self)
        for name in _OMITTED_WHEN_NONE:
            if out[name] is None:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MaterialVideo:
        """From the stored JSON object (keys it does not know are ignored)."""
        if not isinstance(data, Mapping):
            raise ParameterValueError(f"a material's video metadata must be a mapping, got {type(data).__name__}")
        names = {f.name for f in attrs.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:  # a required field missing
            raise ParameterValueError(f"a material's video metadata is incomplete: {exc}") from None

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def _video_meta(value: Any) -> MaterialVideo | None:
    if value is None or isinstance(value, MaterialVideo):
        return value
    return MaterialVideo.from_dict(value)


@attrs.frozen(kw_only=True)
class Material(JsonDocument):
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
        For a video: a :class:`MaterialVideo` (its container's metadata and how its preprocessing went);
        ``None`` for an image.
    """

    KIND: ClassVar[str] = "material"

    id: str = attrs.field(validator=id_of(ids.MATERIAL, "material"))
    activity_id: str = attrs.field(validator=id_of(ids.ACTIVITY, "activity"))
    name: str = attrs.field(validator=valid_name)
    kind: str = attrs.field(default="image", validator=one_of("image", "video"),
                            metadata=json_field("material_kind", required=True))
    status: MaterialStatus = attrs.field(default=MaterialStatus.READY, converter=_material_status,
                                         metadata=json_field(required=True))
    source_format: str = attrs.field(validator=one_of("jpeg", "png", "mp4"))
    width: int = attrs.field(validator=count)
    height: int = attrs.field(validator=count)
    source_bytes: int = attrs.field(validator=count)
    source_sha256: str = attrs.field(validator=matches(r"[0-9a-f]{64}"))
    faces: tuple[MaterialFace, ...] = attrs.field(converter=_faces, metadata=json_field(decode=_decode_faces))
    fuse_face_degree: float | None = attrs.field(default=None, validator=degree_or_none)
    fuse_profile_degree: float | None = attrs.field(default=None, validator=degree_or_none)
    created: datetime = attrs.field(converter=utc)
    updated: datetime = attrs.field(converter=utc)
    video: MaterialVideo | None = attrs.field(default=None, converter=_video_meta,
                                              metadata=json_field(omit_none=True, decode=MaterialVideo.from_dict))

    @faces.validator
    def _check_faces(self, attribute: attrs.Attribute[Any], value: tuple[MaterialFace, ...]) -> None:
        for i, face in enumerate(value):
            if not isinstance(face, MaterialFace) or face.id != f"{self.id}_{i}" or face.index != i:
                raise ParameterValueError(f"face {i} of material {self.id} must have id {self.id}_{i}")

    @property
    def face_ids(self) -> tuple[str, ...]:
        """The faces' ids, largest face first."""
        return tuple(f.id for f in self.faces)
