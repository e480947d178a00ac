"""The test photos (tests/data) and the faces each holds (checked by eye; see tests/data/PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
PORTRAITS = ("astronaut.png", "obama.jpg", "obama3.jpg", "biden.jpg")
EXPECTED_FACES = {**{name: 1 for name in PORTRAITS}, "two_people.jpg": 2}
