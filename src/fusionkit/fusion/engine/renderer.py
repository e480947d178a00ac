"""Stage: render. A :class:`FaceRenderer` draws the user's face in the target geometry over the template's region;
the stages around it (geometry, occluders, colour, texture, masks, blend) stay the same whichever renders.
:class:`MeshRenderer`, the default, warps the user's photo triangle by triangle onto the target mesh (C core)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs
import cv2
import numpy as np

from fusionkit.core import warp_mesh
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.engine._common import F64, U8, bbox, u8
from fusionkit.fusion.engine.geometry import FacePlan, to_core
from fusionkit.vision.topology import MeshTopology

__all__ = ["FaceRenderer", "MeshRenderer", "RenderRequest", "RenderedFace"]


@attrs.frozen(kw_only=True, eq=False)
class RenderRequest:
    """What a renderer is given.

    Attributes
    ----------
    template
        The template's inner region (``plan.inner``), already reshaped to the target: (h, w, 3) RGB uint8.
    user
        The whole user photo, RGB uint8.
    plan
        Meshes (template, user, target; extended, in their images' pixels) and the regions.
    topology
        The mesh's triangles and regions.
    options
        The fusion options.
    """

    template: U8
    user: U8
    plan: FacePlan
    topology: MeshTopology
    options: FuseOptions


@attrs.frozen(kw_only=True, eq=False)
class RenderedFace:
    """A renderer's output, the inner region's size: ``texture`` (h, w, 3) RGB and ``coverage`` (h, w) 0-255,
    where the texture holds the user's face (0 where the renderer drew nothing)."""

    texture: U8
    coverage: U8


@runtime_checkable
class FaceRenderer(Protocol):
    """Draws the user's face in the target geometry; must be reentrant (faces are fused on several threads)."""

    def render(self, request: RenderRequest) -> RenderedFace:
        """The user's face over ``request.plan.inner``."""
        ...


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
    """The default renderer: the user's photo warped onto the target mesh, triangle by triangle (a user face much
    larger than the template's is first shrunk with area averaging)."""

    def render(self, request: RenderRequest) -> RenderedFace:
        plan = request.plan
        rh, rw = plan.shape
        texture = np.zeros((rh, rw, 3), np.uint8)
        user, points = request.user, plan.user_points
        scale = plan.inter_ocular_distance / max(_outer_eye_distance(points), 1.0)
        if scale < 1 / 1.6:
            user, points = _prefiltered(user, points, min(1.0, 1.6 * scale))
        coverage = warp_mesh(user, to_core(points), plan.in_inner(plan.target), request.topology.triangles, texture)
        return RenderedFace(texture=texture, coverage=coverage)


def _outer_eye_distance(points: F64) -> float:
    return float(np.hypot(*(points[263] - points[33])))
