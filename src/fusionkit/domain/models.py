"""Learned models the user owns, pinned by hash, and the choice of face renderer and enhancer that runs them.

fusionkit never downloads or ships such weights: a :class:`ModelSpec` names a file on the user's disk, the sha256
it must have (checked before the file is handed to onnxruntime) and the licence its authors give it (recorded in
every result's metadata and request log). A :class:`PluginSpec` names a renderer or enhancer (``"mesh"``,
``"onnx-swapper"``, ``"onnx-enhancer"`` or one a package registers under the ``fusionkit.renderers`` or
``fusionkit.enhancers`` entry-point group) with its models and settings: plain values, so that fusion options
holding one travel to worker processes and into stored video jobs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

from fusionkit.errors import ParameterValueError

__all__ = ["MODEL_INPUT_SIZES", "ModelSpec", "PluginSpec", "licence_text", "licences"]

#: The square input sizes (pixels) a model's image input may have: ArcFace recognisers (112), swappers (128, 256,
#: 512) and restorers (512).
MODEL_INPUT_SIZES = (112, 128, 256, 512)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_MAX_LICENCE = 300


def _path(value: Any) -> str:
    if isinstance(value, (str, os.PathLike)) and str(value):
        return os.fspath(value) if isinstance(value, os.PathLike) else value
    raise ParameterValueError(f"ModelSpec.path must be a file path, got {value!r:.80}")


def _sha256(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _SHA256.match(text):
        raise ParameterValueError(f"ModelSpec.sha256 must be the file's sha256 as 64 hex digits (sha256sum prints "
                                  f"it), got {value!r:.80}")
    return text


def _licence(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_LICENCE or not value.isprintable():
        raise ParameterValueError(f"ModelSpec.licence must be the licence its authors give the model, in 1-"
                                  f"{_MAX_LICENCE} printable characters (e.g. 'non-commercial research only'), "
                                  f"got {value!r:.80}")
    return value.strip()


def _input_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in MODEL_INPUT_SIZES:
        raise ParameterValueError(f"ModelSpec.input_size must be one of {MODEL_INPUT_SIZES} or None (read from the "
                                  f"model), got {value!r:.80}")
    return value


@attrs.frozen(kw_only=True)
class ModelSpec:
    """A model file the user owns, pinned.

    Attributes
    ----------
    path
        Where the ``.onnx`` (or ``.npy`` projection) file lies on this machine (and on every worker).
    sha256
        The file's sha256, 64 hex digits: a file with any other hash is refused before it is loaded.
    licence
        The licence the model's authors give it, as text; recorded in each result's metadata and request log.
        Many well-known face models are licensed for non-commercial research only: see ``docs/renderers.md``.
    input_size
        The side (pixels) of the model's square image input when the file leaves it open (dynamic axes); None
        reads it from the model.
    """

    path: str = attrs.field(converter=_path)
    sha256: str = attrs.field(converter=_sha256)
    licence: str = attrs.field(converter=_licence)
    input_size: int | None = attrs.field(default=None, converter=_input_size)

    @property
    def file_name(self) -> str:
        """The file's name without its folders: what errors and logs name."""
        return os.path.basename(self.path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {"path": self.path, "sha256": self.sha256, "licence": self.licence, "input_size": self.input_size}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """A spec from :meth:`to_dict`'s output, validated as on construction."""
        if not isinstance(data, Mapping):
            raise ParameterValueError(f"a stored model spec must be a JSON object, got {data!r:.80}")
        try:
            return cls(path=data["path"], sha256=data["sha256"], licence=data["licence"],
                       input_size=data.get("input_size"))
        except KeyError as exc:
            raise ParameterValueError(f"a stored model spec lacks {exc.args[0]!r}") from None


def _plugin_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ParameterValueError(f"a renderer or enhancer name must be 1-64 lower-case letters, digits, '-', '_' "
                                  f"or '.', starting with a letter (e.g. 'mesh', 'onnx-swapper'), got {value!r:.80}")
    return value


def _named(value: Any, accepts: Any, what: str) -> tuple[tuple[str, Any], ...]:
    """``value`` (a mapping or (name, value) pairs) as pairs sorted by name, each name valid and given once and each
    value passing ``accepts``; else a ParameterValueError saying ``what`` was expected."""
    items = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, Any]] = []
    try:
        for name, item in items:
            if not isinstance(name, str) or not _NAME.match(name) or not accepts(item):
                raise TypeError
            out.append((name, item))
    except (TypeError, ValueError):
        raise ParameterValueError(f"{what}, got {value!r:.120}") from None
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ParameterValueError(f"{what}: a name is given twice in {names}")
    return tuple(sorted(out, key=lambda pair: pair[0]))


