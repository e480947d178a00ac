"""probe_video: metadata from the container headers, caps and typed errors before any decoding."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from fusionkit import errors
from fusionkit.imaging import VideoLimits, probe_video


def test_metadata_of_a_clip(clip_360p: Path) -> None:
    info = probe_video(clip_360p)
    assert (info.width, info.height) == (640, 360)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == 50
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert (info.audio_channels, info.audio_sample_rate) == (2, 44100)
    assert info.bit_rate > 0 and info.size_bytes == clip_360p.stat().st_size
    # bytes and file objects read the same
    data = clip_360p.read_bytes()
    assert probe_video(data) == info
    assert probe_video(io.BytesIO(data)) == info
    assert set(info.to_json()) >= {"duration_s", "fps", "frame_count", "width", "height", "audio_codec"}


def test_no_audio_and_720p(clip_720p_short: Path) -> None:
    info = probe_video(clip_720p_short)
    assert (info.width, info.height, info.frame_count) == (1280, 720, 25)
    assert info.audio_codec is None and info.audio_channels == 0


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        (VideoLimits(max_duration_s=1.5), errors.VideoDurationExceedError),
        (VideoLimits(max_fps=24), errors.VideoFrameRateExceedError),
        (VideoLimits(max_long_side=600), errors.VideoResolutionExceedError),
        (VideoLimits(max_short_side=300), errors.VideoResolutionExceedError),
        (VideoLimits(max_bytes=1000), errors.VideoSizeExceedError),
    ],
)
def test_caps(clip_360p: Path, limits: VideoLimits, error: type[errors.FusionKitError]) -> None:
    with pytest.raises(error) as info:
        probe_video(clip_360p, limits=limits)
    assert isinstance(info.value, ValueError) and "limit" in info.value.message


def test_limits_are_validated() -> None:
    with pytest.raises(errors.ParameterValueError):
        VideoLimits(max_fps=0)
    with pytest.raises(errors.ParameterValueError):
        probe_video(b"", limits="big")  # type: ignore[arg-type]


def test_truncated_files(clip_360p: Path, clip_720p_short: Path) -> None:
    # Index at the end: cut off, the container cannot be read at all.
    data = clip_360p.read_bytes()
    with pytest.raises(errors.VideoDecodeFailedError, match="truncated"):
        probe_video(data[: len(data) // 2])
    # Index at the start: it reads, but its last samples lie past the end.
    data = clip_720p_short.read_bytes()
    with pytest.raises(errors.VideoDecodeFailedError, match="truncated"):
        probe_video(data[: len(data) * 3 // 4])


def test_not_a_video(tmp_path: Path) -> None:
    from fusionkit.samples import sample_path

    for data in (sample_path("obama.jpg").read_bytes(), b"", b"hello world, not a video at all"):
        with pytest.raises(errors.VideoDecodeFailedError):
            probe_video(data)
    with pytest.raises(errors.VideoDecodeFailedError):
        probe_video(tmp_path / "missing.mp4")


def test_no_video_stream(tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(errors.VideoDecodeFailedError, match="no video stream"):
        probe_video(path)


def test_references_to_other_files_are_refused(tmp_path: Path, clip_360p: Path) -> None:
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{clip_360p}\n#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.txt"
    concat.write_text(f"ffconcat version 1.0\nfile '{clip_360p}'\n")
    for path in (playlist, concat):
        with pytest.raises(errors.VideoFormatNotSupportError):
            probe_video(path)
    # Names FFmpeg would resolve as protocols are plain (missing) local files here.
    for name in (f"concat:{clip_360p}|{clip_360p}", "http://127.0.0.1:9/clip.mp4", f"file:{clip_360p}"):
        with pytest.raises(errors.VideoDecodeFailedError):
            probe_video(name)


def test_importing_imaging_does_not_import_av() -> None:
    code = "import fusionkit.imaging, sys; assert 'av' not in sys.modules, 'av imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_fusion_does_not_import_av() -> None:
    code = ("import fusionkit, sys; fusionkit.fuse_video; fusionkit.probe_video; "
            "assert 'av' not in sys.modules, 'av imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
