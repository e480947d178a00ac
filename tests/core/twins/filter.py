"""NumPy twins of fk_filter.c: the guided filter and the unsharp mask."""

from __future__ import annotations

import numpy as np

from tests.core.twins import box
from tests.core.twins._common import F64, U8, hwc, round_u8

# ----------------------------------------------------------------------------------------------------
# Guided filter and unsharp mask


def _window_sum(a: F64, r: int) -> F64:
    """Sum over the square window of radius r, truncated at the edges (axes 0 and 1)."""
    for axis in (0, 1):
        n = a.shape[axis]
        c = np.cumsum(a, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        hi = np.minimum(np.arange(n) + r + 1, n)
        lo = np.maximum(np.arange(n) - r, 0)
        a = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
    return a


def guided_filter(img: U8, radius: int, eps: float, mask: U8 | None = None, strength: float = 1.0) -> U8:
    i = hwc(img)
    n = _window_sum(np.ones((*i.shape[:2], 1)), radius)
    m1 = _window_sum(i, radius) / n
    m2 = _window_sum(i * i, radius) / n
    var = np.maximum(m2 - m1 * m1, 0.0)
    a = var / (var + eps * 255.0 * 255.0)
    b = (1.0 - a) * m1
    q = _window_sum(a, radius) / n * i + _window_sum(b, radius) / n
    wt = strength * (np.ones(i.shape[:2]) if mask is None else mask / 255.0)[..., None]
    return round_u8(i + wt * (q - i)).reshape(img.shape)


def unsharp_mask(
    img: U8, amount: float, radii: tuple[int, int, int], mask: U8 | None = None, strength: float = 1.0
) -> U8:
    i = hwc(img).astype(np.int64)
    b = i
    for r in radii:
        b = box.box_pass(b, r, 1)
    for r in radii:
        b = box.box_pass(b, r, 0)
    wt = strength * amount * (np.ones(i.shape[:2]) if mask is None else mask / 255.0)[..., None]
    return round_u8(i + wt * (i - b)).reshape(img.shape)