def _models(value: Any) -> tuple[tuple[str, ModelSpec], ...]:
    return _named(value, lambda spec: isinstance(spec, ModelSpec),
                  "models must map roles (e.g. 'swapper', 'recogniser') to ModelSpec values")


def _settings(value: Any) -> tuple[tuple[str, bool | int | float | str], ...]:
    return _named(value, lambda setting: isinstance(setting, (bool, int, float, str)),
                  "settings must map names to numbers, text or True/False")


@attrs.frozen(kw_only=True)
class PluginSpec:
    """A face renderer or enhancer by name, with the models it runs and its settings.

    Attributes
    ----------
    name
        ``"mesh"`` (the default renderer), ``"onnx-swapper"``, ``"onnx-enhancer"``, or a name registered under
        the ``fusionkit.renderers`` / ``fusionkit.enhancers`` entry-point group.
    models
        Role -> :class:`ModelSpec`, e.g. ``{"swapper": ..., "recogniser": ...}``.
    settings
        Name -> number, text or bool, e.g. ``{"strength": 0.7}`` for an enhancer.
    """

    name: str = attrs.field(converter=_plugin_name)
    models: tuple[tuple[str, ModelSpec], ...] = attrs.field(factory=tuple, converter=_models)
    settings: tuple[tuple[str, bool | int | float | str], ...] = attrs.field(factory=tuple, converter=_settings)

    def model(self, role: str) -> ModelSpec | None:
        """The model of ``role``, or None."""
        return dict(self.models).get(role)

    def setting(self, key: str, default: Any = None) -> Any:
        """The setting ``key``, or ``default``."""
        return dict(self.settings).get(key, default)

    @property
    def licences(self) -> tuple[tuple[str, str], ...]:
        """(model file name, licence) of each model, in role order: what results and logs record."""
        return tuple((spec.file_name, spec.licence) for _, spec in self.models)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {"name": self.name, "models": {role: spec.to_dict() for role, spec in self.models},
                "settings": dict(self.settings)}

    @classmethod
    def from_dict(cls, data: Any) -> PluginSpec:
        """A spec from :meth:`to_dict`'s output (or a bare name), validated as on construction."""
        if isinstance(data, str):
            return cls(name=data)
        if not isinstance(data, Mapping) or not isinstance(data.get("models", {}), Mapping):
            raise ParameterValueError(f"a stored renderer must be a name or a JSON object, got {data!r:.80}")
        return cls(name=data.get("name"),
                   models={role: ModelSpec.from_dict(doc) for role, doc in data.get("models", {}).items()},
                   settings=data.get("settings", {}))


def licences(*plugins: Any) -> tuple[tuple[str, str], ...]:
    """(model file, licence) of every model the plug-ins (specs, or objects with a ``spec``) run, each once: what
    results, videos and request logs record."""
    out: list[tuple[str, str]] = []
    for plugin in plugins:
        spec = plugin if isinstance(plugin, PluginSpec) else getattr(plugin, "spec", None)
        if isinstance(spec, PluginSpec):
            out.extend(pair for pair in spec.licences if pair not in out)
    return tuple(out)


def licence_text(pairs: tuple[tuple[str, str], ...]) -> str | None:
    """``"file: licence; file: licence"`` for a request log line, or None when no learned model ran."""
    return "; ".join(f"{file}: {licence}" for file, licence in pairs) or None
