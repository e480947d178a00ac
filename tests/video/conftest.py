"""Clips made once per test session (a few seconds of encoding in all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.video.clips import make_clip


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip_360p(clip_dir: Path) -> Path:
    """2 s, 640x360, 25 fps, H.264 + AAC stereo tone, index at the end."""
    return make_clip(clip_dir / "obama_360p.mp4", seconds=2.0)


@pytest.fixture(scope="session")
def clip_720p_short(clip_dir: Path) -> Path:
    """1 s, 1280x720, 25 fps, index at the start (faststart), no audio."""
    return make_clip(clip_dir / "biden_720p.mp4", sample="biden.jpg", width=1280, height=720, seconds=1.0,
                     audio=False, faststart=True)
