"""benchmarks/bench_targets.py (issue 19's table) runs end to end on its quicker rows and prints one JSON object in
which every row names its baseline, carries its figures and says whether its bars are met: so the table cannot
rot. Timings are checked for being there and sane, never against the bars."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_targets.py"
ROWS = ("warp", "multiband", "analysis", "memory")


@pytest.mark.slow
def test_the_targets_table_reports_every_row_with_its_baseline() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--only", *ROWS, "--rounds", "1", "--json"],
                         capture_output=True, text=True, timeout=180, check=True, cwd=SCRIPT.parents[1])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) == {"cpu_count", *ROWS}
    for key in ROWS:
        row = result[key]
        assert row["measure"] and row["baseline"], key
        assert isinstance(row["met"], bool), key
        for target in row["targets"]:
            assert target["op"] in (">=", "<=") and target["figure"] in row["figures"], (key, target)
        for name, value in row["figures"].items():
            assert math.isfinite(value), (key, name)
    warp = result["warp"]["figures"]
    assert warp["ours_ms"] > 0 and warp["baseline_ms"] > 0 and warp["floor_ms"] > 0
    assert warp["ratio"] == pytest.approx(warp["baseline_ms"] / warp["ours_ms"])
    assert result["multiband"]["figures"]["baseline_ms"] == min(result["multiband"]["figures"]["baseline_1thread_ms"],
                                                                result["multiband"]["figures"]["baseline_threads_ms"])
    analysis = result["analysis"]["figures"]
    # one face: one detector run and one landmark run, replayed on the very inputs the pipeline gave them
    assert analysis["faces"] == 1 and analysis["model_runs"] == 2
    assert analysis["ours_ms"] > 0 and analysis["baseline_ms"] > 0
    memory = result["memory"]["figures"]
    assert memory["images_mb"] > 5 and memory["first_call_above_mb"] >= 0 and memory["peak_above_mb"] >= 0
    # the human-readable table goes to stderr beside the JSON, a line per row
    assert all(result[key]["measure"] in out.stderr for key in ROWS)
