"""The ``fusionkit`` argument parser: the top level and one small function per command group (standard library only).

The argument types run while parsing, so a value out of range is a usage error (exit 2) before any work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NoReturn, get_args

from fusionkit._version import __version__
from fusionkit.choices import BlendMode, DetectorModel, Expression
from fusionkit.cli.commands import (
    cmd_activity,
    cmd_detect,
    cmd_encrypt,
    cmd_erase,
    cmd_fuse,
    cmd_logs,
    cmd_material,
    cmd_result,
    cmd_sweep,
    cmd_video,
)
from fusionkit.cli.common import EXIT_USAGE, STUDIO_ENV, USAGE_CODE
from fusionkit.cli.output import fail

__all__ = ["BLEND_MODES", "DETECTOR_MODELS", "EXPRESSIONS", "build_parser"]

DESCRIPTION = """\
Face fusion on your own machine.

  fusionkit fuse TEMPLATE USER [USER...] -o OUT      fuse user faces into a template picture
  fusionkit detect IMAGE [--draw OUT]                list the faces of a picture, draw them on a copy
  fusionkit --studio URL activity|material|fuse|result|logs|sweep|erase|encrypt ...   work on a studio
  fusionkit --studio URL video submit|status|cancel|wait ...                 video fusion jobs

Exit status: 0 done, 1 the operation failed, 2 the command line was wrong (nothing was done).
Errors are one line on stderr: "fusionkit COMMAND: [code] what went wrong and what to change".
"""
STORAGE_HELP = "an option of the studio's fsspec filesystem (e.g. anon=true); repeatable; values are JSON or text"
STUDIO_HELP = f"the studio: a folder, file://PATH, memory://NAME or an fsspec URL (default ${STUDIO_ENV})"
JSON_HELP = "print one JSON document on stdout (for scripts)"

# The library's own values, so a new blend mode (say) is a choice here by itself; fusionkit.choices is standard
# library only, so listing them loads no NumPy or onnxruntime.
BLEND_MODES = tuple(m.value for m in BlendMode)
EXPRESSIONS = tuple(e.value for e in Expression)
DETECTOR_MODELS: tuple[str, ...] = get_args(DetectorModel)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors carrying the usage code and a pointer to ``--help``."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: [{USAGE_CODE}] {message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_USAGE)


_Commands = argparse._SubParsersAction  # what add_subparsers returns: a command's (or an action's) parsers


# -- argument types --------------------------------------------------------------------------------------------------

def _number(text: str) -> float:
    """``text`` as a finite float, or NaN (which every range check refuses)."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _degree(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a number within 0-100 (higher = closer to the template), "
                                         f"got {text!r}")
    return value


