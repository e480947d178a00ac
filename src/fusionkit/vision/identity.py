"""Who a face is: identity embeddings that tell people apart across pictures, pose, light and scale.

Video fusion asks "is this the same person?" of faces in different shots (re-identification) and of a reference
photo against the faces of a video. Two models answer it, behind one protocol (:class:`IdentityModel`):

- :class:`DlibIdentity`, when the ``identity`` extra is installed (``pip install "fusionkit[identity]"``: dlib and
  its models, CC0): dlib's face recognition network, a ResNet trained on about 3 million faces, 128-d embeddings
  aligned by dlib's 5-point landmarks; two photos of one person are under 0.6 apart (99.38% on LFW);
- :class:`AppearanceIdentity`, always there: the face warped by its mesh onto the mean face, its lighting removed,
  the upper half compared (:func:`face_signature`). It tells one picture from another well (a still of a role from
  the same video) but not one person from another in different photos; fusionkit says so where it matters.

:func:`identity_model` returns the best one installed. No model is ever downloaded.

References
----------
D. E. King, "Dlib-ml: A Machine Learning Toolkit", JMLR 10, 2009; dlib's ``dlib_face_recognition_resnet_model_v1``
(http://dlib.net/face_recognition.py.html).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import warp_mesh
from fusionkit.vision.topology import mesh_topology

__all__ = ["AppearanceIdentity", "DlibIdentity", "IdentityModel", "face_signature", "identity_model",
           "mesh_distance"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]


@runtime_checkable
class IdentityModel(Protocol):
    """Embeds a face so that the distance between two embeddings says whether they are one person.

    Attributes
    ----------
    name
        Short name, reported with matches.
    same_person
        Embedding distance (Euclidean, on unit vectors for the appearance model) under which two faces are taken
        to be one person.
    tells_people_apart
        Whether the model separates different people in different photos (False: it only matches pictures).
    """

    @property
    def name(self) -> str: ...

    @property
    def same_person(self) -> float: ...

    @property
    def tells_people_apart(self) -> bool: ...

    def embed(self, image: U8, points: F32) -> F32:
        """The embedding (float32 vector) of the face whose 468 mesh points (pixels) are ``points`` in the RGB
        ``image``."""


def _shape(points: NDArray[Any]) -> NDArray[np.float64]:
    xy = np.asarray(points[:, :2], np.float64)
    xy = xy - xy.mean(axis=0)
    unit: NDArray[np.float64] = xy / max(float(np.sqrt((xy**2).sum())), 1e-12)
    return unit


def mesh_distance(a: NDArray[Any], b: NDArray[Any]) -> float:
    """How far apart two face meshes' shapes are, after aligning them by a similarity (0 = the same shape)."""
    x, y = _shape(a), _shape(b)
    singular = np.linalg.svd(x.T @ y, compute_uv=False)
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * float(singular.sum()))))


_SIGNATURE_SIDE = 40  # pixels of the canonical face the signature is read from


@functools.lru_cache(maxsize=1)
def _signature_frame() -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.bool_]]:
    """(canonical points, mesh triangles, the pixels read): the mean face drawn in a 40x40 square, and its upper
    half (eyes, brows, nose: what changes least with expression) as the region compared."""
    topo = mesh_topology()
    mean = np.asarray(topo.mean_shape, np.float64)
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    scale = (_SIGNATURE_SIDE - 4) / float((hi - lo).max())
    canonical = (mean - lo) * scale + 2
    triangles = np.ascontiguousarray(topo.triangles[(topo.triangles < 468).all(axis=1)])
    cover = warp_mesh(np.full((1, 1), 255, np.uint8), np.zeros((468, 2)), canonical, triangles,
                      np.zeros((_SIGNATURE_SIDE, _SIGNATURE_SIDE), np.uint8))
    region = cover == 255
    region[int(canonical[1, 1]):] = False  # below the nose tip (landmark 1): mouth and jaw move with speech
    return canonical, triangles, region


