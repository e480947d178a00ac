"""The hostile-input generators (tools/hostile_inputs.py) produce over a thousand broken pictures and videos; every
one of the MP4 header breakages gets a typed error or a probe, never another exception (27 of them once raised
AttributeError or UnicodeDecodeError out of PyAV)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import hostile_inputs  # noqa: E402

from fusionkit.errors import FusionKitError  # noqa: E402
from fusionkit.imaging.video import probe_video  # noqa: E402


def test_the_generators_make_over_a_thousand_inputs() -> None:
    assert sum(len(list(generate())) for generate in hostile_inputs.GENERATORS.values()) >= 1000


def test_every_broken_mp4_header_is_a_typed_error_or_a_probe() -> None:
    outcomes = {"typed": 0, "probed": 0}
    for _, data in hostile_inputs.all_mp4():
        try:
            probe_video(data)
            outcomes["probed"] += 1
        except FusionKitError:
            outcomes["typed"] += 1
    assert outcomes["typed"] > 100 and outcomes["probed"] > 100
