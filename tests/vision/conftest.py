"""Shared fixtures for the vision tests: the real sample photos (fusionkit.samples), decoded once."""

from __future__ import annotations

import pytest

from tests.photos import photo as _photo


@pytest.fixture
def photo() -> object:
    """``photo(name)`` -> the RGB uint8 array of the sample photo `name` (read-only, cached)."""
    return _photo
