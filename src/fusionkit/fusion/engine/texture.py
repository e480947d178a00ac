"""Stage: texture. The user's and the template's textures mixed by the face degree (the mouth opening whole from
one side, the forehead gradually the template's, outside the oval the template's), then the optional skin
smoother and the sharpening that a small, enlarged user face needs."""

from __future__ import annotations

import cv2
import numpy as np

from fusionkit.core import composite, dilate_mask, erode_mask, guided_filter, unsharp_mask
from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.engine._common import F32, F64, U8, feather_local, median_last, nonzero_box, soften, u8
from fusionkit.fusion.engine.geometry import FacePlan, fit_similarity
from fusionkit.fusion.engine.mask import Regions, feature_mask
from fusionkit.vision.topology import MeshTopology

__all__ = ["filter_face", "forehead_weight", "mix_textures", "restore_detail"]


def forehead_weight(points_core: F64, topo: MeshTopology, shape: tuple[int, int]) -> F32:
    """0 at and below the brows, rising to 1 halfway to the top of the face oval, per pixel of the ROI (a user
    photo's forehead is often under a fringe or in a flash's glare, and carries little of a likeness).

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
    # One (h, w) array, worked on in place (the same float32 operations as the plain expression, without a new
    # array for each step: on a 1080p face the allocations cost as much as the arithmetic).
    ramp: F32 = np.float32(m[1, 0]) * xs + (np.float32(m[1, 1]) * ys + np.float32(m[1, 2]))  # y in the mean face
    np.subtract(y_brow, ramp, out=ramp)
    ramp /= np.float32(0.5 * (y_brow - y_top))
    ramp -= 0.1
    np.clip(ramp, 0.0, 1.0, out=ramp)
    return ramp


def mix_textures(user_tex: U8, tmpl_tex: U8, plan: FacePlan, parts: Regions, beta: float,
                 topo: MeshTopology, mouth_from_template: bool, lips_from_template: float = 0.0) -> U8:
    """The fused face's texture, written into ``user_tex`` (and returned): ``beta`` (0-1) of the template's.

    The mouth opening comes whole from one side (a cross-fade ghosts teeth through shut lips): the template's when
    ``mouth_from_template`` (its expression, or a degree of 50 or more), else the user's; outside the oval the
    template's texture fills in, so the feather never pulls the user's neck, ears or background (halo streaks)
    into the picture.
    """
    sigma = plan.sigma
    beta = float(beta)  # a NumPy float64 degree would otherwise turn the weights to float64 (and round differently)
    # keep_user = (1 - (beta (1 - mouth_w) + [from template] mouth_w)) inside, 0-255, in float32 and worked on in
    # place (the plain expression's operations in its order, with no new array per step).
    mouth_w = feather_local(parts.mouth_open, max(1.0, sigma / 4)).astype(np.float32)
    mouth_w *= np.float32(1 / 255)
    keep_user = np.subtract(1, mouth_w)
    keep_user *= beta
    mouth_w *= 1.0 if mouth_from_template else 0.0
    keep_user += mouth_w
    np.subtract(1, keep_user, out=keep_user)
    keep_user *= soften(erode_mask(parts.oval, max(1, round(0.3 * sigma))), 0.5 * sigma)  # inside the oval
    if lips_from_template > 0:
        lips_w = feather_local(parts.lips_outer, max(1.0, sigma / 3)).astype(np.float32)
        lips_w *= np.float32(1 / 255)
        lips_w *= np.float32(lips_from_template)
        np.subtract(1, lips_w, out=lips_w)
        keep_user *= lips_w
    # Above the brows the template's forehead takes over gradually: a fringe or hairline of the user's must not be
    # pasted across the template's forehead, and the forehead carries little of a person's likeness.
    forehead = forehead_weight(plan.in_inner(plan.target), topo, plan.shape)
    np.subtract(1, forehead, out=forehead)
    keep_user *= forehead
    np.subtract(255.5, keep_user, out=keep_user)
    composite(tmpl_tex, keep_user.astype(np.uint8), user_tex, (0, 0))
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


# Detail is measured and restored at the scale of a 3x3 Laplacian on a face 90 px between the outer eye corners
# (about 64 px between the eye centres): the finest detail that tells a photograph from a smooth painting.
_DETAIL_IOD = 90.0
_MAX_FEATURE_GAIN = 1.0  # the user's own eyes, brows and lips sharpened by at most 2x their fine contrast
_GRAIN_CLIP = 2.5  # the template's grain is clipped at this many of its robust spreads (see restore_detail)


def _bands(grey: U8, sigma: float, octaves: int) -> list[F32]:
    """Grey detail in ``octaves`` octaves from the finest: finer than ``sigma``, then between ``sigma`` and
    ``2 sigma``. The blurs run on 16-bit grey scaled by 8 (OpenCV's fast integer path, an eighth of a grey level of
    precision)."""
    g = np.left_shift(grey, 3, dtype=np.int16)  # x 8
    out = []
    for octave in range(octaves):
        blurred = cv2.GaussianBlur(g, (0, 0), sigma * 2**octave)
        band: F32 = np.asarray(cv2.subtract(g, blurred, dtype=cv2.CV_32F), np.float32)  # exact: both within 0-2040
        band *= np.float32(1 / 8)
        out.append(band)
        g = blurred
    return out


def restore_detail(face: U8, template: U8, grain: U8, plan: FacePlan, parts: Regions, occluders: U8,
                   topo: MeshTopology) -> None:
    """Give the fused face the template's fine detail where the user photo is softer, in place.

    A user photo smaller or softer than the template's face is enlarged, and looks plastic next to the template's
    skin. Fine luminance detail (finer than ``IOD / 90``) is measured on the skin and the features of both: on the
    skin the template's own grain (its pores, its film or sensor noise) is added in the share the user's lacks
    (independent textures add in quadrature), so the face has the photograph's grain and no grain of the user's
    is invented; on the eyes, brows and lips the user's own fine detail (two octaves) is amplified, up to twice,
    to the template's level (they carry the likeness; the template's would ghost).

    ``template`` is the template's region reshaped to the target (its features line up with the face's);
    ``grain`` the same region as photographed, before the reshape, where the grain is taken from (a warp's
    interpolation softens the finest grain).

    References
    ----------
    K. Sunkavalli, M. K. Johnson, W. Matusik, H. Pfister, "Multi-scale image harmonization", ACM TOG 29(4), 2010
    (matching noise and fine texture between a composited region and its photograph).
    """
    sigma = max(0.6, plan.inter_ocular_distance / _DETAIL_IOD)
    grey_f = u8(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    clear = occluders < 128
    features = (parts.features_grown >= 128) & (parts.oval >= 128) & clear & (parts.mouth_open < 128)
    # Its own eyes, brows and lips, where the template photographed them, are lines, not grain.
    own = dilate_mask(feature_mask(plan.in_inner(plan.template_points), topo, plan.shape), parts.grow)
    skin = parts.skin & clear & (own < 128)
    # Energies from every other row and column (plenty); weights feathered by a box of about the detail's reach.
    every = (slice(None, None, 2), slice(None, None, 2))
    box = (2 * round(2 * sigma) + 1,) * 2
    add: F32 | None = None  # the luminance detail added, once there is some
    # The finest octave (pores, grain) over the whole face: the template's grain on the skin, in the share the
    # user's lacks. Only the finest: beyond it the template's lines are its wrinkles and folds (its likeness), and
    # deepening the user's own draws hard brackets around a mouth.
    (d_face,) = _bands(grey_f, sigma, 1)
    (d_grain,) = _bands(u8(cv2.cvtColor(grain, cv2.COLOR_RGB2GRAY)), sigma, 1)
    on_skin = skin[every]
    if np.count_nonzero(on_skin) >= 16:
        # Grain, not lines: the template's creases and folds (where it photographed them, not where the fused face
        # has them) would be etched onto the skin; what stands out of the grain's own spread is clipped to it. Skin
        # grain is heavy-tailed (pores, freckles), so the clip sits at 2.5 robust spreads, not 2: at 2 it also cut
        # real grain (sharpness ratio worst 0.744 on the sample pairs, 0.755 at 2.5), and creases stand out far more.
        grain_on = np.abs(d_grain[every][on_skin])
        spread = 1.4826 * float(median_last(grain_on))
        e_grain = float(grain_on.mean())
        np.clip(d_grain, np.float32(-_GRAIN_CLIP * spread), np.float32(_GRAIN_CLIP * spread), out=d_grain)
        d_grain *= np.float32(e_grain / max(float(np.abs(d_grain[every][on_skin]).mean()), 1e-6))
        e_face = float(np.abs(d_face[every][on_skin]).mean())
        if e_face < e_grain:
            share = np.sqrt(1 - (e_face / e_grain) ** 2)
            add = np.asarray(cv2.blur(skin.astype(np.float32), box), np.float32)
            add *= np.float32(share)
            add *= d_grain
    # The features (eyes, brows, lips), in their own box: the user's own detail in two octaves (the finest, and
    # fine lines and lashes) deepened towards the template's there (reshaped, so that they line up).
    found = nonzero_box(features.view(np.uint8), 8 * round(sigma) + 4)
    if found is not None and np.count_nonzero(features[every]) >= 16:
        y0, y1, x0, x1 = found
        part = (slice(y0, y1), slice(x0, x1))
        # the whole face's every other row and column, as above (the box may start on an odd one)
        local = (slice((-y0) % 2, None, 2), slice((-x0) % 2, None, 2))
        on = features[part][local]
        weight = cv2.blur(features[part].astype(np.float32), box)
        face_bands = _bands(np.ascontiguousarray(grey_f[part]), sigma, 2)
        tmpl_bands = _bands(u8(cv2.cvtColor(np.ascontiguousarray(template[part]), cv2.COLOR_RGB2GRAY)), sigma, 2)
        for f_band, t_band in zip(face_bands, tmpl_bands, strict=True):
            e_face, e_tmpl = float(np.abs(f_band[local][on]).mean()), float(np.abs(t_band[local][on]).mean())
            if e_face < e_tmpl:
                gain = np.float32(min(_MAX_FEATURE_GAIN, e_tmpl / max(e_face, 1e-3) - 1))
                if add is None:
                    add = np.zeros(grey_f.shape, np.float32)
                add[part] += gain * weight * f_band
    if add is not None and add.any():
        cv2.add(face, cv2.merge([add, add, add]), dst=face, dtype=cv2.CV_8U)  # rounded, saturated
