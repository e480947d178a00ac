"""MediaPipe Face Mesh: 468 points (x, y, z) per face from a rotated square crop, on onnxruntime.

The crop is a square 1.5 times the detection box's longer side, centred on the box and rotated so that the eye
line is horizontal (MediaPipe's ``face_detection_front_detection_to_roi``), resampled to 192 x 192
with one affine warp; the model's points are mapped back to image pixels with the inverse transform.

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
from fusionkit.vision._runtime import RuntimeOptions, current_runtime, get_session

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
    options: RuntimeOptions = attrs.field(factory=current_runtime)

    def crop(self, image: NDArray[np.uint8], m: NDArray[np.float64]) -> NDArray[np.uint8]:
        """The model's 192 x 192 RGB input for the crop-to-image matrix ``m`` (from :func:`face_roi`).

        When the region is much larger than the crop, its axis-aligned bounding box is first shrunk to about
        the crop's scale with a bilinear resize (a sequential, cache-friendly pass), and the rotation is then
        applied to that small image; sampling the full-resolution image along a rotated grid directly is
        bound by memory latency (about 1 ms for a face filling a 1080p frame, against 0.2 ms this way).
        """
        size = LANDMARK_INPUT_SIZE
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ m[:, :2].T + m[:, 2]
        scale = math.hypot(m[0, 0], m[1, 0])  # image pixels per crop pixel
        h, w = image.shape[:2]
        x0, y0 = (max(0, math.floor(v) - 1) for v in corners.min(axis=0))
        x1, y1 = min(w, math.ceil(corners[:, 0].max()) + 1), min(h, math.ceil(corners[:, 1].max()) + 1)
        src, mat = image, m
        if scale > 1.5 and x1 - x0 > 1 and y1 - y0 > 1:
            sw, sh = max(2, round((x1 - x0) / scale)), max(2, round((y1 - y0) / scale))
            src = np.asarray(cv2.resize(image[y0:y1, x0:x1], (sw, sh), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
            f = np.array([sw / (x1 - x0), sh / (y1 - y0)])
            mat = np.hstack([m[:, :2] * f[:, None], ((m[:, 2] - (x0, y0)) * f)[:, None]])
        # OpenCV addresses pixel centres at integer coordinates; fusionkit's image coordinates at +0.5.
        m_cv = mat.copy()
        m_cv[:, 2] = mat[:, 2] - 0.5 + mat[:, :2] @ np.array([0.5, 0.5])
        crop = cv2.warpAffine(
            src,
            m_cv,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return np.asarray(crop, dtype=np.uint8)

    def _run(self, image: NDArray[np.uint8], m: NDArray[np.float64]) -> tuple[NDArray[np.float32], float]:
        crop = self.crop(image, m)
        session = get_session(LANDMARK_FILE, self.options)
        x = np.empty((1, 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE), np.float32)
        for channel, plane in enumerate(cv2.split(crop)):  # HWC uint8 -> NCHW float32, plane by plane
            np.multiply(plane, np.float32(1 / 255.0), out=x[0, channel])
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

    def track(
        self, image: NDArray[np.uint8], previous: FaceMesh, *, offset: tuple[float, float] = (0.0, 0.0)
    ) -> FaceMesh:
        """The mesh of a face in ``image`` from its mesh in the previous video frame, without detection.

        The crop is re-centred and re-rotated from ``previous``'s points (MediaPipe's tracking,
        ``face_landmark_landmarks_to_roi``). ``image`` may be a window of the frame whose top-left corner lies at
        ``offset`` (x, y) in frame pixels; ``previous`` and the result are in frame pixels. The result's
        ``face`` is the previous detection moved to the new points' bounding box; a low ``presence`` means the
        face was lost (re-detect it).
        """
        shift = np.array([offset[0], offset[1], 0.0], np.float32)
        local = previous.points - shift
        points, presence = self._run(image, mesh_roi(local))
        points[:, :2] += shift[:2]
        xy = points[:, :2]
        box = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
        moved = box[:2] - previous.face.box[:2]
        face = attrs.evolve(previous.face, box=box, keypoints=previous.face.keypoints + moved)
        return FaceMesh(face=face, points=points, presence=presence)

