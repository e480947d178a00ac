"""The parser's spelled-out choices are the library's values (the parser cannot import them: see its module)."""

from __future__ import annotations

from typing import get_args

from fusionkit.cli.parser import BLEND_MODES, DETECTOR_MODELS, EXPRESSIONS
from fusionkit.domain.options import BlendMode, Expression
from fusionkit.vision.detector import DetectorModel


def test_choices_are_the_library_values() -> None:
    where = "src/fusionkit/cli/parser.py"
    assert tuple(m.value for m in BlendMode) == BLEND_MODES, f"update BLEND_MODES in {where}"
    assert tuple(e.value for e in Expression) == EXPRESSIONS, f"update EXPRESSIONS in {where}"
    assert get_args(DetectorModel) == DETECTOR_MODELS, f"update DETECTOR_MODELS in {where}"
