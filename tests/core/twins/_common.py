"""What the twins share: array types, channels-last float64 views and rounding to 8 bits."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


def hwc(a: npt.NDArray[np.generic]) -> F64:
    a = np.asarray(a, np.float64)
    return a[:, :, None] if a.ndim == 2 else a


def round_u8(v: F64) -> U8:
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)
