"""The typed stub of the compiled core (src/fusionkit/_core.pyi) against the cdef it is generated from."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from fusionkit.core._loader import ffi, lib

ROOT = Path(__file__).resolve().parents[2]


def _core_stub():
    spec = importlib.util.spec_from_file_location("core_stub_under_test", ROOT / "csrc" / "core_stub.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stub_is_what_the_generator_writes_now():
    core_stub = _core_stub()
    committed = (ROOT / "src" / "fusionkit" / "_core.pyi").read_text()
    assert committed == core_stub.render(core_stub.read_cdef()), (
        "src/fusionkit/_core.pyi is stale: run `python csrc/core_stub.py` and commit it"
    )


def test_stub_declares_every_function_of_the_compiled_core_with_its_arity():
    tree = ast.parse((ROOT / "src" / "fusionkit" / "_core.pyi").read_text())
    lib_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_Lib")
    arity = {f.name: len(f.args.posonlyargs) - 1 for f in lib_class.body if isinstance(f, ast.FunctionDef)}
    compiled = {name for name in dir(lib) if name.startswith("fk_") and callable(getattr(lib, name))}
    assert set(arity) == compiled
    for name in compiled:
        assert arity[name] == len(ffi.typeof(getattr(lib, name)).args), name
    constants = {n.target.id for n in lib_class.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    assert constants == {name for name in dir(lib) if name.startswith("FK_")}
