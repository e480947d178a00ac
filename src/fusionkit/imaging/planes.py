"""YUV 4:2:0 frames as planes: regions converted to RGB and written back without converting whole frames.

A decoded video frame (PyAV's ``VideoFrame`` in ``yuv420p``) is three planes, the chroma ones at half size. Video
fusion rewrites a face's region, not the frame: only that region is converted to RGB and back, on even
coordinates (a chroma sample covers 2 x 2 luma pixels).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import VideoDecodeFailedError

if TYPE_CHECKING:
    from fusionkit.imaging.video import FrameGuard

__all__ = ["Box", "Planes", "cropped_frame", "decoded_frames", "even_box", "frame_planes", "region_rgb", "write_region",
           "yuv420p"]

U8 = NDArray[np.uint8]
Planes = tuple[U8, U8, U8]
#: ``(x0, y0, x1, y1)`` in pixels, ends exclusive.
Box = tuple[int, int, int, int]


def frame_planes(frame: Any) -> Planes:
    """The Y, U and V planes of a ``yuv420p`` frame as (views of its buffers) uint8 arrays."""
    w, h = frame.width, frame.height
    out = []
    for i, (pw, ph) in enumerate(((w, h), ((w + 1) // 2, (h + 1) // 2), ((w + 1) // 2, (h + 1) // 2))):
        plane = frame.planes[i]
        arr = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:ph, :pw]
        out.append(arr)
    return out[0], out[1], out[2]


def even_box(box: tuple[float, float, float, float], w: int, h: int) -> Box:
    """The smallest box on even coordinates holding ``box`` (floats), clipped to a ``w`` x ``h`` frame."""
    x0 = max(0, math.floor(box[0]) & ~1)
    y0 = max(0, math.floor(box[1]) & ~1)
    x1 = min(w & ~1, (math.ceil(box[2]) + 1) & ~1)
    y1 = min(h & ~1, (math.ceil(box[3]) + 1) & ~1)
    return x0, y0, max(x0, x1), max(y0, y1)


def region_rgb(planes: Planes, box: Box) -> U8:
    """The RGB pixels of an even ``box`` of the frame."""
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    buf = np.empty(rh * rw * 3 // 2, np.uint8)
    q = rh * rw // 4
    buf[: rh * rw].reshape(rh, rw)[...] = planes[0][y0:y1, x0:x1]
    buf[rh * rw: rh * rw + q].reshape(rh // 2, rw // 2)[...] = planes[1][y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    buf[rh * rw + q:].reshape(rh // 2, rw // 2)[...] = planes[2][y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    return np.asarray(cv2.cvtColor(buf.reshape(rh * 3 // 2, rw), cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)


def write_region(planes: Planes, box: Box, rgb: U8) -> None:
    """Write RGB pixels into an even ``box`` of the frame's planes."""
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    if rh <= 0 or rw <= 0:
        return
    buf = np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420), np.uint8).reshape(-1)
    q = rh * rw // 4
    planes[0][y0:y1, x0:x1] = buf[: rh * rw].reshape(rh, rw)
    planes[1][y0 // 2:y1 // 2, x0 // 2:x1 // 2] = buf[rh * rw: rh * rw + q].reshape(rh // 2, rw // 2)
    planes[2][y0 // 2:y1 // 2, x0 // 2:x1 // 2] = buf[rh * rw + q:].reshape(rh // 2, rw // 2)


def cropped_frame(frame: Any, planes: Planes, width: int, height: int) -> Any:
    """A new yuv420p frame holding the top-left ``width`` x ``height`` (both even) of ``frame``."""
    import av

    out = av.VideoFrame(width, height, "yuv420p")
    dst = frame_planes(out)
    dst[0][...] = planes[0][:height, :width]
    dst[1][...] = planes[1][: height // 2, : width // 2]
    dst[2][...] = planes[2][: height // 2, : width // 2]
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def decoded_frames(container: Any, audio_out: Any, out: Any, *, guard: FrameGuard) -> Iterator[Any]:
    """Video frames in order; audio packets are re-muxed into ``out`` as they come (when ``audio_out`` is set).

    Each frame is counted by ``guard`` before it is yielded (:class:`fusionkit.imaging.video.FrameGuard`): the
    loop stops with :class:`~fusionkit.errors.VideoDurationExceedError` at the first frame past the caps (or
    :class:`~fusionkit.errors.VideoResolutionExceedError` at a frame larger than them), whatever the header said;
    a packet the decoder refuses (corrupt, or a frame far past the caps: ``max_pixels``, set by
    :func:`~fusionkit.imaging.video.open_video`) raises :class:`~fusionkit.errors.VideoDecodeFailedError`.
    """
    import av

    v = container.streams.video[0]
    streams = [v]
    a = container.streams.audio[0] if container.streams.audio else None
    if a is not None and audio_out is not None:
        streams.append(a)
    for packet in container.demux(*streams):
        if packet.stream is v:
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                raise VideoDecodeFailedError(
                    f"frame {guard.frames} of the video cannot be decoded ({exc}): the file is corrupt, or a frame is "
                    "far larger than the resolution limits") from None
            for frame in frames:
                guard.check(frame)
                yield frame
        elif packet.dts is not None:
            packet.stream = audio_out
            out.mux(packet)


def yuv420p(frame: Any, w: int, h: int) -> Any:
    """``frame`` as a writable yuv420p frame of ``w`` x ``h``."""
    if frame.format.name != "yuv420p" or frame.width != w or frame.height != h:
        return frame.reformat(width=w, height=h, format="yuv420p")
    frame.make_writable()  # the decoder may still reference this frame's buffers
    return frame
