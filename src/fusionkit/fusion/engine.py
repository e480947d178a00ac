"""Fusing one user face into one template face, in place, on the face's region only.

The stages (each timed in the report):

1. geometry: extend both meshes with the margin rings, align the user's to the template's with a similarity, and
   mix the two shapes into the target mesh (outline by the profile degree, features by the face degree, the
   outermost ring back on the template);
2. warp: find what covers the template's face (non-skin blobs lying on its skin: a hand, a fringe, an object);
   reshape the template's head to the target, except those, which stay in place; warp the user's face onto the
   target mesh (C warp);
3. colour: the user's texture takes the template's colour region by region in Lab (skin, lips; the mouth
   opening and the eyes in lightness only), from robust statistics, with clipped spread ratios;
4. texture: user and template textures mixed by the face degree; the mouth opening comes whole from one side;
   outside the oval the template's texture;
5. mask: the target oval, kept to the triangles that face the camera in both faces, minus the occluders on
   either side, eroded and feathered in proportion to the face;
6. blend: multi-band (or Poisson, or alpha) on the face's region; occluders are laid back on top.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import (
    blend_multiband,
    blend_poisson,
    composite,
    dilate_mask,
    erode_mask,
    feather_mask,
    fill_polygon,
    guided_filter,
    robust_stats,
    unsharp_mask,
    warp_mesh,
)
from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import BlendMode, FuseOptions
from fusionkit.fusion.geometry import (
    INNER_LIPS,
    OUTER_LIPS,
    apply_similarity,
    fit_similarity,
    point_roles,
    target_mesh,
    to_core,
)
from fusionkit.vision.topology import MeshTopology

__all__ = ["FaceFusionReport", "fuse_face"]

_FEATURE_REGIONS = ("right_eye", "left_eye", "right_eyebrow", "left_eyebrow")

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

# Spread ratios of the Lab transfer are kept within these bounds: a user photo with flat light next to a
# contrasty template must not blow highlights up, nor the reverse flatten the face.
_SPREAD_MIN, _SPREAD_MAX = 0.75, 1.35


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


class _Clock:
    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.t) * 1e3
        self.t = now


def _polygon_mask(points: F64, shape: tuple[int, int]) -> U8:
    return fill_polygon(points, np.zeros(shape, np.uint8))


def _triangle_mask(points_core: F64, triangles: NDArray[np.int32], shape: tuple[int, int]) -> U8:
    """Coverage (0/255) of a set of triangles: the C warp of a blank image gives exactly that."""
    blank = np.zeros((1, 1), np.uint8)
    canvas = np.zeros(shape, np.uint8)
    if len(triangles) == 0:
        return canvas
    return warp_mesh(blank, np.zeros_like(points_core), points_core, triangles, canvas)


def _signed_areas(points: F64, triangles: NDArray[np.int32]) -> F64:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def _front_facing(points: F64, triangles: NDArray[np.int32], reference: F64) -> NDArray[np.bool_]:
    """Triangles whose winding agrees with the mean face's and that are not squashed to a sliver.

    A triangle seen edge-on (area under 3% of its share in the frontal mean) carries stretched, smeared texture
    when warped; one with flipped winding is on the far side of a turned head.
    """
    area = _signed_areas(points, triangles)
    ref = _signed_areas(reference, triangles)
    scale = np.abs(area).sum() / max(np.abs(ref).sum(), 1e-9)
    facing: NDArray[np.bool_] = area * np.sign(ref) > 0.03 * np.abs(ref) * scale
    return facing


# OpenCV 8-bit Lab -> CIE Lab: L * 100/255, a - 128, b - 128.
_LAB_SCALE = np.array([100 / 255, 1.0, 1.0], np.float32)
_LAB_SHIFT = np.array([0.0, -128.0, -128.0], np.float32)


def _robust_stats(lab8: U8, mask: NDArray[Any], step: int = 1) -> tuple[F64, F64]:
    """Mean and spread (CIE Lab) of OpenCV 8-bit Lab pixels under ``mask`` (every ``step``-th row and column),
    ignoring outliers (hair, shadows, specular highlights); the whole image's when the mask holds under 16."""
    mean, std, count = robust_stats(lab8, mask, step=step)
    if count < 16:
        mean, std, count = robust_stats(lab8, step=step)
    return mean * _LAB_SCALE + _LAB_SHIFT, std * _LAB_SCALE + 1e-3


