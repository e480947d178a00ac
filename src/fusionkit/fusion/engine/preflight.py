"""What the engine refuses before a pixel is touched: faces turned too far, user faces too small or too blurred to
carry a likeness. Each refusal is a typed error whose message names the measured value and what to change.

Occluded faces are refused inside the engine (:func:`check_covered`), once the occluders are known.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import FaceMesh
from fusionkit.errors import FaceBlurredError, FaceOccludedError, FacePoseTooLargeError, FaceSizeTooSmallError
from fusionkit.vision.topology import MeshTopology

__all__ = [
    "MAX_COVERED",
    "MAX_YAW_DEGREES",
    "MIN_SHARPNESS",
    "MIN_USER_EYE_DISTANCE",
    "check_covered",
    "check_pose",
    "check_user_face",
    "face_sharpness",
    "yaw_degrees",
]

#: Faces turned further than this (degrees of yaw, either way) are refused: past it the far half of the face is
#: mostly hidden and the near cheek seen edge-on.
MAX_YAW_DEGREES = 50.0
#: A user face with its outer eye corners closer than this (pixels) carries too little of a likeness.
MIN_USER_EYE_DISTANCE = 20.0
#: A user face whose :func:`face_sharpness` is under this is refused as blurred. (Sharp photos measure 6-15, the
#: same blurred by 3% of the eye distance and saved as a poor JPEG 2-3, by 8% about 1.4-1.7.)
MIN_SHARPNESS = 1.3
#: A face with more than this share of its skin covered is refused.
MAX_COVERED = 0.6

# Scale at which sharpness is measured: 90 px between the outer eye corners.
_SHARPNESS_IOD = 90.0


def yaw_degrees(mesh: FaceMesh) -> float:
    """How far a face is turned left or right, in degrees (0 frontal, positive when the subject's left cheek is
    farther from the camera), from the mesh's depth between the cheeks (points 234 and 454)."""
    v = np.asarray(mesh.points[454], np.float64) - np.asarray(mesh.points[234], np.float64)
    return math.degrees(math.atan2(float(v[2]), math.hypot(float(v[0]), float(v[1]))))


def check_pose(mesh: FaceMesh, which: str) -> None:
    """Refuse a face turned further than :data:`MAX_YAW_DEGREES`; ``which`` names it in the message."""
    yaw = yaw_degrees(mesh)
    if abs(yaw) > MAX_YAW_DEGREES:
        raise FacePoseTooLargeError(f"{which} is turned {abs(yaw):.0f} degrees from the camera; fusion handles up to "
                                    f"{MAX_YAW_DEGREES:.0f}: use a photo where the face looks more towards the camera")


def face_sharpness(image: NDArray[np.uint8], mesh: FaceMesh, topo: MeshTopology) -> float:
    """Mean absolute Laplacian (grey levels) inside the face oval, the face scaled to 90 px between the outer eye
    corners: fine detail a likeness can be carried by."""
    pts = np.asarray(mesh.points[:, :2], np.float64)
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(v)) for v in np.floor(pts.min(axis=0)))
    x1, y1 = min(w, int(np.ceil(pts[:, 0].max()))), min(h, int(np.ceil(pts[:, 1].max())))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    scale = _SHARPNESS_IOD / max(mesh.inter_ocular_distance, 1.0)
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    oval = np.zeros(grey.shape, np.uint8)
    cv2.fillPoly(oval, [np.round((pts[topo.region("face_oval")] - [x0, y0]) * scale).astype(np.int32)], 255)
    inside = cv2.erode(oval, np.ones((9, 9), np.uint8)) > 0
    if inside.sum() < 64:
        return 0.0
    lap = np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))
    return float(lap[inside].mean())


def check_user_face(image: NDArray[np.uint8], mesh: FaceMesh, topo: MeshTopology, which: str) -> None:
    """Refuse a user face that cannot carry a likeness: turned too far, too small, or too blurred."""
    check_pose(mesh, which)
    iod = mesh.inter_ocular_distance
    if iod < MIN_USER_EYE_DISTANCE:
        raise FaceSizeTooSmallError(f"{which} has {iod:.0f} px between the outer eye corners; at least "
                                    f"{MIN_USER_EYE_DISTANCE:.0f} px are needed to carry a likeness: use a larger "
                                    "or closer photo")
    sharpness = face_sharpness(image, mesh, topo)
    if sharpness < MIN_SHARPNESS:
        raise FaceBlurredError(f"{which} is too blurred to carry a likeness (sharpness {sharpness:.2f}, at least "
                               f"{MIN_SHARPNESS} needed): use a sharper photo, in focus and not enlarged")


def check_covered(covered: float, which: str) -> None:
    """Refuse a face whose skin is covered in more than :data:`MAX_COVERED` of it (``covered`` 0-1)."""
    if covered > MAX_COVERED:
        raise FaceOccludedError(f"{which} is {covered:.0%} covered (a hand, hair or an object over it); at most "
                                f"{MAX_COVERED:.0%} may be: use a photo where the face is uncovered")
