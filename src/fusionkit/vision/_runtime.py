"""Shipped model files, their sha256 check, and one shared onnxruntime session per model and options.

Sessions are created on first use (never at import), verified against ``models/manifest.json`` first, and shared
by every detector and landmarker in the process; ``InferenceSession.run`` is thread-safe, so threads share them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs

from fusionkit.errors import (
    ModelFileError,
    ModelRunFailedError,
    ModelUnreadableError,
    ParameterValueError,
    ProviderUnavailableError,
)

__all__ = ["BATCH_RUNTIME", "MODELS_DIR", "RuntimeOptions", "check_providers", "current_runtime", "get_session",
           "made_once", "make_session", "model_path", "single_threaded", "using_runtime"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
_MANIFEST = "manifest.json"

_T = TypeVar("_T")

_lock = threading.Lock()
_verified: dict[Path, str] = {}
_sessions: dict[tuple[str, RuntimeOptions, Path], Any] = {}


def _providers_converter(value: Any) -> tuple[str, ...]:
    providers = (value,) if isinstance(value, str) else value
    try:
        out = tuple(providers)
    except TypeError:
        out = ()
    if not out or not all(isinstance(p, str) and p for p in out):
        raise ParameterValueError(f"providers must be onnxruntime execution provider names, e.g. "
                                  f"('CUDAExecutionProvider',), got {value!r:.80}")
    return out


def _threads(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1024:
        raise ParameterValueError(f"{attribute.name} must be a whole number within 0-1024 (0: onnxruntime chooses), "
                                  f"got {value!r:.40}")


@attrs.frozen(kw_only=True)
class RuntimeOptions:
    """How onnxruntime runs the face models.

    Attributes
    ----------
    providers
        Execution providers in order of preference, e.g. ``("CUDAExecutionProvider",)`` or
        ``("CoreMLExecutionProvider",)``; the CPU provider is always appended as the fallback. A provider that
        this onnxruntime build lacks is refused with :class:`ParameterValueError`.
    intra_op_threads
        Threads inside one model run (default 1); 0 lets onnxruntime choose (one per core). The face models run
        for a few milliseconds: split across cores they gained nothing and took the cores from everything else (on
        the 2-core test machine one landmark run took 6.6 ms with onnxruntime's threads and 4.7 ms on one, and two
        callers at once got 1.4x one caller's throughput with them, 2.1x without). With any other count (0
        included), the pool's threads sleep between runs instead of spinning.
    inter_op_threads
        Threads across independent graph nodes (1: sequential execution).
    """

    providers: tuple[str, ...] = attrs.field(default=("CPUExecutionProvider",), converter=_providers_converter)
    intra_op_threads: int = attrs.field(default=1, validator=_threads)
    inter_op_threads: int = attrs.field(default=1, validator=_threads)


#: What batch workers (fuse_many's threads, cluster tasks) run the models with: one thread inside a model run, the
#: default too, kept whatever a caller's default is. Each worker already keeps a core busy; onnxruntime's own threads
#: (one per core) made two workers on two cores fight over them: 2 worker processes ran 1.09x one, against 1.75x with
#: this (benchmarks/bench_scale.py).
BATCH_RUNTIME = RuntimeOptions(intra_op_threads=1)

_current: contextvars.ContextVar[RuntimeOptions | None] = contextvars.ContextVar("fusionkit_runtime", default=None)


def current_runtime(default: RuntimeOptions | None = None) -> RuntimeOptions:
    """The runtime options of the models (detectors, landmarkers, the user's plug-in models) made without any:
    those of the innermost :func:`using_runtime` block of this thread (or task), else ``default``, else the
    defaults."""
    return _current.get() or default or RuntimeOptions()


def single_threaded(options: RuntimeOptions) -> RuntimeOptions:
    """``options`` with one thread inside each model run: what batch workers use (see :data:`BATCH_RUNTIME`),
    keeping the caller's execution providers."""
    return attrs.evolve(options, intra_op_threads=1)


@contextlib.contextmanager
def using_runtime(options: RuntimeOptions) -> Iterator[None]:
    """Run the face models made inside the block (by :func:`fusionkit.fuse`, :func:`fusionkit.analyze`, ...)
    with ``options``, in this thread or task only."""
    token = _current.set(options)
    try:
        yield
    finally:
        _current.reset(token)


def _manifest(models_dir: Path) -> dict[str, Any]:
    path = models_dir / _MANIFEST
    try:
        files: dict[str, Any] = json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"the model manifest {path} is missing or unreadable; reinstall fusionkit") from exc
    return files


