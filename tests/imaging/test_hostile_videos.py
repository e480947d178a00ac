"""Hostile videos given to probe_video and the decode loop: headers that lie about the duration or the frame
size, and sources that are not files (a pipe, a FIFO, a folder, a device). Each is refused with a typed error,
without hanging and without decoding past the caps. The files are made here with PyAV (tests/video/hostile.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from fusionkit import errors
from fusionkit.imaging import DEFAULT_VIDEO_LIMITS, VideoLimits, probe_video
from fusionkit.imaging.planes import decoded_frames
from fusionkit.imaging.video import FrameGuard
from tests.video.hostile import patch_duration, switching_clip, tiny_clip

_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ten_minutes() -> bytes:
    """36,000 frames at 60 fps (600 s), 16x16: about 470 KB, a few seconds to encode."""
    return tiny_clip(36_000, 60)


@pytest.fixture(scope="module")
def lying_header(ten_minutes: bytes) -> bytes:
    """The 600 s clip whose mvhd, tkhd and mdhd durations say 10 s."""
    return patch_duration(ten_minutes, 10.0)


def test_the_patched_header_says_ten_seconds(lying_header: bytes) -> None:
    with av.open(io.BytesIO(lying_header), format="mp4") as container:
        assert container.duration == 10_000_000
        assert len(container.streams.video[0].index_entries) == 36_000


def test_probe_counts_the_samples_not_the_header(ten_minutes: bytes, lying_header: bytes) -> None:
    with pytest.raises(errors.VideoDurationExceedError, match=r"600\.00 s"):
        probe_video(ten_minutes)
    with pytest.raises(errors.VideoDurationExceedError, match=r"more than 3600 frames.*header says 10.00 s") as info:
        probe_video(lying_header)
    assert isinstance(info.value, ValueError)


def test_probe_reads_the_last_timestamp(tmp_path: Path) -> None:
    # Few frames, far apart: 12 frames over 66 s (0.18 fps), the header patched to say 5 s.
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame(16, 16, "yuv420p")
        for i in range(12):
            frame.pts = 6 * i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(errors.VideoDurationExceedError, match=r"frames up to 66\.00 s"):
        probe_video(patch_duration(buf.getvalue(), 5.0))


def test_an_edit_list_that_shows_ten_seconds_is_ten_seconds(ten_minutes: bytes) -> None:
    # The edit list too says 10 s: FFmpeg shows (and decodes) only those, so the video is 10 s long.
    data = patch_duration(ten_minutes, 10.0, edit_list=True)
    info = probe_video(data)
    assert info.duration_s == pytest.approx(10.0) and info.frame_count == 600
    with av.open(io.BytesIO(data), format="mp4") as container:
        frames = sum(1 for _ in decoded_frames(container, None, None, guard=FrameGuard(DEFAULT_VIDEO_LIMITS, fps=60)))
    assert frames == 600


def test_the_decode_loop_stops_at_the_cap(lying_header: bytes) -> None:
    # Opened around probe_video (as a header the index check could not see through would be): the loop stops at
    # the first frame past 60 s at 60 fps instead of decoding 600 s.
    guard = FrameGuard(DEFAULT_VIDEO_LIMITS, fps=60.0, header_s=10.0)
    seen = 0
    start = time.perf_counter()
    with av.open(io.BytesIO(lying_header), format="mp4") as container, \
            pytest.raises(errors.VideoDurationExceedError, match=r"more than 3600 frames.*header says 10.00 s"):
        for _ in decoded_frames(container, None, None, guard=guard):
            seen += 1
    assert seen == 3601 and guard.frames == 3602  # 60 s at 60 fps, and one frame for rounding
    assert time.perf_counter() - start < 30


def _frame(pts: int | None, width: int = 16, height: int = 16) -> SimpleNamespace:
    from fractions import Fraction

    return SimpleNamespace(width=width, height=height, pts=pts, time_base=Fraction(1, 1000))


def test_the_guard_counts_frames_timestamps_and_sizes() -> None:
    limits = VideoLimits(max_duration_s=2.0, max_fps=30, max_long_side=64, max_short_side=48)
    assert limits.max_frames == 60 and limits.frame_cap(25) == 51 and limits.frame_cap(100) == 61
    guard = FrameGuard(limits, fps=25)
    for i in range(51):
        guard.check(_frame(40 * i))
    with pytest.raises(errors.VideoDurationExceedError, match="more than 50 frames at 25 fps"):
        guard.check(_frame(40 * 51))
    # A timestamp past the cap, counted from the first frame's.
    guard = FrameGuard(limits, fps=25, header_s=1.0)
    guard.check(_frame(5_000))
    guard.check(_frame(None))
    guard.check(_frame(7_000))
    with pytest.raises(errors.VideoDurationExceedError, match=r"a frame at 2\.10 s.*header says 1\.00 s"):
        guard.check(_frame(7_100))
    # A frame larger than the caps, whatever the header said.
    with pytest.raises(errors.VideoResolutionExceedError, match="80x40"):
        FrameGuard(limits, fps=25).check(_frame(0, 80, 40))
    with pytest.raises(errors.VideoResolutionExceedError, match="50x50"):
        FrameGuard(limits, fps=25).check(_frame(0, 50, 50))


@pytest.mark.parametrize(
    ("large", "error", "message"),
    [
        # Just over the caps: decoded, and refused by the guard.
        ((400, 300), errors.VideoResolutionExceedError, "a frame of the video is 400x300 pixels"),
        # Far over: the decoder itself refuses to allocate it (max_pixels).
        ((640, 480), errors.VideoDecodeFailedError, "frame 5 of the video cannot be decoded"),
    ],
)
def test_a_frame_size_change_mid_stream_is_refused(large: tuple[int, int], error: type[Exception],
                                                    message: str) -> None:
    from fusionkit.imaging.video import open_video

    data = switching_clip(large=large)
    limits = VideoLimits(max_long_side=320, max_short_side=240)
    seen = []
    with open_video(data, limits=limits) as (container, info), pytest.raises(error, match=message):
        assert (info.width, info.height) == (16, 16)  # the header and the first frames say 16x16
        for frame in decoded_frames(container, None, None, guard=FrameGuard(limits, fps=info.fps)):
            seen.append((frame.width, frame.height))
    assert seen == [(16, 16)] * 5


# --- sources that are not files ----------------------------------------------------------------------------------

def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)

    def unblock() -> None:  # if probe_video waited for a writer, this would let it go after 5 s
        time.sleep(5)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        os.close(fd)

    threading.Thread(target=unblock, daemon=True).start()
    start = time.perf_counter()
    with pytest.raises(errors.VideoDecodeFailedError, match="a pipe: upload the video as a regular MP4 file"):
        probe_video(fifo)
    assert time.perf_counter() - start < 4


def test_a_pipe_file_object_is_refused() -> None:
    r, w = os.pipe()
    os.write(w, b"\x00\x00\x00\x20ftypisom" + b"\x00" * 100)
    with os.fdopen(r, "rb") as fh, pytest.raises(errors.VideoDecodeFailedError, match="a pipe"):
        probe_video(fh)
    os.close(w)


def test_an_unseekable_file_object_is_refused() -> None:
    class Stream(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            b[:] = bytes(len(b))
            return len(b)

    with pytest.raises(errors.VideoDecodeFailedError, match="cannot be read at random positions"):
        probe_video(io.BufferedReader(Stream()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{tmp}", "a folder"),
        ("/dev/zero", "a device"),
        ("/dev/null", "a device"),
        ("clip\x00.mp4", "not a valid file name"),
    ],
)
def test_paths_that_are_not_files(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(errors.VideoDecodeFailedError, match=message):
        probe_video(source.format(tmp=tmp_path))


def test_dev_zero_as_a_file_object() -> None:
    with open("/dev/zero", "rb") as fh, pytest.raises(errors.VideoDecodeFailedError, match="a device"):
        probe_video(fh)


def test_bytes_over_the_cap_are_refused_before_copying() -> None:
    with pytest.raises(errors.VideoSizeExceedError):
        probe_video(memoryview(bytes(2048)), limits=VideoLimits(max_bytes=1024))


def test_a_file_that_grows_is_read_to_its_size_when_checked(tmp_path: Path) -> None:
    from fusionkit.imaging.video import open_video

    path = tmp_path / "clip.mp4"
    path.write_bytes(tiny_clip(30, 30))
    with open_video(path) as (container, info), open(path, "ab") as grow:
        grow.write(bytes(1 << 20))
        grow.flush()
        guard = FrameGuard(DEFAULT_VIDEO_LIMITS, fps=info.fps)
        assert sum(1 for _ in decoded_frames(container, None, None, guard=guard)) == 30
        assert container.size == info.size_bytes


# --- memory --------------------------------------------------------------------------------------------------------

_PEAK = """
import io, sys
sys.path.insert(0, {root!r})
import av
from fusionkit import errors
from fusionkit.imaging import DEFAULT_VIDEO_LIMITS
from fusionkit.imaging.planes import decoded_frames, frame_planes, yuv420p
from fusionkit.imaging.video import FrameGuard, open_video

