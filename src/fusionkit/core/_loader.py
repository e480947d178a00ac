"""The only importer of the compiled C core, ``fusionkit._core``.

It checks that the compiled core was built from this version of the package (a stale in-place build is the usual
cause of a mismatch) and turns C status codes into typed exceptions.
"""

from __future__ import annotations

from fusionkit._version import __version__
from fusionkit.errors import CoreError, CoreNotBuiltError

try:
    # mypy reads the generated stub src/fusionkit/_core.pyi (csrc/core_stub.py), so calls into the core are
    # checked whether or not the compiled extension sits in src/. This module is the compiled core's only importer.
    import fusionkit._core as _core
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise CoreNotBuiltError(
        "the compiled C core fusionkit._core is missing: install the package with `pip install .` "
        "(or `pip install -e .` for development) so that setup.py compiles csrc/ with cffi; "
        f"the import failed with: {exc}"
    ) from exc

ffi = _core.ffi
lib = _core.lib

_core_version = ffi.string(lib.fk_version()).decode()
if _core_version != __version__:
    raise CoreNotBuiltError(
        f"the compiled C core is version {_core_version} but the package is {__version__}: "
        "rebuild it with `pip install -e .` (or reinstall the package)"
    )


def check(status: int, routine: str) -> None:
    """Raise :class:`CoreError` when a C routine returned a negative status.

    Python validates every argument before calling C, so a non-zero status here is a bug in fusionkit.
    """
    if status != 0:
        message = ffi.string(lib.fk_status_message(status)).decode()
        raise CoreError(f"{routine} failed in the C core: {message} (status {status})", status=status)
