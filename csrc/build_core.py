"""cffi build script: compiles every csrc/*.c into the extension ``fusionkit._core`` (API, out-of-line mode).

setup.py names it in ``cffi_modules``; ``make test-sanitize`` runs it with FUSIONKIT_SANITIZE=1 to build with
AddressSanitizer and UndefinedBehaviorSanitizer, and ``make test-scalar`` with FUSIONKIT_NO_SIMD=1 to leave the
SIMD kernels out (the macro FK_NO_SIMD). The cdef is the marked block of fk_api.h, so the declarations live in one
header; core_stub.py reads it, and writes the typed stub src/fusionkit/_core.pyi from it on every build.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _load_core_stub() -> ModuleType:
    # setuptools runs this file with exec(), so csrc/ is not on sys.path: load the stub writer by its path.
    spec = importlib.util.spec_from_file_location("fusionkit_core_stub", HERE / "core_stub.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("csrc/core_stub.py is missing")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


core_stub = _load_core_stub()


def _version() -> str:
    text = (ROOT / "src" / "fusionkit" / "_version.py").read_text()
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if match is None:
        raise RuntimeError("src/fusionkit/_version.py has no __version__")
    return match.group(1)


def _compile_args() -> tuple[list[str], list[str]]:
    # -ffp-contract=off keeps float rounding identical to the NumPy twins (no fused multiply-adds).
    cflags = ["-std=c99", "-O3", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
              "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    ldflags: list[str] = []
    if os.environ.get("FUSIONKIT_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer",
               "-g", "-O1"]
        cflags = [f for f in cflags if f != "-O3"] + san
        ldflags += ["-fsanitize=address,undefined"]
    return cflags, ldflags


def _macros() -> list[tuple[str, str | None]]:
    macros: list[tuple[str, str | None]] = [("FK_VERSION", f'"{_version()}"')]
    if os.environ.get("FUSIONKIT_NO_SIMD") == "1":
        macros.append(("FK_NO_SIMD", "1"))
    return macros


def make_builder(absolute_paths: bool = False) -> FFI:
    """The cffi builder. setuptools wants sources relative to the project root; cffi's own compile() changes
    into its temporary folder, so the stand-alone build names them absolutely."""

    def path(p: Path) -> str:
        return str(p if absolute_paths else p.relative_to(ROOT))

    builder = FFI()
    builder.cdef(core_stub.read_cdef())
    cflags, ldflags = _compile_args()
    builder.set_source(
        "fusionkit._core",
        '#include "fk_api.h"\n',
        sources=[path(p) for p in sorted(HERE.glob("*.c"))],
        include_dirs=[path(HERE)],
        define_macros=_macros(),
        extra_compile_args=cflags,
        extra_link_args=ldflags,
        libraries=["m"],
    )
    return builder


def _write_stub() -> None:
    # Every build brings src/fusionkit/_core.pyi up to date with the cdef; a read-only source tree keeps the stub
    # it has (tests/core checks that the committed stub matches the cdef).
    with contextlib.suppress(OSError):
        core_stub.write()


_write_stub()
ffibuilder = make_builder()

if __name__ == "__main__":
    # Stand-alone build (used by `make test-sanitize`): compile into OUTDIR/fusionkit/ beside a copy of the
    # package, so the sanitized core never replaces the regular one.
    import shutil
    import sys

    outdir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "cffi").resolve()
    built = Path(make_builder(absolute_paths=True).compile(tmpdir=str(outdir / "tmp"), verbose=False))
    target = outdir / "fusionkit" / built.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(built), target)
    print(target)
