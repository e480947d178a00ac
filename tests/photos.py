"""The sample photos and their face meshes, decoded and analysed once per test session (read-only arrays)."""

from __future__ import annotations

import functools

import numpy as np

from fusionkit.domain.faces import FaceMesh
from fusionkit.imaging.decode import load_image
from fusionkit.samples import sample_path
from fusionkit.vision import analyze


@functools.cache
def photo(name: str) -> np.ndarray:
    """A sample photo, RGB uint8, read-only."""
    img = load_image(sample_path(name))
    img.setflags(write=False)
    return img


@functools.cache
def meshes(name: str) -> tuple[FaceMesh, ...]:
    """Every face mesh of a sample photo, largest first."""
    return tuple(analyze(photo(name), model="auto"))


def mesh(name: str) -> FaceMesh:
    """The largest face's mesh of a sample photo."""
    return meshes(name)[0]
