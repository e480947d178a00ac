"""Detected faces and their 468-point meshes, in image pixel coordinates.

Coordinates are ``(x, y)`` pixels of the image the face was found in: x to the right, y down, the
origin at the top-left corner of the top-left pixel (so the centre of pixel ``(0, 0)`` is ``(0.5, 0.5)``). "Left" and
"right" name the subject's side: the subject's right eye is on the image's left in an unmirrored photo.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import ParameterValueError

__all__ = ["MIN_FACE_SIZE", "Face", "FaceKeypoint", "FaceMesh"]

#: Faces whose box is narrower or shorter than this many pixels are too small for the landmark model and for
#: fusion (the cloud service's ``FailedOperation.FaceSizeTooSmall``).
MIN_FACE_SIZE = 34

_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


class FaceKeypoint(enum.IntEnum):
    """Rows of :attr:`Face.keypoints` (BlazeFace's six keypoints, subject's side)."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR_TRAGION = 4
    LEFT_EAR_TRAGION = 5


def _float32_array(value: Any, shape: tuple[int, ...]) -> NDArray[np.float32]:
    arr = np.array(value, dtype=np.float32)
    if arr.shape != shape:
        raise ParameterValueError(f"expected an array of shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterValueError("face coordinates must be finite")
    arr.setflags(write=False)
    return arr


def _box_array(value: Any) -> NDArray[np.float32]:
    return _float32_array(value, (4,))


def _keypoints_array(value: Any) -> NDArray[np.float32]:
    return _float32_array(value, (6, 2))


def _points_array(value: Any) -> NDArray[np.float32]:
    arr = np.array(value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ParameterValueError(f"mesh points must have shape (N, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ParameterValueError("mesh points must be finite numbers (a NaN or infinity was given)")
    arr.setflags(write=False)
    return arr


def _finite(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise ParameterValueError(f"{attribute.name} must be a finite number, got {value!r}")


@attrs.frozen(kw_only=True)
class Face:
    """One face found by the detector.

    Attributes
    ----------
    box
        ``[x_min, y_min, x_max, y_max]`` in pixels, float32, read-only.
    keypoints
        ``(6, 2)`` float32 pixel coordinates, rows named by :class:`FaceKeypoint`.
    score
        Detection confidence, 0-1.
    roll
        In-plane rotation of the eye line in degrees, in (-180, 180]: the angle from the image's x axis to the
        vector from the right eye to the left eye, measured with y down; positive when the face is turned
        clockwise on screen (its left eye lower than its right), 0 for an upright face.
    """

    box: NDArray[np.float32] = attrs.field(converter=_box_array, eq=_ARRAY_EQ)
    keypoints: NDArray[np.float32] = attrs.field(converter=_keypoints_array, eq=_ARRAY_EQ)
    score: float = attrs.field(converter=float, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])
    roll: float = attrs.field(converter=float, validator=_finite)

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """The box's shorter side in pixels (what :data:`MIN_FACE_SIZE` is compared with)."""
        return min(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in pixels."""
        return (float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2)

    @property
    def too_small(self) -> bool:
        """True when the box's shorter side is under :data:`MIN_FACE_SIZE` pixels."""
        return self.size < MIN_FACE_SIZE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of floats); :meth:`from_dict` reverses it."""
        return {
            "box": [float(v) for v in self.box],
            "keypoints": [[float(v) for v in row] for row in self.keypoints],
            "score": self.score,
            "roll": self.roll,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Face:
        """Rebuild a face from :meth:`to_dict`'s output."""
        return cls(box=data["box"], keypoints=data["keypoints"], score=data["score"], roll=data["roll"])


@attrs.frozen(kw_only=True)
class FaceMesh:
    """The 468-point MediaPipe face mesh of one face.

    Attributes
    ----------
    face
        The detection the mesh was computed from.
    points
        ``(468, 3)`` float32: x and y in image pixels; z is relative depth in the same pixel scale (smaller is
        nearer the camera, roughly 0 at the face's centre).
    presence
        The landmark model's face-presence score, 0-1 (low values mean the crop held no face).
    """

    face: Face
    points: NDArray[np.float32] = attrs.field(converter=_points_array, eq=_ARRAY_EQ)
    presence: float = attrs.field(converter=float, validator=_finite)

    #: Mesh indices of the outer eye corners (subject's right, left), used for the eye line and scale.
    RIGHT_EYE_OUTER = 33
    LEFT_EYE_OUTER = 263

    @property
    def points2d(self) -> NDArray[np.float32]:
        """``(468, 2)`` x, y pixel coordinates (a read-only view)."""
        return self.points[:, :2]

    @property
    def inter_ocular_distance(self) -> float:
        """Distance in pixels between the outer eye corners (landmarks 33 and 263)."""
        d = self.points[self.LEFT_EYE_OUTER, :2] - self.points[self.RIGHT_EYE_OUTER, :2]
        return float(math.hypot(float(d[0]), float(d[1])))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {
            "face": self.face.to_dict(),
            "points": [[round(float(v), 3) for v in row] for row in self.points],
            "presence": self.presence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceMesh:
        """Rebuild a mesh from :meth:`to_dict`'s output."""
        return cls(face=Face.from_dict(data["face"]), points=data["points"], presence=data["presence"])
