"""The baseline a user would write with OpenCV, on fusionkit's own landmarks and target mesh.

Per-triangle ``getAffineTransform`` + ``warpAffine`` of the user's face (and the template's) onto the same target
mesh fusionkit uses, the textures mixed by the face degree, and ``cv2.seamlessClone`` (NORMAL_CLONE) through the
convex hull of the target face oval. Shared by ``quality.py`` and ``bench_fuse.py``. ``baseline_fuse_roi`` is the
same recipe as a careful user writes it for speed: every step on the face's region only (the target mesh's box and
a margin), laid back into the frame.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_core import opencv_per_triangle

from fusionkit.domain.faces import FaceMesh
from fusionkit.fusion.engine.geometry import apply_similarity, fit_similarity, point_roles, target_mesh
from fusionkit.vision.topology import MeshTopology


def target_for(tmesh: FaceMesh, umesh: FaceMesh, face_degree: float, profile_degree: float,
               topo: MeshTopology) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template points, user points, target points), extended meshes in image pixels (centres at .5)."""
    pt = topo.extend(tmesh.points).astype(np.float64)
    pu = topo.extend(umesh.points).astype(np.float64)
    target = target_mesh(pt, apply_similarity(fit_similarity(pu[:468], pt[:468]), pu), face_degree, profile_degree,
                         point_roles(topo))
    return pt, pu, target


def baseline_fuse(template: np.ndarray, tmesh: FaceMesh, user: np.ndarray, umesh: FaceMesh, face_degree: float,
                  profile_degree: float, topo: MeshTopology) -> np.ndarray:
    """The OpenCV recipe's result (RGB uint8), same size as ``template``."""
    pt, pu, target = target_for(tmesh, umesh, face_degree, profile_degree, topo)
    tris = topo.triangles[(topo.triangles < 468).all(axis=1)]
    warped_user = template.copy()
    opencv_per_triangle(user, pu - 0.5, target - 0.5, tris, warped_user)
    beta = face_degree / 100.0
    if beta > 0:
        warped_tmpl = template.copy()
        opencv_per_triangle(template, pt - 0.5, target - 0.5, tris, warped_tmpl)
        face = cv2.addWeighted(warped_user, 1 - beta, warped_tmpl, beta, 0)
    else:
        face = warped_user
    oval = target[topo.region("face_oval")] - 0.5
    mask = np.zeros(template.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(oval).astype(np.int32)), 255)
    x, y, w, h = cv2.boundingRect(mask)
    centre = (x + w // 2, y + h // 2)
    out = cv2.seamlessClone(cv2.cvtColor(face, cv2.COLOR_RGB2BGR), cv2.cvtColor(template, cv2.COLOR_RGB2BGR),
                            mask.copy(), centre, cv2.NORMAL_CLONE)
    return np.ascontiguousarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


def baseline_fuse_roi(template: np.ndarray, tmesh: FaceMesh, user: np.ndarray, umesh: FaceMesh, face_degree: float,
                      profile_degree: float, topo: MeshTopology, margin: int = 8) -> np.ndarray:
    """:func:`baseline_fuse` on the face's region only: the warps, the mix, the mask and ``seamlessClone`` on the
    target mesh's box grown by ``margin`` px; the result laid back into a copy of the template."""
    pt, pu, target = target_for(tmesh, umesh, face_degree, profile_degree, topo)
    tris = topo.triangles[(topo.triangles < 468).all(axis=1)]
    h, w = template.shape[:2]
    x0, y0 = (max(0, int(np.floor(v)) - margin) for v in target[:468].min(axis=0))
    x1, y1 = (min(side, int(np.ceil(v)) + margin) for v, side in zip(target[:468].max(axis=0), (w, h), strict=True))
    origin = np.array([x0, y0], np.float64)
    region = np.ascontiguousarray(template[y0:y1, x0:x1])
    warped_user = region.copy()
    opencv_per_triangle(user, pu - 0.5, target - 0.5 - origin, tris, warped_user)
    beta = face_degree / 100.0
    if beta > 0:
        warped_tmpl = region.copy()
        opencv_per_triangle(template, pt - 0.5, target - 0.5 - origin, tris, warped_tmpl)
        face = cv2.addWeighted(warped_user, 1 - beta, warped_tmpl, beta, 0)
    else:
        face = warped_user
    oval = target[topo.region("face_oval")] - 0.5 - origin
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(oval).astype(np.int32)), 255)
    bx, by, bw, bh = cv2.boundingRect(mask)
    cloned = cv2.seamlessClone(cv2.cvtColor(face, cv2.COLOR_RGB2BGR), cv2.cvtColor(region, cv2.COLOR_RGB2BGR),
                               mask, (bx + bw // 2, by + bh // 2), cv2.NORMAL_CLONE)
    out = template.copy()
    out[y0:y1, x0:x1] = cv2.cvtColor(cloned, cv2.COLOR_BGR2RGB)
    return out
