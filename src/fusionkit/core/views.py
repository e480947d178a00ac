"""Validation of NumPy arrays into C image views.

Inputs that are not row-contiguous (negative or odd strides, Fortran order) are copied; outputs must be
writable and row-contiguous, since the C core writes into them. Row strides may be larger than a row, so ROI
slices of a bigger array (``image[y0:y1, x0:x1]``) are views, not copies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from fusionkit.core._loader import ffi
from fusionkit.errors import ParameterValueError

#: Largest image side the core accepts, in pixels (the C core's FK_MAX_SIDE).
MAX_SIDE = 65536
#: Largest image the core accepts, in pixels (a sanity cap against absurd sizes, 1 gigapixel).
MAX_PIXELS = 1 << 30
CHANNELS = (1, 3, 4)

U8Array = npt.NDArray[np.uint8]


def _shape_hwc(arr: np.ndarray[Any, Any], name: str, channels: tuple[int, ...]) -> tuple[int, int, int]:
    if not isinstance(arr, np.ndarray):
        raise ParameterValueError(f"{name} must be a NumPy array, got {type(arr).__name__}")
    if arr.dtype != np.uint8:
        raise ParameterValueError(f"{name} must have dtype uint8, got {arr.dtype}: convert it with .astype(np.uint8)")
    if arr.ndim == 2:
        h, w, c = arr.shape[0], arr.shape[1], 1
    elif arr.ndim == 3:
        h, w, c = arr.shape
    else:
        raise ParameterValueError(f"{name} must have shape (height, width) or (height, width, channels), "
                                  f"got shape {arr.shape}")
    if c not in channels:
        allowed = ", ".join(str(n) for n in channels)
        raise ParameterValueError(f"{name} must have {allowed} channel(s), got {c}")
    if h < 1 or w < 1:
        raise ParameterValueError(f"{name} is empty (shape {arr.shape}): give an image of at least 1x1 pixel")
    if h > MAX_SIDE or w > MAX_SIDE or h * w > MAX_PIXELS:
        raise ParameterValueError(f"{name} is {w}x{h} pixels, beyond the core's limit of {MAX_SIDE} pixels a side "
                                  f"and {MAX_PIXELS} pixels in all: process it in tiles")
    return h, w, c


def _row_contiguous(arr: np.ndarray[Any, Any]) -> bool:
    # The stride of an axis of length 1 is never used to address anything, and NumPy reports whatever the
    # array was cut from (a row of a larger image keeps the image's row stride; x[None] has stride 0; a 1-column
    # slice of a flipped image has a negative column stride), so only axes longer than 1 are checked.
    h, w = arr.shape[0], arr.shape[1]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    if w > 1 and arr.strides[1] != c:
        return False
    if c > 1 and arr.strides[2] != 1:
        return False
    return bool(h == 1 or arr.strides[0] >= w * c)


def input_image(arr: Any, name: str, channels: tuple[int, ...] = CHANNELS) -> U8Array:
    """Validate an input image; return it, or a row-contiguous copy when its layout needs one."""
    _shape_hwc(arr, name, channels)
    if not _row_contiguous(arr):
        arr = np.ascontiguousarray(arr)
    return arr  # type: ignore[no-any-return]


def output_image(arr: Any, name: str, channels: tuple[int, ...] = CHANNELS) -> U8Array:
    """Validate an output image: uint8, writable and row-contiguous (it is written in place)."""
    _shape_hwc(arr, name, channels)
    if not arr.flags.writeable:
        raise ParameterValueError(f"{name} is read-only: pass a writable array (for example {name}.copy())")
    if not _row_contiguous(arr):
        raise ParameterValueError(f"{name} must have contiguous rows (C order, positive strides) because it is "
                                  f"written in place: pass np.ascontiguousarray({name}) and read the result back")
    return arr  # type: ignore[no-any-return]


def view(arr: U8Array) -> Any:
    """An ``fk_image *`` over a validated array. The caller keeps ``arr`` alive for the duration of the call."""
    h, w = arr.shape[0], arr.shape[1]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    # One row is never stepped over, so its stride is the row itself (NumPy may report anything for it, and the
    # core wants a stride that fits in the buffer).
    stride = arr.strides[0] if h > 1 else w * c
    v = ffi.new("fk_image *")
    # A C-contiguous array (most are) lends its buffer in a fifth of the time __array_interface__ takes to build,
    # and this runs under the GIL about a hundred times a fusion; a strided view (a region of a larger image) gives
    # its pointer the slow way.
    if arr.flags.c_contiguous:
        v.data = ffi.from_buffer("uint8_t[]", arr)
    else:
        v.data = ffi.cast("uint8_t *", arr.__array_interface__["data"][0])
    v.height, v.width, v.channels = h, w, c
    v.stride = stride
    v.size = (h - 1) * stride + w * c
    return v


def channels_of(arr: U8Array) -> int:
    return 1 if arr.ndim == 2 else int(arr.shape[2])


def points(arr: Any, name: str) -> npt.NDArray[np.float64]:
    """Validate an N x 2 array of finite (x, y) pixel coordinates; return it as C-contiguous float64."""
    try:
        pts = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterValueError(f"{name} must be an N x 2 array of (x, y) numbers: {exc}") from exc
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ParameterValueError(f"{name} must have shape (N, 2) with (x, y) per row, got shape {pts.shape}")
    if pts.shape[0] > 1 << 24:
        raise ParameterValueError(f"{name} has {pts.shape[0]} points, beyond the limit of {1 << 24}")
    if not np.isfinite(pts).all():
        bad = int(np.flatnonzero(~np.isfinite(pts).all(axis=1))[0])
        raise ParameterValueError(f"{name} has a NaN or infinite coordinate (row {bad}): every point must be finite")
    return np.ascontiguousarray(pts)


def number(value: Any, name: str, lo: float, hi: float, *, lo_open: bool = False, unit: str = "") -> float:
    """Validate a finite number within [lo, hi] (or (lo, hi] with ``lo_open``); return it as a float."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an int past a float's range
        raise ParameterValueError(f"{name} must be a number{unit and ' of ' + unit}, got {value!r}") from exc
    if not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
        bracket = "(" if lo_open else "["
        raise ParameterValueError(f"{name} must be within {bracket}{lo:g}, {hi:g}]{unit and ' ' + unit}, "
                                  f"got {value!r}")
    return v


def double_ptr(arr: npt.NDArray[np.float64]) -> Any:
    return ffi.from_buffer("double[]", arr)
