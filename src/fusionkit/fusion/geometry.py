"""Geometry of a fusion: aligning the user's mesh to the template's and interpolating the target shape.

Mesh coordinates here follow :mod:`fusionkit.domain.faces` (pixel centres at half-integers); the C core puts
pixel centres on integers, so :func:`to_core` shifts points by half a pixel before any core call.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fusionkit.vision.topology import MeshTopology

__all__ = ["PointRoles", "apply_similarity", "fit_similarity", "point_roles", "target_mesh", "to_core"]

F64 = NDArray[np.float64]

#: MediaPipe mesh indices of the inner lip contour (the mouth opening), in order around it.
INNER_LIPS = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95],
                      np.int32)
#: MediaPipe mesh indices of the outer lip contour, in order around the mouth.
OUTER_LIPS = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146],
                      np.int32)
#: The nose: bridge, tip, wings and base (for the feature weights; the topology has no nose contour).
NOSE = np.array([6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 48, 278, 64, 294, 129, 358, 219, 439, 275, 45, 168],
                np.int32)


def to_core(points: NDArray[Any]) -> F64:
    """Mesh points (pixel centres at half-integers) in the C core's convention (pixel centres at integers)."""
    return np.asarray(points, np.float64)[:, :2] - 0.5


def fit_similarity(src: NDArray[Any], dst: NDArray[Any], weights: NDArray[Any] | None = None) -> F64:
    """The rotation, uniform scale and translation that best maps ``src`` onto ``dst`` (least squares).

    Parameters
    ----------
    src, dst
        (N, 2) corresponding points.
    weights
        Optional (N,) non-negative weights.

    Returns
    -------
    numpy.ndarray
        (2, 3) matrix ``M`` with ``dst ~ M[:, :2] @ p + M[:, 2]``; never a reflection.

    References
    ----------
    S. Umeyama, "Least-squares estimation of transformation parameters between two point patterns", IEEE TPAMI
    13(4), 1991.
    """
    s = np.asarray(src, np.float64)[:, :2]
    d = np.asarray(dst, np.float64)[:, :2]
    w = np.ones(len(s)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    ms, md = w @ s, w @ d
    sc, dc = s - ms, d - md
    cov = (dc * w[:, None]).T @ sc
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    var = float(w @ (sc**2).sum(axis=1))
    scale = float((sig * sign).sum() / var) if var > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - m[:, :2] @ ms
    return m


def apply_similarity(m: F64, points: NDArray[Any]) -> F64:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    p = np.asarray(points, np.float64)[:, :2]
    out: F64 = p @ m[:, :2].T + m[:, 2]
    return out


class PointRoles:
    """Per-point facts about the extended mesh (468 points plus the margin), computed once per topology.

    Attributes
    ----------
    feature_weight
        (N,) 0-1: 1 on the eyes, brows, nose and lips (the face degree governs them), 0 on the oval and margin
        (the profile degree), and in between by relative distance on the mean face.
    ring
        (N,) 0 for mesh points, 1, 2, ... for the margin rings, innermost first.
    """

    def __init__(self, topo: MeshTopology) -> None:
        n_mesh = 468
        mean = np.asarray(topo.mean_shape, np.float64)
        features = np.unique(np.concatenate([topo.region(r) for r in
                                             ("lips", "right_eye", "left_eye", "right_eyebrow", "left_eyebrow")]
                                            + [INNER_LIPS, NOSE]))
        oval = topo.region("face_oval")
        d_feat = np.min(np.linalg.norm(mean[:, None] - mean[features][None], axis=2), axis=1)
        d_oval = np.min(np.linalg.norm(mean[:, None] - mean[oval][None], axis=2), axis=1)
        mesh_w = d_oval / np.maximum(d_oval + d_feat, 1e-9)
        mesh_w = np.clip(mesh_w * 1.6 - 0.3, 0.0, 1.0)  # features fully by the face degree, a band in between
        mesh_w[features] = 1.0
        mesh_w[oval] = 0.0
        n_margin = topo.num_points - n_mesh
        self.feature_weight: F64 = np.concatenate([mesh_w, np.zeros(n_margin)])
        per_ring = len(topo.margin_contour)
        self.ring = np.concatenate([np.zeros(n_mesh, np.int32),
                                    np.repeat(np.arange(1, len(topo.margin_rings) + 1, dtype=np.int32), per_ring)])
        self.n_rings = len(topo.margin_rings)


@functools.lru_cache(maxsize=4)
def point_roles(topo: MeshTopology) -> PointRoles:
    """The shared :class:`PointRoles` of a topology."""
    return PointRoles(topo)


def target_mesh(
    template: NDArray[Any], user_aligned: NDArray[Any], face_degree: float, profile_degree: float,
    roles: PointRoles,
) -> F64:
    """The shape of the fused face: the template's and the aligned user's meshes, mixed point by point.

    Feature points take ``face_degree`` of the template, the oval ``profile_degree``, the points in between a
    mix of both by their place on the face; the margin rings move from the oval's mix to the template's own
    position (the outermost ring is the template's), so the surroundings stay where they were.

    Parameters
    ----------
    template, user_aligned
        (N, 2) extended meshes (the user's already mapped onto the template by :func:`fit_similarity`).
    face_degree, profile_degree
        0-100, higher = closer to the template.
    """
    f, p = face_degree / 100.0, profile_degree / 100.0
    alpha = p + (f - p) * roles.feature_weight
    ring_share = roles.ring / max(roles.n_rings, 1)
    alpha = alpha + (1.0 - alpha) * ring_share
    t = np.asarray(template, np.float64)[:, :2]
    u = np.asarray(user_aligned, np.float64)[:, :2]
    return alpha[:, None] * t + (1.0 - alpha[:, None]) * u
