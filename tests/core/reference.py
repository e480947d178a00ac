"""Slow, obviously-correct NumPy twins of the C core's routines: the oracles of the differential tests.

Each twin states the routine's contract in the plainest code that computes it, pixel by pixel or triangle by
triangle, in float64 where the C core uses fixed point.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --------------------------------------------------------------------------------------------------------------
# Mesh warp


def _edge(ax: float, ay: float, bx: float, by: float, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    # Same formula and evaluation order as the C core's edge_fn, so both decide "inside" identically.
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def bilinear(src: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample ``src`` at (sx, sy), clamping to the edge; returns float64 values, shape (K, C)."""
    img = src.reshape(src.shape[0], src.shape[1], -1).astype(np.float64)
    h, w = img.shape[:2]
    sx = np.clip(sx, 0, w - 1)
    sy = np.clip(sy, 0, h - 1)
    x0 = np.floor(sx).astype(int)
    y0 = np.floor(sy).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (sx - x0)[:, None]
    fy = (sy - y0)[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def warp_mesh(src, src_points, dst_points, triangles, out):
    """Return (warped copy of out, coverage mask) following the contract of fusionkit.core.warp_mesh."""
    out = out.copy()
    h, w = out.shape[:2]
    coverage = np.zeros((h, w), np.uint8)
    py, px = np.mgrid[0:h, 0:w].astype(np.float64)
    sp = np.asarray(src_points, np.float64)
    dp = np.asarray(dst_points, np.float64)
    flat = out.reshape(h, w, -1)
    for ia, ib, ic in np.asarray(triangles).reshape(-1, 3):
        (ax, ay), (bx, by), (cx, cy) = dp[ia], dp[ib], dp[ic]
        area = float(_edge(ax, ay, bx, by, np.float64(cx), np.float64(cy)))
        if not abs(area) >= 1e-3 or not math.isfinite(area):  # the core skips slivers (doubled area < 1e-3 px^2)
            continue
        sign = 1.0 if area > 0 else -1.0
        ea = _edge(bx, by, cx, cy, px, py)
        eb = _edge(cx, cy, ax, ay, px, py)
        ec = _edge(ax, ay, bx, by, px, py)
        inside = (ea * sign >= 0) & (eb * sign >= 0) & (ec * sign >= 0)
        if not inside.any():
            continue
        la, lb, lc = ea[inside] / area, eb[inside] / area, ec[inside] / area
        sx = la * sp[ia, 0] + lb * sp[ib, 0] + lc * sp[ic, 0]
        sy = la * sp[ia, 1] + lb * sp[ib, 1] + lc * sp[ic, 1]
        flat[inside] = np.floor(bilinear(src, sx, sy) + 0.5).astype(np.uint8)
        coverage[inside] = 255
    return out, coverage


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