def _skin_likeness(lab: F32, mean: F64, std: F64) -> F32:
    """0-1 per pixel: how much a pixel looks like the skin described by (mean, std) in Lab (chroma weighs most)."""
    spread = np.maximum(std, [8.0, 3.0, 3.0])
    d = (lab - mean.astype(np.float32)) * (1 / spread).astype(np.float32)
    d *= d
    dist = np.sqrt(0.35 * d[..., 0] + d[..., 1] + d[..., 2])
    like: F32 = np.clip((4.3 - dist) * (1 / 1.5), 0.0, 1.0).astype(np.float32)  # 1 within 2.8 spreads, 0 past 4.3
    return like


def _u8(arr: Any) -> U8:
    """OpenCV's results, typed as the uint8 arrays they are."""
    return np.asarray(arr, dtype=np.uint8)


def _lab_float(lab8: U8) -> F32:
    """OpenCV's 8-bit Lab as CIE Lab: L 0-100, a and b about -128-127."""
    return lab8.astype(np.float32) * _LAB_SCALE + _LAB_SHIFT


def _lab_lut(mapping: tuple[F64, F64]) -> U8:
    """A (1, 256, 3) table applying a per-channel (scale, offset) in CIE Lab to OpenCV's 8-bit Lab."""
    scale, offset = mapping
    v = np.arange(256, dtype=np.float64)[:, None]
    lab = v * _LAB_SCALE + _LAB_SHIFT
    out = ((lab * scale + offset) - _LAB_SHIFT) / _LAB_SCALE
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)[None]


def _affine(src: tuple[F64, F64], ref: tuple[F64, F64], lightness_only: bool = False) -> tuple[F64, F64]:
    """Per-channel (scale, offset) mapping src's statistics onto ref's, spread ratios clipped."""
    (ms, ss), (mr, sr) = src, ref
    scale = np.clip(sr / ss, _SPREAD_MIN, _SPREAD_MAX)
    offset = mr - ms * scale
    if lightness_only:
        scale[1:], offset[1:] = 1.0, 0.0
    return scale, offset


def _feature_mask(points_core: F64, topo: MeshTopology, shape: tuple[int, int]) -> U8:
    """Eyes, brows and lips of a mesh (in the core's coordinates) as one 0/255 mask."""
    mask = _polygon_mask(points_core[OUTER_LIPS], shape)
    for name in _FEATURE_REGIONS:
        np.maximum(mask, _polygon_mask(points_core[topo.region(name)], shape), out=mask)
    return mask


