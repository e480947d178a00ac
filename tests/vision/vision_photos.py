"""The sample photos (fusionkit.samples) and the faces each holds (checked by eye; see their PROVENANCE.md)."""

from __future__ import annotations

from tests.photos import photo_path

DATA = photo_path("obama.jpg").parent
PORTRAITS = ("astronaut.png", "obama.jpg", "obama3.jpg", "biden.jpg")
EXPECTED_FACES = {**{name: 1 for name in PORTRAITS}, "two_people.jpg": 2}
