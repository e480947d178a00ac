"""Shared fixtures for the vision tests: the real sample photos (fusionkit.samples), decoded once."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from numpy.typing import NDArray

from fusionkit.imaging import load_image
from tests.vision.vision_photos import DATA


@functools.cache
def _photo(name: str) -> NDArray[np.uint8]:
    img = load_image(DATA / name)
    img.setflags(write=False)
    return img


@pytest.fixture
def photo() -> object:
    """``photo(name)`` -> the RGB uint8 array of the sample photo `name` (read-only, cached)."""
    return _photo
