"""benchmarks/bench_plugins.py runs end to end (the tiny graphs, every swapper size, the enhancer, the default fusion
compared) and prints one JSON object with every figure: its --quick run, a few seconds, so the benchmark cannot rot.
Timings are checked for being there and sane, never against the bar."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_plugins.py"

SWAPPER_FIGURES = ("swapper_run_ms", "recogniser_run_ms", "models_in_render_ms", "render_ms", "render_over_mesh_ms",
                   "warp_stage_ms", "overhead_ms", "overhead_direct_ms", "five_points_ms", "align_ms",
                   "template_crop_112_ms", "user_crop_ms", "convert_ms", "paste_back_ms", "other_ms")
ENHANCER_FIGURES = ("run_ms", "enhance_ms", "models_in_enhance_ms", "overhead_ms", "composite_ms", "five_points_ms",
                    "align_ms", "convert_ms", "paste_back_ms", "enhance_stage_ms", "overhead_of_stage_ms",
                    "overhead_direct_ms", "other_ms")
# Differences (overheads, what is left over) may come out slightly negative on a noisy machine; times may not.
DIFFERENCES = {"render_over_mesh_ms", "other_ms"}


@pytest.mark.slow
def test_the_plugin_benchmark_runs_and_reports_every_figure() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--rounds", "5", "--json"], capture_output=True,
                         text=True, timeout=120, check=True, cwd=SCRIPT.parents[1])
    figures = json.loads(out.stdout.strip().splitlines()[-1])

    assert figures["template"] == "1920x1080" and 200 <= figures["face_width_px"] <= 350
    assert figures["rounds"] == 5
    assert set(figures["swapper"]) == {"128", "256", "512"}
    for size, row in figures["swapper"].items():
        for name in SWAPPER_FIGURES:
            value = row[name]
            assert math.isfinite(value), (size, name)
            assert name in DIFFERENCES or value > 0, (size, name, value)
        # the models' time inside render is part of it; the whole call takes longer than the model alone
        assert row["models_in_render_ms"] < row["render_ms"], size
        assert row["render_ms"] > row["swapper_run_ms"], size
    for name in ENHANCER_FIGURES:
        value = figures["enhancer"][name]
        assert math.isfinite(value) and (name in DIFFERENCES or value > 0), (name, value)

    # the user's embedding is made on the first render only; the template's on every one (fuse_face_degree > 0)
    assert figures["fuse_face_degree"] > 0
    assert figures["recogniser_runs_first_render"] == 2 and figures["recogniser_runs_per_render"] == 1
    assert figures["providers_requested"] == ["CPUExecutionProvider"]
    assert set(figures["providers_used"]) == {"swapper_128", "swapper_256", "swapper_512", "recogniser", "enhancer"}
    assert all(p and p[0] == "CPUExecutionProvider" for p in figures["providers_used"].values())
    assert figures["bar_ms"] == 3.0
    assert set(figures["bar_pass"]) == {"swapper_128", "swapper_256", "swapper_512", "enhancer"}
    assert all(isinstance(v, bool) for v in figures["bar_pass"].values())

    # with no plug-in nothing changes: the default options are the mesh renderer's, to the pixel
    assert figures["default_pixels_equal"] is True and figures["default_options_equal"] is True
    assert figures["default_fuse_ms"] > 0 and figures["explicit_mesh_fuse_ms"] > 0
