"""The sample photos and their face meshes, decoded and analysed once per test session (read-only arrays).

Every test module takes the sample photos from here: ``photo(name)`` (RGB uint8), ``luma(name)`` (the Y plane a
video decoder would carry), ``photo_path(name)`` (the file, for code that reads it itself) and ``meshes(name)`` /
``mesh(name)``. A test of the decoder itself keeps an independent oracle (OpenCV on ``photo_path(name)``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from fusionkit.domain.faces import FaceMesh
from fusionkit.imaging.decode import load_image
from fusionkit.samples import sample_path
from fusionkit.vision import analyze

__all__ = ["luma", "mesh", "meshes", "photo", "photo_path"]


def photo_path(name: str) -> Path:
    """The file of a sample photo (``"obama.jpg"``, ``"astronaut.png"``, ...)."""
    return sample_path(name)


@functools.cache
def photo(name: str) -> np.ndarray:
    """A sample photo, RGB uint8, read-only."""
    img = load_image(photo_path(name))
    img.setflags(write=False)
    return img


@functools.cache
def luma(name: str) -> np.ndarray:
    """A sample photo's luma (uint8, read-only), as a decoder's YUV420 frame would carry it: cropped to even
    height and width, BT.601 as OpenCV's I420 conversion computes it."""
    rgb = photo(name)
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    y = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420)[:h]
    y.setflags(write=False)
    return y


@functools.cache
def meshes(name: str) -> tuple[FaceMesh, ...]:
    """Every face mesh of a sample photo, largest first."""
    return tuple(analyze(photo(name), model="auto"))


def mesh(name: str) -> FaceMesh:
    """The largest face's mesh of a sample photo."""
    return meshes(name)[0]
