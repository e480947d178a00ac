"""The XMP packet in MP4 files: a top-level uuid box appended after the index, found again, the video unharmed."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from fusionkit.errors import ParameterValueError
from fusionkit.imaging.xmp import (
    DIGITAL_SOURCE_TYPE,
    XMP_UUID,
    append_mp4_xmp,
    read_video_metadata,
    uuid_box,
    xmp_packet,
)

LABEL = {"Label": "1", "ContentProducer": "app_1", "ProduceID": "rs_1", "ReservedCode1": "",
         "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def write_mp4(path: Path, frames: int, faststart: bool) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"} if faststart else {}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def decoded_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("faststart", [False, True])
def test_an_appended_packet_is_found_and_the_video_still_decodes(tmp_path: Path, faststart: bool) -> None:
    path = tmp_path / "clip.mp4"
    write_mp4(path, 8, faststart)
    assert read_video_metadata(path) == {}
    size = path.stat().st_size
    append_mp4_xmp(path, xmp_packet([("campaign", "spring")], LABEL))
    data = path.read_bytes()
    # The box is the last top-level box: its size, "uuid", XMP's UUID, then the packet.
    (length,) = struct.unpack(">I", data[size:size + 4])
    assert size + length == len(data) and data[size + 4:size + 24] == b"uuid" + XMP_UUID
    for source in (path, str(path), data, io.BytesIO(data)):
        meta = read_video_metadata(source)
        assert meta == {"AIGC": LABEL, "DigitalSourceType": DIGITAL_SOURCE_TYPE, "campaign": "spring"}
    assert decoded_count(path) == 8


def test_boxes_are_walked_by_their_sizes() -> None:
    packet = xmp_packet((), LABEL)
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    other_uuid = box(b"uuid", b"\x00" * 16 + b"not xmp")
    # A 64-bit sized box before the packet, and a packet in a box that runs to the end (size 0).
    large = struct.pack(">I4sQ", 1, b"free", 16 + 5) + b"\x00" * 5
    to_end = struct.pack(">I4s", 0, b"uuid") + XMP_UUID + packet
    assert read_video_metadata(ftyp + other_uuid + large + to_end)["AIGC"] == LABEL
    assert read_video_metadata(ftyp + uuid_box(packet))["AIGC"] == LABEL
    # A box claiming more than the file holds ends the walk: nothing is read past it.
    assert read_video_metadata(ftyp + struct.pack(">I4s", 999, b"mdat") + uuid_box(packet)) == {}
    assert read_video_metadata(b"") == {}
    with pytest.raises(ParameterValueError, match="MP4"):
        read_video_metadata(42)  # type: ignore[arg-type]
