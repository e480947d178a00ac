"""Shared strategies for the blending, colour and filter tests (imported by them; not a pytest conftest)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st


@st.composite
def images(
    draw: Any, min_side: int = 4, max_side: int = 32, channels: tuple[int, ...] = (1, 3, 4)
) -> np.ndarray:
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    c = draw(st.sampled_from(channels))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "smooth", "flat"]))
    if kind == "noise":
        img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    elif kind == "smooth":
        yy, xx = np.mgrid[0:h, 0:w]
        base = 128 + 100 * np.sin(xx / 5.0 + rng.uniform(0, 6)) * np.cos(yy / 7.0)
        img = np.clip(base[..., None] + rng.normal(0, 10, (h, w, c)), 0, 255).astype(np.uint8)
    else:
        img = np.full((h, w, c), rng.integers(0, 256), np.uint8)
    return img[:, :, 0] if c == 1 and draw(st.booleans()) else img


@st.composite
def masks(draw: Any, h: int, w: int) -> np.ndarray:
    """Binary ellipses, soft ellipses, random blobs or full masks; never all zero."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["ellipse", "soft", "random", "full"]))
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(1, h), rng.uniform(1, w)
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    if kind == "ellipse":
        m = np.where(d < 1, 255, 0).astype(np.uint8)
    elif kind == "soft":
        m = np.clip(255 * (1.5 - d), 0, 255).astype(np.uint8)
    elif kind == "random":
        m = np.where(rng.random((h, w)) < 0.5, 255, 0).astype(np.uint8)
    else:
        m = np.full((h, w), 255, np.uint8)
    if not m.any():
        m[h // 2, w // 2] = 255
    return m


def hwc(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 2 else a
