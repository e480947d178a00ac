"""CIE Lab helpers the colour and occluder stages share: robust statistics and a skin model."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import robust_stats
from fusionkit.fusion.engine._common import F32, F64, U8

__all__ = ["LAB_SCALE", "LAB_SHIFT", "Stats", "lab_float", "plausible_skin", "robust_lab_stats", "skin_likeness"]

Stats = tuple[F64, F64]

# OpenCV 8-bit Lab -> CIE Lab: L * 100/255, a - 128, b - 128.
LAB_SCALE = np.array([100 / 255, 1.0, 1.0], np.float32)
LAB_SHIFT = np.array([0.0, -128.0, -128.0], np.float32)


def robust_lab_stats(lab8: U8, mask: NDArray[Any], step: int = 1) -> Stats:
    """Mean and spread (CIE Lab) of OpenCV 8-bit Lab pixels under ``mask`` (every ``step``-th row and column),
    ignoring outliers (hair, shadows, specular highlights); the whole image's when the mask holds under 16."""
    mean, std, count = robust_stats(lab8, mask, step=step)
    if count < 16:
        mean, std, count = robust_stats(lab8, step=step)
    return mean * LAB_SCALE + LAB_SHIFT, std * LAB_SCALE + 1e-3


def skin_likeness(lab8: U8, mean: F64, std: F64) -> F32:
    """0-1 per pixel of OpenCV 8-bit Lab ``lab8``: how much a pixel looks like the skin described by (mean, std) in
    CIE Lab (chroma weighs most).

    Brighter than the skin counts a third as much as darker: a specular highlight on a nose or a forehead is lit
    skin, not something in front of the face. Each channel's term depends on its 8-bit code alone, so the terms are
    worked out once for the 256 codes (in float32, as :func:`lab_float` and the sum below would per pixel: the
    same numbers) and looked up.
    """
    spread = np.maximum(std, [8.0, 3.0, 3.0])
    codes = lab_float(np.arange(256, dtype=np.uint8)[:, None].repeat(3, axis=1))
    d = (codes - mean.astype(np.float32)) * (1 / spread).astype(np.float32)
    d[:, 0] = np.where(d[:, 0] > 0, d[:, 0] * np.float32(1 / 3), d[:, 0])
    d *= d
    d[:, 0] = 0.35 * d[:, 0]
    # One pass of OpenCV's table lookup gives the three terms per pixel (fancy indexing of each strided channel
    # took a third longer); summed in the same order.
    terms = np.asarray(cv2.LUT(np.ascontiguousarray(lab8), np.ascontiguousarray(d.reshape(1, 256, 3))), np.float32)
    dist = np.sqrt(terms[..., 0] + terms[..., 1] + terms[..., 2])
    like: F32 = np.clip((4.3 - dist) * (1 / 1.5), 0.0, 1.0).astype(np.float32)  # 1 within 2.8 spreads, 0 past 4.3
    return like


def lab_float(lab8: U8) -> F32:
    """OpenCV's 8-bit Lab as CIE Lab: L 0-100, a and b about -128-127."""
    return lab8.astype(np.float32) * LAB_SCALE + LAB_SHIFT


def plausible_skin(mean: F64) -> bool:
    """Whether a colour (CIE Lab) can be a face's skin: greyish (a black-and-white photo, chroma under 8) or with a
    hue between red and yellow-green (-15 to 110 degrees). When most of a face is covered, the robust statistics of
    "its skin" describe the cover (a blue board, a green scarf) and fail this."""
    a, b = float(mean[1]), float(mean[2])
    if a * a + b * b < 64:
        return True
    hue = math.degrees(math.atan2(b, a))
    return -15.0 <= hue <= 110.0
