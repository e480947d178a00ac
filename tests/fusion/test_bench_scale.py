"""benchmarks/bench_scale.py runs end to end (threads, two LocalClusters of worker processes, the small batch) and
prints one JSON object with every figure: the smallest run it allows, a few seconds, so the benchmark cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


@pytest.mark.slow
def test_the_scale_benchmark_runs_and_reports_every_figure() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--rounds", "1", "--requests", "2", "--small", "10",
                          "--json"], capture_output=True, text=True, timeout=300, check=True, cwd=SCRIPT.parents[1])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for name in ("fps_threads_1", "fps_threads_2", "fps_processes_1", "fps_processes_2"):
        assert figures[name] > 0, name
    for name in ("process_speedup", "dask_overhead_ms", "dask_round_trip_overhead_ms", "small_peak_rss_mb",
                 "small_rss_growth_mb", "worker_peak_rss_mb", "worker_malloc_trim_threshold"):
        assert name in figures, name
    assert figures["small"] == 10 and figures["small_peak_rss_mb"] > 0
