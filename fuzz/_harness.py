"""What every fuzz target shares: the libFuzzer bounds, the known-findings list and a corpus replayer.

A target is ``fuzz/fuzz_<name>.py`` with a ``TestOneInput(data: bytes)`` that returns normally for every input the
code under test handles as documented (a result, or one of the typed errors its docstring names) and raises
anything else: an uncaught exception is a finding, and libFuzzer saves the input as ``crash-<sha1>``. With
``FUZZ_FINDINGS_DIR`` set, a finding is saved there instead (one input per signature) and the run goes on.

Known findings (already saved under ``fuzz/regressions/<target>/`` with an xfail test) are tolerated while fuzzing,
so a long run keeps looking for new ones; ``FUZZ_STRICT=1`` turns them back into crashes.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

#: The memory and time bound of every run: libFuzzer stops with an "out-of-memory" or "timeout" finding when one
#: input takes more than 2 GiB of RSS or 10 seconds. Flags given on the command line come later and win.
DEFAULT_ARGS = ("-rss_limit_mb=2048", "-timeout=10")

FUZZ_DIR = Path(__file__).resolve().parent

#: Findings already reported: (target, exception type name, "file.py:function" of the innermost fusionkit frame).
#: Each one has its input under fuzz/regressions/<target>/ and an xfail test in tests/test_fuzz_short.py; remove the
#: entry when the bug is fixed.
KNOWN_FINDINGS: frozenset[tuple[str, str, str]] = frozenset()  # all fixed; a new one goes here


def _where(exc: BaseException) -> str:
    """``file.py:function`` of the innermost traceback frame inside fusionkit (or the innermost frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "fusionkit" in f.filename] or frames
    if not inside:
        return "?"
    last = inside[-1]
    return f"{os.path.basename(last.filename)}:{last.name}"


def signature(exc: BaseException) -> tuple[str, str]:
    """What identifies a finding: the exception's type name and where in fusionkit it was raised."""
    return type(exc).__name__, _where(exc)


def strict() -> bool:
    """Whether known findings count as crashes again (``FUZZ_STRICT=1``)."""
    return os.environ.get("FUZZ_STRICT") == "1"


def tolerated(target: str, exc: BaseException) -> bool:
    """Whether ``exc`` is an already-reported finding of ``target`` (never under ``FUZZ_STRICT=1``)."""
    if strict():
        return False
    return (target, *signature(exc)) in KNOWN_FINDINGS


_seen: set[str] = set()


def finding(target: str, exc: BaseException, data: bytes) -> None:
    """Call from an ``except`` block with an exception the target does not expect: returns when it is a known
    finding (:data:`KNOWN_FINDINGS`), or when ``FUZZ_FINDINGS_DIR`` is set and it is saved there (the first input
    of each signature, with its traceback beside it, so one long run collects every distinct finding); raises it
    otherwise, which is how libFuzzer sees a crash."""
    if tolerated(target, exc):
        return
    folder = os.environ.get("FUZZ_FINDINGS_DIR")
    if not folder:
        raise exc
    kind, where = signature(exc)
    key = f"{kind}-{where.replace(':', '-')}"
    out = Path(folder)
    if not _seen:
        _seen.update(p.stem for p in out.glob("*.txt"))
    if key in _seen:
        return
    _seen.add(key)
    out.mkdir(parents=True, exist_ok=True)
    (out / key).write_bytes(data)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    (out / f"{key}.txt").write_text(text)
    print(f"FINDING {target} {key}: {exc!r}"[:500], file=sys.stderr, flush=True)


def run(test_one_input: Callable[[bytes], None], argv: list[str] | None = None, *,
        dictionary: str | None = None) -> None:
    """Hand ``test_one_input`` to libFuzzer with :data:`DEFAULT_ARGS` (and ``-dict=fuzz/<dictionary>`` unless the
    command line gives one) ahead of the command line's flags."""
    import atheris

    # NumPy's overflow and casting warnings on fuzzer-chosen values are expected, and printing them slows the run.
    warnings.simplefilter("ignore")
    args = list(sys.argv if argv is None else argv)
    defaults = list(DEFAULT_ARGS)
    if dictionary and not any(a.startswith("-dict=") for a in args[1:]):
        defaults.append(f"-dict={FUZZ_DIR / dictionary}")
    atheris.Setup([args[0], *defaults, *args[1:]], test_one_input)
    atheris.Fuzz()


def corpus_files(paths: Iterable[Path]) -> list[Path]:
    """Every file under ``paths`` (files as given, directories walked), sorted, dotfiles and READMEs left out."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(f for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith(".")
                       and f.name != "README.md")
        elif p.is_file():
            out.append(p)
    return out


def replay(test_one_input: Callable[[bytes], None], paths: Iterable[Path], *, verbose: bool = False) -> int:
    """Run ``test_one_input`` once on each file (no libFuzzer): how the sanitizer pass and the tests use a corpus.
    Returns the number of inputs run; the first finding propagates."""
    n = 0
    for f in corpus_files(paths):
        if verbose:
            print(f"replay {f}", file=sys.stderr, flush=True)
        test_one_input(f.read_bytes())
        n += 1
    return n
