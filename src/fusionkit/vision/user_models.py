"""Models the user owns: hash-checked before onnxruntime sees a byte, one session per file and runtime.

The file is read once, its sha256 compared with the :class:`~fusionkit.domain.models.ModelSpec`'s, and the same
bytes handed to onnxruntime: what was checked is what runs, even if the file changes on disk in between. Nothing is
ever fetched; a spec names a file on this machine.
"""

from __future__ import annotations

import hashlib
import io
import threading
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.models import ModelSpec
from fusionkit.errors import ModelContractError, ModelHashMismatchError, ModelRunFailedError, ModelUnreadableError
from fusionkit.vision._runtime import MODEL_FAULTS, RuntimeOptions, current_runtime, made_once, make_session

__all__ = ["Port", "UserModel", "clear_user_models", "load_projection", "load_user_model"]

#: A projection file (``.npy``) larger than this is refused before it is read: a 512 x 512 float32 matrix is 1 MiB.
MAX_PROJECTION_BYTES = 64 << 20

_lock = threading.Lock()
_models: dict[tuple[str, str, str, RuntimeOptions], UserModel] = {}
_projections: dict[tuple[str, str], NDArray[np.float32]] = {}


@attrs.frozen
class Port:
    """One input or output of a model: its name, shape (an int per fixed axis, None for a dynamic one) and element
    type (``"tensor(float)"``)."""

    name: str
    shape: tuple[int | None, ...]
    type: str

    @property
    def rank(self) -> int:
        return len(self.shape)

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}[{dims}] {self.type}"


def _ports(nodes: Any) -> tuple[Port, ...]:
    return tuple(Port(node.name, tuple(d if isinstance(d, int) else None for d in node.shape), node.type)
                 for node in nodes)


class UserModel:
    """A user's model, loaded: its ports and a thread-safe :meth:`run`."""

    def __init__(self, spec: ModelSpec, role: str, session: Any) -> None:
        self.spec = spec
        self.role = role
        self._session = session
        self.inputs = _ports(session.get_inputs())
        self.outputs = _ports(session.get_outputs())

    @property
    def label(self) -> str:
        """``the swapper model inswapper_128.onnx``: how errors name it."""
        return f"the {self.role} model {self.spec.file_name}"

    def contract_error(self, what: str) -> ModelContractError:
        """A :class:`ModelContractError` naming this model, ``what`` is wrong, and its ports."""
        return ModelContractError(
            f"{self.label} does not fit the {self.role} contract: {what}; it has inputs "
            f"{[p.describe() for p in self.inputs]} and outputs {[p.describe() for p in self.outputs]} "
            "(see docs/renderers.md for what each adapter expects)")

    def run(self, feeds: dict[str, NDArray[Any]]) -> list[NDArray[Any]]:
        """The model's outputs for ``feeds`` (input name -> array). Inputs the graph rejects at run time are a
        :class:`ModelContractError` naming the model; any other failure (a provider, the device's memory) a
        :class:`~fusionkit.errors.ModelRunFailedError`."""
        try:
            outputs: list[NDArray[Any]] = self._session.run(None, feeds)
        except Exception as exc:  # onnxruntime raises its own (unexported) exception types
            if type(exc).__name__ in MODEL_FAULTS:
                raise self.contract_error(f"running it failed ({type(exc).__name__}: {str(exc)[:300]})") from None
            raise ModelRunFailedError(f"{self.label} failed to run on the providers {self._session.get_providers()} "
                                      f"({type(exc).__name__}: {str(exc)[:300]}); try other providers, or the CPU") \
                from None
        return outputs


def _read_checked(spec: ModelSpec, role: str) -> bytes:
    try:
        data = open(spec.path, "rb").read()  # noqa: SIM115 - read whole, closed by refcount at once
    except OSError as exc:
        raise ModelUnreadableError(f"the {role} model file {spec.path} cannot be read ({exc.strerror or exc}): "
                                   "give the path of a file on this machine (fusionkit never downloads models)") \
            from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ModelHashMismatchError(
            f"the {role} model file {spec.path} has sha256 {digest}, but its ModelSpec pins {spec.sha256}: it was "
            "not loaded; use the file the hash was taken from, or pin this file's hash if you trust it")
    return data


def load_user_model(spec: ModelSpec, role: str, runtime: RuntimeOptions | None = None) -> UserModel:
    """The loaded model of ``spec`` (created on first use, then shared by every thread), run with ``runtime``
    (default: :func:`~fusionkit.vision.current_runtime`, so ``using_runtime`` reaches the user's models too).

    Raises
    ------
    ModelHashMismatchError
        The file's sha256 is not the spec's (checked before onnxruntime reads it).
    ModelUnreadableError
        The file is missing, unreadable or not an ONNX model.
    ProviderUnavailableError
        The runtime asks for an execution provider this onnxruntime lacks.
    """
    options = runtime if runtime is not None else current_runtime()

    def make() -> UserModel:
        return UserModel(spec, role, make_session(_read_checked(spec, role), options,
                                                  f"the {role} model file {spec.path}"))

    return made_once(_models, (spec.path, spec.sha256, role, options), _lock, make)


def load_projection(spec: ModelSpec, size: int) -> NDArray[np.float32]:
    """A swapper's identity projection: a (size, size) float matrix from a hash-checked ``.npy`` file (never a
    pickle).

    Raises
    ------
    ModelHashMismatchError, ModelUnreadableError, ModelContractError
        The hash differs, the file is unreadable or too large, or it is not a (size, size) float matrix.
    """
    key = (spec.path, spec.sha256)
    matrix = _projections.get(key)
    if matrix is None:
        import os

        try:
            too_big = os.path.getsize(spec.path) > MAX_PROJECTION_BYTES
        except OSError:
            too_big = False  # _read_checked says why it cannot be read
        if too_big:
            raise ModelUnreadableError(f"the projection file {spec.path} is over {MAX_PROJECTION_BYTES >> 20} MiB; "
                                       "it should hold one embedding-size square matrix")
        data = _read_checked(spec, "projection")
        try:
            loaded = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ModelUnreadableError(f"the projection file {spec.path} is not a .npy array ({exc})") from None
        if not isinstance(loaded, np.ndarray) or loaded.dtype.kind != "f" or loaded.ndim != 2:
            raise ModelContractError(f"the projection file {spec.file_name} must hold a 2-D float matrix, got "
                                     f"{getattr(loaded, 'shape', '?')} {getattr(loaded, 'dtype', type(loaded))}")
        matrix = np.ascontiguousarray(loaded, np.float32)
        matrix.setflags(write=False)
        with _lock:
            _projections[key] = matrix
    if matrix.shape != (size, size):
        raise ModelContractError(f"the projection file {spec.file_name} holds a {matrix.shape} matrix; the "
                                 f"recogniser's embeddings need ({size}, {size})")
    return matrix


def clear_user_models() -> None:
    """Drop every loaded user model and projection (tests; after replacing files)."""
    with _lock:
        _models.clear()
        _projections.clear()
