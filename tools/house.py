"""How livable the house is: the figures the house issue asks for, measured on ``src/fusionkit``.

- the longest files and functions (lines, docstrings included);
- private names imported across modules (``from fusionkit.x import _name``), which couple a module to another's
  internals, and private members reached on anything but ``self`` or ``cls`` (``studio._calls``,
  ``other._erase()``), which couple a class to another's (a module's own private names, ``argparse._X``, aside);
- imports of fsspec, cryptography, onnxruntime and PyAV outside the layers that own them (``storage/``;
  ``vision/``; the video parts of ``imaging/`` and ``fusion/``), at module level or inside functions;
- imports that run upward through the layers (ARCHITECTURE.md).

Usage::

    .venv/bin/python tools/house.py            # a table
    .venv/bin/python tools/house.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fusionkit"

#: Who may import these packages (module paths relative to src/fusionkit, as prefixes).
OWNERS = {
    "fsspec": ("storage/",),
    "cryptography": ("storage/",),
    "onnxruntime": ("vision/",),
    "av": ("imaging/video.py", "imaging/planes.py", "fusion/video.py"),
}
#: The layers, lowest first (ARCHITECTURE.md): a module may import its own layer and those below.
LAYERS = ("errors", "domain", "core", "imaging", "vision", "storage", "fusion", "studio", "cli")
#: Modules outside the layers (the package root, the demo, samples, version) may import anything.
UNLAYERED = ("__init__", "demo", "samples", "_version", "__main__")


def _layer(rel: str) -> int | None:
    head = rel.split("/")[0].removesuffix(".py")
    if head in UNLAYERED:
        return None
    return LAYERS.index(head) if head in LAYERS else None


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import in a module, at any depth."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return out


def _reaches(tree: ast.AST, rel: str) -> list[str]:
    """Private members reached on anything but ``self``/``cls`` or an imported module."""
    modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls", *modules}:
            continue
        out.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    return out


def measure() -> dict[str, Any]:
    files, functions, private, foreign, upward, reaches = [], [], [], [], [], []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text()
        tree = ast.parse(text)
        files.append((len(text.splitlines()), rel))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                functions.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.lineno} {node.name}"))
        reaches += _reaches(tree, rel)
        own = _layer(rel)
        for module, names, line in _imports(tree):
            top = module.split(".")[0]
            if top in OWNERS and not rel.startswith(OWNERS[top]):
                foreign.append(f"{rel}:{line} imports {module}")
            if top != "fusionkit":
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    private.append(f"{rel}:{line} from {module} import {name}")
            parts = module.split(".")
            if own is not None and len(parts) > 1:
                theirs = _layer(parts[1] + ".py" if len(parts) == 2 else parts[1] + "/")
                if theirs is not None and theirs > own:
                    upward.append(f"{rel}:{line} imports {module}")
    files.sort(reverse=True)
    functions.sort(reverse=True)
    return {
        "longest_files": [{"lines": n, "file": f} for n, f in files[:5]],
        "longest_functions": [{"lines": n, "function": f} for n, f in functions[:8]],
        "files_over_600": sum(n > 600 for n, _ in files),
        "functions_over_80": sum(n > 80 for n, _ in functions),
        "private_imports": private,
        "private_reaches": reaches,
        "foreign_imports": foreign,
        "upward_imports": upward,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    m = measure()
    if args.json:
        json.dump(m, sys.stdout, indent=1)
        print()
        return 0
    print("longest files:", ", ".join(f"{r['file']} {r['lines']}" for r in m["longest_files"]))
    print("longest functions:")
    for r in m["longest_functions"]:
        print(f"  {r['lines']:4d}  {r['function']}")
    print(f"files over 600 lines: {m['files_over_600']}; functions over 80 lines: {m['functions_over_80']}")
    for key in ("private_imports", "private_reaches", "foreign_imports", "upward_imports"):
        print(f"{key.replace('_', ' ')}: {len(m[key])}")
        for line in m[key]:
            print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
