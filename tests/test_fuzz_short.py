"""The fuzz harness (fuzz/) in the suite: each target on its committed seeds, and every saved finding.

The seed replay runs each target's ``TestOneInput`` once per committed seed (a few seconds, no libFuzzer), so a
change that breaks a target or makes a seed crash shows up here; it needs atheris (the ``fuzz`` extra) and skips
without it. Longer runs are ``make fuzz-short`` (about a minute) and ``make fuzz`` (fuzz/README.md).

Findings: every input under ``fuzz/regressions/<target>/`` is replayed through its target with ``FUZZ_STRICT=1``
(needs atheris), and each finding also has a direct test here that needs no atheris. The ones not fixed yet are
listed in :data:`OPEN_FINDINGS` and xfail strictly: when a fix lands the test passes, strict xfail turns that into a
failure, and the entry (and its line in fuzz/_harness.py's KNOWN_FINDINGS) is removed, leaving the regression.
"""

from __future__ import annotations

import contextlib
import importlib
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from fusionkit import core
from fusionkit.errors import FusionKitError, ParameterValueError

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ("decode", "video", "core", "domain")

#: Saved inputs of findings not fixed yet (path under fuzz/regressions/) -> what is wrong. All 14 found in the first
#: runs are fixed (5ada0bc and the commit that emptied this table), and their inputs are plain regressions now.
OPEN_FINDINGS: dict[str, str] = {}  # every finding so far is fixed (see fuzz/README.md); a new one goes here

#: Seconds a hang finding's call may take in a subprocess before it counts as hanging.
HANG_SECONDS = 1.5


def _target(name: str) -> ModuleType:
    pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[fuzz]'): the fuzz targets "
                                          "need it")
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    return importlib.import_module(f"fuzz_{name}")


def _regressions() -> list[Path]:
    return sorted(p for p in (FUZZ / "regressions").glob("*/*") if p.is_file() and p.suffix != ".md")


def _key(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("name", TARGETS)
def test_seed_corpus_runs_clean(name):
    module = _target(name)
    import _harness

    seeds = sorted((FUZZ / "corpus" / name).glob("seed-*"))
    assert seeds, f"fuzz/corpus/{name} has no committed seeds (python fuzz/make_corpus.py writes them)"
    assert _harness.replay(module.TestOneInput, seeds) == len(seeds)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=_key(p), marks=pytest.mark.xfail(strict=True, reason=OPEN_FINDINGS[_key(p)]))
    if _key(p) in OPEN_FINDINGS else pytest.param(p, id=_key(p))
    for p in _regressions()
])
def test_saved_finding_replays_clean(path, monkeypatch, tmp_path):
    module = _target(path.parent.name)
    monkeypatch.setenv("FUZZ_STRICT", "1")
    monkeypatch.delenv("FUZZ_FINDINGS_DIR", raising=False)
    if "timeout" in path.name:
        _replay_hang(module, path, monkeypatch, tmp_path)
    else:
        module.TestOneInput(path.read_bytes())


class _Captured(Exception):
    pass


