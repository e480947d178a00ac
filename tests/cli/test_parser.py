"""The parser's choices are the library's own values, and building the parser loads nothing heavy."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import get_args

from fusionkit.choices import BlendMode, DetectorModel, Expression
from fusionkit.cli.parser import build_parser
from fusionkit.domain import options
from fusionkit.vision import detector


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    action = next(a for a in sub._actions if option in a.option_strings)
    assert action.choices is not None
    return list(action.choices)


def test_choices_are_the_enum_values() -> None:
    parser = build_parser()
    assert _choices(parser, "fuse", "--blend") == [m.value for m in BlendMode]
    assert _choices(parser, "fuse", "--expression") == [e.value for e in Expression]
    assert _choices(parser, "detect", "--model") == list(get_args(DetectorModel))


def test_the_enums_keep_their_old_homes() -> None:
    import fusionkit
    from fusionkit.choices import OutputFormat

    assert options.BlendMode is BlendMode and options.Expression is Expression and options.OutputFormat is OutputFormat
    assert fusionkit.BlendMode is BlendMode and detector.DetectorModel is DetectorModel


PROBE = """
import json, sys
from fusionkit.cli.parser import build_parser
build_parser().format_help()
print(json.dumps([m for m in ("numpy", "onnxruntime", "av", "cv2", "attrs") if m in sys.modules]))
"""


def test_building_the_parser_imports_no_numpy_onnxruntime_or_av() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(proc.stdout) == []
