"""Stage: render. A :class:`FaceRenderer` draws the user's face in the target geometry over the template's region;
the stages around it (geometry, occluders, colour, texture, masks, blend) stay the same whichever renders.
:class:`MeshRenderer`, the default, warps the user's photo triangle by triangle onto the target mesh (C core)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs
import numpy as np

from fusionkit.core import warp_mesh
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.engine._common import U8
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


class MeshRenderer:
    """The default renderer: the user's photo warped onto the target mesh, triangle by triangle."""

    def render(self, request: RenderRequest) -> RenderedFace:
        plan = request.plan
        rh, rw = plan.shape
        texture = np.zeros((rh, rw, 3), np.uint8)
        coverage = warp_mesh(request.user, to_core(plan.user_points), plan.in_inner(plan.target),
                             request.topology.triangles, texture)
        return RenderedFace(texture=texture, coverage=coverage)
