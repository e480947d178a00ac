"""Studio fixtures: a fake clock, a studio on memory:// and on a local directory, the sample photos."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timedelta, timezone

import pytest

import fusionkit
from fusionkit.samples import sample_path
from fusionkit.storage import KeyNotFound
from tests.photos import photo  # noqa: F401 - the studio tests import it from here


class FakeClock:
    """A settable clock: ``clock()`` returns the current fake time; ``advance(...)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)




@functools.cache
def photo_bytes(name: str) -> bytes:
    with open(sample_path(name), "rb") as fh:
        return fh.read()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "local"])
def studio_url(request, tmp_path) -> str:
    if request.param == "memory":
        return f"memory://fk-studio-{uuid.uuid4().hex}"
    return str(tmp_path / "studio")


@pytest.fixture
def studio(studio_url, clock):
    return fusionkit.open(studio_url, clock=clock)


def stored_keys(studio, prefix: str = "") -> list[str]:
    """Every key under the studio root (or under ``prefix``), logs excluded unless asked for."""
    out = []

    def walk(p: str) -> None:
        for name in studio.store.list(p) if p else _top(studio):
            key = f"{p}/{name}" if p else name
            if studio.store.list(key):
                walk(key)
            else:
                try:
                    studio.store.read(key)
                except KeyNotFound:
                    continue  # an empty folder on local disk holds nothing
                out.append(key)

    walk(prefix)
    return sorted(k for k in out if prefix.startswith("logs") or not k.startswith("logs"))


def _top(studio) -> list[str]:
    return [n for n in ("activities", "materials", "results", "logs") if studio.store.list(n)]
