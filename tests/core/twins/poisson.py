"""NumPy twin of fk_poisson.c: Poisson cloning, by a direct sparse solve."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse
import scipy.sparse.linalg

from tests.core.twins._common import F64, U8, hwc, round_u8

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
    g, fs = hwc(src), hwc(dst_roi)
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
    f = hwc(f)
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
    roi[om] = round_u8(sol[om])
    return out, sol
