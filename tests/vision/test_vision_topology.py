"""The shipped topology: regions, flip permutation and triangulation are consistent with the mesh."""

from __future__ import annotations

import numpy as np
import pytest

import fusionkit
from fusionkit.errors import ParameterValueError
from fusionkit.vision import REGION_NAMES, mesh_topology


def test_regions_and_sides(photo) -> None:
    topo = mesh_topology()
    assert sorted(topo.connections) == sorted(REGION_NAMES)
    sizes = {name: len(topo.region(name)) for name in REGION_NAMES}
    assert sizes == {
        "lips": 40,
        "right_eye": 16,
        "left_eye": 16,
        "right_eyebrow": 10,
        "left_eyebrow": 10,
        "face_oval": 36,
    }
    m = fusionkit.analyze(photo("obama.jpg"))[0]
    # subject's right eye and eyebrow on the image's left, above the lips, inside the oval
    right, left = topo.region_points(m, "right_eye"), topo.region_points(m, "left_eye")
    assert right[:, 0].mean() < left[:, 0].mean()
    assert topo.region_points(m, "right_eyebrow")[:, 1].mean() < right[:, 1].mean()
    assert right[:, 1].mean() < topo.region_points(m, "lips")[:, 1].mean()
    with pytest.raises(ParameterValueError):
        topo.region("nose")


def test_flip_permutation_is_a_mirror_involution() -> None:
    topo = mesh_topology()
    perm = topo.flip_permutation
    assert sorted(perm.tolist()) == list(range(468))
    assert np.array_equal(perm[perm], np.arange(468))
    for a, b in [(33, 263), (61, 291), (234, 454)]:
        assert perm[a] == b
    for midline in (1, 4, 10, 152):
        assert perm[midline] == midline
    # the eye regions swap under the permutation
    assert set(perm[topo.region("right_eye")].tolist()) == set(topo.region("left_eye").tolist())
    # the mean shape is mirror-symmetric under it
    mean = topo.mean_shape
    np.testing.assert_allclose(mean[perm] * (-1, 1), mean, atol=1e-4)


def test_triangulation_covers_face_and_margin(photo) -> None:
    topo = mesh_topology()
    tri = topo.triangles
    assert tri.dtype == np.int32 and tri.min() == 0 and tri.max() == topo.num_points - 1
    assert len(np.unique(tri)) == topo.num_points  # every point, margin included, is used
    m = fusionkit.analyze(photo("astronaut.png"))[0]
    pts = topo.extend(m.points)
    assert pts.shape == (topo.num_points, 2)
    p = pts[tri].astype(np.float64)
    cross = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (
        p[:, 2, 0] - p[:, 0, 0]
    )
    # counter-clockwise in the shipped (mean) shape; on a real face almost all keep their orientation
    assert (cross > 0).mean() > 0.97
    # the margin reaches beyond the face oval on every side (forehead and jaw included)
    oval = pts[topo.region("face_oval")]
    assert pts[:, 1].min() < oval[:, 1].min() - 0.1 * m.inter_ocular_distance
    assert pts[:, 1].max() > oval[:, 1].max() + 0.1 * m.inter_ocular_distance
    # the margin rule is similarity-equivariant
    rot = np.array([[0.0, -2.0], [2.0, 0.0]])
    np.testing.assert_allclose(topo.extend(m.points[:, :2] @ rot.T), pts @ rot.T, rtol=1e-4, atol=1e-2)
