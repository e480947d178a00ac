"""Stage 1, geometry: align the user's mesh to the template's, mix the target shape, find the regions to rewrite,
and reshape the template's head to the target.

Mesh coordinates here follow :mod:`fusionkit.domain.faces` (pixel centres at half-integers); the C core puts
pixel centres on integers, so :func:`to_core` shifts points by half a pixel before any core call.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import composite, warp_mesh
from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import Expression, FuseOptions
from fusionkit.fusion.engine._common import U8, bbox
from fusionkit.vision.topology import MeshTopology

__all__ = [
    "ExpressionRoles",
    "FacePlan",
    "PointRoles",
    "apply_similarity",
    "fit_similarity",
    "into_pose",
    "lips_from_template",
    "mouth_opening",
    "opening",
    "plan_face",
    "point_roles",
    "reshape_template",
    "target_mesh",
    "to_core",
    "wear_expression",
]

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
    return _umeyama(np.asarray(src, np.float64)[:, :2], np.asarray(dst, np.float64)[:, :2], weights)


def _umeyama(s: F64, d: F64, weights: NDArray[Any] | None = None) -> F64:
    """Umeyama's least-squares similarity in any dimension k: a (k, k + 1) matrix, never a reflection."""
    k = s.shape[1]
    w = np.ones(len(s)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    ms, md = w @ s, w @ d
    sc, dc = s - ms, d - md
    cov = (dc * w[:, None]).T @ sc
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(k)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    var = float(w @ (sc**2).sum(axis=1))
    scale = float((sig * sign).sum() / var) if var > 0 else 1.0
    m = np.empty((k, k + 1))
    m[:, :k] = scale * rot
    m[:, k] = md - m[:, :k] @ ms
    return m


def into_pose(template: NDArray[Any], user: NDArray[Any]) -> F64:
    """(N, 2): the user's mesh turned, scaled and moved in three dimensions onto the template's (depth included)
    and seen from the camera: the user's face in the template's pose. A similarity in the picture plane cannot turn
    a frontal face into a turned one; squeezing it onto a turned template distorts it.

    Parameters
    ----------
    template, user
        (N, 3) mesh points: x, y in pixels, z depth in the same scale (MediaPipe's).
    """
    t = np.asarray(template, np.float64)[:, :3]
    u = np.asarray(user, np.float64)[:, :3]
    m = _umeyama(u, t)
    out: F64 = (u @ m[:, :3].T + m[:, 3])[:, :2]
    return out


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


class ExpressionRoles:
    """Per-point facts for carrying an expression from one mesh onto another, computed once per topology.

    Attributes
    ----------
    mouth_pairs
        (9, 4) mesh indices, one row per place along the mouth from one corner to the other: inner upper lip,
        inner lower lip, outer upper lip, outer lower lip.
    lips
        The lip points of ``mouth_pairs`` in one vector (its rows' order, flattened).
    mouth_spread
        (468, len(lips)) row-normalised weights: how much each point moves with each lip point (a Gaussian of the
        distance on the mean face, 0.1 of the eye distance).
    mouth_reach
        (468,) 0-1: 1 on the lips, falling off with the distance from them (a Gaussian of 0.25 of the eye
        distance on the mean face): how far the mouth's movement carries into the cheeks and chin.
    eyes
        Per eye, (contour indices, outer corner, inner corner).
    """

    def __init__(self, topo: MeshTopology) -> None:
        mean = np.asarray(topo.mean_shape, np.float64)
        k = np.arange(9)
        self.mouth_pairs = np.stack([INNER_LIPS[1 + k], INNER_LIPS[19 - k], OUTER_LIPS[1 + k], OUTER_LIPS[19 - k]],
                                    axis=1).astype(np.int32)
        self.lips = self.mouth_pairs.ravel()
        d = np.linalg.norm(mean[:, None] - mean[self.lips][None], axis=2)
        spread = np.exp(-((d / 0.1) ** 2)) + 1e-12
        self.mouth_spread: F64 = spread / spread.sum(axis=1, keepdims=True)
        self.mouth_reach: F64 = np.exp(-((d.min(axis=1) / 0.25) ** 2))
        self.eyes = ((topo.region("right_eye"), 33, 133), (topo.region("left_eye"), 263, 362))


@functools.lru_cache(maxsize=4)
def expression_roles(topo: MeshTopology) -> ExpressionRoles:
    """The shared :class:`ExpressionRoles` of a topology."""
    return ExpressionRoles(topo)


#: The mouth's inner corners (right, left) and the nose tip, MediaPipe mesh indices.
_MOUTH_CORNERS = (78, 308)
_NOSE_TIP = 1
#: A user's mouth more open than the template's by this much (opening over width) starts to, and then does, take
#: the template's lips whole.
_CLOSING = (0.05, 0.15)
#: Bounds of the ratio of the template's eye opening to the user's by which the user's eyes are opened or shut.
_EYE_OPENING_MIN, _EYE_OPENING_MAX = 0.1, 4.0


def mouth_opening(points: NDArray[Any]) -> float:
    """How open a mesh's mouth is: the inner lips' height over the inner corners' distance."""
    return opening(np.asarray(points, np.float64)[:, :2], INNER_LIPS, *_MOUTH_CORNERS)


def lips_from_template(template: NDArray[Any], user_aligned: NDArray[Any]) -> float:
    """0-1: how much of the mouth (lips included) a fusion with the template's expression takes whole from the
    template: 0 while the user's mouth is open wider than the template's by under 0.05 of its width (its own lips
    close that far cleanly), 1 from 0.15 on (a smile's lip landmarks lie on its teeth)."""
    closing = mouth_opening(user_aligned) - mouth_opening(template)
    return float(np.clip((closing - _CLOSING[0]) / (_CLOSING[1] - _CLOSING[0]), 0.0, 1.0))


def _mouth_frame(points: F64) -> tuple[F64, float, F64, F64]:
    """(right inner corner, mouth width, unit vector along the mouth, unit vector across it, towards the chin)."""
    c0, c1 = points[_MOUTH_CORNERS[0]], points[_MOUTH_CORNERS[1]]
    width = max(float(np.linalg.norm(c1 - c0)), 1e-9)
    along = (c1 - c0) / width
    across = np.array([-along[1], along[0]])
    if float((points[_NOSE_TIP] - c0) @ across) > 0:  # away from the nose (the lips themselves may cross)
        across = -across
    return c0, width, along, across


def _mouth_pose(points: F64, pairs: NDArray[np.int32]) -> tuple[F64, F64, F64]:
    """Per place along the mouth, in mouth widths from the right inner corner: the place along the mouth, the lips'
    midline across it (the smile's curve), and the gap between the inner lips (the opening)."""
    c0, width, along, across = _mouth_frame(points)
    mid = (points[pairs[:, 0]] + points[pairs[:, 1]]) / 2 - c0
    gap = (points[pairs[:, 1]] - points[pairs[:, 0]]) @ across
    return (mid @ along) / width, (mid @ across) / width, gap / width


def wear_expression(template: NDArray[Any], user_aligned: NDArray[Any], topo: MeshTopology,
                    whole: float | None = None) -> F64:
    """The aligned user's mesh wearing the template's expression: its mouth and eyelids move, nothing else.

    Mouth: the user's lips keep their corners, width and thickness (likeness) and take the template's expression:
    the curve of the mouth's midline (a smile, a frown) and the gap between the inner lips along it (the opening),
    both in units of mouth width; the outer lips move with the inner ones, and the cheeks, philtrum and chin move
    with the lips near them, less the farther they are. Eyes: each eye's opening (height over width, across the
    line of its corners) is scaled to the template's, keeping the user's eye shape.

    Parameters
    ----------
    template, user_aligned
        (N, 2) extended meshes, the user's already turned into the template's pose by :func:`into_pose`.
    whole
        0-1: the share of the mouth taken whole from the template (:func:`lips_from_template` when omitted).
    """
    roles = expression_roles(topo)
    pairs = roles.mouth_pairs
    t = np.asarray(template, np.float64)[:, :2]
    out: F64 = np.asarray(user_aligned, np.float64)[:, :2].copy()
    u = out[:468]
    _, curve_t, gap_t = _mouth_pose(t, pairs)
    place_u, _, _ = _mouth_pose(u, pairs)
    c0, width, along, across = _mouth_frame(u)
    mid = c0 + width * (place_u[:, None] * along + curve_t[:, None] * across)
    half = (width * gap_t / 2)[:, None] * across  # a closed mouth's inner lips may cross: so must the target's
    per_place = np.empty((len(pairs), 4, 2))
    per_place[:, 0] = (mid - half) - u[pairs[:, 0]]
    per_place[:, 1] = (mid + half) - u[pairs[:, 1]]
    per_place[:, 2], per_place[:, 3] = per_place[:, 0], per_place[:, 1]  # the outer lips with the inner ones
    moves = per_place.reshape(-1, 2)
    spread = roles.mouth_reach[:, None] * (roles.mouth_spread @ moves)
    spread[roles.lips] = moves
    # A user's mouth much more open than the template's cannot shut on its own lips (the landmarks of a wide smile
    # lie on the teeth): there the mouth takes the template's lips, shape and place (and texture, see
    # lips_from_template), and the points around move towards the template's in the same falling share, a blend
    # of two unfolded meshes that cannot fold over the lips.
    if whole is None:
        whole = lips_from_template(t, u)
    if whole > 0:
        spread += whole * (roles.mouth_reach[:, None] * (t[:468] - u) - spread)
    u += spread
    for contour, outer, inner in roles.eyes:
        ratio = opening(t, contour, outer, inner) / max(opening(u, contour, outer, inner), 1e-6)
        scale = float(np.clip(ratio, _EYE_OPENING_MIN, _EYE_OPENING_MAX))
        a, b = u[outer], u[inner]
        across_eye = np.array([-(b - a)[1], (b - a)[0]]) / max(float(np.linalg.norm(b - a)), 1e-9)
        offset = (u[contour] - a) @ across_eye
        u[contour] += (scale - 1) * offset[:, None] * across_eye
    return out


def opening(points: NDArray[Any], contour: NDArray[np.int32], outer: int, inner: int) -> float:
    """How open an eye or the mouth is: the contour's height across the line of two corners over their distance."""
    a, b = points[outer], points[inner]
    width = float(np.linalg.norm(b - a))
    across = np.array([-(b - a)[1], (b - a)[0]]) / max(width, 1e-9)
    offset = (points[contour] - a) @ across
    return float(offset.max() - offset.min()) / max(width, 1e-9)


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


@attrs.frozen(kw_only=True, eq=False)
class FacePlan:
    """Where one face goes: the meshes, the target shape and the two regions of the canvas a fusion touches.

    Attributes
    ----------
    template_points, user_points
        (N, 2) extended meshes (468 points plus the margin rings) in their own images' pixels (centres at .5).
    target
        (N, 2) the fused face's shape, in the template's pixels.
    face_size
        About the template face's width, pixels (2.2 inter-ocular distances).
    sigma
        The mask's feather, pixels (in proportion to the face).
    outer
        ``(x0, y0, x1, y1)``: the whole extended mesh, where the template's head is reshaped.
    inner
        ``(x0, y0, x1, y1)``: the oval, its feather and the first ring, where the face is laid in (inside ``outer``).
    lips_from_template
        0-1: the share of the mouth (lips and their texture) taken whole from the template (0 with the user's
        expression); the target's shape and the texture mix use this one value.
    """

    template_points: NDArray[np.float64]
    user_points: NDArray[np.float64]
    target: NDArray[np.float64]
    face_size: float
    sigma: float
    outer: tuple[int, int, int, int]
    inner: tuple[int, int, int, int]
    lips_from_template: float = 0.0

    @property
    def inter_ocular_distance(self) -> float:
        """Pixels between the template's outer eye corners."""
        return self.face_size / 2.2

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the inner region."""
        x0, y0, x1, y1 = self.inner
        return y1 - y0, x1 - x0

    @property
    def empty(self) -> bool:
        """True when the inner region is too small to fuse into (a face off the canvas)."""
        h, w = self.shape
        return w < 8 or h < 8

    def in_inner(self, points: NDArray[Any]) -> NDArray[np.float64]:
        """Mesh points (pixel centres at .5) in the core's coordinates of the inner region."""
        return to_core(points) - np.array(self.inner[:2], np.float64)


def plan_face(template_mesh: FaceMesh, user_mesh: FaceMesh, options: FuseOptions, topo: MeshTopology,
              size: tuple[int, int]) -> FacePlan:
    """The target shape and the regions of a ``size`` = (height, width) canvas one fusion reads and writes."""
    h, w = size
    pt = topo.extend(template_mesh.points).astype(np.float64)
    pu = topo.extend(user_mesh.points).astype(np.float64)
    aligned = topo.extend(into_pose(template_mesh.points, user_mesh.points)).astype(np.float64)
    whole = 0.0
    if options.expression is Expression.TEMPLATE:
        whole = lips_from_template(pt, aligned)
        aligned = wear_expression(pt, aligned, topo, whole)
    target = target_mesh(pt, aligned, options.fuse_face_degree, options.fuse_profile_degree, point_roles(topo))
    face_size = max(template_mesh.inter_ocular_distance, 8.0) * 2.2  # about the face width, in pixels
    # The mask's feather: with the light and colour matched there is no step to hide, so a narrow band keeps more of
    # the face (and less of a blend of two textures) at the jaw.
    sigma = max(1.0, 0.025 * face_size)
    n_ring = len(topo.margin_contour)
    # Two regions: the outer one (the whole extended mesh, whose outermost ring stays put) is where the template
    # is reshaped; the inner one (the oval, its feather and the first ring) is where the face is laid in.
    ox0, oy0, ox1, oy1 = bbox(target, 1.0, w, h)
    x0, y0, x1, y1 = bbox(np.concatenate([target[468:468 + n_ring], target[topo.region("face_oval")]]), 3.0 * sigma,
                          w, h)
    inner = (max(x0, ox0), max(y0, oy0), min(x1, ox1), min(y1, oy1))
    return FacePlan(template_points=pt, user_points=pu, target=target, face_size=face_size, sigma=sigma,
                    outer=(ox0, oy0, ox1, oy1), inner=inner, lips_from_template=whole)


def reshape_template(canvas: U8, plan: FacePlan, fixed: U8, topo: MeshTopology) -> U8:
    """The template's own head (outline, and the surroundings within the margin rings) warped to the target shape,
    so no strip of its old jaw or cheek is left beside a narrower new one: the outer region (``plan.outer``) of
    ``canvas`` as it will be, returned, ``canvas`` itself untouched.

    ``fixed`` (0/255, the inner region's size) marks what covers the template's face (a hand, a microphone, a
    fringe): it stays where it is, unwarped, and no warped copy of it is left elsewhere.
    """
    ox0, oy0, ox1, oy1 = plan.outer
    x0, y0, x1, y1 = plan.inner
    tris = topo.triangles
    region = np.ascontiguousarray(canvas[oy0:oy1, ox0:ox1])
    reshaped = region.copy()
    dst = to_core(plan.target) - np.array([ox0, oy0], np.float64)
    moved = warp_mesh(canvas, to_core(plan.template_points), dst, tris, reshaped)
    if fixed.any():
        # Neither where the occluder is, nor where the warp would carry a copy of it, takes the warped template.
        carried = np.zeros_like(moved)
        src_mask = np.zeros(canvas.shape[:2], np.uint8)
        src_mask[y0:y1, x0:x1] = fixed
        warp_mesh(src_mask, to_core(plan.template_points), dst, tris, carried)
        moved[carried >= 128] = 0
        moved[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0][fixed >= 128] = 0
    out: U8 = region.copy()
    composite(reshaped, moved, out, (0, 0))
    return out
