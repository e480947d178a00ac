"""The demo: fuse the bundled sample faces and write the results.

Run it with ``python -m fusionkit.demo [--out FOLDER]`` (the README's ``make demo`` does, after installing).
Writes a one-face fusion and a two-face fusion into FOLDER (default ``./fusionkit-demo``) and prints where.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fusionkit.domain.options import FuseOptions
from fusionkit.errors import FusionKitError
from fusionkit.fusion.api import Merge, fuse
from fusionkit.samples import sample_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusionkit.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="fusionkit-demo", help="folder for the results (created if missing)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        jobs = [
            ("one-face.jpg", sample_path("obama.jpg"), [Merge(image=sample_path("astronaut.png"))],
             "astronaut.png's face into obama.jpg"),
            ("two-faces.jpg", sample_path("two_people.jpg"),
             [Merge(image=sample_path("astronaut.png"), template_face=0),
              Merge(image=sample_path("biden.jpg"), template_face=1)],
             "astronaut.png and biden.jpg into the two faces of two_people.jpg"),
        ]
        for name, template, merges, what in jobs:
            t0 = time.perf_counter()
            result = fuse(template, merges, FuseOptions(metadata={"generator": "fusionkit demo"}))
            result.save(str(out / name))
            print(f"wrote {out / name}  ({what}, {(time.perf_counter() - t0) * 1e3:.0f} ms)")
    except FusionKitError as err:
        print(f"fusionkit demo failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"fusionkit demo could not write to {out}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