def peak_mib():
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024

before = peak_mib()
try:
    if {around_probe!r}:  # as if the header could not be seen through: the decode loop's counter alone
        with av.open({path!r}, format="mp4") as container:
            container.streams.video[0].thread_type = "AUTO"
            guard = FrameGuard(DEFAULT_VIDEO_LIMITS, fps=60.0)
            for frame in decoded_frames(container, None, None, guard=guard):
                frame_planes(yuv420p(frame, frame.width, frame.height))
    else:
        with open_video({path!r}) as (container, info):
            container.streams.video[0].thread_type = "AUTO"
            guard = FrameGuard(DEFAULT_VIDEO_LIMITS, fps=info.fps)
            for frame in decoded_frames(container, None, None, guard=guard):
                frame_planes(yuv420p(frame, info.width, info.height))
except errors.FusionKitError as exc:
    print(exc.code, file=sys.stderr)
print(before, peak_mib())
"""


@pytest.mark.parametrize("kind", ["lying_header", "switching_8k"])
def test_peak_memory_of_hostile_clips_stays_bounded(kind: str, tmp_path: Path, lying_header: bytes) -> None:
    # In a fresh process, the peak resident memory (VmHWM) in MiB after the imports and after the refusal: the
    # 600 s clip decoded to the frame cap, and a clip whose stream turns from 16x16 to 8192x4320 (over 4K) after
    # its header was checked.
    data = lying_header if kind == "lying_header" else switching_clip(large=(8192, 4320), frames=2)
    path = tmp_path / "hostile.mp4"
    path.write_bytes(data)
    code = _PEAK.format(root=str(_ROOT), path=str(path), around_probe=kind == "lying_header")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    expected = "VideoDurationExceed" if kind == "lying_header" else "VideoDecodeFailed"
    assert f"FailedOperation.{expected}" in run.stderr, run.stderr
    before, after = (int(x) for x in run.stdout.split())
    print(f"{kind}: peak RSS {before} MiB after the imports, {after} MiB after the refusal")
    assert after - before < 100, (before, after)
