"""draw_faces: the faces' boxes and meshes drawn on a copy, inside each face, the picture left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from fusionkit.errors import ParameterValueError
from fusionkit.vision import analyze, draw_faces
from tests.photos import photo


def test_faces_are_drawn_on_a_copy_and_only_around_them() -> None:
    image = photo("obama.jpg")
    before = image.copy()
    meshes = analyze(image)
    drawn = draw_faces(image, meshes)
    assert np.array_equal(image, before) and drawn.shape == image.shape and drawn.dtype == np.uint8
    changed = (drawn != image).any(axis=2)
    x0, y0, x1, y1 = meshes[0].face.box
    pad = 30  # the box's own line and its number above it
    inside = np.zeros_like(changed)
    inside[max(0, int(y0) - pad):int(y1) + pad, max(0, int(x0) - pad):int(x1) + pad] = True
    assert changed[inside].mean() > 0.05  # the mesh covers the face
    assert not changed[~inside].any()  # and nothing else


def test_no_faces_draws_nothing_and_a_wrong_picture_is_refused() -> None:
    image = photo("obama.jpg")
    assert np.array_equal(draw_faces(image, []), image)
    with pytest.raises(ParameterValueError, match="RGB uint8"):
        draw_faces(image[..., 0], [])
