"""Small helpers the stages share: array types, a stage clock, masks drawn from polygons and triangles."""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import feather_mask, fill_polygon, warp_mesh

__all__ = ["F32", "F64", "U8", "Clock", "bbox", "feather_local", "median_last", "nonzero_box", "percentile",
           "polygon_mask", "soften", "subsample", "triangle_mask", "u8"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


class Clock:
    """Milliseconds per named stage (a stage may be entered more than once; its laps add up)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.t) * 1e3
        self.t = now


def u8(arr: Any) -> U8:
    """OpenCV's results, typed as the uint8 arrays they are."""
    return np.asarray(arr, dtype=np.uint8)


def polygon_mask(points: F64, shape: tuple[int, int]) -> U8:
    """A 0/255 mask of the polygon ``points`` (the core's coordinates: pixel centres on integers)."""
    return fill_polygon(points, np.zeros(shape, np.uint8))


def triangle_mask(points_core: F64, triangles: NDArray[np.int32], shape: tuple[int, int]) -> U8:
    """Coverage (0/255) of a set of triangles: the C warp of a blank image gives exactly that."""
    blank = np.zeros((1, 1), np.uint8)
    canvas = np.zeros(shape, np.uint8)
    if len(triangles) == 0:
        return canvas
    return warp_mesh(blank, np.zeros_like(points_core), points_core, triangles, canvas)


def median_last(a: NDArray[Any]) -> NDArray[Any]:
    """``np.median(a, axis=-1)``, the same numbers (the middle value, or the mean of the two middle ones in ``a``'s
    dtype), without ``np.median``'s overhead, which dominates on the few hundred samples of a face's region."""
    n = a.shape[-1]
    k = n // 2
    if n % 2:
        odd: NDArray[Any] = np.partition(a, k, axis=-1)[..., k]
        return odd
    part = np.partition(a, (k - 1, k), axis=-1)
    even: NDArray[Any] = (part[..., k - 1] + part[..., k]) / 2
    return even


def subsample(image: NDArray[Any], step: int) -> NDArray[Any]:
    """``np.ascontiguousarray(image[::step, ::step])``, the same array, a channel at a time: NumPy copies a strided
    view of a colour image element by element with an inner loop of 3, four times slower than three plane copies
    (about 150 us against 40 on a 1080p face's region)."""
    if image.ndim == 2:
        return np.ascontiguousarray(image[::step, ::step])
    h, w, channels = image.shape
    out = np.empty((-(-h // step), -(-w // step), channels), image.dtype)
    for c in range(channels):
        out[..., c] = image[::step, ::step, c]
    return out


def percentile(values: NDArray[Any], q: float) -> float:
    """``float(np.percentile(values, q))`` of a non-empty 1-D array, ``q`` within 0-100 (NumPy's default linear
    method, the same number), without its overhead: a partition at the two neighbouring ranks and the last one, then
    NumPy's own steps (its virtual index, a NaN anywhere giving NaN, its lerp from the nearer end in the values' type).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0-100, got {q}")
    n = values.shape[0]
    virtual = (n - 1) * (q / 100)
    lo = int(np.floor(virtual))
    hi = lo + 1
    gamma = virtual - lo
    if virtual >= n - 1:  # NumPy takes the last value twice (its weight then multiplies a zero)
        lo = hi = n - 1
    part = np.partition(values, sorted({lo, hi, n - 1}))
    if np.isnan(part[n - 1]):  # NaNs sort last
        return float("nan")
    below, above = part[lo], part[hi]
    diff = above - below
    return float(above - diff * (1 - gamma)) if gamma >= 0.5 else float(below + diff * gamma)


def nonzero_box(mask: U8, pad: int) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the non-zero pixels grown by ``pad`` (clipped), or None for an all-zero mask."""
    x, y, bw, bh = cv2.boundingRect(mask)  # of the non-zero pixels, one vectorised pass
    if bw == 0:
        return None
    h, w = mask.shape
    return max(0, y - pad), min(h, y + bh + pad), max(0, x - pad), min(w, x + bw + pad)


def feather_local(mask: U8, sigma: float) -> U8:
    """``feather_mask`` computed only around the mask's non-zero pixels (the result is 0 farther away than the
    blur reaches): eyes, lips and occluders are small next to the face's region."""
    out = np.zeros_like(mask)
    box = nonzero_box(mask, int(np.ceil(3.5 * sigma)) + 2)
    if box is not None:
        y0, y1, x0, x1 = box
        feather_mask(np.ascontiguousarray(mask[y0:y1, x0:x1]), sigma, out=out[y0:y1, x0:x1])
    return out


def soften(mask: U8, sigma: float) -> U8:
    """A quick blur of about ``sigma`` pixels (two box passes, OpenCV's): for weights inside the engine, where
    :func:`feather_mask`'s three passes and exact edges are not needed."""
    width = max(1, round(float(np.sqrt(6 * sigma * sigma + 1))))
    width += 1 - width % 2  # odd, centred
    out = cv2.blur(mask, (width, width))
    return np.asarray(cv2.blur(out, (width, width)), np.uint8)


def bbox(points: F64, pad: float, w: int, h: int) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of ``points`` grown by ``pad`` pixels, clipped to a ``w`` x ``h`` image."""
    x0 = int(max(0, np.floor(points[:, 0].min() - pad)))
    y0 = int(max(0, np.floor(points[:, 1].min() - pad)))
    x1 = int(min(w, np.ceil(points[:, 0].max() + pad)))
    y1 = int(min(h, np.ceil(points[:, 1].max() + pad)))
    return x0, y0, max(x0, x1), max(y0, y1)
