"""Slow, obviously-correct NumPy twins of the C core's blending, colour and filter routines (test oracles).

Each twin follows the definition in the C file's header comment, in float64, without the C core's shortcuts
(multiband: two Laplacian pyramids rather than one of the difference; Poisson: a direct sparse solve; colour:
exact cube roots and powers; guided filter: cumulative sums).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse
import scipy.sparse.linalg

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


def _hwc(a: npt.NDArray[np.generic]) -> F64:
    a = np.asarray(a, np.float64)
    return a[:, :, None] if a.ndim == 2 else a


def _round_u8(v: F64) -> U8:
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


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
    s = _hwc(src)[r0 : r1 + 1, c0 : c1 + 1]
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
    d_view[...] = _round_u8(r)
    return out


# ----------------------------------------------------------------------------------------------------
# Poisson cloning

_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def poisson_omega(mask: U8) -> npt.NDArray[np.bool_]:
    om = mask >= 128
    om[0, :] = om[-1, :] = False
    om[:, 0] = om[:, -1] = False
    return om


def poisson_rhs(src: U8, mask: U8, dst_roi: U8, mode: str) -> F64:
    """b over the ROI (h, w, C): boundary values plus guidance, zero outside Omega."""
    g, fs = _hwc(src), _hwc(dst_roi)
    om = poisson_omega(mask)
    b = np.zeros_like(g)
    for dy, dx in _NEIGHBOURS:
        gq = np.roll(g, (-dy, -dx), axis=(0, 1))
        fq = np.roll(fs, (-dy, -dx), axis=(0, 1))
        oq = np.roll(om, (-dy, -dx), axis=(0, 1))
        v = g - gq
        if mode == "mixed":
            vd = fs - fq
            v = np.where(np.abs(vd) > np.abs(v), vd, v)
        # Seam edges (to a fixed neighbour) carry no guidance, only the neighbour's value.
        b += np.where(oq[:, :, None], v, fq)
    b[~om] = 0.0
    return b


def poisson_residual(f: F64, src: U8, mask: U8, dst_roi: U8, mode: str) -> float:
    """||b - A f||_2 / max(||b||_2, 1) over Omega, f (h, w, C) holding the boundary values outside Omega."""
    om = poisson_omega(mask)
    f = _hwc(f)
    b = poisson_rhs(src, mask, dst_roi, mode)
    af = 4.0 * f
    for dy, dx in _NEIGHBOURS:
        fq = np.roll(f, (-dy, -dx), axis=(0, 1))
        oq = np.roll(om, (-dy, -dx), axis=(0, 1))
        af -= np.where(oq[:, :, None], fq, 0.0)
    r = (b - af)[om]
    return float(np.sqrt((r**2).sum()) / max(float(np.sqrt((b[om] ** 2).sum())), 1.0))


def blend_poisson(src: U8, mask: U8, dst: U8, origin: tuple[int, int], mode: str) -> tuple[U8, F64]:
    """Exact solution by a sparse direct solve; returns (dst with the result, unrounded ROI solution)."""
    x, y = origin
    h, w = mask.shape
    out = dst.copy()
    o3 = out if out.ndim == 3 else out[:, :, None]
    roi = o3[y : y + h, x : x + w]
    om = poisson_omega(mask)
    b = poisson_rhs(src, mask, roi.copy(), mode)
    idx = -np.ones((h, w), np.int64)
    ys, xs = np.nonzero(om)
    n = ys.size
    idx[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
    for dy, dx in _NEIGHBOURS:
        q = idx[ys + dy, xs + dx]
        keep = q >= 0
        rows.append(np.arange(n)[keep])
        cols.append(q[keep])
        vals.append(np.full(int(keep.sum()), -1.0))
    a = scipy.sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    sol = roi.astype(np.float64)
    lu = scipy.sparse.linalg.splu(a)
    for k in range(b.shape[2]):
        sol[ys, xs, k] = lu.solve(b[ys, xs, k])
    roi[om] = _round_u8(sol[om])
    return out, sol


# ----------------------------------------------------------------------------------------------------
# Lab colour statistics and transfer

_M = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_MINV = np.array(
    [[3.240479, -1.537150, -0.498535], [-0.969256, 1.875992, 0.041556], [0.055648, -0.204043, 1.057311]]
)
_WHITE = np.array([0.950456, 1.0, 1.088754])


def rgb_to_lab(img: U8, bgr: bool = False) -> F64:
    rgb = img[..., :3].astype(np.float64) / 255.0
    if bgr:
        rgb = rgb[..., ::-1]
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack(
        [116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], axis=-1
    )


def lab_to_rgb(lab: F64, bgr: bool = False) -> F64:
    """Unrounded 0-255 sRGB."""
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 0.206893, f**3, (f - 16.0 / 116.0) / 7.787) * _WHITE
    lin = np.clip(xyz @ _MINV.T, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055) * 255.0
    return srgb[..., ::-1] if bgr else srgb


def lab_stats(img: U8, mask: U8, bgr: bool = False) -> tuple[F64, F64]:
    lab = rgb_to_lab(img, bgr)
    wt = mask.astype(np.float64) / 255.0
    sw = wt.sum()
    mean = (lab * wt[..., None]).sum(axis=(0, 1)) / sw
    var = ((lab - mean) ** 2 * wt[..., None]).sum(axis=(0, 1)) / sw
    return mean, np.sqrt(var)


def robust_stats(img: U8, mask: U8 | None, step: int, spread: float) -> tuple[F64, F64, int]:
    """Per-channel mean and std without outliers, written the obvious way (sorts, not histograms)."""
    px = _hwc(img)[::step, ::step]
    if mask is not None:
        px = px[mask[::step, ::step] != 0]
    px = px.reshape(-1, px.shape[-1])
    n = len(px)
    if n == 0:
        return np.zeros(px.shape[1]), np.zeros(px.shape[1]), 0
    med = np.sort(px, axis=0)[(n + 1) // 2 - 1]  # the lower median
    dev = np.abs(px - med)
    mad = np.sort(dev, axis=0)[(n + 1) // 2 - 1]
    keep = (dev <= spread * (1.4826 * mad + 1e-3)).all(axis=1)
    kept = px[keep] if keep.sum() >= 16 else px
    return kept.mean(axis=0), kept.std(axis=0), n


def transfer_colour(
    src: U8, mask: U8, target_mean: F64, target_std: F64, strength: float, bgr: bool = False
) -> U8:
    mean, std = lab_stats(src, mask, bgr)
    scale = np.where(std > 1e-6, target_std / np.where(std > 1e-6, std, 1.0), 1.0)
    lab = (rgb_to_lab(src, bgr) - mean) * scale + target_mean
    rgb = lab_to_rgb(lab, bgr)
    out = src.copy()
    s = src[..., :3].astype(np.float64)
    wt = strength * mask.astype(np.float64)[..., None] / 255.0
    out[..., :3] = _round_u8(s + wt * (rgb - s))
    return out


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
    i = _hwc(img)
    n = _window_sum(np.ones((*i.shape[:2], 1)), radius)
    m1 = _window_sum(i, radius) / n
    m2 = _window_sum(i * i, radius) / n
    var = np.maximum(m2 - m1 * m1, 0.0)
    a = var / (var + eps * 255.0 * 255.0)
    b = (1.0 - a) * m1
    q = _window_sum(a, radius) / n * i + _window_sum(b, radius) / n
    wt = strength * (np.ones(i.shape[:2]) if mask is None else mask / 255.0)[..., None]
    return _round_u8(i + wt * (q - i)).reshape(img.shape)


def _box_pass(a: npt.NDArray[np.int64], r: int, axis: int) -> npt.NDArray[np.int64]:
    n = a.shape[axis]
    size = 2 * r + 1
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="edge")
    c = np.cumsum(p, axis=axis)
    c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
    s = np.take(c, np.arange(n) + size, axis=axis) - np.take(c, np.arange(n), axis=axis)
    return (s + size // 2) // size


def unsharp_mask(
    img: U8, amount: float, radii: tuple[int, int, int], mask: U8 | None = None, strength: float = 1.0
) -> U8:
    i = _hwc(img).astype(np.int64)
    b = i
    for r in radii:
        b = _box_pass(b, r, 1)
    for r in radii:
        b = _box_pass(b, r, 0)
    wt = strength * amount * (np.ones(i.shape[:2]) if mask is None else mask / 255.0)[..., None]
    return _round_u8(i + wt * (i - b)).reshape(img.shape)


def _axis(n_out: int, n_grid: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], F64]:
    x = np.maximum((np.arange(n_out) + 0.5) * n_grid / n_out - 0.5, 0.0)
    i0 = np.minimum(x.astype(np.intp), n_grid - 1)
    i1 = np.minimum(i0 + 1, n_grid - 1)
    return i0, i1, np.minimum(x - i0, 1.0)


def relight(img: U8, grid: npt.NDArray[np.float32], neutral: U8 | None = None, neutral_ceiling: float = 1.0) -> U8:
    """fk_relight's definition (fk_colour.c), in float64 with exact sRGB curves."""
    h, w = img.shape[:2]
    ya, yb, yt = _axis(h, grid.shape[0])
    xa, xb, xt = _axis(w, grid.shape[1])
    g = grid.astype(np.float64).copy()
    with np.errstate(invalid="ignore"):  # comparisons with NaN are False, as in C
        for a, b, default in ((0, 1, (1.0, 0.0)), (4, 5, (0.0, 0.0))):
            ok = (g[..., a] > -1e3) & (g[..., a] < 1e3) & (g[..., b] > -1e3) & (g[..., b] < 1e3)
            g[..., a] = np.where(ok, g[..., a], default[0])
            g[..., b] = np.where(ok, g[..., b], default[1])
        light = np.where(np.isfinite(g[..., 2]), g[..., 2], 1.0)
        g[..., 2] = np.minimum(np.maximum(light, 0.0), 1e3)
        g[..., 3] = np.where((g[..., 3] > 0) & (g[..., 3] <= 1), g[..., 3], 1.0)
    top = g[ya][:, xa] + xt[None, :, None] * (g[ya][:, xb] - g[ya][:, xa])
    bottom = g[yb][:, xa] + xt[None, :, None] * (g[yb][:, xb] - g[yb][:, xa])
    f = top + yt[:, None, None] * (bottom - top)
    c = img.astype(np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)

    k = f[..., 0] + 1j * f[..., 1]
    skin = f[..., 4] + 1j * f[..., 5]
    light, ceiling = f[..., 2], f[..., 3]
    if neutral is not None:
        n = neutral.astype(np.float64) / 255
        k = k + n * (1 - k.real) - 1j * n * k.imag
        ceiling = ceiling + n * (neutral_ceiling - ceiling)
    wr, wg, wb = 0.2126, 0.7152, 0.0722
    y = lin @ np.array([wr, wg, wb])
    safe = np.where(y > 0, y, 1.0)
    zn = k * ((lin[..., 0] / safe - 1) + 1j * (lin[..., 2] / safe - 1))
    yo = light * y
    knee = 0.8 * ceiling
    span = ceiling - knee
    over = np.maximum(yo - knee, 0)
    kept = np.where(yo > knee, knee + span * over / np.maximum(over + span, 1e-30), yo)
    share = np.where(yo > knee, 1 - kept / np.maximum(yo, 1e-30), 0.0)
    zn = zn + share * (skin - zn)
    nr, nb = zn.real, zn.imag
    ng = -(wr * nr + wb * nb) / wg
    v = np.where((y > 0)[..., None], kept[..., None] * (1 + np.stack([nr, ng, nb], axis=-1)), 0.0)
    v = np.clip(v, 0, 1)
    enc = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    return _round_u8(enc * 255)
