"""NumPy twins of fk_colour.c: Lab statistics and transfer, robust statistics, relighting."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tests.core.twins._common import F64, U8, hwc, round_u8

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
    px = hwc(img)[::step, ::step]
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
    out[..., :3] = round_u8(s + wt * (rgb - s))
    return out



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
    return round_u8(enc * 255)