def _replay_hang(module, path, monkeypatch, tmp_path):
    """A hang found in the C core: decode the input into its core call here, run that call in a subprocess, and
    kill it after HANG_SECONDS (the C call cannot be interrupted in-process)."""
    assert path.parent.name == "core", "only C-core hangs can be replayed in a subprocess"
    calls = []
    for name in core.__all__:
        fn = getattr(core, name)
        if callable(fn) and not isinstance(fn, type):
            def capture(*args, _name=name, **kwargs):
                calls.append((_name, args, kwargs))
                raise _Captured
            monkeypatch.setattr(core, name, capture)
    with contextlib.suppress(_Captured):
        module.TestOneInput(path.read_bytes())
    assert calls, f"{path} makes no C-core call"
    (tmp_path / "call.pickle").write_bytes(pickle.dumps(calls[-1]))
    script = ("import pickle, sys\nfrom fusionkit import core\nfrom fusionkit.errors import ParameterValueError\n"
              "name, args, kwargs = pickle.load(open(sys.argv[1], 'rb'))\n"
              "try:\n    getattr(core, name)(*args, **kwargs)\nexcept ParameterValueError:\n    pass\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "call.pickle")], check=True, timeout=HANG_SECONDS)


def test_every_open_finding_has_its_input():
    missing = [k for k in OPEN_FINDINGS if not (FUZZ / "regressions" / k).is_file()]
    assert not missing


# The findings as plain tests (no atheris needed): (saved input, the call, what it should raise, what it raises now).

def _saved(key: str) -> bytes:
    return (FUZZ / "regressions" / key).read_bytes()


def _probe_video(key: str) -> object:
    from fusionkit.imaging.video import probe_video

    return probe_video(_saved(key))


def _from_json(cls_name: str, key: str) -> object:
    import fusionkit.domain
    from fusionkit.domain.audit import AuditRecord

    cls = AuditRecord if cls_name == "AuditRecord" else getattr(fusionkit.domain, cls_name)
    return cls.from_json(_saved(key))


def _read_and_rewrite(key: str) -> object:
    from fusionkit.domain import Material

    return Material.from_json(Material.from_json(_saved(key)).to_json())


DIRECT = [
    ("core/number-overflow-big-int", lambda: core.unsharp_mask(np.zeros((4, 4), np.uint8), 10**400, 1.0),
     ParameterValueError, OverflowError),
    ("core/number-overflow-big-int", lambda: core.box_radii_for_sigma(-(10**400)), ParameterValueError,
     OverflowError),
    ("core/warp-mesh-ragged-triangles",
     lambda: core.warp_mesh(np.zeros((4, 4), np.uint8), [[0, 0], [3, 0], [3, 3]], [[0, 0], [3, 0], [3, 3]],
                            [[0, 1, 2], [0, 1]], np.zeros((4, 4), np.uint8)), ParameterValueError, ValueError),
    ("video/codec-context-none.mp4", lambda: _probe_video("video/codec-context-none.mp4"), FusionKitError,
     AttributeError),
    ("video/audio-codec-context-none.mp4", lambda: _probe_video("video/audio-codec-context-none.mp4"),
     FusionKitError, AttributeError),
    ("video/stream-metadata-not-utf8.mp4", lambda: _probe_video("video/stream-metadata-not-utf8.mp4"),
     FusionKitError, UnicodeDecodeError),
    ("domain/material-mesh-nan.json", lambda: _from_json("Material", "domain/material-mesh-nan.json"),
     FusionKitError, None),
    ("domain/material-face-roll-nan.json", lambda: _read_and_rewrite("domain/material-face-roll-nan.json"),
     FusionKitError, ValueError),
    ("domain/material-face-score-out-of-range.json",
     lambda: _from_json("Material", "domain/material-face-score-out-of-range.json"), FusionKitError, ValueError),
    ("domain/material-face-keypoints-ragged.json",
     lambda: _from_json("Material", "domain/material-face-keypoints-ragged.json"), FusionKitError, ValueError),
    ("domain/log-time-cost-not-a-number.json",
     lambda: _from_json("LogRecord", "domain/log-time-cost-not-a-number.json"), FusionKitError, ValueError),
    ("domain/video-job-faces-not-mappings.json",
     lambda: _from_json("VideoJob", "domain/video-job-faces-not-mappings.json"), FusionKitError, ValueError),
    ("domain/retention-period-overflow.json",
     lambda: _from_json("RetentionPolicy", "domain/retention-period-overflow.json"), FusionKitError, OverflowError),
    ("domain/retention-period-nan.json",
     lambda: _from_json("RetentionPolicy", "domain/retention-period-nan.json"), FusionKitError, ValueError),
]


@pytest.mark.parametrize("key, call, expected", [
    pytest.param(key, call, expected, id=key,
                 marks=pytest.mark.xfail(strict=True, raises=actual, reason=OPEN_FINDINGS[key]))
    if key in OPEN_FINDINGS else pytest.param(key, call, expected, id=key)
    for key, call, expected, actual in DIRECT
])
def test_finding_is_a_typed_error(key, call, expected):
    with pytest.raises(expected):
        call()


def test_fill_polygon_far_below_the_mask_returns_at_once():
    # One edge lies wholly at y in [3e9, 4e9]: nothing to draw there, yet the C loop runs 2**31 rows.
    script = ("import numpy as np\nfrom fusionkit import core\n"
              "core.fill_polygon(np.array([[0, 0], [10, 0], [10, 3e9], [5, 4e9], [0, 3e9]]),\n"
              "                  np.zeros((4, 4), np.uint8))")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=HANG_SECONDS)
