"""docs/notebooks/quickstart.ipynb runs from top to bottom (so it cannot rot) and is what
tools/make_quickstart.py writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "quickstart.ipynb"


def _maker() -> object:
    spec = importlib.util.spec_from_file_location("make_quickstart", ROOT / "tools" / "make_quickstart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_is_generated_and_has_no_outputs() -> None:
    stored = nbformat.read(NOTEBOOK, as_version=4)
    built = _maker().build()  # type: ignore[attr-defined]
    assert [c.source for c in stored.cells] == [c.source for c in built.cells]
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code")


def test_quickstart_notebook_runs(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # the fusion, the degree grid, the studio's fusion
    text = "".join(o.get("text", "") for o in outputs)
    assert "InvalidParameterValue.ResultIdNotFound" in text
