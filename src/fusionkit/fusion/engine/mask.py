"""Stage: masks. The face's regions in the target geometry (oval, eyes, brows, lips, the mouth opening, skin), and
the mask the face is laid in through: the oval, kept to the triangles that face the camera in both faces, minus
the occluders on either side, eroded and feathered in proportion to the face."""

from __future__ import annotations

import functools

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import dilate_mask, erode_mask, feather_mask
from fusionkit.fusion.engine._common import F64, U8, polygon_mask, triangle_mask
from fusionkit.fusion.engine.geometry import INNER_LIPS, OUTER_LIPS, FacePlan
from fusionkit.vision.topology import MeshTopology

__all__ = ["FaceMask", "MeshRoles", "Regions", "face_mask", "feature_mask", "front_facing", "mesh_roles", "regions",
           "signed_areas"]

_EYES = ("right_eye", "left_eye")
_BROWS = ("right_eyebrow", "left_eyebrow")


def feature_mask(points_core: F64, topo: MeshTopology, shape: tuple[int, int], *, lips: U8 | None = None,
                 eyes: U8 | None = None) -> U8:
    """Eyes, brows and lips of a mesh (in the core's coordinates) as one 0/255 mask; ``lips`` (the outer lips) and
    ``eyes`` (both eyes), when already drawn from the same points, are taken instead of drawn again."""
    mask = polygon_mask(points_core[OUTER_LIPS], shape) if lips is None else lips.copy()
    if eyes is not None:
        np.maximum(mask, eyes, out=mask)
    for name in _BROWS if eyes is not None else _EYES + _BROWS:
        np.maximum(mask, polygon_mask(points_core[topo.region(name)], shape), out=mask)
    return mask


@attrs.frozen(kw_only=True, eq=False)
class Regions:
    """0/255 masks of the face's parts in the target geometry, the inner region's size.

    Attributes
    ----------
    oval, eyes, lips_outer, mouth_open
        The face oval, both eyes, the lips with the mouth opening, the mouth opening alone.
    eye_surround
        Around each eye, its contour scaled 1.9x about its centre, less the eye (lids, lashes, the skin beside and
        under the eye).
    features_grown
        Eyes, brows and lips, grown by ``grow`` pixels.
    skin
        True on the oval's skin (the oval less the grown features).
    grow
        Pixels the features were grown by (2% of the face's width).
    """

    oval: U8
    eyes: U8
    eye_surround: U8
    lips_outer: U8
    mouth_open: U8
    features_grown: U8
    skin: NDArray[np.bool_]
    grow: int


def regions(plan: FacePlan, topo: MeshTopology) -> Regions:
    """The face's parts, drawn from the target mesh."""
    tgt = plan.in_inner(plan.target)
    shape = plan.shape
    oval = polygon_mask(tgt[topo.region("face_oval")], shape)
    eyes = np.maximum(polygon_mask(tgt[topo.region("right_eye")], shape),
                      polygon_mask(tgt[topo.region("left_eye")], shape))
    surround = np.zeros(shape, np.uint8)
    for side in ("right", "left"):
        eye = tgt[topo.region(f"{side}_eye")]
        centre = eye.mean(axis=0)
        np.maximum(surround, polygon_mask(centre + 1.9 * (eye - centre), shape), out=surround)
    surround[eyes >= 128] = 0
    grow = max(1, round(0.02 * plan.face_size))
    lips_outer = polygon_mask(tgt[OUTER_LIPS], shape)
    # The lips and eyes drawn above serve the features too (a maximum in another order: the same mask).
    features_grown = dilate_mask(feature_mask(tgt, topo, shape, lips=lips_outer, eyes=eyes), grow)
    return Regions(oval=oval, eyes=eyes, eye_surround=surround, lips_outer=lips_outer,
                   mouth_open=polygon_mask(tgt[INNER_LIPS], shape), features_grown=features_grown,
                   skin=(oval >= 128) & (features_grown < 128), grow=grow)


