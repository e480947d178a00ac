"""Every storage call of an upload, a fusion, a video job submit, a material delete, an activity delete and a
sweep, failed in turn: afterwards every document parses and, once a sweep has run, nothing is left half-done.

For each operation the studio's storage calls are counted first (no failure); then, for every position ``N`` in
that sequence, the operation runs again on a fresh copy of the same studio with its ``N``-th call failing
(tests/faults/faulty_store.py: a ``StorageError``, a full disk half-way through a write, a ``KeyboardInterrupt``
before a call or half-way through one), and a fresh studio opened on the folder checks it
(tests/faults/invariants.py) and what the calls that succeeded left (tests/faults/scenario.py). By default each
position gets one kind of failure, the kinds taking turns per kind of call; ``FUSIONKIT_FAULTS=full``
(``make chaos``) tries every kind at every position.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import fusionkit
from fusionkit.errors import FusionKitError
from tests.faults.conftest import FULL
from tests.faults.faulty_store import ERRORS, FaultyStore, is_injected
from tests.faults.invariants import Report, recover_and_check
from tests.faults.scenario import (
    OPERATIONS,
    Clock,
    Prepared,
    expectations,
    plant_leftovers,
    run_operation,
    start_of,
)

#: (exception kind, short): how an injected event fails.
MODES = (("storage", False), ("enospc", True), ("interrupt", False), ("interrupt", True))


@attrs.frozen
class Known:
    """A bug of src/ these tests found and reported, not fixed yet: an injected failure whose every problem
    matches ``problem`` (a regex), at an event of ``kind`` whose key matches ``key``, in ``operations``, failing
    as ``modes`` (``None``: any) in ``encryption`` (``"any"``, ``"auto"`` or ``None``) is expected. Remove the
    entry once the bug is fixed: the failure then passes, and an entry nothing matches any more fails."""

    name: str
    operations: tuple[str, ...]
    kind: str
    key: str
    problem: str
    modes: tuple[tuple[str, bool], ...] | None = None
    encryption: str | None = "any"

    def covers(self, operation: str, event: tuple[str, str] | None, mode: tuple[str, bool], encryption: str | None,
               problems: list[str]) -> bool:
        return (event is not None and operation in self.operations and event[0] == self.kind
                and re.fullmatch(self.key, event[1]) is not None and (self.modes is None or mode in self.modes)
                and (self.encryption == "any" or self.encryption == encryption)
                and all(re.search(self.problem, p) for p in problems))


KNOWN: tuple[Known, ...] = ()  # every bug this harness found is fixed; a new one goes here with its name


def _name(mode: tuple[str, bool]) -> str:
    return mode[0] + ("-half-way" if mode[1] else "")


def attempt(operation: str, prepared: Prepared, folder: Path, clip: Path, tmpdir: str, *, at: int | None,
            mode: tuple[str, bool]) -> tuple[FaultyStore, Report, str | None]:
    """Run ``operation`` on a copy of ``prepared`` with event ``at`` failing as ``mode`` says; the store wrapper
    (its events), the check's report, and what the call raised that it should not have."""
    prepared.copy(folder)
    clock = Clock(start_of(operation, prepared))
    studio = fusionkit.open(folder, clock=clock, video_workers=0, sweep_every=None, job_lease=1,
                            encryption=prepared.encryption)
    if operation == "sweep":
        plant_leftovers(studio, folder, prepared, tmpdir)
    faulty = FaultyStore(studio.root, at=at, error=ERRORS[mode[0]], short=mode[1])
    studio.root = faulty
    answer: Any = None
    error: BaseException | None = None
    stray: str | None = None
    try:
        answer = run_operation(operation, studio, prepared, clip)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) and not is_injected(exc):
            raise  # a real Ctrl-C
        error = exc
        if not is_injected(exc) and not isinstance(exc, FusionKitError):
            stray = f"raised {type(exc).__name__}: {exc}"
    finally:
        studio.root = faulty.inner
        studio.close()
    if at is None and error is not None:
        stray = f"failed without a fault: {type(error).__name__}: {error}"
    report = recover_and_check(folder, now=clock.now, encryption=prepared.encryption, tmpdir=tmpdir,
                               expect=expectations(operation, prepared, folder, answer, error))
    return faulty, report, stray


def plan(events: list[tuple[str, str]]) -> list[tuple[int, tuple[str, bool]]]:
    """(position, mode) of every failure to inject: every mode at every position with ``FULL``, else one mode
    per position, the modes taking turns within each kind of event."""
    if FULL:
        return [(n, mode) for n in range(1, len(events) + 1) for mode in MODES]
    seen: Counter[str] = Counter()
    out = []
    for n, (kind, _) in enumerate(events, 1):
        out.append((n, MODES[seen[kind] % len(MODES)]))
        seen[kind] += 1
    return out


@pytest.mark.parametrize("encryption", ["auto", None], ids=["encrypted", "plain"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_failure_at_any_storage_call_leaves_a_consistent_studio(
        operation: str, encryption: str | None, prepared: Callable[[str | None], Prepared], tmp_path: Path,
        tiny_clip: Path, private_tmp: str) -> None:
    scenario = prepared(encryption)
    counted, report, stray = attempt(operation, scenario, tmp_path / "count", tiny_clip, private_tmp, at=None,
                                     mode=MODES[0])
    assert stray is None and report.ok, report.lines()
    kinds = Counter(kind for kind, _ in counted.events)
    assert kinds["write"] or kinds["delete"] or kinds["delete_prefix"], counted.events
    failures, known = [], set()
    for n, mode in plan(counted.events):
        faulty, report, stray = attempt(operation, scenario, tmp_path / f"{n}-{_name(mode)}", tiny_clip,
                                        private_tmp, at=n, mode=mode)
        problems = report.lines() + ([stray] if stray else [])
        if faulty.injected is None:
            problems.append(f"the call made {len(faulty.events)} storage calls this time, not {n} or more")
        if not problems:
            continue
        bug = next((k for k in KNOWN if k.covers(operation, faulty.injected, mode, encryption, problems)), None)
        if bug is not None:
            known.add(bug.name)
            continue
        failures.append(f"{operation} with call {n}/{len(counted.events)} {faulty.injected} failing "
                        f"({_name(mode)}):\n    " + "\n    ".join(problems))
    assert not failures, f"{len(failures)} of {len(plan(counted.events))} injected failures:\n" + "\n".join(failures)
    if known:
        pytest.xfail(f"known bugs of src/ (tests/faults/test_fault_injection.py KNOWN): {sorted(known)}")
