"""NumPy twins of fk_box.c: the radii of three box blurs approximating a Gaussian (sizes from Wells/Kutskir), and
box passes, each rounded to the nearest integer, edges replicated."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view


def box_radii_for_sigma(sigma: float) -> tuple[int, int, int]:
    n = 3
    w_ideal = math.sqrt(12 * sigma * sigma / n + 1)
    wl = math.floor(w_ideal)
    if wl % 2 == 0:
        wl -= 1
    wu = wl + 2
    m = math.floor((12 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4 * wl - 4) + 0.5)
    sizes = [wl if i < m else wu for i in range(n)]
    return tuple((s - 1) // 2 for s in sizes)  # type: ignore[return-value]


def box_blur_1d(a: np.ndarray, radius: int, axis: int) -> np.ndarray:
    size = 2 * radius + 1
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(a.astype(np.int64), pad, mode="edge")
    window = (size, 1) if axis == 0 else (1, size)
    sums = sliding_window_view(padded, window).sum(axis=(2, 3))
    return (sums + size // 2) // size


def box_pass(a: npt.NDArray[np.int64], r: int, axis: int) -> npt.NDArray[np.int64]:
    """One box pass of radius r along axis of an array of any rank, by cumulative sums."""
    n = a.shape[axis]
    size = 2 * r + 1
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="edge")
    c = np.cumsum(p, axis=axis)
    c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
    s = np.take(c, np.arange(n) + size, axis=axis) - np.take(c, np.arange(n), axis=axis)
    return (s + size // 2) // size
