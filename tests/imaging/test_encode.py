"""Encoding: formats, the AI marker and metadata round-trip, and nothing else in the file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from fusionkit.errors import ParameterValueError
from fusionkit.imaging.encode import DIGITAL_SOURCE_TYPE, encode_image, read_metadata
from fusionkit.imaging.xmp import AIGC_FIELDS, AIGC_NAMESPACE, read_xmp


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


# --- the GB 45438-2025 implicit label (TC260:AIGC) ------------------------------------------------------------------

LABEL = {"Label": "1", "ContentProducer": "app_7Kd92", "ProduceID": "rs_0OqXr1bTa9Zf3kLm2PqR",
         "ReservedCode1": "", "ContentPropagator": "studio \"one\" <&> 中文", "PropagateID": "p-1",
         "ReservedCode2": "computer,1|human,0|"}


def _xmp_of(data: bytes) -> bytes:
    start = data.index(b"<?xpacket begin")
    return data[start:data.index(b"<?xpacket end", start)] + b'<?xpacket end="w"?>'


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_aigc_label_is_written_beside_the_iptc_marker_and_read_back(fmt):
    img = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    data = encode_image(img, fmt, metadata=[("campaign", "spring")], aigc=LABEL)
    found = read_metadata(data)
    assert found["AIGC"] == LABEL and list(found["AIGC"]) == list(AIGC_FIELDS)
    assert found["DigitalSourceType"] == DIGITAL_SOURCE_TYPE and found["campaign"] == "spring"
    # An independent XML parse finds the property in the TC260 namespace, its value the seven fields as JSON.
    root = ET.fromstring(_xmp_of(data))
    (prop,) = root.iter(f"{{{AIGC_NAMESPACE}}}AIGC")
    assert json.loads(prop.text) == LABEL
    assert b'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"' in data and b"<TC260:AIGC>{&quot;Label&quot;" in data
    # Still one XMP packet per file, and the pixels decode.
    assert data.count(b"<x:xmpmeta") == 1
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == img.shape


def test_without_a_label_the_packet_is_the_iptc_marker_alone():
    data = encode_image(np.zeros((8, 8, 3), np.uint8), "png")
    assert b"TC260" not in data and "AIGC" not in read_metadata(data)


@pytest.mark.parametrize("key", ["AIGC", "tc260:aigc", "DigitalSourceType", "XML:com.adobe.xmp"])
def test_metadata_cannot_replace_the_markers(key):
    with pytest.raises(ParameterValueError, match="marker"):
        encode_image(np.zeros((8, 8, 3), np.uint8), "png", metadata=[(key, "0")], aigc=LABEL)


def test_a_label_missing_a_field_is_refused():
    with pytest.raises(ParameterValueError, match="seven fields"):
        encode_image(np.zeros((8, 8, 3), np.uint8), "jpeg", aigc={"Label": "1"})


def test_reader_takes_the_attribute_form_and_ignores_damage():
    value = json.dumps(LABEL).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    attr = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:TC260="{AIGC_NAMESPACE}" TC260:AIGC="{value}"/>'
            "</rdf:RDF></x:xmpmeta>").encode()
    assert read_xmp(attr)["AIGC"] == LABEL
    assert "AIGC" not in read_xmp(attr.replace(b"Label", b"Label", 1)[:-20])  # truncated: no label, no error
    assert read_xmp(b'<!DOCTYPE x [<!ENTITY a "b">]>' + attr) == {}
    not_json = attr.replace(value.encode(), b"not json")
    assert read_xmp(not_json) == {}
