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
  bytes, not the file.
"""

from __future__ import annotations

import io
import os
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


DEFAULT_VIDEO_LIMITS = VideoLimits()


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


def _size(fh: IO[bytes]) -> int:
    pos = fh.tell()
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(pos)
    return size


@contextmanager
def _as_file(source: VideoSource) -> Iterator[IO[bytes]]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        try:
            fh = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise VideoDecodeFailedError(f"cannot open the video file: {exc.strerror or exc}") from None
        with fh:
            yield fh
    elif hasattr(source, "read") and hasattr(source, "seek"):
        yield source
    else:
        raise ParameterValueError(f"a video must be a path, bytes or a binary file object, got {type(source).__name__}")


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
    vcodec = v.codec_context.name
    if vcodec not in VIDEO_CODECS:
        raise VideoFormatNotSupportError(f"the video codec is {vcodec}; use H.264 or H.265 (HEVC)")
    a = container.streams.audio[0] if container.streams.audio else None
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

    with _as_file(source) as fh:
        size = _size(fh) - fh.tell()
        if size > limits.max_bytes:
            raise VideoSizeExceedError(f"the video has {size} bytes, over the limit of {limits.max_bytes}: "
                                       "compress or trim it, or raise the limits")
        _sniff(fh)
        start = fh.tell()

        def demuxer() -> Any:
            fh.seek(start)
            try:
                return av.open(fh, "r", format="mp4", options=dict(DEMUXER_OPTIONS))
            except av.FFmpegError as exc:
                raise VideoDecodeFailedError(f"the MP4 container cannot be read ({exc.strerror or exc}): the file "
                                             "is truncated or corrupt; upload the complete file") from None

        container = demuxer()
        try:
            info = _info(container, size)
            _check_limits(info, limits)
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