def signed_areas(points: F64, triangles: NDArray[np.int32]) -> F64:
    """Twice each triangle's signed area (positive counter-clockwise in x-right, y-up terms), pixels squared."""
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def front_facing(points: F64, triangles: NDArray[np.int32], reference: F64, *,
                 reference_areas: F64 | None = None) -> NDArray[np.bool_]:
    """Triangles whose winding agrees with the mean face's and that are not squashed to a sliver.

    A triangle seen edge-on (area under 3% of its share in the frontal mean) carries stretched, smeared texture
    when warped; one with flipped winding is on the far side of a turned head. ``reference_areas``, when given, is
    ``signed_areas(reference, triangles)`` worked out beforehand (:attr:`MeshRoles.mean_areas`).
    """
    area = signed_areas(points, triangles)
    ref = signed_areas(reference, triangles) if reference_areas is None else reference_areas
    scale = np.abs(area).sum() / max(np.abs(ref).sum(), 1e-9)
    facing: NDArray[np.bool_] = area * np.sign(ref) > 0.03 * np.abs(ref) * scale
    return facing


class MeshRoles:
    """The mesh's own triangles (468 points), the mean face, which triangles touch the lips, and each triangle's
    signed area on the mean face (``mean_areas``) and its sign when it faces the camera (``winding``); computed once
    per topology (:func:`mesh_roles`)."""

    def __init__(self, topo: MeshTopology) -> None:
        tris = topo.triangles
        self.triangles = tris[(tris < 468).all(axis=1)]
        self.mean = np.asarray(topo.mean_shape, np.float64)
        lips = np.unique(np.concatenate([topo.region("lips"), INNER_LIPS, OUTER_LIPS]))
        self.mouth = np.isin(self.triangles, lips).any(axis=1)
        self.mean_areas = signed_areas(self.mean, self.triangles)
        self.winding = np.sign(self.mean_areas)


@functools.lru_cache(maxsize=4)
def mesh_roles(topo: MeshTopology) -> MeshRoles:
    """The shared :class:`MeshRoles` of a topology."""
    return MeshRoles(topo)


def _visible(plan: FacePlan, parts: Regions, topo: MeshTopology) -> U8:
    """The part of the target oval that lies under triangles facing the camera in the template (0/255): the far
    cheek of a turned template keeps the template's own contour."""
    tgt = plan.in_inner(plan.target)
    roles = mesh_roles(topo)
    mesh_tris = roles.triangles
    # The template's side only: where the user's face is hidden the renderer says so in its coverage (or fills it).
    visible = front_facing(plan.template_points, mesh_tris, roles.mean, reference_areas=roles.mean_areas)
    hidden = mesh_tris[~visible]
    if len(hidden) <= 0.06 * len(mesh_tris):
        # A face turned little (the usual case): the mesh's triangles tile the oval, so the visible part is the
        # oval less the few hidden triangles (the lips' gap, a sliver at the jaw), a tenth of the drawing.
        visible_mask: U8 = parts.oval.copy()
        if len(hidden):
            visible_mask[triangle_mask(tgt, hidden, plan.shape) >= 128] = 0
    else:
        # A turned face folds: hidden triangles overlap visible ones and parts of the oval lie under no visible
        # triangle, so only drawing the visible ones is exact.
        visible_mask = triangle_mask(tgt, mesh_tris[visible], plan.shape)
    if len(hidden):
        # The lips' gap closes flat on a shut mouth (its triangles look edge-on), yet the mouth is always in view.
        np.maximum(visible_mask, dilate_mask(parts.lips_outer, parts.grow), out=visible_mask)
    return visible_mask


@attrs.frozen(kw_only=True, eq=False)
class FaceMask:
    """The mask a face is laid in through: ``hard`` (0/255, eroded) and ``soft`` (its feathered 0-255)."""

    hard: U8
    soft: U8


def face_mask(plan: FacePlan, parts: Regions, coverage: U8, occluders: U8, topo: MeshTopology) -> FaceMask:
    """The oval, where the template's face is seen and the renderer drew the user's, minus ``occluders``; eroded,
    feathered."""
    hard = np.minimum(np.minimum(parts.oval, _visible(plan, parts, topo)), coverage)
    hard[occluders >= 128] = 0
    hard = erode_mask(hard, max(1, round(0.3 * plan.sigma)))
    return FaceMask(hard=hard, soft=feather_mask(hard, plan.sigma))
