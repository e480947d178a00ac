"""MediaPipe Face Mesh: 468 points (x, y, z) per face from a rotated square crop, on onnxruntime.

The crop is a square 1.5 times the detection box's longer side, centred on the box and rotated so that the eye
line is horizontal (MediaPipe's ``face_detection_front_detection_to_roi``), resampled to 192 x 192
with one affine
warp; the model's points are mapped back to image pixels with the inverse transform.

References
----------
Y. Kartynnik et al., "Real-time Facial Surface Geometry from Monocular Video on Mobile GPUs", CVPR Workshops
2019.
"""

from __future__ import annotations

import math

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import Face, FaceMesh
from fusionkit.vision._runtime import RuntimeOptions, get_session

__all__ = [
    "LANDMARK_INPUT_SIZE",
    "NUM_LANDMARKS",
    "ROI_SCALE",
    "FaceLandmarker",
    "face_roi",
    "mesh_roi",
    "roi_matrix",
]

LANDMARK_FILE = "face_landmark.onnx"
LANDMARK_INPUT_SIZE = 192  # NCHW, values in [0, 1]
NUM_LANDMARKS = 468
ROI_SCALE = 1.5


def roi_matrix(cx: float, cy: float, side: float, roll: float) -> NDArray[np.float64]:
    """The 2 x 3 affine matrix taking crop coordinates (0-192, corner origin) to image pixels for a square
    region of ``side`` pixels centred on ``(cx, cy)`` and turned by ``roll`` degrees."""
    theta = math.radians(roll)
    s = side / LANDMARK_INPUT_SIZE
    c, si = math.cos(theta) * s, math.sin(theta) * s
    half = LANDMARK_INPUT_SIZE / 2
    a = np.array([[c, -si], [si, c]])
    b = np.array([cx, cy]) - a @ np.array([half, half])
    return np.hstack([a, b[:, None]])


def face_roi(face: Face, scale: float = ROI_SCALE) -> NDArray[np.float64]:
    """The crop-to-image matrix for a detected face: a square ``scale`` times the box's longer side, centred
    on the box and turned by the face's roll (MediaPipe's ``face_detection_front_detection_to_roi``)."""
    cx, cy = face.center
    return roi_matrix(cx, cy, max(face.width, face.height) * scale, face.roll)


def mesh_roi(points: NDArray[np.float32], scale: float = ROI_SCALE) -> NDArray[np.float64]:
    """The crop-to-image matrix from a previous mesh: its bounding box, turned to the eye-corner line
    (landmarks 33 and 263; MediaPipe's ``face_landmark_landmarks_to_roi``)."""
    xy = points[:, :2].astype(np.float64)
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    d = xy[263] - xy[33]
    roll = math.degrees(math.atan2(d[1], d[0]))
    # The box of the rotated face, measured in the face's own frame, is the right size for the crop.
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    local = (xy - centre) @ np.array([[c, -s], [s, c]])
    side = float((local.max(axis=0) - local.min(axis=0)).max()) * scale
    mid = centre + np.array([[c, -s], [s, c]]) @ ((local.max(axis=0) + local.min(axis=0)) / 2)
    return roi_matrix(float(mid[0]), float(mid[1]), side, roll)


@attrs.define(kw_only=True)
class FaceLandmarker:
    """Compute the 468-point face mesh of detected faces.

    Parameters
    ----------
    refine
        Run the model a second time on a crop re-centred and re-rotated from the first mesh (as MediaPipe's
        tracking does): steadier points under rotation, at twice the landmark cost (about 3 ms more per face).
    options
        onnxruntime providers and threads.
    """

    refine: bool = False
    options: RuntimeOptions = attrs.field(factory=RuntimeOptions)

    def crop(self, image: NDArray[np.uint8], m: NDArray[np.float64]) -> NDArray[np.uint8]:
        """The model's 192 x 192 RGB input for the crop-to-image matrix ``m`` (from :func:`face_roi`)."""
        # OpenCV addresses pixel centres at integer coordinates; fusionkit's image coordinates at +0.5.
        m_cv = m.copy()
        m_cv[:, 2] = m[:, 2] - 0.5 + m[:, :2] @ np.array([0.5, 0.5])
        crop = cv2.warpAffine(
            image,
            m_cv,
            (LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return np.asarray(crop, dtype=np.uint8)

    def _run(self, image: NDArray[np.uint8], m: NDArray[np.float64]) -> tuple[NDArray[np.float32], float]:
        crop = self.crop(image, m)
        session = get_session(LANDMARK_FILE, self.options)
        x = crop.astype(np.float32).transpose(2, 0, 1)[None] * np.float32(1 / 255.0)
        raw, flag = session.run(None, {session.get_inputs()[0].name: x})
        pts = raw.reshape(NUM_LANDMARKS, 3).astype(np.float64)
        out = np.empty((NUM_LANDMARKS, 3), np.float32)
        # The model's x, y are crop pixels with pixel centres at integers (MediaPipe's convention): +0.5 takes
        # them to corner-origin crop coordinates (this removes a one-crop-pixel shift between a face and its
        # mirror image).
        out[:, :2] = (pts[:, :2] + 0.5) @ m[:, :2].T + m[:, 2]
        out[:, 2] = pts[:, 2] * math.hypot(m[0, 0], m[1, 0])
        presence = 1.0 / (1.0 + math.exp(-float(np.clip(flag.ravel()[0], -80, 80))))
        return out, presence

    def mesh(self, image: NDArray[np.uint8], face: Face) -> FaceMesh:
        """Return the face mesh of ``face`` in the RGB uint8 ``image`` it was detected in."""
        points, presence = self._run(image, face_roi(face))
        if self.refine:
            points, presence = self._run(image, mesh_roi(points))
        return FaceMesh(face=face, points=points, presence=presence)
