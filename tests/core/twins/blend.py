"""NumPy twin of fk_blend.c: the multi-band (Laplacian pyramid) blend."""

from __future__ import annotations

import numpy as np

from tests.core.twins._common import F64, U8, hwc, round_u8

# ----------------------------------------------------------------------------------------------------
# Multi-band blend


def pyr_reduce(img: F64) -> F64:
    h, w = img.shape[:2]
    k = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    p = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="edge")
    hz = (
        (p[:, 0:w] + p[:, 4 : w + 4]) * k[0]
        + (p[:, 1 : w + 1] + p[:, 3 : w + 3]) * k[1]
        + p[:, 2 : w + 2] * k[2]
    )
    hz = hz[:, ::2]
    v = (hz[0:h] + hz[4 : h + 4]) * k[0] + (hz[1 : h + 1] + hz[3 : h + 3]) * k[1] + hz[2 : h + 2] * k[2]
    return v[::2]


def pyr_expand(g: F64, h: int, w: int) -> F64:
    gp = np.pad(g, ((1, 1), (0, 0), (0, 0)), mode="edge")
    i = np.arange(h) // 2
    even = (gp[i] + gp[i + 2]) / 8.0 + gp[i + 1] * (6.0 / 8.0)
    odd = (gp[i + 1] + gp[i + 2]) * 0.5
    t = np.where((np.arange(h) % 2 == 0)[:, None, None], even, odd)
    tp = np.pad(t, ((0, 0), (1, 1), (0, 0)), mode="edge")
    j = np.arange(w) // 2
    even = (tp[:, j] + tp[:, j + 2]) / 8.0 + tp[:, j + 1] * (6.0 / 8.0)
    odd = (tp[:, j + 1] + tp[:, j + 2]) * 0.5
    return np.where((np.arange(w) % 2 == 0)[None, :, None], even, odd)


def _laplacian(img: F64, levels: int) -> list[F64]:
    gs = [img]
    for _ in range(1, levels):
        gs.append(pyr_reduce(gs[-1]))
    lap = [gs[k] - pyr_expand(gs[k + 1], *gs[k].shape[:2]) for k in range(levels - 1)]
    return [*lap, gs[-1]]


def blend_multiband(src: U8, mask: U8, dst: U8, origin: tuple[int, int], levels: int) -> U8:
    """The classic blend collapse(M_k Ls_k + (1 - M_k) Ld_k) on the mask's box grown by 3 * 2**levels."""
    out = dst.copy()
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return out
    m = 3 << levels
    h, w = mask.shape
    r0, r1 = max(ys.min() - m, 0), min(ys.max() + m, h - 1)
    c0, c1 = max(xs.min() - m, 0), min(xs.max() + m, w - 1)
    x, y = origin
    s = hwc(src)[r0 : r1 + 1, c0 : c1 + 1]
    o3 = out if out.ndim == 3 else out[:, :, None]
    d_view = o3[y + r0 : y + r1 + 1, x + c0 : x + c1 + 1]
    d = d_view.astype(np.float64)
    mk = [mask[r0 : r1 + 1, c0 : c1 + 1, None].astype(np.float64) / 255.0]
    for _ in range(1, levels):
        mk.append(pyr_reduce(mk[-1]))
    ls, ld = _laplacian(s, levels), _laplacian(d, levels)
    bands = [mk[k] * ls[k] + (1.0 - mk[k]) * ld[k] for k in range(levels)]
    r = bands[-1]
    for k in range(levels - 2, -1, -1):
        r = bands[k] + pyr_expand(r, *bands[k].shape[:2])
    d_view[...] = round_u8(r)
    return out
