"""NumPy twin of fk_warp.c: the piecewise-affine mesh warp."""

from __future__ import annotations

import math

import numpy as np


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