def _positive(unit: str) -> Callable[[str], float]:
    """The type of a positive number of ``unit`` (hours, seconds)."""
    def parse(text: str) -> float:
        value = _number(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive number of {unit}, got {text!r}")
        return value

    return parse


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _span(most: float, says: str) -> Callable[[str], float]:
    """The type of a time in seconds: a number with an optional unit (``90``, ``60s``, ``5m``, ``1h``, ``7d``),
    from 1 s to ``most`` seconds (``says`` in words)."""
    def parse(text: str) -> float:
        unit = _DURATION_UNITS.get(text[-1:].lower(), 0.0)
        value = _number(text[:-1] if unit else text) * (unit or 1.0)
        if not 1 <= value <= most:
            raise argparse.ArgumentTypeError(f"must be a time of 1 s to {says} such as 60s, 5m, 1h or 7d, got {text!r}")
        return value

    return parse


_duration = _span(86400, "24 h")


def _whole(low: int, high: int) -> Callable[[str], int]:
    """The type of a whole number within ``low``-``high``."""
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number within {low}-{high}, got {text!r}")
        return int(text)

    return parse


def _meta(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key, value


def _storage_option(text: str) -> tuple[str, Any]:
    key, value = _meta(text)
    try:
        return key, json.loads(value)  # numbers, true/false, null and JSON objects keep their type
    except ValueError:
        return key, value


MODEL_FORM = "ROLE=PATH,sha256=HEX,licence=TEXT[,input_size=N]"
_MODEL_KEYS = ("sha256", "licence", "input_size")


def _model(text: str) -> tuple[str, dict[str, Any]]:
    """``ROLE=PATH,sha256=HEX,licence=TEXT[,input_size=N]`` as (role, ModelSpec fields); ModelSpec checks the values
    when the command runs. A piece that does not start with a known key belongs to the one before it, so a path or a
    licence may hold commas ("licence=non-commercial, research only")."""
    pieces: list[str] = []
    for piece in text.split(","):
        key, equals, _ = piece.partition("=")
        looks_like_key = bool(equals) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key.strip()) is not None
        if pieces and looks_like_key and key.strip() not in _MODEL_KEYS:
            # A mistyped key (input-size=...) would otherwise vanish into the licence text.
            raise argparse.ArgumentTypeError(f"must be {MODEL_FORM}: {key.strip()!r} is not one of {_MODEL_KEYS}, in "
                                             f"{text!r}")
        if pieces and key.strip() not in _MODEL_KEYS:
            pieces[-1] += "," + piece
        else:
            pieces.append(piece)
    role, _, path = pieces[0].partition("=")
    fields: dict[str, Any] = {"path": path.strip()}
    for piece in pieces[1:]:
        key, _, value = piece.partition("=")
        if key.strip() in fields:
            raise argparse.ArgumentTypeError(f"must be {MODEL_FORM}, got {key.strip()!r} twice in {text!r}")
        fields[key.strip()] = value.strip()
    missing = [key for key in ("sha256", "licence") if not fields.get(key)]
    if not role.strip() or not fields["path"] or missing:
        lacks = f" (no {' or '.join(missing)})" if missing and role.strip() and fields["path"] else ""
        raise argparse.ArgumentTypeError(f"must be {MODEL_FORM}{lacks}, got {text!r}")
    sha256 = fields["sha256"].lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise argparse.ArgumentTypeError(f"must be {MODEL_FORM} with sha256 the file's 64 hex digits (sha256sum "
                                         f"prints them), got {text!r}")
    if "input_size" in fields:
        if not fields["input_size"].isdigit():
            raise argparse.ArgumentTypeError(f"must be {MODEL_FORM} with input_size a whole number of pixels, got "
                                             f"{text!r}")
        fields["input_size"] = int(fields["input_size"])
    return role.strip(), fields


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number within 0-1, got {text!r}")
    return value


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 time such as 2026-11-30T08:00Z, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- the parser ------------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``fusionkit`` argument parser (standard library only)."""
    # Every command and action also takes --json, --studio and --storage-option after its name; SUPPRESS keeps a
    # value given before the command from being reset.
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    common.add_argument("--studio", metavar="URL", default=argparse.SUPPRESS, help=STUDIO_HELP)
    common.add_argument("--storage-option", type=_storage_option, action="append", metavar="KEY=VALUE",
                        default=argparse.SUPPRESS, help=STORAGE_HELP)
    _add_consent(common, argparse.SUPPRESS)

    parser = _Parser(prog="fusionkit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fusionkit {__version__}")
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.add_argument("--studio", metavar="URL", default=os.environ.get(STUDIO_ENV) or None, help=STUDIO_HELP)
    parser.add_argument("--storage-option", type=_storage_option, action="append", metavar="KEY=VALUE",
                        help=STORAGE_HELP)
    _add_consent(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_group in (_add_fuse, _add_detect, _add_activity, _add_material, _add_result, _add_video, _add_logs,
                      _add_sweep, _add_erase, _add_encrypt):
        add_group(commands, common)
    return parser


def _group(commands: _Commands[_Parser], common: _Parser, name: str, func: Callable[[argparse.Namespace], int],
           summary: str, description: str) -> _Parser:
    """The parser of one command group: the common options, ``summary`` in the list of commands, ``func`` to run."""
    p: _Parser = commands.add_parser(name, parents=[common], help=summary, description=description)
    p.set_defaults(func=func)
    return p


def _action_group(commands: _Commands[_Parser], common: _Parser, name: str, func: Callable[[argparse.Namespace], int],
                  summary: str, description: str) -> Callable[[str, str], _Parser]:
    """A command group of ACTIONs: returns the function that adds one (its name and help) with the common options."""
    actions = _group(commands, common, name, func, summary, description).add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser)

    def add(action: str, summary: str) -> _Parser:
        parser: _Parser = actions.add_parser(action, parents=[common], help=summary)
        return parser

    return add


def _add_degrees(p: argparse.ArgumentParser) -> None:
    p.add_argument("--face-degree", type=_degree, metavar="N",
                   help="0-100: how much of the template's eyes, brows, nose and mouth to keep (default 10)")
    p.add_argument("--profile-degree", type=_degree, metavar="N",
                   help="0-100: how much of the template's face outline and jaw to keep (default 30)")


def _add_fuse(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "fuse", cmd_fuse, "fuse user faces into a template picture or a studio material",
               "Fuse one to six user faces into a TEMPLATE picture and write OUT. Several USER pictures go into the "
               "template's faces 0, 1, ... (largest first); one goes into the largest. A USER folder fuses each of "
               "its pictures into the template, one by one, into the folder OUT. With --studio, fuse into a stored "
               "material instead: fusionkit --studio URL fuse --material ID USER [USER...] [-o OUT].")
    p.add_argument("pictures", nargs="+", metavar="PICTURE", help="TEMPLATE USER [USER...] (with --studio: USER...)")
    p.add_argument("-o", "--out", metavar="OUT", help="the fused picture (.jpg or .png; written whole or not at all)")
    _add_degrees(p)
    p.add_argument("--blend", choices=BLEND_MODES, help="how the face is laid in (default multiband)")
    p.add_argument("--expression", choices=EXPRESSIONS,
                   help="whose mouth and eyelids the fused face wears (default template)")
    p.add_argument("--no-label", action="store_true", help="no visible 'AI-generated' label (the file's metadata "
                   "marker stays)")
    p.add_argument("--quality", type=_whole(1, 100), metavar="Q", help="JPEG quality 1-100 (default 92)")
    p.add_argument("--meta", type=_meta, action="append", metavar="KEY=VALUE",
                   help="text written into the file's metadata (repeatable)")
    p.add_argument("--material", metavar="ID", help="with --studio: the material to fuse into")
    p.add_argument("--activity", metavar="ID", help="with --studio: the material's activity (default: its own)")
    _add_plugins(p)
    _add_runtime(p)


def _add_plugins(p: argparse.ArgumentParser) -> None:
    """The face renderer and enhancer, with the model files the user owns (see docs/renderers.md)."""
    p.add_argument("--renderer", metavar="NAME", help="how the face is drawn: mesh (the default), onnx-swapper or a "
                   "registered plug-in")
    p.add_argument("--model", type=_model, action="append", metavar="ROLE=PATH,sha256=HEX,licence=TEXT",
                   help="a model file of the renderer (e.g. swapper=..., recogniser=...; optionally ,input_size=N); "
                   "checked by its sha256 before it is loaded; repeatable")
    p.add_argument("--enhancer", metavar="NAME", help="a face restorer run on the drawn face: onnx-enhancer or a "
                   "registered plug-in (default none)")
    p.add_argument("--enhancer-model", type=_model, action="append", metavar="ROLE=PATH,sha256=HEX,licence=TEXT",
                   help="a model file of the enhancer (e.g. enhancer=...), as for --model; repeatable")
    p.add_argument("--enhancer-strength", type=_fraction, metavar="S",
                   help="0-1: how much of the restored face is mixed in (default: the enhancer's; 0.8 for "
                   "onnx-enhancer)")


def _add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", action="append", metavar="NAME",
                   help="an onnxruntime execution provider to run the models with, in order of preference (e.g. "
                   "CUDAExecutionProvider; the CPU is the fallback); repeatable")


def _add_detect(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "detect", cmd_detect, "find the faces of a picture and draw them on a copy",
               "List the faces of IMAGE (largest first) with their boxes; --draw writes a copy with each face's box, "
               "index and 468-point mesh.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--draw", metavar="OUT", help="write a copy with the faces drawn (.jpg or .png)")
    p.add_argument("--model", choices=DETECTOR_MODELS, default="auto",
                   help="face detector: auto (every face from 34 px; default), thorough (small faces behind a "
                   "large one too), short or full (one model, once)")


def _add_activity(commands: _Commands[_Parser], common: _Parser) -> None:
    action = _action_group(commands, common, "activity", cmd_activity,
                           "studio activities: create, list, get, rename, delete",
                           "Manage the studio's activities (named groups of materials).")
    a = action("create", "create an activity; prints its id")
    a.add_argument("name", metavar="NAME")
    _add_degrees(a)
    action("list", "every activity, oldest first")
    for name, text in (("get", "one activity"), ("delete", "delete an activity with its materials and results")):
        action(name, text).add_argument("activity_id", metavar="ACTIVITY_ID")
    a = action("rename", "give an activity a new name")
    a.add_argument("activity_id", metavar="ACTIVITY_ID")
    a.add_argument("name", metavar="NAME")


def _add_material(commands: _Commands[_Parser], common: _Parser) -> None:
    action = _action_group(commands, common, "material", cmd_material, "studio materials: upload, list, get, delete",
                           "Manage the template pictures (materials) of an activity.")
    m = action("upload", "upload template pictures; their faces are found now")
    m.add_argument("activity_id", metavar="ACTIVITY_ID")
    m.add_argument("files", nargs="+", metavar="FILE", help="JPEG or PNG pictures")
    m.add_argument("--name", help="a name for people (default: the file name)")
    _add_degrees(m)
    _add_runtime(m)  # the faces are found (and a video's tracked) with these providers
    m = action("list", "a page of an activity's materials")
    m.add_argument("activity_id", metavar="ACTIVITY_ID")
    m.add_argument("--limit", type=_whole(1, 100), default=20, help="page size, 1-100 (default 20)")
    m.add_argument("--offset", type=_whole(0, 10**9), default=0, help="materials to skip (default 0)")
    for name, text in (("get", "one material and its face ids"),
                       ("delete", "delete a material with its faces and results")):
        action(name, text).add_argument("material_id", metavar="MATERIAL_ID")


def _add_result(commands: _Commands[_Parser], common: _Parser) -> None:
    get = _action_group(commands, common, "result", cmd_result, "a stored fusion result: its record, or its picture",
                        "Show a stored result of 'fuse --studio' (until it expires); -o writes its picture.")
    r = get("get", "the result's record; -o OUT writes its picture")
    r.add_argument("result_id", metavar="RESULT_ID")
    r.add_argument("-o", "--out", metavar="OUT", help="write the picture here (.jpg for JPEG results, .png for PNG)")


def _add_video(commands: _Commands[_Parser], common: _Parser) -> None:
    action = _action_group(commands, common, "video", cmd_video, "video fusion jobs: submit, status, cancel, wait",
                           "Fuse user faces into a video material (upload an MP4 with 'material upload'). 'submit' "
                           "queues a job and prints its id; 'wait' runs the studio's queued jobs here and waits for "
                           "one (exit 1 if it failed).")
    v = action("submit", "queue a video fusion job; prints its id")
    v.add_argument("users", nargs="+", metavar="USER", help="user pictures, into the video's faces 0, 1, ...")
    v.add_argument("--material", metavar="ID", help="the video material")
    v.add_argument("--activity", metavar="ID", help="the material's activity (default: its own)")
    _add_degrees(v)
    v.add_argument("--url", metavar="URL", help="write the result to this fsspec URL instead of the studio")
    v.add_argument("--wait", action="store_true", help="run the job now and wait for it")
    v.add_argument("--timeout", type=_positive("seconds"), metavar="S",
                   help="with --wait: give up waiting after S seconds")
    _add_plugins(v)
    _add_runtime(v)
    for name, text in (("status", "the job's status, progress, error or output"),
                       ("cancel", "cancel a queued or running job"),
                       ("wait", "run the studio's queued jobs here and wait for this one")):
        v = action(name, text)
        v.add_argument("job_id", metavar="JOB_ID")
        if name == "wait":
            v.add_argument("--timeout", type=_positive("seconds"), metavar="S", help="give up waiting after S seconds")
            _add_runtime(v)


def _add_logs(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "logs", cmd_logs, "the studio's request log",
               "Print the studio's logged requests, oldest first (default: the last 24 hours).")
    p.add_argument("--since", type=_when, metavar="TIME", help="ISO 8601 start (default: --hours before --until)")
    p.add_argument("--until", type=_when, metavar="TIME", help="ISO 8601 end (default: now)")
    p.add_argument("--hours", type=_positive("hours"), default=24.0, metavar="H",
                   help="how far back, when --since is not given")
    p.add_argument("--interface", metavar="NAME", help="only this call, e.g. FuseFace or UploadMaterial")


def _add_sweep(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "sweep", cmd_sweep, "delete everything in the studio that has expired",
               "Delete expired results, jobs, log lines and materials (and leftovers of interrupted uploads and "
               "deletes). With --every it keeps running, a sweep each period, until interrupted: for a studio no "
               "open process sweeps (or put a one-off sweep in cron).")
    p.add_argument("--every", type=_duration, metavar="TIME", help="sweep again every TIME (60s, 5m, 1h) until "
                   "interrupted (Ctrl-C)")


def _add_consent(parser: _Parser, default: Any) -> None:
    """The studio's consent policy and the consent a call carries (every studio command takes them)."""
    parser.add_argument("--consent-min-age", type=_whole(1, 150), metavar="YEARS", default=default,
                        help="require consent age_attested=N >= YEARS on calls with people's photos")
    parser.add_argument("--consent-policy", metavar="MODULE:NAME", default=default,
                        help="the studio's consent policy: a callable (or a class made with no arguments) in an "
                        "importable module; it decides every call with people's photos")
    parser.add_argument("--consent", type=_storage_option, action="append", metavar="KEY=VALUE", default=default,
                        help="consent this call carries, for the policy (e.g. age_attested=30 or token=...); "
                        "repeatable")
    parser.add_argument("--max-bytes", type=_whole(1, 2**62), metavar="N", default=default,
                        help="the studio's capacity: every byte it stores")
    parser.add_argument("--max-materials", type=_whole(1, 2**62), metavar="N", default=default,
                        help="the studio's capacity: materials")
    for kind, most in (("logs", "7 days"), ("image-results", "7 days"), ("video-results", "1 day")):
        parser.add_argument(f"--keep-{kind}", type=_span(3650 * 86400, "10 years"), metavar="TIME", default=default,
                            help=f"keep {kind.replace('-', ' ')} this long (60s, 5m, 1h; at most {most})")


def _add_encrypt(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "encrypt", cmd_encrypt, "encrypt a studio stored before encryption, in place",
               "Encrypt every object of a plain studio at rest (AES-GCM, a data key per material), resumable after "
               "a kill; run it with no studio open on the store. The master key: --key-file or --key-env, else "
               "the default (FUSIONKIT_MASTER_KEY, else FUSIONKIT_KEY_FILE, else ~/.config/fusionkit/master.key).")
    key = p.add_mutually_exclusive_group()
    key.add_argument("--key-file", metavar="PATH", help="the master key file (32 random bytes, mode 0600; made if "
                     "missing)")
    key.add_argument("--key-env", metavar="VAR", help="an environment variable holding the master key in base64")


def _add_erase(commands: _Commands[_Parser], common: _Parser) -> None:
    p = _group(commands, common, "erase", cmd_erase, "erase results and log lines that name the given ids",
               "Serve a data-subject request: remove every stored result and log line that refers to one of the ids.")
    p.add_argument("--material", action="append", metavar="ID", help="a material id (repeatable)")
    p.add_argument("--result", action="append", metavar="ID", help="a result id (repeatable)")
    p.add_argument("--request", action="append", metavar="ID", help="a request id (repeatable)")
