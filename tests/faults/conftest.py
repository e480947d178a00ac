"""Fixtures of the fault-injection tests: a private temporary folder (job scratch folders are looked for there,
never among other processes' files), a tiny clip, and the prepared studios, built once per module."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.faults.scenario import Prepared, prepare
from tests.video.clips import make_clip

#: ``FUSIONKIT_FAULTS=full`` (``make chaos``): every injection point with every kind of failure; by default each
#: point gets one kind, the kinds taking turns.
FULL = os.environ.get("FUSIONKIT_FAULTS", "") == "full"


@pytest.fixture(scope="module")
def private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The temporary folder of this module's studios (``tempfile.tempdir`` points there meanwhile)."""
    folder = str(tmp_path_factory.mktemp("private-tmp"))
    old = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = old


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.5 s, 320x180, 10 fps: a face the tracker finds, the cheapest job there is."""
    return make_clip(tmp_path_factory.mktemp("fault-clips") / "tiny.mp4", width=320, height=180, fps=10,
                     seconds=0.5)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, tiny_clip: Path, private_tmp: str,
             ) -> Callable[[str | None], Prepared]:
    """``prepared(encryption)``: the scenario's studio for ``"auto"`` or ``None``, prepared on first use."""
    built: dict[str | None, Prepared] = {}

    def get(encryption: str | None) -> Prepared:
        if encryption not in built:
            folder = tmp_path_factory.mktemp("prepared") / "studio"
            built[encryption] = prepare(folder, tiny_clip, encryption,
                                        datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc))
        return built[encryption]

    return get
