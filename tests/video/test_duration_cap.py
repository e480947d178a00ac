"""The frame cap counted while decoding, in every decode loop (tracking and fusion): a video whose header lies
about its duration stops at the first frame past the caps, even where probe_video's own index check is passed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionkit import errors
from fusionkit.fusion.video import VideoTracks, fuse_video, track_video
from fusionkit.imaging import VideoLimits
from fusionkit.imaging import video as video_module
from fusionkit.samples import sample_path
from tests.video.hostile import patch_duration, tiny_clip

LIMITS = VideoLimits(max_duration_s=2.0)


@pytest.fixture
def lying_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """10 s at 60 fps (600 frames of 32x32) whose header says 1 s; probe_video's index check switched off, as for
    a header it could not see through."""
    path = tmp_path / "lying.mp4"
    path.write_bytes(patch_duration(tiny_clip(600, 60, size=32), 1.0))
    monkeypatch.setattr(video_module, "_check_frame_index", lambda container, info, limits: info)
    return path


def test_tracking_stops_at_the_frame_cap(lying_clip: Path) -> None:
    seen: list[float] = []
    with pytest.raises(errors.VideoDurationExceedError, match=r"more than 120 frames.*header says 1.00 s"):
        track_video(lying_clip, limits=LIMITS, progress=seen.append)
    assert len(seen) == 121  # 2 s at 60 fps, one frame for rounding, then the refusal


def test_fusion_stops_at_the_frame_cap(lying_clip: Path, tmp_path: Path) -> None:
    tracks = VideoTracks(points=np.full((60, 1, 468, 3), np.nan, np.float32), present=np.zeros((60, 1), bool))
    target = tmp_path / "out" / "fused.mp4"
    target.parent.mkdir()
    with pytest.raises(errors.VideoDurationExceedError, match="more than 120 frames"):
        fuse_video(lying_clip, sample_path("biden.jpg"), target, tracks=tracks, limits=LIMITS)
    assert not list(target.parent.iterdir())  # nothing left behind


def test_probe_refuses_it_without_decoding(tmp_path: Path) -> None:
    from fusionkit.imaging import probe_video

    data = patch_duration(tiny_clip(600, 60, size=32), 1.0)
    with pytest.raises(errors.VideoDurationExceedError, match="more than 120 frames"):
        probe_video(data, limits=LIMITS)
