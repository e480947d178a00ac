"""tools/make_doc_pictures.py makes the documentation's pictures from the samples; the committed ones are its."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]


def test_pictures_are_made_by_the_script(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_doc_pictures.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    for name in ("fusion.jpg", "degrees.jpg"):
        made = cv2.imread(str(tmp_path / name))
        committed = cv2.imread(str(ROOT / "docs" / "images" / name))
        assert made is not None and committed is not None and made.shape == committed.shape
        # Same pictures up to JPEG and library-version noise.
        assert abs(made.astype(int) - committed.astype(int)).mean() < 4
