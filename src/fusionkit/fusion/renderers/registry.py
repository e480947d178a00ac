"""The renderers and enhancers fusionkit knows by name: its own (a table), and those packages register under the
``fusionkit.renderers`` and ``fusionkit.enhancers`` entry-point groups.

An entry point names a factory: a callable that takes a :class:`~fusionkit.domain.models.PluginSpec` (its name,
models and settings) and returns the plug-in (a class with a ``from_spec`` classmethod, or a function). A package
declares one in its ``pyproject.toml``::

    [project.entry-points."fusionkit.renderers"]
    my-swapper = "my_package.render:MySwapper.from_spec"

Plug-ins built from a spec are kept per spec, so their sessions are made once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from fusionkit.domain.models import PluginSpec, licence_text, licences
from fusionkit.errors import ParameterValueError, RendererNotFoundError
from fusionkit.fusion.engine.renderer import FaceEnhancer, FaceRenderer, MeshRenderer
from fusionkit.fusion.renderers.enhancer import OnnxEnhancer
from fusionkit.fusion.renderers.swapper import OnnxSwapper

__all__ = ["ENHANCER_GROUP", "MODEL_LICENCE_KEY", "RENDERER_GROUP", "available", "enhancer_for", "licence_text",
           "licences", "model_metadata", "prepare", "renderer_for"]

RENDERER_GROUP = "fusionkit.renderers"
ENHANCER_GROUP = "fusionkit.enhancers"

Factory = Callable[[PluginSpec], Any]


def _mesh(spec: PluginSpec) -> MeshRenderer:
    if spec.models or spec.settings:
        raise ParameterValueError("the mesh renderer takes no models and no settings")
    return MESH


#: The one mesh renderer (it holds no state).
MESH = MeshRenderer()

_BUILT_IN: dict[str, dict[str, Factory]] = {
    RENDERER_GROUP: {"mesh": _mesh, OnnxSwapper.name: OnnxSwapper.from_spec},
    ENHANCER_GROUP: {OnnxEnhancer.name: OnnxEnhancer.from_spec},
}
_KIND = {RENDERER_GROUP: ("renderer", "render"), ENHANCER_GROUP: ("enhancer", "enhance")}

_lock = threading.Lock()
_built: dict[tuple[str, PluginSpec], Any] = {}


def available(group: str = RENDERER_GROUP) -> list[str]:
    """The names that resolve in ``group``: the built-in ones, then the entry points installed now."""
    names = list(_BUILT_IN[group])
    names += sorted(ep.name for ep in entry_points(group=group) if ep.name not in names)
    return names


def _factory(group: str, name: str) -> Factory:
    built_in = _BUILT_IN[group].get(name)
    if built_in is not None:
        return built_in
    for ep in entry_points(group=group, name=name):
        try:
            factory: Factory = ep.load()
        except Exception as exc:  # a broken plug-in package: say which, and why
            raise RendererNotFoundError(f"the {_KIND[group][0]} {name!r} ({ep.value}, from the {group} entry "
                                        f"points) cannot be imported: {type(exc).__name__}: {exc}") from None
        return factory
    raise RendererNotFoundError(f"no {_KIND[group][0]} is named {name!r}; available: {available(group)} (a package "
                                f"adds one under the {group!r} entry-point group)")


def _resolve(choice: Any, group: str) -> Any:
    kind, method = _KIND[group]
    if not isinstance(choice, PluginSpec):
        return choice  # a plug-in object the caller made: used as it is
    key = (group, choice)
    plugin = _built.get(key)
    if plugin is None:
        factory = _factory(group, choice.name)
        plugin = factory(choice)
        if not callable(getattr(plugin, method, None)):
            raise RendererNotFoundError(f"the {kind} factory for {choice.name!r} returned {plugin!r:.60}, which has "
                                        f"no {method}() method")
        with _lock:
            plugin = _built.setdefault(key, plugin)
    return plugin


def renderer_for(choice: Any) -> FaceRenderer:
    """The renderer ``FuseOptions.renderer`` names (a :class:`PluginSpec`) or is (a plug-in object).

    Raises
    ------
    RendererNotFoundError
        No renderer of that name, or its package cannot be imported.
    ParameterValueError
        The spec's models or settings are not those the renderer takes.
    """
    renderer: FaceRenderer = _resolve(choice, RENDERER_GROUP)
    return renderer


def enhancer_for(choice: Any) -> FaceEnhancer | None:
    """The enhancer ``FuseOptions.enhancer`` names or is, or None."""
    if choice is None:
        return None
    enhancer: FaceEnhancer = _resolve(choice, ENHANCER_GROUP)
    return enhancer


#: The metadata key each learned model's licence is written under (PNG text chunk, JPEG comment, video XMP).
MODEL_LICENCE_KEY = "Model licence"


def model_metadata(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``(MODEL_LICENCE_KEY, "file: licence")`` per learned model, for an encoded file's metadata."""
    return tuple((MODEL_LICENCE_KEY, f"{file}: {licence}") for file, licence in pairs)


def prepare(*plugins: Any) -> None:
    """Load what the plug-ins need now (their ``prepare()``, where they have one: the ONNX adapters check their
    models' hashes and contracts), so that a bad model fails a call before any work, or a video job at submit."""
    for plugin in plugins:
        ready = getattr(plugin, "prepare", None)
        if callable(ready):
            ready()
