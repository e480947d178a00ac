"""``fusionkit --studio URL video submit|status|cancel|wait``: jobs on a studio folder across processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from fusionkit.errors import JobNotExistError, ParameterValueError
from tests.video.clips import make_clip

from .conftest import assert_error, run_cli, run_cli_on_terminal

USAGE = ParameterValueError.code


@pytest.fixture(scope="module")
def cli_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("cli_clips") / "clip.mp4", width=320, height=180, fps=10, seconds=1.0)


def _json(studio: Path, *args: str | Path) -> Any:
    proc = run_cli("--studio", studio, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_video_jobs_from_the_shell(tmp_path: Path, samples: dict[str, Path], cli_clip: Path) -> None:
    studio = tmp_path / "studio"
    aid = _json(studio, "activity", "create", "video")["id"]
    (mat,) = _json(studio, "material", "upload", aid, cli_clip)
    assert mat["material_kind"] == "video" and mat["status"] == "ready"
    job = _json(studio, "video", "submit", "--material", mat["id"], samples["biden.jpg"])
    assert job["status"] == "queued" and job["status_code"] == 1
    assert _json(studio, "video", "status", job["id"])["status"] == "queued"  # nobody runs it yet
    other = _json(studio, "video", "submit", "--material", mat["id"], samples["biden.jpg"])
    cancelled = _json(studio, "video", "cancel", other["id"])
    assert cancelled["status"] == "failed" and cancelled["error_code"] == "FailedOperation.JobCancelled"
    done = _json(studio, "video", "wait", job["id"], "--timeout", "120")
    assert done["status"] == "completed" and done["status_code"] == 7 and done["frame_count"] == 10
    proc = run_cli("--studio", studio, "video", "status", job["id"])
    assert proc.returncode == 0 and "completed (7)" in proc.stdout and done["md5"] in proc.stdout
    now = _json(studio, "video", "submit", "--material", mat["id"], samples["biden.jpg"], "--wait")
    assert now["status"] == "completed"
    assert_error(run_cli("--studio", studio, "video", "wait", other["id"]), 1, "FailedOperation.JobCancelled")


def test_video_errors(tmp_path: Path, samples: dict[str, Path]) -> None:
    studio = tmp_path / "studio"
    _json(studio, "activity", "create", "video")
    assert_error(run_cli("--studio", studio, "video", "status", "jb_0000000000000000"), 1, JobNotExistError.code)
    assert_error(run_cli("--studio", studio, "video", "submit", samples["biden.jpg"]), 2, USAGE)
    assert_error(run_cli("--studio", studio, "video", "wait", "jb_0000000000000000", "--timeout", "-1"), 2, USAGE)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_video_wait_shows_progress_only_on_a_terminal(tmp_path: Path, samples: dict[str, Path],
                                                      cli_clip: Path) -> None:

    studio = tmp_path / "studio"
    aid = _json(studio, "activity", "create", "video")["id"]
    (mat,) = _json(studio, "material", "upload", aid, cli_clip)
    job = _json(studio, "video", "submit", "--material", mat["id"], samples["biden.jpg"])
    rc, out, seen = run_cli_on_terminal("--studio", studio, "video", "wait", job["id"])
    assert rc == 0
    assert f"job {job['id']}: ".encode() in seen and b"\r" in seen
    assert b"\r" not in out and b"completed" in out  # stdout carries the result only
