"""The 468-point mesh: placement, presence, and consistency under rotation, scale and mirroring.

Consistency: the mesh of a transformed photo, mapped back, must agree with the mesh of the original within 3%
of the inter-ocular distance (mean over the 468 points), with and without the refine pass.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

import fusionkit
from fusionkit.domain import FaceMesh
from fusionkit.vision import FaceDetector, FaceLandmarker, mesh_topology
from tests.vision.vision_photos import EXPECTED_FACES, PORTRAITS

TOLERANCE = 0.03  # of the inter-ocular distance


def _mesh(img: NDArray[np.uint8], refine: bool = False) -> FaceMesh:
    faces = FaceDetector().detect(img)
    assert len(faces) == 1
    return FaceLandmarker(refine=refine).mesh(img, faces[0])


def _error(points: NDArray[np.float32], expected: NDArray[np.float64], iod: float) -> float:
    return float(np.linalg.norm(points[:, :2] - expected, axis=1).mean() / iod)


@pytest.mark.parametrize("name", sorted(EXPECTED_FACES))
def test_meshes_on_the_photos(photo, name: str) -> None:
    meshes = fusionkit.analyze(photo(name))
    assert len(meshes) == EXPECTED_FACES[name]
    for m in meshes:
        assert m.points.shape == (468, 3) and m.points.dtype == np.float32
        assert m.presence > 0.9
        x0, _, x1, _ = m.face.box
        inside = (m.points[:, 0] > x0 - 0.25 * m.face.width) & (m.points[:, 0] < x1 + 0.25 * m.face.width)
        assert inside.all()
        # eye corners near the detector's eye keypoints, nose tip (landmark 1) near its nose keypoint
        iod = m.inter_ocular_distance
        assert 0.3 * m.face.width < iod < 1.2 * m.face.width
        assert np.linalg.norm(m.points[1, :2] - m.face.keypoints[2]) < 0.25 * iod
        assert m.points[33, 0] < m.points[263, 0]  # subject's right eye corner on the image's left


@pytest.mark.parametrize("refine", [False, True])
@pytest.mark.parametrize("name", PORTRAITS)
def test_points_move_with_the_image(photo, name: str, refine: bool) -> None:
    img = np.ascontiguousarray(photo(name))
    h, w = img.shape[:2]
    base = _mesh(img, refine)
    iod = base.inter_ocular_distance
    cx, cy = base.points[:, :2].mean(axis=0)
    for angle in (30, -30):
        m = cv2.getRotationMatrix2D((float(cx) - 0.5, float(cy) - 0.5), angle, 1.0)
        turned = _mesh(cv2.warpAffine(img, m, (w, h)), refine)
        expected = (base.points[:, :2] - 0.5) @ m[:, :2].T + m[:, 2] + 0.5
        assert _error(turned.points, expected, iod) < TOLERANCE, f"rotation {angle}"
    for scale in (0.5, 2.0):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
        sx, sy = resized.shape[1] / w, resized.shape[0] / h
        got = _mesh(resized, refine)
        assert _error(got.points, base.points[:, :2] * (sx, sy), iod * sx) < TOLERANCE, f"scale {scale}"
    mirrored = _mesh(np.ascontiguousarray(img[:, ::-1]), refine)
    back = mirrored.points[:, :2].copy()
    back[:, 0] = w - back[:, 0]
    perm = mesh_topology().flip_permutation
    assert _error(back[:, None, :][:, 0], base.points[perm, :2], iod) < TOLERANCE, "flip"


def test_presence_is_low_without_a_face(photo) -> None:
    img = photo("astronaut.png")
    face = FaceDetector().detect(img)[0]
    blank = np.full_like(img, 127)
    assert FaceLandmarker().mesh(blank, face).presence < 0.5
    assert FaceLandmarker().mesh(img, face).presence > 0.9


def test_mesh_value_object_round_trips(photo) -> None:
    m = fusionkit.analyze(photo("astronaut.png"))[0]
    again = FaceMesh.from_dict(m.to_dict())
    assert again.face == m.face
    np.testing.assert_allclose(again.points, m.points, atol=1e-3)
