"""The sample photos (fusionkit.samples) and the faces each holds (checked by eye; see their PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

import fusionkit.samples

DATA = Path(fusionkit.samples.__file__).resolve().parent
PORTRAITS = ("astronaut.png", "obama.jpg", "obama3.jpg", "biden.jpg")
EXPECTED_FACES = {**{name: 1 for name in PORTRAITS}, "two_people.jpg": 2}
