"""Run a fuzz target once over files, without libFuzzer: ``python fuzz/replay.py <target> PATH...``.

Directories are walked. This is how ``make fuzz-sanitize-replay`` runs the C core's corpus under ASan/UBSan, and
how to check a saved finding (``FUZZ_STRICT=1`` makes known findings fail too). The first finding is raised with
its traceback; a sanitizer report aborts the process after naming the file (``replay <path>`` on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["decode", "video", "core", "domain"])
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    module = importlib.import_module(f"fuzz_{args.target}")
    import fusionkit

    print(f"fusionkit from {Path(fusionkit.__file__).parent}", file=sys.stderr)  # the sanitizer build or not
    start = time.monotonic()
    n = _harness.replay(module.TestOneInput, args.paths, verbose=True)
    print(f"{args.target}: {n} inputs replayed cleanly in {time.monotonic() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
