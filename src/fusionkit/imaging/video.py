"""Video input with limits: probe an MP4 from its container headers, before decoding a single frame.

PyAV (FFmpeg's libraries) is imported here lazily, inside the functions, so importing :mod:`fusionkit.imaging`
stays light. Safety:

- the data reaches FFmpeg as a Python file object, never as a name FFmpeg resolves itself, and the demuxer is
  fixed to MP4/MOV (``format="mp4"``): a path such as ``concat:a|b`` or ``http://...`` is opened by Python as a
  local file name, and an HLS playlist or a concat list is refused by its first bytes;
- ``protocol_whitelist=file,pipe`` and ``enable_drefs=0`` forbid the demuxer to follow references to other
  files or URLs from inside the container;
- the caps (bytes, width and height, duration, frame rate) are checked from the headers; a file whose sample
  index points past its end (truncated) is refused by seeking each stream to its last packet, which reads a few
  bytes, not the file;
- the header's duration is not trusted: the video stream's sample index (FFmpeg's, built from the MP4 sample
  tables and fragments when the file is opened; nothing is decoded) is counted and its last timestamp read, and a
  video holding more frames, or lasting longer, than the caps allow is refused whatever its header says. The decode
  loops count again while decoding (:func:`fusionkit.imaging.planes.decoded_frames`, :class:`FrameGuard`);
- only regular files are opened (a FIFO, a device or a directory is refused without reading it), and FFmpeg reads
  through a window that ends where the file ended when it was checked against ``max_bytes``.
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import IO, Any, Union

import attrs

from fusionkit.errors import (
    ParameterValueError,
    VideoDecodeFailedError,
    VideoDurationExceedError,
    VideoFormatNotSupportError,
    VideoFrameRateExceedError,
    VideoResolutionExceedError,
    VideoSizeExceedError,
)

__all__ = [
    "DEFAULT_VIDEO_LIMITS",
    "DEMUXER_OPTIONS",
    "FrameGuard",
    "VideoInfo",
    "VideoLimits",
    "VideoSource",
    "open_video",
    "probe_video",
]

#: What :func:`probe_video` accepts: a path, the file's bytes, or a binary file object open for reading.
VideoSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

#: Options every demuxer is opened with: local data only, no external data references.
DEMUXER_OPTIONS = {"protocol_whitelist": "file,pipe", "enable_drefs": "0"}

VIDEO_CODECS = ("h264", "hevc")
AUDIO_CODECS = ("aac",)
# An MP4/MOV file starts with a box: its size (4 bytes) and one of these types.
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ParameterValueError(f"{attribute.name} must be a positive number, got {value!r}")


@attrs.frozen(kw_only=True)
class VideoLimits:
    """The largest video fusionkit accepts.

    Attributes
    ----------
    max_bytes
        Largest file size in bytes (default 1 GiB).
    max_long_side, max_short_side
        Largest frame size in pixels, either orientation (default 3840 x 2160, 4K UHD).
    max_duration_s
        Longest duration in seconds (default 60).
    max_fps
        Highest frame rate in frames per second (default 60).
    """

    max_bytes: int = attrs.field(default=1024 * 1024 * 1024, validator=_positive)
    max_long_side: int = attrs.field(default=3840, validator=_positive)
    max_short_side: int = attrs.field(default=2160, validator=_positive)
    max_duration_s: float = attrs.field(default=60.0, validator=_positive)
    max_fps: float = attrs.field(default=60.0, validator=_positive)

    @property
    def max_frames(self) -> int:
        """Most frames a video may hold: ``max_duration_s`` at ``max_fps``."""
        return math.ceil(self.max_duration_s * self.max_fps - 1e-6)

    def frame_cap(self, fps: float) -> int:
        """Most frames a video at ``fps`` (declared or measured) may hold: ``max_duration_s`` at that rate (at most
        :attr:`max_frames`), plus one for rounding."""
        rate = min(float(fps), float(self.max_fps)) if fps > 0 else float(self.max_fps)
        return min(self.max_frames, math.ceil(self.max_duration_s * rate - 1e-6)) + 1


DEFAULT_VIDEO_LIMITS = VideoLimits()


def _over_duration(frames: str, limits: VideoLimits, header_s: float | None) -> VideoDurationExceedError:
    said = f" (its header says {header_s:.2f} s)" if header_s is not None else ""
    return VideoDurationExceedError(f"the video holds {frames}{said}, over the limit of {limits.max_duration_s:g} s: "
                                    "trim it or raise the limits")


@attrs.define
class FrameGuard:
    """The caps counted while decoding: every decode loop passes each decoded frame to :meth:`check`, which refuses
    a frame past ``limits.frame_cap(fps)`` frames, a frame whose timestamp lies past ``max_duration_s`` from the
    first frame's, and a frame larger than the resolution caps (the stream may change its frame size mid-way,
    whatever the header said). A counter and two comparisons per frame.

    Attributes
    ----------
    limits
        The caps.
    fps
        The frame rate the header declared (0 when unknown: ``max_fps`` is used).
    header_s
        The duration the header declared (for the message), or ``None``.
    frames
        Frames checked so far.
    """

    limits: VideoLimits
    fps: float = 0.0
    header_s: float | None = None
    frames: int = 0
    _cap: int = attrs.field(init=False, default=0)
    _first_s: float | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._cap = self.limits.frame_cap(self.fps)

    def check(self, frame: Any) -> None:
        """Count ``frame`` (a PyAV ``VideoFrame``).

        Raises
        ------
        VideoDurationExceedError
            More frames than the caps allow, or a timestamp past ``max_duration_s``.
        VideoResolutionExceedError
            A frame larger than the resolution caps.
        """
        self.frames += 1
        limits = self.limits
        if self.frames > self._cap:
            raise _over_duration(f"more than {self._cap - 1} frames at {self.fps or limits.max_fps:g} fps", limits,
                                 self.header_s)
        w, h = int(frame.width), int(frame.height)
        if max(w, h) > limits.max_long_side or min(w, h) > limits.max_short_side:
            raise VideoResolutionExceedError(
                f"a frame of the video is {w}x{h} pixels, over the limit of {limits.max_long_side}x"
                f"{limits.max_short_side}: downscale it or raise the limits")
        if frame.pts is not None and frame.time_base is not None:
            t = float(frame.pts * frame.time_base)
            if self._first_s is None:
                self._first_s = t
            elif t - self._first_s > limits.max_duration_s + 1e-3:
                raise _over_duration(f"a frame at {t - self._first_s:.2f} s", limits, self.header_s)


@attrs.frozen(kw_only=True)
class VideoInfo:
    """What the container headers say about a video.

    Attributes
    ----------
    size_bytes
        File size in bytes.
    duration_s
        Duration in seconds (the container's).
    fps
        Average frame rate in frames per second.
    frame_count
        Frames in the video stream (from the MP4 sample index).
    width, height
        Frame size in pixels.
    bit_rate
        Overall bit rate in bits per second (0 when unknown).
    video_codec
        ``"h264"`` or ``"hevc"``.
    audio_codec
        ``"aac"``, or ``None`` when the video has no audio.
    audio_channels, audio_sample_rate
        Channel count and samples per second of the audio (0 without audio).
    """

    size_bytes: int
    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    bit_rate: int
    video_codec: str
    audio_codec: str | None
    audio_channels: int
    audio_sample_rate: int

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return attrs.asdict(self)


_NOT_A_FILE = ("upload the video as a regular MP4 file, its bytes or a seekable binary file object (not a pipe, "
               "a device or a folder)")


def _check_regular(fd: int) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else \
            "not a regular file"
        raise VideoDecodeFailedError(f"the video source is {kind}: {_NOT_A_FILE}")


def _open_path(source: str | os.PathLike[str]) -> IO[bytes]:
    """Open a regular file for reading: a FIFO is opened without waiting for a writer (O_NONBLOCK) and refused, as
    are folders and devices, before a byte is read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        raise VideoDecodeFailedError(f"cannot open the video file: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:  # a NUL byte in the name, a name that is not text
        raise VideoDecodeFailedError(f"cannot open the video file: the name is not a valid file name ({exc})") \
            from None
    try:
        _check_regular(fd)
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def _as_file(source: VideoSource, max_bytes: int) -> Iterator[IO[bytes]]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if memoryview(source).nbytes > max_bytes:
            raise VideoSizeExceedError(f"the video has {memoryview(source).nbytes} bytes, over the limit of "
                                       f"{max_bytes}: compress or trim it, or raise the limits")
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        with _open_path(source) as fh:
            yield fh
    elif hasattr(source, "read") and hasattr(source, "seek"):
        yield source
    else:
        raise ParameterValueError(f"a video must be a path, bytes or a binary file object, got {type(source).__name__}")


def _size(fh: IO[bytes]) -> int:
    """Bytes from the current position to the end; a pipe, a device or a file object that cannot seek is refused."""
    try:
        fd = fh.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        fd = None
    if fd is not None:
        _check_regular(fd)
    try:
        seekable = getattr(fh, "seekable", None)
        if seekable is not None and not seekable():
            raise OSError("not seekable")
        pos = fh.tell()
        fh.seek(0, io.SEEK_END)
        size = fh.tell()
        fh.seek(pos)
    except (OSError, ValueError) as exc:
        raise VideoDecodeFailedError(f"the video source cannot be read at random positions ({exc}): "
                                     f"{_NOT_A_FILE}") from None
    return int(size) - int(pos)


class _Window:
    """The ``size`` bytes of ``fh`` from ``start``, as a file of its own (offset 0 at ``start``): what FFmpeg
    reads. Reads stop at the end the size check saw, even if the file grows afterwards."""

    def __init__(self, fh: IO[bytes], start: int, size: int) -> None:
        self._fh, self._start, self._size, self._pos = fh, start, size, 0
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        data = self._fh.read(n)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError("seek before the start of the video")
        self._pos = pos
        self._fh.seek(self._start + min(pos, self._size))
        return pos

    def tell(self) -> int:
        return self._pos


def _sniff(fh: IO[bytes]) -> None:
    start = fh.tell()
    head = fh.read(16)
    fh.seek(start)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"#EXTM3U") or text.startswith(b"ffconcat") or text.startswith(b"file ") or \
            text.startswith(b"<?xml") or text.startswith(b"<MPD"):
        raise VideoFormatNotSupportError("the data is a playlist or a list of other files (HLS, DASH, concat): "
                                         "upload the video itself as one MP4 file")
    if len(head) < 8 or head[4:8] not in _MP4_BOXES:
        raise VideoDecodeFailedError("the data is not an MP4 video (no MP4 box at its start): upload an MP4 file "
                                     "with H.264 or H.265 video")


def _check_complete(container: Any, size: int) -> None:
    """Seek each stream to its last packet and read it: the index of a truncated file points past its end."""
    for stream in container.streams:
        if stream.type not in ("video", "audio") or not stream.duration:
            continue
        container.seek(int(stream.duration), backward=True, any_frame=True, stream=stream)
        packet = next(iter(container.demux(stream)), None)
        if packet is None or packet.size == 0 or packet.pos is None or packet.pos + packet.size > size:
            raise VideoDecodeFailedError("the MP4 file is truncated (its index refers to data past its end): "
                                         "upload the complete file")


def _info(container: Any, size: int) -> VideoInfo:
    if not container.streams.video:
        raise VideoDecodeFailedError("the file has no video stream: upload a video, not an audio file")
    v = container.streams.video[0]
    a = container.streams.audio[0] if container.streams.audio else None
    if v.codec_context is None or (a is not None and a.codec_context is None):
        raise VideoFormatNotSupportError("a stream's codec is unknown or its header is corrupt: upload an H.264 or "
                                         "H.265 MP4 with AAC audio or none")
    vcodec = v.codec_context.name
    if vcodec not in VIDEO_CODECS:
        raise VideoFormatNotSupportError(f"the video codec is {vcodec}; use H.264 or H.265 (HEVC)")
    acodec = a.codec_context.name if a is not None else None
    if a is not None and acodec not in AUDIO_CODECS:
        raise VideoFormatNotSupportError(f"the audio codec is {acodec}; use AAC audio or none")
    rate = v.average_rate or v.guessed_rate or Fraction(0)
    if container.duration:
        duration = container.duration / 1_000_000
    elif v.duration and v.time_base:
        duration = float(v.duration * v.time_base)
    else:
        duration = 0.0
    frames = int(v.frames) or round(duration * float(rate))
    if not v.width or not v.height or not rate or not duration or not frames:
        raise VideoDecodeFailedError("the video's headers give no frame size, frame rate or duration: the file "
                                     "is corrupt or not a finished recording")
    return VideoInfo(size_bytes=size, duration_s=float(duration), fps=float(rate), frame_count=frames,
                     width=int(v.width), height=int(v.height), bit_rate=int(container.bit_rate or 0),
                     video_codec=vcodec, audio_codec=acodec, audio_channels=int(a.channels) if a else 0,
                     audio_sample_rate=int(a.sample_rate) if a else 0)


def _check_limits(info: VideoInfo, limits: VideoLimits) -> None:
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    if long_side > limits.max_long_side or short_side > limits.max_short_side:
        raise VideoResolutionExceedError(
            f"the video is {info.width}x{info.height} pixels, over the limit of {limits.max_long_side}x"
            f"{limits.max_short_side}: downscale it or raise the limits")
    if info.duration_s > limits.max_duration_s + 1e-3:
        raise VideoDurationExceedError(f"the video lasts {info.duration_s:.2f} s, over the limit of "
                                       f"{limits.max_duration_s:g} s: trim it or raise the limits")
    if info.fps > limits.max_fps + 1e-3:
        raise VideoFrameRateExceedError(f"the video runs at {info.fps:.2f} fps, over the limit of "
                                        f"{limits.max_fps:g} fps: lower its frame rate or raise the limits")


def _check_frame_index(container: Any, info: VideoInfo, limits: VideoLimits) -> VideoInfo:
    """Refuse a video whose sample index holds more frames, or spans more time, than the caps allow, whatever its
    header's duration says; return ``info`` with the frames the index will show.

    The index is FFmpeg's, built from the sample tables (and the fragments) when the file was opened; nothing is
    decoded. Samples an edit list leaves out are not counted (FFmpeg drops them, or decodes them as references
    and never shows them)."""
    v = container.streams.video[0]
    cap = limits.frame_cap(info.fps)
    entries = v.index_entries
    tb = v.time_base
    kept, first, last = 0, None, None
    for i in range(len(entries)):
        entry = entries[i]
        if entry.is_discard:  # outside the edit list: decoded as a reference, never shown
            continue
        kept += 1
        if kept > cap:
            raise _over_duration(f"more than {cap - 1} frames at {info.fps:g} fps", limits, info.duration_s)
        ts = entry.timestamp
        first = ts if first is None else min(first, ts)
        last = ts if last is None else max(last, ts)
    if first is not None and last is not None and tb is not None:
        span = float((last - first) * tb)
        if span > limits.max_duration_s + 1e-3:
            raise _over_duration(f"frames up to {span:.2f} s", limits, info.duration_s)
    return attrs.evolve(info, frame_count=kept) if kept else info


@contextmanager
def open_video(source: VideoSource, *, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> Iterator[tuple[Any, VideoInfo]]:
    """Open a video for demuxing after checking it: yields ``(container, info)`` (a PyAV input container at the
    start of the file, and :class:`VideoInfo`) and closes both on exit.

    Raises
    ------
    VideoDecodeFailedError, VideoFormatNotSupportError, VideoResolutionExceedError, VideoDurationExceedError,
    VideoFrameRateExceedError, VideoSizeExceedError
        Before any frame is decoded.
    """
    if not isinstance(limits, VideoLimits):
        raise ParameterValueError(f"limits must be a VideoLimits, got {type(limits).__name__}")
    import av

    with _as_file(source, limits.max_bytes) as fh:
        size = _size(fh)
        if size > limits.max_bytes:
            raise VideoSizeExceedError(f"the video has {size} bytes, over the limit of {limits.max_bytes}: "
                                       "compress or trim it, or raise the limits")
        _sniff(fh)
        start = fh.tell()

        # The decoders (FFmpeg's, probing the streams, and ours) allocate no frame much larger than the caps: a
        # stream that switches to a huge frame size mid-way fails there, before a frame (or a thread's worth of
        # frames) that size is allocated. The aligned stride needs some slack; FrameGuard checks the exact size.
        decoder_options = {"max_pixels": str((limits.max_long_side + 128) * (limits.max_short_side + 128))}

        def demuxer() -> Any:
            try:
                # Metadata that is not UTF-8 is read with replacement characters, not refused: it is never used.
                container = av.open(_Window(fh, start, size), "r", format="mp4",
                                    options={**DEMUXER_OPTIONS, **decoder_options}, metadata_errors="replace")
            except av.FFmpegError as exc:
                raise VideoDecodeFailedError(f"the MP4 container cannot be read ({exc.strerror or exc}): the file "
                                             "is truncated or corrupt; upload the complete file") from None
            for stream in container.streams.video:
                if stream.codec_context is None:  # a stream whose codec FFmpeg does not know (a corrupt header)
                    container.close()
                    raise VideoFormatNotSupportError("the video stream's codec is unknown or its header is corrupt: "
                                                     "upload an H.264 or H.265 MP4")
                stream.codec_context.options = dict(decoder_options)
            return container

        container = demuxer()
        try:
            info = _info(container, size)
            _check_limits(info, limits)
            info = _check_frame_index(container, info, limits)
            try:
                _check_complete(container, size)
            except av.FFmpegError as exc:
                raise VideoDecodeFailedError(f"the MP4 file cannot be read to its end ({exc}): it is truncated or "
                                             "corrupt") from None
        finally:
            container.close()
        # A fresh demuxer starts at the first packet (a seek to 0 would skip the audio's priming packet, pts < 0).
        container = demuxer()
        try:
            yield container, info
        finally:
            container.close()


def probe_video(source: VideoSource, *, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> VideoInfo:
    """Read a video's metadata from its container headers and check it against ``limits``; nothing is decoded.

    Parameters
    ----------
    source
        A path, the file's bytes, or a binary file object (read from its current position).
    limits
        The caps to enforce.

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoDecodeFailedError
        Not an MP4, truncated or corrupt, or no video stream (``FailedOperation.VideoDecodeFailed``).
    VideoFormatNotSupportError
        A playlist or list of other files, or a codec outside H.264/H.265 video and AAC audio.
    VideoSizeExceedError, VideoResolutionExceedError, VideoDurationExceedError, VideoFrameRateExceedError
        Over the caps.

    Examples
    --------
    >>> info = probe_video("clip.mp4")            # doctest: +SKIP
    >>> info.width, info.height, info.fps          # doctest: +SKIP
    (1280, 720, 25.0)
    """
    with open_video(source, limits=limits) as (_, info):
        return info
