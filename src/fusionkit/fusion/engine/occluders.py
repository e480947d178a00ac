"""Stage: occluders. What covers either face (a hand, a microphone, a fringe, glasses' frames): non-skin blobs
lying on the face's skin. The template's stay on top of the result; the user's are never carried over."""

from __future__ import annotations

import cv2
import numpy as np

from fusionkit.core import dilate_mask, erode_mask
from fusionkit.fusion.engine._common import F64, U8, polygon_mask, subsample, u8
from fusionkit.fusion.engine._lab import plausible_skin, robust_lab_stats, skin_likeness
from fusionkit.fusion.engine.mask import Regions, feature_mask
from fusionkit.vision.topology import MeshTopology

__all__ = ["template_occluders", "user_occluders"]

# Under this many skin pixels sampled, a face's skin colour is not known well enough to find what covers it.
_MIN_SKIN_SAMPLE = 32


def template_occluders(roi: U8, points_core: F64, topo: MeshTopology, face_size: float) -> U8:
    """What covers the template's face, in its own geometry: non-skin inside the oval, bar eyes, brows and lips.

    Measured at half resolution (occluders are large), returned at full size, grown a little to cover edges.
    """
    shape = roi.shape[:2]
    small = subsample(roi, 2)  # every other row and column: the whole computation at half size
    half_shape = small.shape[:2]
    pts = points_core / 2  # every other pixel: pixel x of the region is pixel x / 2 of the half-size grid
    grow = max(1, round(0.01 * face_size))
    oval = polygon_mask(pts[topo.region("face_oval")], half_shape)
    features = dilate_mask(feature_mask(pts, topo, half_shape), grow)
    lab8 = u8(cv2.cvtColor(small, cv2.COLOR_RGB2Lab))
    skin = (oval >= 128) & (features < 128)
    if skin.sum() < _MIN_SKIN_SAMPLE:
        return np.zeros(shape, np.uint8)  # a face too small to tell its skin from a cover: nothing is fixed
    stats = robust_lab_stats(lab8, skin)
    if not plausible_skin(stats[0]):
        # What the oval mostly shows is not skin: the face is covered (the whole oval is the occluder).
        return u8(cv2.resize(oval, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))
    like = skin_likeness(lab8, *stats)
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
    return u8(cv2.resize(not_skin, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))


def user_occluders(user_tex: U8, coverage: U8, parts: Regions, template_fixed: U8) -> U8:
    """Non-skin inside the user's face (a fringe over the forehead, glasses' frames), bar the eyes, brows and lips,
    judged against the user's own skin, joined with the template's ``template_fixed``; 0/255."""
    rh, rw = parts.oval.shape
    # Judged every third row and column: an occluder that matters is many pixels across.
    lab8 = u8(cv2.cvtColor(subsample(user_tex, 3), cv2.COLOR_RGB2Lab))
    sample = parts.skin[::3, ::3] & (coverage[::3, ::3] > 0)  # the same samples, worked out at the small scale
    if sample.sum() < _MIN_SKIN_SAMPLE:
        return u8(template_fixed.copy())  # a face too small to tell the user's skin from a cover
    skin = robust_lab_stats(lab8, sample)
    if not plausible_skin(skin[0]):
        return np.maximum(np.where(parts.skin, 255, 0).astype(np.uint8), template_fixed)  # the face is covered
    not_skin = np.where(skin_likeness(lab8, *skin) < 0.5, 255, 0).astype(np.uint8)
    # A mole, a blemish or a bit of stubble is the user's own, not a cover: blobs under 0.5% of the face's skin
    # stay in (a hole there would show a spot of the template's skin). Judged at the small scale, as the rest.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(not_skin, connectivity=8)
    if count > 1:
        small = stats[:, cv2.CC_STAT_AREA] < 0.005 * max(int(parts.skin[::3, ::3].sum()), 1)
        small[0] = False
        not_skin[small[labels]] = 0
    occluder = u8(cv2.resize(not_skin, (rw, rh), interpolation=cv2.INTER_NEAREST))
    occluder[parts.features_grown >= 128] = 0
    grow = parts.grow
    occluder = dilate_mask(erode_mask(occluder, max(1, grow // 2)), grow)  # drop speckles, then cover edges
    np.maximum(occluder, template_fixed, out=occluder)
    return occluder
