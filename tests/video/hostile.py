"""Hostile videos made with PyAV, small: many tiny frames whose header lies about the duration, a stream that
changes its frame size mid-way. Used by tests/imaging/test_hostile_videos.py and tests/video/test_duration_cap.py.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np

# ISO BMFF boxes that hold other boxes, on the way to the duration fields.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}



def _mux_frames(out: Any, stream: Any, frame: Any, count: int) -> None:
    """Encode ``frame`` ``count`` times (pts 0, 1, ...) into ``stream``, flush the encoder and mux every packet."""
    for i in range(count):
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)

def tiny_clip(frames: int, fps: int, *, size: int = 16, gop: int = 250) -> bytes:
    """An H.264 MP4 of ``frames`` grey ``size`` x ``size`` frames at ``fps``: 36,000 frames make about 470 KB."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30", "g": str(gop)}
        frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 128, np.uint8), format="rgb24")
        _mux_frames(out, stream, frame, frames)
    return buf.getvalue()


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, end) of each box between ``start`` and ``end``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        yield kind, pos + head, pos + size
        pos += size


def patch_duration(data: bytes, seconds: float, *, edit_list: bool = False) -> bytes:
    """``data`` with the duration fields of its ``mvhd``, ``tkhd`` and ``mdhd`` boxes (and, with ``edit_list``,
    its edit list's segment) set to ``seconds``: the samples are all still there."""
    out = bytearray(data)
    movie_scale = 0

    def walk(start: int, end: int) -> None:
        nonlocal movie_scale
        for kind, body, stop in _boxes(out, start, end):
            if kind in _CONTAINERS:
                walk(body, stop)
                continue
            v1 = out[body] == 1
            if kind in (b"mvhd", b"mdhd"):  # version, flags, created, modified, timescale, duration
                at = body + 4 + (16 if v1 else 8)
                scale = struct.unpack_from(">I", out, at)[0]
                movie_scale = scale if kind == b"mvhd" else movie_scale
                struct.pack_into(">Q" if v1 else ">I", out, at + 4, round(seconds * scale))
            elif kind == b"tkhd":  # version, flags, created, modified, track id, reserved, duration
                struct.pack_into(">Q" if v1 else ">I", out, body + 4 + (20 if v1 else 12) + 4,
                                 round(seconds * movie_scale))
            elif kind == b"elst" and edit_list:  # version, flags, count, then the first segment's duration
                struct.pack_into(">Q" if v1 else ">I", out, body + 8, round(seconds * movie_scale))

    walk(0, len(out))
    return bytes(out)


def switching_clip(*, small: int = 16, large: tuple[int, int] = (640, 480), frames: int = 5) -> bytes:
    """``frames`` frames of ``small`` x ``small`` then ``frames`` of ``large`` (width, height), in one H.264 stream
    (parameter sets repeated in the stream): the header and the first frames say ``small``."""
    buf = io.BytesIO()
    options = {"preset": "ultrafast", "x264-params": "repeat-headers=1"}
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = small, small, "yuv420p"
        stream.options = options
        frame = av.VideoFrame.from_ndarray(np.zeros((small, small, 3), np.uint8), format="rgb24")
        _mux_frames(out, stream, frame, frames)
        big = av.CodecContext.create("libx264", "w")
        big.width, big.height, big.pix_fmt = large[0], large[1], "yuv420p"
        big.time_base, big.framerate = Fraction(1, 25), Fraction(25)
        big.options = options
        image = av.VideoFrame.from_ndarray(np.full((large[1], large[0], 3), 90, np.uint8), format="rgb24")
        packets = []
        for i in range(frames):
            image.pts = i
            packets += big.encode(image)
        packets += big.encode()
        for packet in packets:
            packet.stream = stream
            packet.pts, packet.dts = packet.pts + frames, packet.dts + frames
            packet.time_base = Fraction(1, 25)
            out.mux(packet)
    return buf.getvalue()
