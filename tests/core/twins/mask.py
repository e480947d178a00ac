"""NumPy twins of fk_mask.c: polygon fill, erosion and dilation, feathering, alpha compositing."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.core.twins.box import box_blur_1d, box_radii_for_sigma

# --------------------------------------------------------------------------------------------------------------
# Polygon fill: exact area of the polygon inside each pixel's square, by Sutherland-Hodgman clipping.


def _clip(poly: list[tuple[float, float]], axis: int, bound: float, keep_below: bool) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        p_in = p[axis] <= bound if keep_below else p[axis] >= bound
        q_in = q[axis] <= bound if keep_below else q[axis] >= bound
        if p_in:
            out.append(p)
        if p_in != q_in:
            t = (bound - p[axis]) / (q[axis] - p[axis])
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _area(poly: list[tuple[float, float]]) -> float:
    s = 0.0
    for i in range(len(poly)):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % len(poly)]
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0


def fill_polygon(polygon, shape):
    """Coverage of a simple polygon per pixel (pixel (x, y) is the square centred on (x, y)), times 255, rounded."""
    h, w = shape
    pts = [(float(x), float(y)) for x, y in np.asarray(polygon, np.float64)]
    out = np.zeros((h, w), np.uint8)
    if len(pts) < 3:
        return out
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    for y in range(max(0, math.floor(min(ys) - 0.5)), min(h, math.ceil(max(ys) + 0.5) + 1)):
        band = _clip(_clip(pts, 1, y - 0.5, False), 1, y + 0.5, True)
        if len(band) < 3:
            continue
        for x in range(max(0, math.floor(min(xs) - 0.5)), min(w, math.ceil(max(xs) + 0.5) + 1)):
            cell = _clip(_clip(band, 0, x - 0.5, False), 0, x + 0.5, True)
            if len(cell) >= 3:
                out[y, x] = math.floor(min(_area(cell), 1.0) * 255.0 + 0.5)
    return out


# --------------------------------------------------------------------------------------------------------------
# Erosion and dilation by a (2r + 1) square, edges replicated.


def morph(mask, radius, is_max):
    padded = np.pad(mask, radius, mode="edge")
    windows = sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1))
    return (windows.max(axis=(2, 3)) if is_max else windows.min(axis=(2, 3))).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Feathering: three box blurs (sizes from Wells/Kutskir), each rounded to the nearest integer, edges replicated.


def feather_mask(mask, sigma):
    radii = box_radii_for_sigma(sigma)
    a = mask.astype(np.int64)
    for r in radii:
        a = box_blur_1d(a, r, axis=1)
    for r in radii:
        a = box_blur_1d(a, r, axis=0)
    return a.astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Alpha compositing.


def composite(src, mask, dst, origin):
    x, y = origin
    out = dst.copy()
    h, w = src.shape[:2]
    m = mask.astype(np.int64)
    if src.ndim == 3:
        m = m[:, :, None]
    roi = out[y:y + h, x:x + w].astype(np.int64)
    out[y:y + h, x:x + w] = (src.astype(np.int64) * m + roi * (255 - m) + 127) // 255
    return out
