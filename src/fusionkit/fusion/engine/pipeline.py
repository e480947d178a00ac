"""The orchestrator: :func:`fuse_face` runs the stages in order (see :mod:`fusionkit.fusion.engine`)."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import Expression, FuseOptions
from fusionkit.errors import FusionKitError, RendererFailedError, RendererOutputError
from fusionkit.fusion.engine._common import U8, Clock, polygon_mask
from fusionkit.fusion.engine.blend import blend, lay_back
from fusionkit.fusion.engine.colour import match_colour
from fusionkit.fusion.engine.geometry import plan_face, reshape_template
from fusionkit.fusion.engine.mask import face_mask, regions
from fusionkit.fusion.engine.occluders import template_occluders, user_occluders
from fusionkit.fusion.engine.preflight import check_covered, check_pose
from fusionkit.fusion.engine.renderer import (
    FaceEnhancer,
    FaceRenderer,
    MeshRenderer,
    RenderedFace,
    RenderRequest,
    UserKey,
)
from fusionkit.fusion.engine.texture import filter_face, mix_textures, restore_detail
from fusionkit.vision.topology import MeshTopology

__all__ = ["FaceFusionReport", "fuse_face"]

_MESH_RENDERER = MeshRenderer()


@attrs.frozen(kw_only=True)
class FaceFusionReport:
    """What one merge did.

    Attributes
    ----------
    template_box, user_box
        Face boxes ``[x0, y0, x1, y1]`` in the template and the user image, pixels.
    roi
        ``(x0, y0, x1, y1)`` of the template region that was rewritten.
    timings_ms
        Milliseconds per stage.
    poisson_cycles, poisson_residual
        The Poisson solver's V-cycles and final relative residual (0 when another blend mode ran).
    """

    template_box: tuple[float, float, float, float]
    user_box: tuple[float, float, float, float]
    roi: tuple[int, int, int, int]
    timings_ms: dict[str, float]
    poisson_cycles: int = 0
    poisson_residual: float = 0.0


def _box(mesh: FaceMesh) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in mesh.face.box)
    return x0, y0, x1, y1


def fuse_face(
    canvas: U8,
    template_mesh: FaceMesh,
    user: U8,
    user_mesh: FaceMesh,
    options: FuseOptions,
    topo: MeshTopology,
    renderer: FaceRenderer = _MESH_RENDERER,
    enhancer: FaceEnhancer | None = None,
    user_key: UserKey | None = None,
) -> FaceFusionReport:
    """Fuse ``user``'s face (``user_mesh``) into ``canvas`` where ``template_mesh`` lies, in place.

    ``canvas`` starts as the template (or a copy already holding other fused faces elsewhere); only the region
    of this face's extended mesh is read and written, so faces far enough apart may be fused in parallel.
    ``renderer`` draws the face (the mesh renderer by default) and ``enhancer``, if any, restores it; ``user_key``
    stands for this user face for the call (see :class:`UserKey`).

    Raises
    ------
    FacePoseTooLargeError, FaceOccludedError
        The template face is turned too far or mostly covered, or the user face is mostly covered; ``canvas`` is
        then untouched (a video skips such a face on that frame).
    RendererFailedError, RendererOutputError
        The renderer or enhancer raised, or returned arrays of the wrong shape or type; ``canvas`` is untouched.
    """
    clock = Clock()
    plan = plan_face(template_mesh, user_mesh, options, topo, canvas.shape[:2])
    x0, y0, x1, y1 = plan.inner
    if plan.empty:
        return FaceFusionReport(template_box=_box(template_mesh), user_box=_box(user_mesh), roi=(x0, y0, x0, y0),
                                timings_ms=clock.laps)
    clock.lap("geometry")

    check_pose(template_mesh, "the template face")
    # The inner region as photographed, before any reshaping (the canvas is written only at the end): read by the
    # occluders and, for its grain, by the texture stage.
    photographed = np.ascontiguousarray(canvas[y0:y1, x0:x1])
    photographed.setflags(write=False)
    template_points = plan.in_inner(plan.template_points)
    fixed = template_occluders(photographed, template_points, topo, plan.face_size)
    oval = polygon_mask(template_points[topo.region("face_oval")], plan.shape) >= 128
    check_covered(float((fixed[oval] >= 128).mean()) if oval.any() else 0.0, "the template face")
    ox0, oy0, ox1, oy1 = plan.outer
    # Nothing is written to the canvas until every check has passed: the reshaped head is held aside.
    if options.fuse_face_degree < 100 or options.fuse_profile_degree < 100:
        outer = reshape_template(canvas, plan, fixed, topo)
    else:
        outer = np.ascontiguousarray(canvas[oy0:oy1, ox0:ox1]).copy()
    template = np.ascontiguousarray(outer[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0])
    template.setflags(write=False)  # read by every stage, written by none (a renderer plug-in included)
    seen = user.view()  # the photo as the plug-ins see it: read-only whoever owns it (a batch may share it)
    seen.setflags(write=False)
    request = RenderRequest(template=template, user=seen, plan=plan, topology=topo, options=options,
                            user_key=user_key)
    rendered = _checked(lambda: renderer.render(request), renderer, "renderer", plan.shape)
    clock.lap("warp")
    if enhancer is not None:
        drawn = rendered
        rendered = _checked(lambda: enhancer.enhance(request, drawn), enhancer, "enhancer", plan.shape)
        if drawn.identity_mixed and not rendered.identity_mixed:  # an enhancer that made a new face keeps the flag
            rendered = attrs.evolve(rendered, identity_mixed=True)
        clock.lap("enhance")

    parts = regions(plan, topo)
    clock.lap("regions")

    occluders = user_occluders(rendered.texture, rendered.coverage, parts, fixed)
    if parts.skin.any():
        check_covered(float(((occluders >= 128) & (fixed < 128))[parts.skin].mean()), "the user face")
    light = match_colour(rendered.texture, rendered.coverage, template, parts, occluders,
                         0.25 * plan.inter_ocular_distance, options.colour_match)
    clock.lap("colour")

    # A learned renderer that mixed the two identities by the degree already must not get the template's features
    # mixed in a second time; the template's mouth opening follows the options either way.
    beta = 0.0 if rendered.identity_mixed else options.fuse_face_degree / 100.0
    face = mix_textures(light.texture, template, plan, parts, beta, topo,
                        mouth_from_template=options.expression is Expression.TEMPLATE or options.fuse_face_degree >= 50,
                        lips_from_template=plan.lips_from_template)
    restore_detail(face, template, photographed, plan, parts, occluders, topo)
    clock.lap("texture")

    mask = face_mask(plan, parts, rendered.coverage, occluders, topo)
    clock.lap("mask")

    filter_face(face, mask.soft, parts, plan, template_mesh, user_mesh, options)
    clock.lap("filters")

    canvas[oy0:oy1, ox0:ox1] = outer
    out = canvas[y0:y1, x0:x1]
    stats = blend(options.blend_mode, face, template, mask, out)
    lay_back(template, fixed, parts.oval, out)
    clock.lap("blend")
    return FaceFusionReport(template_box=_box(template_mesh), user_box=_box(user_mesh),
                            roi=(min(x0, ox0), min(y0, oy0), max(x1, ox1), max(y1, oy1)), timings_ms=clock.laps,
                            poisson_cycles=stats.cycles, poisson_residual=stats.residual)


def _checked(call: Callable[[], object], plugin: object, kind: str, shape: tuple[int, int]) -> RenderedFace:
    """``call``'s :class:`RenderedFace`, checked: a plug-in that raises, or returns arrays of another shape or
    type, is a typed error naming it (and nothing has been written to the canvas yet)."""
    name = getattr(plugin, "name", type(plugin).__name__)
    try:
        out = call()
    except FusionKitError:
        raise
    except Exception as exc:
        raise RendererFailedError(f"the {kind} {name!r} raised {type(exc).__name__}: {str(exc)[:300]}; the template "
                                  "was left untouched") from exc
    h, w = shape
    texture, coverage = getattr(out, "texture", None), getattr(out, "coverage", None)
    if not isinstance(out, RenderedFace) or not isinstance(texture, np.ndarray) \
            or not isinstance(coverage, np.ndarray) or texture.dtype != np.uint8 or coverage.dtype != np.uint8 \
            or texture.shape != (h, w, 3) or coverage.shape != (h, w):
        got = (f"texture {getattr(texture, 'shape', None)} {getattr(texture, 'dtype', type(texture).__name__)}, "
               f"coverage {getattr(coverage, 'shape', None)} {getattr(coverage, 'dtype', type(coverage).__name__)}"
               if isinstance(out, RenderedFace) else type(out).__name__)
        raise RendererOutputError(f"the {kind} {name!r} must return a RenderedFace with a ({h}, {w}, 3) uint8 texture "
                                  f"and a ({h}, {w}) uint8 coverage, got {got}; the template was left untouched")
    if not (texture.flags.c_contiguous and texture.flags.writeable and coverage.flags.c_contiguous
            and coverage.flags.writeable):
        out = RenderedFace(texture=np.array(texture), coverage=np.array(coverage), identity_mixed=out.identity_mixed)
    return out
