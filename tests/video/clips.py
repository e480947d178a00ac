"""Test clips made with PyAV from the sample photos: a camera moving over a still photo, plus a sine tone.

The camera pans, zooms and turns slightly (a few degrees) over the photo, so the face moves across the frame the
way it does in a hand-held shot; the audio is a 440 Hz sine tone in AAC. Used by the tests and by
benchmarks/bench_video.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import cv2
import numpy as np

from tests.photos import photo as sample_photo


def camera(t: float, duration: float) -> tuple[float, float, float]:
    """(pan in photo fractions, zoom factor, roll in degrees) of the camera at ``t`` seconds."""
    u = t / max(duration, 1e-6)
    return 0.04 * math.sin(2 * math.pi * u), 1.0 + 0.12 * u, 3.0 * math.sin(math.pi * u)


def render_frame(photo: np.ndarray, width: int, height: int, t: float, duration: float,
                 reflect: bool = True) -> np.ndarray:
    """One RGB frame: the photo, fitted to the frame's height, seen by the moving camera; beside it the photo
    mirrored (``reflect``: a portrait photo then shows its face several times across a wide frame) or grey."""
    ph, pw = photo.shape[:2]
    pan, zoom, roll = camera(t, duration)
    scale = 0.9 * height / ph * zoom
    # Photo centre (shifted by the pan) goes to the frame centre, scaled and turned.
    m = cv2.getRotationMatrix2D((pw / 2 + pan * pw, ph * 0.45), roll, scale)
    m[0, 2] += width / 2 - (pw / 2 + pan * pw)
    m[1, 2] += height / 2 - ph * 0.45
    border = cv2.BORDER_REFLECT if reflect else cv2.BORDER_CONSTANT
    return np.asarray(cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=border,
                                     borderValue=(128, 128, 128)), dtype=np.uint8)


def make_clip(
    path: Path,
    *,
    sample: str = "obama.jpg",
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    seconds: float = 2.0,
    audio: bool = True,
    preset: str = "ultrafast",
    faststart: bool = False,
    reflect: bool = True,
) -> Path:
    """Write an H.264 MP4 (yuv420p) of ``seconds`` at ``fps`` with a 440 Hz AAC tone (44.1 kHz stereo); see
    :func:`render_frame` for ``reflect``."""
    photo = sample_photo(sample)
    n = round(seconds * fps)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": preset, "crf": "18"}
        as_ = None
        if audio:
            as_ = out.add_stream("aac", rate=44100)
            as_.layout = "stereo"
        for i in range(n):
            rgb = render_frame(photo, width, height, i / fps, seconds, reflect)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if as_ is not None:
            write_tone(out, as_, seconds)
    return path


def write_tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    """Encode and mux ``seconds`` of a 440 Hz sine tone (44.1 kHz stereo AAC ``stream`` of ``out``)."""
    rate, chunk = 44100, 1024
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        k = min(chunk, total - start)
        tone = (0.2 * np.sin(2 * np.pi * 440 * (np.arange(start, start + k) / rate))).astype(np.float32)
        af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        af.sample_rate = rate
        af.pts = start
        for packet in stream.encode(af):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def make_entering_clip(path: Path, *, enter_s: float = 0.5, seconds: float = 1.2, fps: int = 10,
                       width: int = 640, height: int = 360, first_face: bool = True) -> Path:
    """two_people.jpg (obama3 left, biden right) with the right-hand person hidden behind grey until ``enter_s``
    seconds (and the left-hand one too, for the whole clip, unless ``first_face``); a still camera, no audio."""
    photo = sample_photo("two_people.jpg")
    base = np.asarray(cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(round(seconds * fps)):
            img = base.copy()
            if not first_face:
                img[:, : width // 2] = 128
            if i / fps < enter_s:
                img[:, width // 2:] = 128
            for packet in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return path
