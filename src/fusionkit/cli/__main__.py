"""``python -m fusionkit.cli``: the ``fusionkit`` command."""

from fusionkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
