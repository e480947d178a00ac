"""``onnx-enhancer``: a learned face restorer the user supplies (GFPGAN, CodeFormer, GPEN and the like), run on
what any renderer drew.

The contract: one image input ``[1, 3, 512, 512]``, RGB scaled to [-1, 1], the face aligned by five points to the
FFHQ template restorers are trained on; optionally a scalar ``weight`` input (CodeFormer's fidelity, from the
``fidelity`` setting, default 0.5); the first output is the restored face, same shape and scale. The restored crop
is mixed into the rendered face by ``strength`` (0-1) where the renderer drew; the engine's colour, masks and blend
come after, as for any renderer.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from fusionkit.core import composite
from fusionkit.domain.models import ModelSpec, PluginSpec
from fusionkit.errors import ParameterValueError
from fusionkit.fusion.engine.renderer import RenderedFace, RenderRequest
from fusionkit.fusion.renderers.align import FFHQ_512, align, five_points, lay_back, planar_blob
from fusionkit.vision.user_models import UserModel, load_user_model

__all__ = ["OnnxEnhancer"]

_SIZE = 512
_WEIGHT = "weight"


def _unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ParameterValueError(f"the onnx-enhancer's {name} must be a number within 0-1, got {value!r:.40}")
    return float(value)


class OnnxEnhancer:
    """A learned face restorer as a :class:`~fusionkit.fusion.engine.FaceEnhancer`.

    Parameters
    ----------
    model
        The user's restorer (:class:`~fusionkit.domain.models.ModelSpec`).
    strength
        0-1: how much of the restored face replaces what the renderer drew (0 leaves it as drawn).
    fidelity
        0-1, for restorers with a ``weight`` input (CodeFormer): its value.
    """

    name = "onnx-enhancer"

    def __init__(self, model: ModelSpec, strength: float = 0.8, fidelity: float = 0.5) -> None:
        self.strength = _unit("strength", strength)
        self.fidelity = _unit("fidelity", fidelity)
        self._model_spec = model
        self.spec = PluginSpec(name=self.name, models={"enhancer": model},
                               settings={"strength": self.strength, "fidelity": self.fidelity})

    @classmethod
    def from_spec(cls, spec: PluginSpec) -> OnnxEnhancer:
        """The enhancer a :class:`PluginSpec` names (model ``enhancer``; settings ``strength``, ``fidelity``)."""
        model = spec.model("enhancer")
        extra = {role for role, _ in spec.models} - {"enhancer"} | ({k for k, _ in spec.settings}
                                                                  - {"strength", "fidelity"})
        if model is None or extra:
            raise ParameterValueError("the onnx-enhancer takes the model 'enhancer' and the settings 'strength' and "
                                      f"'fidelity', got models {[r for r, _ in spec.models]} and settings "
                                      f"{[k for k, _ in spec.settings]}")
        return cls(model, spec.setting("strength", 0.8), spec.setting("fidelity", 0.5))

    def __reduce__(self) -> tuple[Any, ...]:
        return OnnxEnhancer.from_spec, (self.spec,)

    def _loaded(self) -> tuple[UserModel, str, str | None]:
        model = load_user_model(self._model_spec, "enhancer")
        images = [p for p in model.inputs if p.rank == 4]
        scalars = [p for p in model.inputs if p.rank <= 1]
        if len(images) != 1 or images[0].shape[1] not in (3, None) or len(model.inputs) != len(images) + len(scalars) \
                or len(scalars) > 1 or (scalars and scalars[0].name != _WEIGHT):
            raise model.contract_error(f"it must have one image input [1, 3, {_SIZE}, {_SIZE}] and at most a scalar "
                                       f"'{_WEIGHT}'")
        h, w = images[0].shape[2], images[0].shape[3]
        if (h, w) != (_SIZE, _SIZE) and not (h is None and w is None):
            raise model.contract_error(f"its image input is {h} x {w}; the contract takes {_SIZE} x {_SIZE}")
        if not model.outputs or model.outputs[0].rank != 4:
            raise model.contract_error(f"its first output must be the restored face [1, 3, {_SIZE}, {_SIZE}]")
        return model, images[0].name, scalars[0].name if scalars else None

    def prepare(self) -> None:
        """Load the model now: its hash, file and contract checked (typed errors naming the model)."""
        self._loaded()

    def enhance(self, request: RenderRequest, rendered: RenderedFace) -> RenderedFace:
        if self.strength == 0:
            return rendered
        model, image_input, weight_input = self._loaded()
        plan = request.plan
        # The restorer sees a whole face: what the renderer drew, the template where it drew nothing.
        seen = np.array(request.template)
        composite(rendered.texture, rendered.coverage, seen, (0, 0))
        crop, alignment = align(seen, five_points(plan.in_inner(plan.target), request.topology), FFHQ_512, _SIZE)
        feeds: dict[str, Any] = {image_input: planar_blob(crop, 1 / 127.5, -1.0)}
        if weight_input is not None:
            port = next(p for p in model.inputs if p.name == weight_input)
            dtype = np.float64 if "double" in port.type else np.float32
            feeds[weight_input] = np.full(tuple(1 if d is None else d for d in port.shape), self.fidelity, dtype)
        (out, *_) = model.run(feeds)
        out = np.asarray(out)
        if out.shape != (1, 3, _SIZE, _SIZE) or not np.isfinite(out).all():
            raise model.contract_error(f"it returned {out.shape} (or non-finite values), not the face "
                                       f"[1, 3, {_SIZE}, {_SIZE}]")
        laid, (x0, y0, x1, y1) = lay_back(np.asarray(out[0], np.float32), alignment, plan.shape, (-1.0, 1.0))
        if x1 > x0 and y1 > y0:
            # Mixed in by strength, only where the renderer drew and the crop reaches.
            weight = np.asarray(cv2.convertScaleAbs(np.ascontiguousarray(laid[..., 3]), alpha=self.strength), np.uint8)
            np.minimum(weight, rendered.coverage[y0:y1, x0:x1], out=weight)
            restored = np.asarray(cv2.cvtColor(laid, cv2.COLOR_RGBA2RGB), np.uint8)
            composite(restored, weight, rendered.texture, (x0, y0))
        return rendered
