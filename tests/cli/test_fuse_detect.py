"""``fusionkit fuse`` and ``fusionkit detect`` on the bundled samples: results, JSON, and every error a user can
provoke (one line on stderr with the code, exit 1 or 2, and no output file, whole or partial)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import pytest

from fusionkit.errors import (
    ImageDecodeFailedError,
    NoFaceDetectedError,
    ParameterValueError,
)

from .conftest import assert_error, run_cli, run_cli_on_terminal

USAGE = ParameterValueError.code


def _no_leftovers(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_fuse_one_face(tmp_path: Path, samples: dict[str, Path]) -> None:
    out = tmp_path / "fused.jpg"
    proc = run_cli("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", out, "--face-degree", "40",
                   "--quality", "90")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith(f"wrote {out}")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == cv2.imread(str(samples["obama.jpg"])).shape[:2]
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    _no_leftovers(tmp_path)


def test_fuse_two_faces_json(tmp_path: Path, samples: dict[str, Path]) -> None:
    out = tmp_path / "two.png"
    proc = run_cli("--json", "fuse", samples["two_people.jpg"], samples["obama.jpg"], samples["astronaut.png"],
                   "-o", out, "--profile-degree", "50", "--blend", "alpha", "--no-label", "--meta", "campaign=spring",
                   "--expression", "user")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [m["template_face"] for m in doc["merges"]] == [0, 1]
    assert doc["fuse_profile_degree"] == 50 and doc["blend_mode"] == "alpha" and doc["output"] == str(out)
    assert doc["expression"] == "user"
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and b"campaign" in data and b"spring" in data


def test_detect_draws_on_a_copy(tmp_path: Path, samples: dict[str, Path]) -> None:
    drawn = tmp_path / "faces.png"
    proc = run_cli("detect", samples["two_people.jpg"], "--draw", drawn, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["faces"]) == 2 and doc["faces"][0]["size"] >= doc["faces"][1]["size"]
    assert all(len(f["box"]) == 4 and len(f["keypoints"]) == 6 for f in doc["faces"])
    original = cv2.imread(str(samples["two_people.jpg"]))
    copy = cv2.imread(str(drawn))
    assert copy.shape == original.shape and (copy != original).any()
    proc = run_cli("detect", samples["obama.jpg"])
    assert proc.returncode == 0 and "1 face(s)" in proc.stdout


@pytest.mark.parametrize(
    ("case", "rc", "code", "needle"),
    [
        ("missing template", 2, USAGE, "does not exist"),
        ("missing user", 2, USAGE, "does not exist"),
        ("user is not a picture", 2, USAGE, "is not a JPEG, PNG or WebP"),
        ("degree over 100", 2, USAGE, "--face-degree"),
        ("degree not a number", 2, USAGE, "--profile-degree"),
        ("quality 0", 2, USAGE, "--quality"),
        ("meta without =", 2, USAGE, "KEY=VALUE"),
        ("meta key not ASCII", 2, USAGE, "metadata key"),
        ("output not an image name", 2, USAGE, ".jpg, .jpeg or .png"),
        ("output folder missing", 2, USAGE, "does not exist"),
        ("output is a folder", 2, USAGE, "is a folder"),
        ("no output", 2, USAGE, "-o OUT"),
        ("no user", 2, USAGE, "at least one USER"),
        ("seven users", 2, USAGE, "1 to 6"),
        ("no face in template", 1, NoFaceDetectedError.code, "template"),
        ("no face in user", 1, NoFaceDetectedError.code, "user image"),
        ("user truncated", 1, ImageDecodeFailedError.code, ""),
    ],
)
def test_fuse_errors(case: str, rc: int, code: str, needle: str, tmp_path: Path, samples: dict[str, Path],
                     blank_png: Path) -> None:
    obama, biden = samples["obama.jpg"], samples["biden.jpg"]
    out = tmp_path / "out.jpg"
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(biden.read_bytes()[:2000])
    (tmp_path / "notes.txt").write_text("not a picture")
    args: list[str | Path] = {
        "missing template": [tmp_path / "nope.jpg", biden, "-o", out],
        "missing user": [obama, tmp_path / "nope.jpg", "-o", out],
        "user is not a picture": [obama, tmp_path / "notes.txt", "-o", out],
        "degree over 100": [obama, biden, "-o", out, "--face-degree", "120"],
        "degree not a number": [obama, biden, "-o", out, "--profile-degree", "lots"],
        "quality 0": [obama, biden, "-o", out, "--quality", "0"],
        "meta without =": [obama, biden, "-o", out, "--meta", "campaign"],
        "meta key not ASCII": [obama, biden, "-o", out, "--meta", "clé=v"],
        "output not an image name": [obama, biden, "-o", tmp_path / "out.gif"],
        "output folder missing": [obama, biden, "-o", tmp_path / "no" / "such" / "out.jpg"],
        "output is a folder": [obama, biden, "-o", tmp_path / "dir.jpg"],
        "no output": [obama, biden],
        "no user": [obama, "-o", out],
        "seven users": [obama, *[biden] * 7, "-o", out],
        "no face in template": [blank_png, biden, "-o", out],
        "no face in user": [obama, blank_png, "-o", out],
        "user truncated": [obama, truncated, "-o", out],
    }[case]
    (tmp_path / "dir.jpg").mkdir()
    line = assert_error(run_cli("fuse", *args), rc, code)
    assert needle in line
    assert line.startswith("fusionkit fuse: [")
    assert not out.exists()
    _no_leftovers(tmp_path)


def test_detect_errors(tmp_path: Path, samples: dict[str, Path], blank_png: Path) -> None:
    drawn = tmp_path / "drawn.png"
    assert_error(run_cli("detect", blank_png, "--draw", drawn), 1, NoFaceDetectedError.code)
    assert_error(run_cli("detect", tmp_path / "nope.png"), 2, USAGE)
    assert_error(run_cli("detect", samples["obama.jpg"], "--draw", tmp_path / "drawn.bmp"), 2, USAGE)
    assert not drawn.exists()
    _no_leftovers(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_unwritable_output_folder(tmp_path: Path, samples: dict[str, Path]) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = assert_error(run_cli("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", folder / "o.jpg"), 2,
                            USAGE)
        assert "not writable" in line
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_ctrl_c_leaves_no_partial_output(tmp_path: Path, samples: dict[str, Path]) -> None:
    import re

    out = tmp_path / "fused.png"
    rc, _, seen = run_cli_on_terminal("fuse", samples["two_people.jpg"], samples["obama.jpg"], samples["biden.jpg"],
                                      "-o", out, interrupt_on=b"fusing")
    err = seen.decode(errors="replace")
    lines = [line for line in re.split(r"\r|\n|\x1b\[K", err) if line.strip()]
    assert lines and lines[0].startswith("fusing "), err
    if rc == 0:  # it finished first: the file is whole
        assert cv2.imread(str(out)) is not None
    else:
        assert rc == 130, err
        assert lines[1:] == ["fusionkit fuse: interrupted; no output was written"], err
        assert not out.exists()
    _no_leftovers(tmp_path)


def test_fuse_a_folder(tmp_path: Path, samples: dict[str, Path], blank_png: Path) -> None:
    users, out = tmp_path / "users", tmp_path / "out"
    users.mkdir()
    out.mkdir()
    (users / "biden.jpg").write_bytes(samples["biden.jpg"].read_bytes())
    (users / "blank.png").write_bytes(blank_png.read_bytes())
    (users / "notes.txt").write_text("not a picture, not tried")
    proc = run_cli("--json", "fuse", samples["obama.jpg"], users, "-o", out, "--no-label")
    assert proc.returncode == 1  # one picture failed; the others are written
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "blank.png" in lines[0] and f"[{NoFaceDetectedError.code}]" in lines[0]
    doc = json.loads(proc.stdout)
    assert [Path(d["output"]).name for d in doc["outputs"]] == ["biden.jpg"]
    assert sorted(p.name for p in out.iterdir()) == ["biden.jpg"]
    line = assert_error(run_cli("fuse", samples["obama.jpg"], users, "-o", tmp_path / "missing"), 2, USAGE)
    assert "existing folder" in line
    assert_error(run_cli("fuse", blank_png, users, "-o", out), 1, NoFaceDetectedError.code)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_shows_only_on_a_terminal(tmp_path: Path, samples: dict[str, Path]) -> None:
    rc, out, seen = run_cli_on_terminal("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", tmp_path / "o.jpg")
    assert rc == 0
    assert b"fusing 1 face(s)" in seen and b"\r" in seen
    assert b"fusing" not in out  # stdout carries the result only
