"""Stage: texture. The user's and the template's textures mixed by the face degree (the mouth opening whole from
one side, the forehead gradually the template's, outside the oval the template's), then the optional skin
smoother and the sharpening that a small, enlarged user face needs."""

from __future__ import annotations

import numpy as np

from fusionkit.core import composite, erode_mask, feather_mask, guided_filter, unsharp_mask
from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.engine._common import F32, F64, U8, feather_local
from fusionkit.fusion.engine.geometry import FacePlan, fit_similarity
from fusionkit.fusion.engine.mask import Regions
from fusionkit.vision.topology import MeshTopology

__all__ = ["filter_face", "forehead_weight", "mix_textures"]


def forehead_weight(points_core: F64, topo: MeshTopology, shape: tuple[int, int]) -> F32:
    """0 at and below the brows, rising to 1 at the top of the face oval, per pixel of the ROI.

    Pixels are mapped into the mean face's frame (eye corners at (-0.5, 0) and (0.5, 0), y down) by the similarity
    that best takes the mesh there, so the ramp follows a tilted or rotated face.
    """
    mean = np.asarray(topo.mean_shape, np.float64)
    m = fit_similarity(points_core[:468], mean)
    brows = np.concatenate([topo.region("right_eyebrow"), topo.region("left_eyebrow")])
    y_brow = float(mean[brows, 1].min())  # the brows' upper edge
    y_top = float(mean[topo.region("face_oval"), 1].min())
    xs = np.arange(shape[1], dtype=np.float32)[None, :]
    ys = np.arange(shape[0], dtype=np.float32)[:, None]
    y_face = np.float32(m[1, 0]) * xs + (np.float32(m[1, 1]) * ys + np.float32(m[1, 2]))
    ramp: F32 = np.clip((y_brow - y_face) / np.float32(0.75 * (y_brow - y_top)) - 0.15, 0.0, 1.0)
    return ramp


def mix_textures(user_tex: U8, tmpl_tex: U8, plan: FacePlan, parts: Regions, beta: float,
                 topo: MeshTopology) -> U8:
    """The fused face's texture, written into ``user_tex`` (and returned): ``beta`` (0-1) of the template's.

    The mouth opening comes whole from the side with the larger share (a cross-fade ghosts teeth through shut
    lips); outside the oval the template's texture fills in, so the feather never pulls the user's neck, ears or
    background (halo streaks) into the picture.
    """
    sigma = plan.sigma
    inside = feather_mask(erode_mask(parts.oval, max(1, round(0.3 * sigma))), 0.5 * sigma).astype(np.float32)
    mouth_w = feather_local(parts.mouth_open, max(1.0, sigma / 4)).astype(np.float32) * np.float32(1 / 255)
    keep_user = (1 - (beta * (1 - mouth_w) + (1.0 if beta >= 0.5 else 0.0) * mouth_w)) * inside  # 0-255
    # Above the brows the template's forehead takes over gradually: a fringe or hairline of the user's must not be
    # pasted across the template's forehead, and the forehead carries little of a person's likeness.
    keep_user *= 1 - forehead_weight(plan.in_inner(plan.target), topo, plan.shape)
    composite(tmpl_tex, (255.5 - keep_user).astype(np.uint8), user_tex, (0, 0))
    return user_tex


def filter_face(face_tex: U8, soft: U8, parts: Regions, plan: FacePlan, template_mesh: FaceMesh,
                user_mesh: FaceMesh, options: FuseOptions) -> None:
    """The skin smoother (guided filter, ``options.skin_smoothing``) and the sharpening, in place, under ``soft``.

    A small user face enlarged several times looks soft: some crispness is restored in proportion to the
    enlargement, on top of ``options.sharpening``.
    """
    face_size = plan.face_size
    if options.skin_smoothing > 0:
        radius = max(1, round(0.015 * face_size))
        skin_only = np.where(parts.skin, soft, 0).astype(np.uint8)
        guided_filter(face_tex, radius, 0.004, mask=skin_only, strength=options.skin_smoothing, out=face_tex)
    beta = options.fuse_face_degree / 100.0
    enlargement = template_mesh.inter_ocular_distance / max(user_mesh.inter_ocular_distance, 1.0)
    auto_sharpen = float(np.clip(0.3 * (enlargement - 1.3), 0.0, 0.6)) * (1 - beta)
    sharpen = min(1.0, options.sharpening + auto_sharpen)
    if sharpen > 0:
        unsharp_mask(face_tex, 0.8, max(1.0, 0.006 * face_size * max(1.0, enlargement / 2)), mask=soft,
                     strength=sharpen, out=face_tex)