def face_signature(image: U8, points: NDArray[Any]) -> F32:
    """A face's appearance, comparable across pictures: unit-length float32 vector.

    The face is warped by its mesh onto the mean face (40 px square, grey, after shrinking the photo to about
    twice that so that a large photo does not alias), its lighting gradients are removed (the difference of two
    Gaussian blurs, 0.7 and 4 px) and the upper half is kept, centred and normalised: the dot product of two
    signatures is their normalised cross-correlation (1 = the same picture).
    """
    canonical, triangles, region = _signature_frame()
    pts = np.asarray(points, np.float64)[:, :2]
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(v) - 2) for v in np.floor(pts.min(axis=0)))
    x1, y1 = (int(v) + 2 for v in np.ceil(pts.max(axis=0)))
    x0, y0 = min(x0, w - 1), min(y0, h - 1)  # a face wholly past the right or bottom edge: its last pixels
    x1, y1 = min(w, max(x1, x0 + 1)), min(h, max(y1, y0 + 1))
    grey = np.asarray(cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY), np.uint8)
    shrink = max(1.0, (x1 - x0) / (2 * _SIGNATURE_SIDE))
    if shrink > 1.0:
        size = (max(1, round(grey.shape[1] / shrink)), max(1, round(grey.shape[0] / shrink)))
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    # Mesh points put pixel centres at half-integers, the core at integers.
    local = (pts - np.array([x0, y0], np.float64)) / shrink - 0.5
    canvas = np.zeros((_SIGNATURE_SIDE, _SIGNATURE_SIDE), np.uint8)
    warp_mesh(grey, local, canonical, triangles, canvas)
    face = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 0.7)
    detail = (face - cv2.GaussianBlur(face, (0, 0), 4.0))[region]
    detail -= detail.mean()
    signature: F32 = (detail / max(float(np.linalg.norm(detail)), 1e-6)).astype(np.float32)
    return signature


@attrs.frozen
class AppearanceIdentity:
    """The always-available model: :func:`face_signature`, as a unit vector (distance = sqrt(2 - 2 correlation)).

    Measured on the samples (two_people.jpg at 180p and 720p against the photos): the same picture correlates
    0.95-0.99 (distance 0.14-0.32), other photos of the same or of another person 0.87-0.95: it matches pictures,
    not people.
    """

    name: str = "appearance"
    same_person: float = 0.35
    tells_people_apart: bool = False

    def embed(self, image: U8, points: F32) -> F32:
        return face_signature(image, points)


def _dlib_models() -> Path | None:
    """The folder of dlib's model files (the ``face_recognition_models`` package; found without importing it:
    its ``__init__`` imports ``pkg_resources``)."""
    if importlib.util.find_spec("dlib") is None:
        return None
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    needed = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")
    return folder if all((folder / n).is_file() for n in needed) else None


class DlibIdentity:
    """dlib's face recognition network (128-d; one person: under 0.6 apart), aligned by dlib's 5-point landmarks
    found inside the box of fusionkit's mesh (no second face detector)."""

    name = "dlib"
    same_person = 0.6
    tells_people_apart = True

    def __init__(self, models: Path) -> None:
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, image: U8, points: F32) -> F32:
        xy = np.asarray(points, np.float64)[:468, :2]
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        # dlib copies the whole image it is given: a crop of the face with a margin for its 150 px chip.
        h, w = image.shape[:2]
        pad = 0.5 * max(x1 - x0, y1 - y0)
        cx0, cy0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        cx1, cy1 = min(w, int(x1 + pad) + 1), min(h, int(y1 + pad) + 1)
        rgb = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        rect = self._dlib.rectangle(round(x0) - cx0, round(y0) - cy0, round(x1) - cx0, round(y1) - cy0)
        shape = self._shape(rgb, rect)
        vector = np.asarray(self._net.compute_face_descriptor(rgb, shape), np.float32)
        return vector


@functools.lru_cache(maxsize=1)
def identity_model() -> IdentityModel:
    """The best identity model installed: :class:`DlibIdentity` with the ``identity`` extra, else
    :class:`AppearanceIdentity`."""
    models = _dlib_models()
    if models is not None:
        return DlibIdentity(models)
    return AppearanceIdentity()
