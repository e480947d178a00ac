"""The tiny plug-in models, written once per session (see tiny_models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionkit.domain.models import ModelSpec
from tests.renderers import tiny_models as tm


class Models:
    """Paths and specs of the tiny graphs, for one session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.swapper = tm.save(tm.swapper(), root / "swapper_128.onnx", licence="test swapper licence")
        self.swapper_256 = tm.save(tm.swapper(256), root / "swapper_256.onnx")
        self.recogniser = tm.save(tm.recogniser(), root / "recogniser.onnx", licence="test recogniser licence")
        self.enhancer = tm.save(tm.enhancer(), root / "enhancer.onnx", licence="test enhancer licence")

    def write(self, name: str, model: object, **spec: object) -> ModelSpec:
        return tm.save(model, self.root / name, **spec)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("tiny_models"))
