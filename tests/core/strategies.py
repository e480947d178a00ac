"""Hypothesis strategies shared by the core's differential tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def images(draw, max_side: int = 24, channels=(1, 3, 4)):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    c = draw(st.sampled_from(channels))
    shape = (h, w) if c == 1 and draw(st.booleans()) else (h, w, c)
    return draw(hnp.arrays(np.uint8, shape))


def coords(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def meshes(draw, src_shape, dst_shape, max_points: int = 8, max_triangles: int = 8):
    """Random points in and around both images, and random (possibly degenerate) triangles over them."""
    n = draw(st.integers(3, max_points))
    sh, sw = src_shape[:2]
    dh, dw = dst_shape[:2]
    src = [(draw(coords(-3, sw + 2)), draw(coords(-3, sh + 2))) for _ in range(n)]
    dst = [(draw(coords(-3, dw + 2)), draw(coords(-3, dh + 2))) for _ in range(n)]
    m = draw(st.integers(0, max_triangles))
    tri = [[draw(st.integers(0, n - 1)) for _ in range(3)] for _ in range(m)]
    return np.array(src), np.array(dst), np.array(tri, dtype=np.int32).reshape(-1, 3)


@st.composite
def star_polygons(draw, shape, max_vertices: int = 10):
    """Simple (non-self-intersecting) polygons: vertices at sorted angles around a centre, any radii."""
    h, w = shape
    cx = draw(coords(-2, w + 1))
    cy = draw(coords(-2, h + 1))
    n = draw(st.integers(3, max_vertices))
    angles = sorted(set(draw(st.lists(coords(0, 2 * np.pi - 1e-3), min_size=n, max_size=n))))
    if len(angles) < 3:
        angles = [0.0, 2.0, 4.0]
    radii = [draw(coords(0.2, max(h, w))) for _ in angles]
    pts = np.array([[cx + r * np.cos(a), cy + r * np.sin(a)] for a, r in zip(angles, radii, strict=True)])
    if draw(st.booleans()):
        pts = pts[::-1]  # either winding
    return pts
