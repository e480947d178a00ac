"""The ``fusionkit`` command: face fusion and the studio from the shell.

    fusionkit fuse TEMPLATE USER [USER...] -o OUT        fuse user faces into a template picture (no studio)
    fusionkit fuse TEMPLATE USER_FOLDER -o OUT_FOLDER    each picture of a folder into the template
    fusionkit detect IMAGE [--draw OUT]                  list the faces of a picture, draw them on a copy
    fusionkit --studio URL activity|material|fuse|result|logs|sweep|erase ...
    fusionkit --studio URL video submit|status|cancel|wait ...   video fusion jobs into video materials

Exit status: 0 done, 1 the operation failed, 2 the command line was wrong (nothing was done), 130 interrupted.
Errors are one line on stderr: ``fusionkit COMMAND: [code] what went wrong and what to change``. ``--json`` prints
one JSON document on stdout. ``video submit`` only queues a job; ``video wait`` (or ``submit --wait``) runs the
studio's queued jobs in this process and waits for the job. Other commands never run video jobs.

The package: :mod:`~fusionkit.cli.parser` (the parser, one function per command group), ``commands/`` (the
``cmd_*`` functions, one module per group), :mod:`~fusionkit.cli.output` (what is printed) and
:mod:`~fusionkit.cli.common` (exit statuses, checks on paths, options, the studio). Start-up imports only the
standard library (and ``fusionkit.errors`` and ``fusionkit.choices``); NumPy, OpenCV, onnxruntime and the C core are
imported when a subcommand runs, so ``fusionkit --help`` answers at once. Nothing outside this package imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fusionkit.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, USAGE_CODE, UsageError
from fusionkit.cli.output import fail
from fusionkit.cli.parser import build_parser
from fusionkit.errors import FusionKitError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 done, 1 failed, 2 usage error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = " ".join(["fusionkit", args.command, *([args.action] if getattr(args, "action", None) else [])])
    try:
        return int(args.func(args))
    except UsageError as err:
        fail(f"{prog}: [{USAGE_CODE}] {err} (see '{prog} --help')")
        return EXIT_USAGE
    except FusionKitError as err:
        fail(f"{prog}: {err}")
        return EXIT_FAILED
    except OSError as err:
        where = f" {err.filename!r}" if err.filename else ""
        fail(f"{prog}: [OSError] could not use{where}: {err.strerror or err}: check the path and its permissions")
        return EXIT_FAILED
    except KeyboardInterrupt:
        fail(f"{prog}: interrupted; no output was written")
        return EXIT_INTERRUPTED
