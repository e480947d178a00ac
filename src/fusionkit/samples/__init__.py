"""The bundled sample photos (public domain; see PROVENANCE.md beside them) for the demo, tests and benchmarks.

>>> from fusionkit.samples import sample_path
>>> sample_path("obama.jpg").name
'obama.jpg'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLES", "sample_path"]

_HERE = Path(__file__).resolve().parent

#: The sample file names.
SAMPLES = ("astronaut.png", "biden.jpg", "obama.jpg", "obama3.jpg", "two_people.jpg")


def sample_path(name: str) -> Path:
    """The path of a bundled sample photo.

    Raises
    ------
    KeyError
        If ``name`` is not one of :data:`SAMPLES`.
    """
    if name not in SAMPLES:
        raise KeyError(f"{name!r} is not a bundled sample; choose one of {', '.join(SAMPLES)}")
    return _HERE / name
