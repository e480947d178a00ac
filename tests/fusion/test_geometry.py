"""Similarity alignment and the target mesh."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fusionkit.fusion.engine.geometry import apply_similarity, fit_similarity, point_roles, target_mesh
from fusionkit.vision import mesh_topology


@settings(max_examples=50, deadline=None)
@given(angle=st.floats(-3.1, 3.1), scale=st.floats(0.2, 5), tx=st.floats(-500, 500), ty=st.floats(-500, 500),
       seed=st.integers(0, 1000))
def test_similarity_is_recovered_exactly(angle, scale, tx, ty, seed):
    pts = np.random.default_rng(seed).uniform(-100, 100, (30, 2))
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = pts @ rot.T + [tx, ty]
    m = fit_similarity(pts, moved)
    np.testing.assert_allclose(apply_similarity(m, pts), moved, atol=1e-6)


def test_similarity_never_reflects():
    pts = np.random.default_rng(0).uniform(-1, 1, (20, 2))
    mirrored = pts * [-1, 1]
    m = fit_similarity(pts, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_target_mesh_at_the_extremes_and_the_margin():
    topo = mesh_topology()
    roles = point_roles(topo)
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 100, (topo.num_points, 2))
    u = rng.uniform(0, 100, (topo.num_points, 2))
    np.testing.assert_allclose(target_mesh(t, u, 100, 100, roles), t)
    at_zero = target_mesh(t, u, 0, 0, roles)
    mesh = slice(0, 468)
    np.testing.assert_allclose(at_zero[mesh], u[mesh])
    outer = roles.ring == roles.n_rings
    np.testing.assert_allclose(at_zero[outer], t[outer])  # the outermost ring stays on the template
    # features follow the face degree, the oval the profile degree
    oval = topo.region("face_oval")
    only_profile = target_mesh(t, u, 0, 100, roles)
    np.testing.assert_allclose(only_profile[oval], t[oval])
    lips = topo.region("lips")
    np.testing.assert_allclose(only_profile[lips], u[lips])
