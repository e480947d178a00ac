"""Stage: render. A :class:`FaceRenderer` draws the user's face in the target geometry over the template's region;
the stages around it (geometry, occluders, colour, texture, masks, blend) stay the same whichever renders.
:class:`MeshRenderer`, the default, warps the user's photo triangle by triangle onto the target mesh (C core)."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar, runtime_checkable

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import composite, erode_mask, warp_mesh
from fusionkit.domain.models import PluginSpec
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.engine._common import F64, U8, bbox, soften, triangle_mask, u8
from fusionkit.fusion.engine.geometry import FacePlan, to_core
from fusionkit.fusion.engine.mask import MeshRoles, mesh_roles, signed_areas
from fusionkit.vision.topology import MeshTopology

__all__ = ["FaceEnhancer", "FaceRenderer", "MeshRenderer", "PerCall", "RenderRequest", "RenderedFace", "UserKey"]


class UserKey:
    """Stands for one user face for the length of one call: the same object for every frame of a video (and every
    face of a picture fused with that user face, and every request of a batch that shares the user photo), a new
    one for each call. A renderer may keep what it derives from the user's face (an identity embedding) under it,
    weakly: it lives as long as the call (or the batch). What is kept may depend on the user face alone, or carry
    what else it depends on in its entry (see :class:`PerCall`): the requests of a batch that share a key may have
    other templates and options."""

    __slots__ = ("__weakref__",)


V = TypeVar("V")


class PerCall(Generic[V]):
    """What a renderer derives from a user face (an identity embedding, a shrunk photo), kept under the call's
    :class:`UserKey` and nowhere else: a video's frames reuse it, and none outlives the call, since it is the user's
    biometric data. Thread-safe; at most ``limit`` entries per key (the oldest goes first). ``len`` is the number of
    calls holding entries."""

    def __init__(self, limit: int = 1) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._by_key: weakref.WeakKeyDictionary[UserKey, dict[Hashable, V]] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)

    def get_or_make(self, key: UserKey | None, entry: Hashable, make: Callable[[], V]) -> V:
        """The value kept under ``key`` and ``entry``, else ``make()`` (kept, unless ``key`` is None)."""
        if key is None:
            return make()
        with self._lock:
            found = self._by_key.get(key, {}).get(entry)
        if found is not None:
            return found
        value = make()  # outside the lock: two threads may both make it, and either is the same
        with self._lock:
            kept = self._by_key.setdefault(key, {})
            if len(kept) >= self._limit:
                kept.pop(next(iter(kept)))
            kept[entry] = value
        return value


@attrs.frozen(kw_only=True, eq=False)
class RenderRequest:
    """What a renderer is given.

    Attributes
    ----------
    template
        The template's inner region (``plan.inner``), already reshaped to the target: (h, w, 3) RGB uint8,
        read-only.
    user
        The whole user photo, RGB uint8, read-only (a batch's requests may share it).
    plan
        Meshes (template, user, target; extended, in their images' pixels) and the regions.
    topology
        The mesh's triangles and regions.
    options
        The fusion options.
    user_key
        A :class:`UserKey` for this user face in this call, or None (then nothing may be kept across calls).
    """

    template: U8
    user: U8
    plan: FacePlan
    topology: MeshTopology
    options: FuseOptions
    user_key: UserKey | None = None


@attrs.frozen(kw_only=True, eq=False)
class RenderedFace:
    """A renderer's output, the inner region's size: ``texture`` (h, w, 3) RGB and ``coverage`` (h, w) 0-255,
    where the texture holds the user's face (0 where the renderer drew nothing). The engine owns both arrays from
    then on and may write into them: a renderer returns fresh ones each call.

    ``identity_mixed``: the renderer has already given the face ``fuse_face_degree`` of the template's likeness (a
    learned swapper mixes the two identities), so the engine does not mix the template's features in again.
    """

    texture: U8
    coverage: U8
    identity_mixed: bool = False


@runtime_checkable
class FaceRenderer(Protocol):
    """Draws the user's face in the target geometry; must be reentrant (faces are fused on several threads).

    A plug-in may also carry ``name`` (what errors and logs call it) and ``spec`` (a
    :class:`~fusionkit.domain.models.PluginSpec`: what video jobs store, worker processes rebuild it from, and
    results record the licences of).
    """

    def render(self, request: RenderRequest) -> RenderedFace:
        """The user's face over ``request.plan.inner``."""
        ...


@runtime_checkable
class FaceEnhancer(Protocol):
    """Restores the face a renderer drew (sharper detail, repaired features); reentrant, like a renderer."""

    def enhance(self, request: RenderRequest, rendered: RenderedFace) -> RenderedFace:
        """``rendered`` improved (it may be written in place and returned)."""
        ...


#: The prefilter's scales step by an eighth of an octave, rounded up (the warp then shrinks by 1.6-1.75x, never
#: more): the frames of a video land on a few of them and share the shrunk photo (see MeshRenderer).
_PREFILTER_STEPS = 8
#: At most this many shrunk photos are kept per user face and call (a video zooming through many scales).
_PREFILTER_KEPT = 8


def prefilter_scale(scale: float) -> float:
    """The prefilter's scale for a face that must shrink by ``scale`` (< 1 / 1.6): 1.6 ``scale`` rounded up to an
    eighth of an octave, at most 1 (no prefilter)."""
    steps = math.ceil(math.log2(max(1.6 * scale, 1e-9)) * _PREFILTER_STEPS)
    return min(1.0, math.pow(2.0, steps / _PREFILTER_STEPS))


def _prefiltered(user: U8, points: F64, scale: float) -> tuple[U8, F64]:
    """The user's face region shrunk by ``scale`` (< 1) with area averaging, and its mesh points there.

    The warp samples bilinearly: shrinking a face by more than about 1.3x that way skips pixels and leaves a
    speckled, aliased skin; averaging first gives what a camera at that distance would have seen.
    """
    h, w = user.shape[:2]
    x0, y0, x1, y1 = bbox(points, 4.0 / scale, w, h)
    crop = np.ascontiguousarray(user[y0:y1, x0:x1])
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    small = u8(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    # Mesh points are in pixel-edge units (centres at .5), so a resize scales them about the crop's corner.
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    moved: F64 = (points - np.array([x0, y0], np.float64)) * np.array([sx, sy])
    return small, moved


class MeshRenderer:
    """The default renderer: the user's photo warped onto the target mesh, triangle by triangle.

    A user face much larger than the template's is first shrunk with area averaging. Triangles the user photo
    shows edge-on or from behind (the far half of a turned head) would smear when drawn at their size in the
    target: each is drawn from its mirror image on the other half (the mesh's left-right symmetry) where that is
    seen well, and left out of the coverage where it is not (the template's face shows there). The mouth is
    always drawn: a shut mouth's lip gap looks edge-on but is in view.
    """

    name = "mesh"
    spec = PluginSpec(name="mesh")

    def __init__(self) -> None:
        # Shrunk user photos by prefilter scale: a video's frames reuse them (the shrink took 15% of a 720p frame's
        # fusion).
        self._by_user: PerCall[tuple[U8, F64]] = PerCall(limit=_PREFILTER_KEPT)

    def _shrunk(self, request: RenderRequest, points: F64, factor: float) -> tuple[U8, F64]:
        def make() -> tuple[U8, F64]:
            small, moved = _prefiltered(request.user, points, factor)
            small.setflags(write=False)
            return small, moved

        # A user key stands for one user face, so its points are the same every frame; they are part of the entry
        # all the same, so that a caller who reused a key for another face gets that face.
        return self._by_user.get_or_make(request.user_key, (factor, points.tobytes()), make)

    def render(self, request: RenderRequest) -> RenderedFace:
        plan, topo = request.plan, request.topology
        rh, rw = plan.shape
        target = plan.in_inner(plan.target)
        texture = np.zeros((rh, rw, 3), np.uint8)
        user, points = request.user, plan.user_points
        factor = prefilter_scale(plan.inter_ocular_distance / max(_outer_eye_distance(points), 1.0))
        if factor < 1.0:
            user, points = self._shrunk(request, points, factor)
        coverage = warp_mesh(user, to_core(points), target, topo.triangles, texture)
        roles = mesh_roles(topo)
        seen = _seen(points, target, roles)
        poor = (seen < _POORLY_SEEN) & ~roles.mouth
        turned = poor.mean() > _MIRROR_FROM  # a turned head, not a few slivers at the jaw
        # A turned head loses what is poorly seen unless its mirror fills it; otherwise only what is hidden.
        lost_tris = poor if turned else (seen < _HIDDEN) & ~roles.mouth
        if lost_tris.any():
            lost = triangle_mask(target, roles.triangles[lost_tris], plan.shape)
            if turned:
                filled = _mirror_fill(user, points, target, seen, poor, topo, texture)
                lost[filled >= 128] = 0
            coverage[lost >= 128] = 0
        return RenderedFace(texture=texture, coverage=coverage)


def _seen(points: F64, target: F64, roles: MeshRoles) -> F64:
    """Per mesh triangle, how well the photo shows it for the target: its area in the photo over its area in the
    target (both relative to the whole face's), 0 when it faces away. Under 1/3 a triangle is stretched threefold
    or more: smeared."""
    photo = signed_areas(points, roles.triangles) * roles.winding
    drawn = np.abs(signed_areas(target, roles.triangles))
    photo_share = photo / max(float(np.abs(photo).sum()), 1e-9)
    drawn_share = drawn / max(float(drawn.sum()), 1e-9)
    out: F64 = np.maximum(photo_share, 0.0) / np.maximum(drawn_share, 1e-12)
    return out


#: A triangle the photo shows at under this share of its drawn size (see _seen) is poorly seen: it is drawn from
#: its mirror image where that is seen at least twice as well, else left out of the coverage.
_POORLY_SEEN = 1 / 3
#: The mirror is used when more than this share of the triangles is poorly seen.
_MIRROR_FROM = 0.04
#: Seen at under this share of its drawn size (or facing away), a triangle is hidden: left out of the coverage.
_HIDDEN = 0.03


def _mirror_fill(user: U8, points: F64, target: F64, seen: F64, poor: NDArray[np.bool_], topo: MeshTopology,
                 texture: U8) -> U8:
    """Draw each ``poor`` triangle from the mirror image of the user's face (the same triangle of the mirrored
    face, which is its counterpart on the other half) into ``texture`` where that counterpart is seen at least
    twice as well (``seen`` is the direct one, see _seen); returns the coverage (0-255) of what was drawn."""
    roles = mesh_roles(topo)
    h, w = user.shape[:2]
    x0, y0, x1, y1 = bbox(points, 4.0, w, h)
    flipped = points[:468].copy()
    flipped[:, 0] = x1 - flipped[:, 0]  # pixel-edge units: x in the crop, mirrored
    flipped[:, 1] -= y0
    mirror_points = topo.extend(flipped[topo.flip_permutation]).astype(np.float64)
    mirror_seen = _seen(mirror_points, target, roles)
    better = poor & (mirror_seen >= 2 * seen) & (mirror_seen > 0)
    drawn = np.zeros(texture.shape[:2], np.uint8)
    if not better.any():
        return drawn
    mirrored = np.ascontiguousarray(user[y0:y1, x0:x1][:, ::-1])
    fill = np.zeros_like(texture)
    drawn = warp_mesh(mirrored, to_core(mirror_points), target, roles.triangles[better], fill, coverage=drawn)
    # The seam between the two halves is feathered over a couple of pixels.
    composite(fill, soften(erode_mask(drawn, 1), 1.5), texture, (0, 0))
    return drawn


def _outer_eye_distance(points: F64) -> float:
    return float(np.hypot(*(points[263] - points[33])))