def model_path(file_name: str, *, models_dir: Path = MODELS_DIR) -> Path:
    """Return the path of a shipped model file after checking its sha256 against the manifest (once
    per process).

    Raises
    ------
    ModelFileError
        The file is missing, unreadable or its hash differs from the manifest; the message names the file and
        the expected hash.
    """
    path = models_dir / file_name
    with _lock:
        return _verify_locked(path, file_name, models_dir)


def _verify_locked(path: Path, file_name: str, models_dir: Path) -> Path:
    entry = _manifest(models_dir).get(file_name)
    if entry is None:
        raise ModelFileError(f"{file_name} is not listed in {models_dir / _MANIFEST}; reinstall fusionkit")
    expected = str(entry["sha256"])
    if _verified.get(path) == expected:
        return path
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelFileError(
            f"the model file {path} is missing or unreadable (expected sha256 {expected}); reinstall fusionkit"
        ) from exc
    if digest != expected:
        raise ModelFileError(
            f"the model file {path} is corrupt: sha256 {digest}, expected {expected}; reinstall fusionkit"
        )
    _verified[path] = expected
    return path


def get_session(file_name: str, options: RuntimeOptions, *, models_dir: Path = MODELS_DIR) -> Any:
    """Return the shared ``onnxruntime.InferenceSession`` for a shipped model (created on first use)."""
    def make() -> Any:
        path = _verify_locked(models_dir / file_name, file_name, models_dir)
        return make_session(str(path), options, f"the model file {path}")

    return made_once(_sessions, (file_name, options, models_dir), _lock, make)


def made_once(cache: dict[Any, _T], key: Any, lock: threading.Lock, make: Callable[[], _T]) -> _T:
    """``cache[key]``, made by ``make`` under ``lock`` the first time (one check without the lock, one with it:
    every thread gets the one value, and lookups after the first never wait)."""
    found = cache.get(key)
    if found is not None:
        return found
    with lock:
        found = cache.get(key)
        if found is None:
            found = cache[key] = make()
        return found


#: onnxruntime's exceptions that mean the model itself is at fault (the file, its graph, or inputs it cannot take);
#: any other failure is the run's (a provider, the device's memory).
MODEL_FAULTS = frozenset({"Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoModel", "NoSuchFile",
                          "NotImplemented"})


def check_providers(options: RuntimeOptions) -> None:
    """Refuse ``options`` when it asks for an execution provider this onnxruntime lacks.

    Raises
    ------
    ProviderUnavailableError
        Naming the missing providers and those available.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    missing = [p for p in options.providers if p not in available]
    if missing:
        raise ProviderUnavailableError(
            f"onnxruntime execution provider(s) {missing} are not available in this installation; available: "
            f"{available} (a GPU provider needs the matching onnxruntime package, e.g. onnxruntime-gpu)")


def make_session(model: str | bytes, options: RuntimeOptions, what: str) -> Any:
    """A new ``onnxruntime.InferenceSession`` of ``model`` (a path or the file's bytes) run as ``options`` say;
    ``what`` names the file in errors.

    Raises
    ------
    ProviderUnavailableError
        An asked-for execution provider is not in this onnxruntime; the message lists those that are.
    ModelUnreadableError
        onnxruntime cannot load the file (not an ONNX model, or one with operators it lacks).
    """
    import onnxruntime as ort

    check_providers(options)
    providers = list(dict.fromkeys([*options.providers, "CPUExecutionProvider"]))
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    if options.intra_op_threads != 1:
        # Spinning between runs only pays on cores nothing else wants; here the fusion, FFmpeg and the caller's
        # own threads do (see RuntimeOptions.intra_op_threads).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(model, sess_options=so, providers=providers)
    except Exception as exc:  # onnxruntime's own exception types are not exported: told apart by name
        if type(exc).__name__ in MODEL_FAULTS:
            raise ModelUnreadableError(f"{what} is not a model onnxruntime can load ({type(exc).__name__}: "
                                       f"{str(exc)[:300]})") from None
        raise ModelRunFailedError(f"{what} could not start on the providers {providers} ({type(exc).__name__}: "
                                  f"{str(exc)[:300]}); try other providers, or the CPU") from None


def clear_caches() -> None:
    """Forget verified hashes and drop the shared sessions (tests; after replacing model files)."""
    with _lock:
        _verified.clear()
        _sessions.clear()
