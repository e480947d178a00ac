"""``python -m fusionkit``: the ``fusionkit`` command, as the console script runs it."""

from fusionkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
