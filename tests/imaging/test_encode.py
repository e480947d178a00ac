"""Encoding: formats, the AI marker and metadata round-trip, and nothing else in the file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusionkit.errors import ParameterValueError
from fusionkit.imaging.encode import DIGITAL_SOURCE_TYPE, encode_image, read_metadata


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_round_trip_with_marker_and_metadata(fmt):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    meta = [("campaign", "spring <sale> & more"), ("user", "u-123")]
    data = encode_image(img, fmt, metadata=meta, jpeg_quality=95)
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert decoded.shape == img.shape
    if fmt == "png":
        np.testing.assert_array_equal(decoded, img)
        assert data.startswith(b"\x89PNG") and b"eXIf" not in data
    else:
        assert data.startswith(b"\xff\xd8") and b"Exif\x00" not in data
    found = read_metadata(data)
    assert found["campaign"] == "spring <sale> & more" and found["user"] == "u-123"
    assert found["DigitalSourceType"] == DIGITAL_SOURCE_TYPE


def test_marker_is_written_even_without_metadata():
    data = encode_image(np.zeros((8, 8, 3), np.uint8), "jpeg")
    assert read_metadata(data) == {"DigitalSourceType": DIGITAL_SOURCE_TYPE}


def test_bad_arguments():
    with pytest.raises(ParameterValueError, match="jpeg"):
        encode_image(np.zeros((8, 8, 3), np.uint8), "gif")
    with pytest.raises(ParameterValueError, match="RGB uint8"):
        encode_image(np.zeros((8, 8), np.uint8), "png")
    with pytest.raises(ParameterValueError, match="too large"):
        encode_image(np.zeros((8, 8, 3), np.uint8), "jpeg", metadata=[("k", "x" * 70000)])
