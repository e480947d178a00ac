"""The map of the house (docs/house.md) names only paths that exist, and the layers hold (tools/house.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import house  # noqa: E402


def test_every_path_on_the_map_exists() -> None:
    text = (ROOT / "docs" / "house.md").read_text()
    named = set(re.findall(r"`((?:src|csrc|benchmarks|tools|tests|docs)/[^`\s]*)`", text))
    assert len(named) > 20
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/house.md names paths that do not exist: {missing}"
    # Bare module names in a folder's row exist in that folder.
    for line in text.splitlines():
        folder = re.match(r"\| `(src/fusionkit/[a-z_/]+/)` \|", line)
        if folder:
            for name in re.findall(r"`([a-z_]+\.py)`", line.split("|")[2]):
                assert (ROOT / folder.group(1) / name).exists(), (folder.group(1), name)


def test_no_import_runs_up_the_layers_takes_a_package_outside_its_layer_or_a_private_name() -> None:
    m = house.measure()
    assert m["upward_imports"] == []
    assert m["foreign_imports"] == []
    assert m["private_imports"] == []
    assert m["private_reaches"] == []
