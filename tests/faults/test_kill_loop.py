"""A studio killed with SIGKILL at random points of a scripted session (upload, fusion, video job, deletes, sweep)
recovers: every document parses, a sweep leaves nothing behind, what the session finished is still there.

tools/kill_loop.py does the work; the test suite runs a few iterations (``FUSIONKIT_KILL_ITERATIONS``, default
4, half of them on an encrypted studio, half on a plain one), ``make chaos`` runs 150 (``FUSIONKIT_KILL_SEED``
picks the delays; a failure names its seed and iteration, to run again with ``tools/kill_loop.py --seed S --only
I``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _kill_loop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_loop", ROOT / "tools" / "kill_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kill_loop", module)
    spec.loader.exec_module(module)
    return module


def test_a_studio_killed_at_random_points_recovers_whole() -> None:
    iterations = int(os.environ.get("FUSIONKIT_KILL_ITERATIONS", "4"))
    seed = int(os.environ.get("FUSIONKIT_KILL_SEED", "1"))
    lines: list[str] = []
    failures, known = _kill_loop().loop(iterations, seed=seed, encryption="both", log=lines.append)
    assert not failures, "\n".join(lines)
    if known:
        pytest.xfail(f"known bugs of src/ (tools/kill_loop.py KNOWN): {sorted({k.split(':')[0] for k in known})}")
