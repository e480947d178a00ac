"""``fusionkit --help`` imports nothing heavy: no NumPy, OpenCV, onnxruntime, fsspec or C core at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from fusionkit import __version__

from .conftest import run_cli

HEAVY = ["numpy", "cv2", "onnxruntime", "fsspec", "attrs", "skimage", "fusionkit.core", "fusionkit._core",
         "fusionkit.vision", "fusionkit.fusion", "fusionkit.studio", "fusionkit.imaging"]

HELPS = [["--help"], ["fuse", "--help"], ["detect", "--help"], ["activity", "--help"], ["activity", "create", "--help"],
         ["activity", "list", "--help"], ["activity", "get", "--help"], ["activity", "rename", "--help"],
         ["activity", "delete", "--help"], ["material", "--help"], ["material", "upload", "--help"],
         ["material", "list", "--help"], ["material", "get", "--help"], ["material", "delete", "--help"],
         ["result", "--help"], ["result", "get", "--help"],
         ["logs", "--help"], ["sweep", "--help"], ["erase", "--help"], ["--version"]]

PROBE = """
import contextlib, io, json, sys
from fusionkit.cli import main
out = {}
for argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main(argv)
            rc = 0
        except SystemExit as exc:
            rc = exc.code
    out[" ".join(argv)] = {"rc": rc, "text": buf.getvalue()}
print(json.dumps({"runs": out, "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def test_every_help_answers_without_heavy_imports() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(HELPS), json.dumps(HEAVY)], capture_output=True,
                          text=True, check=True, timeout=60)
    report = json.loads(proc.stdout)
    assert report["heavy"] == [], f"imported at start-up: {report['heavy']}"
    for argv, run in report["runs"].items():
        assert run["rc"] == 0, argv
        assert run["text"].strip(), argv
    assert report["runs"]["--version"]["text"].strip() == f"fusionkit {__version__}"
    assert "fusionkit fuse TEMPLATE USER" in report["runs"]["--help"]["text"]
    assert "--face-degree" in report["runs"]["fuse --help"]["text"]


def test_entry_point_is_installed() -> None:
    script = Path(sysconfig.get_path("scripts")) / ("fusionkit.exe" if os.name == "nt" else "fusionkit")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fusionkit {__version__}"


def test_usage_errors_are_one_line_with_exit_2() -> None:
    for args, needle in ((["frob"], "invalid choice"), ([], "COMMAND"), (["activity"], "ACTION"),
                         (["fuse", "a.jpg", "b.jpg", "-o", "x.jpg", "--blend", "soft"], "--blend")):
        proc = run_cli(*args)
        assert proc.returncode == 2, args
        if args:
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and needle in lines[0] and "InvalidParameterValue" in lines[0], proc.stderr


def test_nothing_imports_the_cli() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "fusionkit"
    users = [p.relative_to(src).as_posix() for p in src.rglob("*.py")
             if p.relative_to(src).parts[0] != "cli" and "fusionkit.cli" in p.read_text()]
    assert users == ["__main__.py"]  # `python -m fusionkit` is the command itself
