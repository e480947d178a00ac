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

__all__ = ["LANDMARK_INPUT_SIZE", "NUM_LANDMARKS", "ROI_SCALE", "FaceLandmarker", "face_roi"]

LANDMARK_FILE = "face_landmark.onnx"
LANDMARK_INPUT_SIZE = 192  # NCHW, values in [0, 1]
NUM_LANDMARKS = 468
ROI_SCALE = 1.5


def face_roi(face: Face, scale: float = ROI_SCALE) -> NDArray[np.float64]:
    """The 2 x 3 affine matrix taking crop coordinates (0-192, corner origin) to image pixel coordinates."""
    cx, cy = face.center
    side = max(face.width, face.height) * scale
    theta = math.radians(face.roll)
    s = side / LANDMARK_INPUT_SIZE
    c, si = math.cos(theta) * s, math.sin(theta) * s
    half = LANDMARK_INPUT_SIZE / 2
    a = np.array([[c, -si], [si, c]])
    b = np.array([cx, cy]) - a @ np.array([half, half])
    return np.hstack([a, b[:, None]])


@attrs.define(kw_only=True)
class FaceLandmarker:
    """Compute the 468-point face mesh of detected faces.

    Parameters
    ----------
    options
        onnxruntime providers and threads.
    """

    options: RuntimeOptions = attrs.field(factory=RuntimeOptions)

    def crop(self, image: NDArray[np.uint8], face: Face) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
        """The model's 192 x 192 RGB input crop for ``face`` and its crop-to-image affine matrix."""
        m = face_roi(face)
        # OpenCV addresses pixel centres at integer coordinates; fusionkit's (and the model's) at +0.5.
        m_cv = m.copy()
        m_cv[:, 2] = m[:, 2] - 0.5 + m[:, :2] @ np.array([0.5, 0.5])
        crop = cv2.warpAffine(
            image,
            m_cv,
            (LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return np.asarray(crop, dtype=np.uint8), m

    def mesh(self, image: NDArray[np.uint8], face: Face) -> FaceMesh:
        """Return the face mesh of ``face`` in the RGB uint8 ``image`` it was detected in."""
        crop, m = self.crop(image, face)
        session = get_session(LANDMARK_FILE, self.options)
        x = crop.astype(np.float32).transpose(2, 0, 1)[None] * np.float32(1 / 255.0)
        raw, flag = session.run(None, {session.get_inputs()[0].name: x})
        pts = raw.reshape(NUM_LANDMARKS, 3).astype(np.float64)
        out = np.empty((NUM_LANDMARKS, 3), np.float32)
        out[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
        out[:, 2] = pts[:, 2] * math.hypot(m[0, 0], m[1, 0])
        presence = 1.0 / (1.0 + math.exp(-float(np.clip(flag.ravel()[0], -80, 80))))
        return FaceMesh(face=face, points=out, presence=presence)