def _template_occluders(roi: U8, points_core: F64, topo: MeshTopology, face_size: float) -> U8:
    """What covers the template's face, in its own geometry: non-skin inside the oval, bar eyes, brows and lips.

    Measured at half resolution (occluders are large), returned at full size, grown a little to cover edges.
    """
    shape = roi.shape[:2]
    small = np.ascontiguousarray(roi[::2, ::2])  # every other row and column: the whole computation at half size
    half_shape = small.shape[:2]
    pts = (points_core + 0.5) / 2 - 0.5  # pixel centres at integers, in the half-size grid
    grow = max(1, round(0.01 * face_size))
    oval = _polygon_mask(pts[topo.region("face_oval")], half_shape)
    features = dilate_mask(_feature_mask(pts, topo, half_shape), grow)
    lab8 = _u8(cv2.cvtColor(small, cv2.COLOR_RGB2Lab))
    skin = (oval >= 128) & (features < 128)
    like = _skin_likeness(_lab_float(lab8), *_robust_stats(lab8, skin))
    not_skin = np.where((like < 0.5) & (oval >= 128), 255, 0).astype(np.uint8)
    # Thin strips (a lit jaw edge, a crease, a shadow line) are not occluders: open them away; a hand survives.
    thin = max(1, round(0.015 * face_size))
    not_skin = dilate_mask(erode_mask(not_skin, thin), thin)
    # An object over the face may reach into the eyes or the mouth: a non-skin blob lying mostly on skin is an
    # occluder as a whole; one lying mostly on the features is the features themselves (eyes, an open mouth).
    count, labels = cv2.connectedComponents(not_skin, connectivity=8)
    if count > 1:
        on_skin = np.bincount(labels[skin], minlength=count)
        total = np.bincount(labels.ravel(), minlength=count)
        keep = (on_skin >= 0.5 * total) & (on_skin >= 4)
        keep[0] = False
        not_skin = np.where(keep[labels], 255, 0).astype(np.uint8)
    not_skin = dilate_mask(erode_mask(not_skin, max(1, grow // 2)), grow)
    return _u8(cv2.resize(not_skin, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))


def _forehead_weight(points_core: F64, topo: MeshTopology, shape: tuple[int, int]) -> F32:
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


def _nonzero_box(mask: U8, pad: int) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the non-zero pixels grown by ``pad`` (clipped), or None for an all-zero mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, int(rows[0]) - pad), min(h, int(rows[-1]) + 1 + pad),
            max(0, int(cols[0]) - pad), min(w, int(cols[-1]) + 1 + pad))


def _feather_local(mask: U8, sigma: float) -> U8:
    """``feather_mask`` computed only around the mask's non-zero pixels (the result is 0 farther away than the
    blur reaches): eyes, lips and occluders are small next to the face's region."""
    out = np.zeros_like(mask)
    box = _nonzero_box(mask, int(np.ceil(3.5 * sigma)) + 2)
    if box is not None:
        y0, y1, x0, x1 = box
        feather_mask(np.ascontiguousarray(mask[y0:y1, x0:x1]), sigma, out=out[y0:y1, x0:x1])
    return out


def _bbox(points: F64, pad: float, w: int, h: int) -> tuple[int, int, int, int]:
    x0 = int(max(0, np.floor(points[:, 0].min() - pad)))
    y0 = int(max(0, np.floor(points[:, 1].min() - pad)))
    x1 = int(min(w, np.ceil(points[:, 0].max() + pad)))
    y1 = int(min(h, np.ceil(points[:, 1].max() + pad)))
    return x0, y0, max(x0, x1), max(y0, y1)


def fuse_face(
    canvas: U8,
    template_mesh: FaceMesh,
    user: U8,
    user_mesh: FaceMesh,
    options: FuseOptions,
    topo: MeshTopology,
) -> FaceFusionReport:
    """Fuse ``user``'s face (``user_mesh``) into ``canvas`` where ``template_mesh`` lies, in place.

    ``canvas`` starts as the template (or a copy already holding other fused faces elsewhere); only the region
    of this face's extended mesh is read and written, so faces far enough apart may be fused in parallel.
    """
    clock = _Clock()
    roles = point_roles(topo)
    h, w = canvas.shape[:2]
    pt = topo.extend(template_mesh.points).astype(np.float64)
    pu = topo.extend(user_mesh.points).astype(np.float64)
    sim = fit_similarity(pu[:468], pt[:468])
    target = target_mesh(pt, apply_similarity(sim, pu), options.fuse_face_degree, options.fuse_profile_degree,
                         roles)
    face_size = max(template_mesh.inter_ocular_distance, 8.0) * 2.2  # about the face width, in pixels
    oval_idx = topo.region("face_oval")
    sigma = max(1.0, 0.035 * face_size)
    boxes = (tuple(float(v) for v in template_mesh.face.box), tuple(float(v) for v in user_mesh.face.box))
    n_ring = len(topo.margin_contour)
    # Two regions: the outer one (the whole extended mesh, whose outermost ring stays put) is where the template
    # is reshaped; the inner one (the oval, its feather and the first ring) is where the face is laid in.
    ox0, oy0, ox1, oy1 = _bbox(target, 1.0, w, h)
    x0, y0, x1, y1 = _bbox(np.concatenate([target[468:468 + n_ring], target[oval_idx]]), 3.0 * sigma, w, h)
    x0, y0, x1, y1 = max(x0, ox0), max(y0, oy0), min(x1, ox1), min(y1, oy1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return FaceFusionReport(template_box=boxes[0], user_box=boxes[1],  # type: ignore[arg-type]
                                roi=(x0, y0, x0, y0), timings_ms=clock.laps)
    rh, rw = y1 - y0, x1 - x0
    tgt_core = to_core(target) - np.array([x0, y0], np.float64)
    tris = topo.triangles
    clock.lap("geometry")

    # --- warp -----------------------------------------------------------------------------------------------
    # The template's own head takes the target shape first (outline, and the surroundings within the margin
    # rings), so no strip of its old jaw or cheek is left beside a narrower new one.
    beta = options.fuse_face_degree / 100.0
    # Whatever covers the template's face (a hand, a microphone, a fringe) stays where it is, unwarped.
    fixed = _template_occluders(np.ascontiguousarray(canvas[y0:y1, x0:x1]),
                                to_core(pt) - np.array([x0, y0], np.float64), topo, face_size)
    if options.fuse_face_degree < 100 or options.fuse_profile_degree < 100:
        reshaped = np.ascontiguousarray(canvas[oy0:oy1, ox0:ox1]).copy()
        moved = warp_mesh(canvas, to_core(pt), to_core(target) - np.array([ox0, oy0], np.float64), tris, reshaped)
        if fixed.any():
            # Neither where the occluder is, nor where the warp would carry a copy of it, takes the warped template.
            carried = np.zeros_like(moved)
            src_mask = np.zeros(canvas.shape[:2], np.uint8)
            src_mask[y0:y1, x0:x1] = fixed
            warp_mesh(src_mask, to_core(pt), to_core(target) - np.array([ox0, oy0], np.float64), tris, carried)
            moved[carried >= 128] = 0
            moved[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0][fixed >= 128] = 0
        composite(reshaped, moved, canvas, (ox0, oy0))
    tmpl_tex = np.ascontiguousarray(canvas[y0:y1, x0:x1]).copy()
    user_tex = np.zeros((rh, rw, 3), np.uint8)
    cov_user = warp_mesh(user, to_core(pu), tgt_core, tris, user_tex)
    clock.lap("warp")

    # --- region masks in target geometry (ROI coordinates); both textures now share it --------------------------
    shape = (rh, rw)
    oval = _polygon_mask(tgt_core[oval_idx], shape)
    features = _feature_mask(tgt_core, topo, shape)
    eyes = np.maximum(_polygon_mask(tgt_core[topo.region("right_eye")], shape),
                      _polygon_mask(tgt_core[topo.region("left_eye")], shape))
    lips_outer = _polygon_mask(tgt_core[OUTER_LIPS], shape)
    mouth_open = _polygon_mask(tgt_core[INNER_LIPS], shape)
    grow = max(1, round(0.02 * face_size))
    features_grown = dilate_mask(features, grow)
    skin_region = (oval >= 128) & (features_grown < 128)
    clock.lap("regions")

    # --- colour ---------------------------------------------------------------------------------------------
    # Statistics and the skin model come from every other row and column (plenty, and a quarter of the work).
    user_lab8 = _u8(cv2.cvtColor(user_tex, cv2.COLOR_RGB2Lab))
    tmpl_lab8 = _u8(cv2.cvtColor(np.ascontiguousarray(tmpl_tex[::2, ::2]), cv2.COLOR_RGB2Lab))
    user_lab = _lab_float(user_lab8[::2, ::2])
    half = (slice(None, None, 2), slice(None, None, 2))
    skin_half = skin_region[half]
    # Statistics from every other row and column of the half-size images: plenty, and a quarter of the work.
    user_skin = _robust_stats(user_lab8, skin_region & (cov_user > 0), step=4)
    tmpl_skin = _robust_stats(tmpl_lab8, np.ascontiguousarray(skin_half), step=2)
    if options.colour_match:
        # One Lab shift for the whole face turns teeth cyan and lips purple: skin, lips, and (lightness only) the
        # mouth opening and the eyes each get their own mapping (a lookup table per channel on 8-bit Lab), laid
        # over the skin mapping through feathered region masks.
        lips_only = np.where((lips_outer >= 128) & (mouth_open < 128), 255, 0).astype(np.uint8)
        lips_half = np.ascontiguousarray(lips_only[half])
        skin_map = _affine(user_skin, tmpl_skin)
        lips_map = _affine(_robust_stats(user_lab8, lips_only, step=4), _robust_stats(tmpl_lab8, lips_half, step=2))
        light_map = _affine(user_skin, tmpl_skin, lightness_only=True)
        matched = _u8(cv2.LUT(user_lab8, _lab_lut(skin_map)))
        soft_sigma = max(1.0, sigma / 4)
        for region, mapping in ((lips_only, lips_map), (np.maximum(mouth_open, eyes), light_map)):
            box = _nonzero_box(region, int(np.ceil(3.5 * soft_sigma)) + 2)
            if box is None:
                continue
            ry0, ry1, rx0, rx1 = box
            weight = feather_mask(np.ascontiguousarray(region[ry0:ry1, rx0:rx1]), soft_sigma)
            local = _u8(cv2.LUT(np.ascontiguousarray(user_lab8[ry0:ry1, rx0:rx1]), _lab_lut(mapping)))
            composite(local, weight, matched, (rx0, ry0))
        user_tex = _u8(cv2.cvtColor(matched, cv2.COLOR_Lab2RGB))
        user_lab = _lab_float(matched[::2, ::2])
    clock.lap("colour")

    # --- texture mix ---------------------------------------------------------------------------------------------
    # The mouth opening comes whole from the side with the larger share (a cross-fade ghosts teeth through shut
    # lips); outside the oval the template's texture fills in, so the feather never pulls the user's neck, ears
    # or background (halo streaks) into the picture.
    inside = feather_mask(erode_mask(oval, max(1, round(0.3 * sigma))), 0.5 * sigma).astype(np.float32)
    mouth_w = _feather_local(mouth_open, max(1.0, sigma / 4)).astype(np.float32) * np.float32(1 / 255)
    keep_user = (1 - (beta * (1 - mouth_w) + (1.0 if beta >= 0.5 else 0.0) * mouth_w)) * inside  # 0-255
    # Above the brows the template's forehead takes over gradually: a fringe or hairline of the user's must not be
    # pasted across the template's forehead, and the forehead carries little of a person's likeness.
    keep_user *= 1 - _forehead_weight(tgt_core, topo, shape)
    face_tex = user_tex
    composite(tmpl_tex, (255.5 - keep_user).astype(np.uint8), face_tex, (0, 0))
    clock.lap("texture")

    # --- mask ----------------------------------------------------------------------------------------------------
    mean = np.asarray(topo.mean_shape, np.float64)
    mesh_tris = tris[(tris < 468).all(axis=1)]
    visible = _front_facing(pt[:, :2], mesh_tris, mean) & _front_facing(pu[:, :2], mesh_tris, mean)
    hidden = mesh_tris[~visible]
    if len(hidden) <= 0.06 * len(mesh_tris):
        # A face turned little (the usual case): the mesh's triangles tile the oval, so the visible part is the
        # oval less the few hidden triangles (the lips' gap, a sliver at the jaw), a tenth of the drawing.
        visible_mask = oval.copy()
        if len(hidden):
            visible_mask[_triangle_mask(tgt_core, hidden, shape) >= 128] = 0
    else:
        # A turned face folds: hidden triangles overlap visible ones and parts of the oval lie under no visible
        # triangle, so only drawing the visible ones is exact.
        visible_mask = _triangle_mask(tgt_core, mesh_tris[visible], shape)
    if len(hidden):
        # The lips' gap closes flat on a shut mouth (its triangles look edge-on), yet the mouth is always in view.
        np.maximum(visible_mask, dilate_mask(lips_outer, grow), out=visible_mask)
    # Non-skin inside the face is an occluder, except the eyes, brows and lips: the template's (found above, in
    # place) and the user's (a fringe over the forehead, glasses' frames), measured at half resolution.
    user_like = _skin_likeness(user_lab, *(tmpl_skin if options.colour_match else user_skin))
    not_skin = np.where(user_like < 0.5, 255, 0).astype(np.uint8)
    occluder = _u8(cv2.resize(not_skin, (rw, rh), interpolation=cv2.INTER_NEAREST))
    occluder[features_grown >= 128] = 0
    occluder = dilate_mask(erode_mask(occluder, max(1, grow // 2)), grow)  # drop speckles, then cover edges
    np.maximum(occluder, fixed, out=occluder)
    hard = np.minimum(np.minimum(oval, visible_mask), cov_user)
    hard[occluder >= 128] = 0
    hard = erode_mask(hard, max(1, round(0.3 * sigma)))
    soft = feather_mask(hard, sigma)
    clock.lap("mask")

    if options.skin_smoothing > 0:
        radius = max(1, round(0.015 * face_size))
        skin_only = np.where(skin_region, soft, 0).astype(np.uint8)
        guided_filter(face_tex, radius, 0.004, mask=skin_only, strength=options.skin_smoothing, out=face_tex)
    # A small user face enlarged several times looks soft: restore some crispness in proportion to the enlargement.
    enlargement = template_mesh.inter_ocular_distance / max(user_mesh.inter_ocular_distance, 1.0)
    auto_sharpen = float(np.clip(0.3 * (enlargement - 1.3), 0.0, 0.6)) * (1 - beta)
    sharpen = min(1.0, options.sharpening + auto_sharpen)
    if sharpen > 0:
        unsharp_mask(face_tex, 0.8, max(1.0, 0.006 * face_size * max(1.0, enlargement / 2)), mask=soft,
                     strength=sharpen, out=face_tex)
    clock.lap("filters")

    # --- blend ---------------------------------------------------------------------------------------------------
    cycles, residual = 0, 0.0
    roi_out = canvas[y0:y1, x0:x1]
    if not (soft > 0).any():
        pass
    elif options.blend_mode is BlendMode.POISSON and (hard >= 128).sum() > 64:
        cloned = tmpl_tex.copy()
        stats = blend_poisson(face_tex, hard, cloned, (0, 0), tol=2e-3)
        cycles, residual = stats.cycles, stats.residual
        composite(cloned, soft, roi_out, (0, 0))
    elif options.blend_mode is BlendMode.MULTIBAND:
        blend_multiband(face_tex, soft, roi_out, (0, 0))
    else:
        composite(face_tex, soft, roi_out, (0, 0))
    if fixed.any():
        # Pyramid and Poisson blends spread colour across the mask's edge; what covers the template's face comes
        # back untouched. (The user's own non-skin spots are only left out of the mask, with its soft edge.)
        composite(tmpl_tex, np.minimum(_feather_local(erode_mask(fixed, 1), 1.0), oval), roi_out, (0, 0))
    clock.lap("blend")
    return FaceFusionReport(template_box=boxes[0], user_box=boxes[1],  # type: ignore[arg-type]
                            roi=(min(x0, ox0), min(y0, oy0), max(x1, ox1), max(y1, oy1)), timings_ms=clock.laps,
                            poisson_cycles=cycles, poisson_residual=residual)
