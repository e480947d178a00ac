"""``onnx-swapper``: a learned face swapper the user supplies, run as fusionkit's face renderer.

The contract is the common one of insightface's inswapper and the swappers built like it:

- the **swapper** has an image input ``[1, 3, S, S]`` (S = 128, 256 or 512, read from the model or the spec's
  ``input_size``), RGB in [0, 1], the template's face aligned by five points to ArcFace's template; an identity
  input ``[1, D]``; and its first output is the swapped face, ``[1, 3, S, S]`` RGB in [0, 1];
- the **recogniser** turns a 112 x 112 aligned face (``[N, 3, 112, 112]``, RGB scaled to [-1, 1]) into a
  D-dimensional embedding (``[N, D]``, D = 512 for ArcFace);
- an optional **projection** (``.npy``, D x D: inswapper's ``emap``) maps the normalised embedding into the
  swapper's identity space.

The degrees map onto it: ``fuse_face_degree`` mixes the template face's own embedding into the user's (0: the
user's identity, 100: the template's), and ``fuse_profile_degree`` still shapes the head the swapper draws into. The
swapped crop is laid back through the engine's masks, colour, blend and label like the mesh renderer's face.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.models import ModelSpec, PluginSpec
from fusionkit.errors import ParameterValueError
from fusionkit.fusion.engine._common import U8
from fusionkit.fusion.engine.geometry import to_core
from fusionkit.fusion.engine.renderer import PerCall, RenderedFace, RenderRequest
from fusionkit.fusion.renderers.align import (
    ARCFACE_112,
    align,
    arcface_112_from,
    arcface_template,
    five_points,
    paste_back,
    planar_blob,
)
from fusionkit.vision.topology import MeshTopology
from fusionkit.vision.user_models import UserModel, load_projection, load_user_model

__all__ = ["OnnxSwapper"]

_SWAPPER_SIZES = (128, 256, 512)


def _square_size(model: UserModel, port_shape: tuple[int | None, ...], spec_size: int | None,
                 allowed: tuple[int, ...]) -> int:
    h, w = port_shape[2], port_shape[3]
    if h is None and w is None:
        if spec_size is None:
            raise model.contract_error("its image input's size is dynamic; give ModelSpec(input_size=...)")
        size = spec_size
    elif h != w or (h is None) != (w is None):
        raise model.contract_error(f"its image input is not square ({h} x {w})")
    else:
        size = int(h)  # type: ignore[arg-type]
        if spec_size is not None and spec_size != size:
            raise model.contract_error(f"its image input is {size} px, the spec says {spec_size}")
    if size not in allowed:
        raise model.contract_error(f"its image input is {size} px; the contract takes {allowed}")
    return size


def _image_port_ok(shape: tuple[int | None, ...]) -> bool:
    return len(shape) == 4 and shape[1] == 3 and shape[0] in (1, None)


class _Recogniser:
    """The user's ArcFace-style recogniser: an aligned 112 px face in, a unit embedding out."""

    def __init__(self, model: UserModel) -> None:
        images = [p for p in model.inputs if _image_port_ok(p.shape)]
        if len(model.inputs) != 1 or not images:
            raise model.contract_error("it must have one image input [N, 3, 112, 112]")
        _square_size(model, images[0].shape, model.spec.input_size, (112,))
        out = model.outputs[0] if model.outputs else None
        if out is None or out.rank != 2 or out.shape[1] is None:
            raise model.contract_error("its first output must be the embedding [N, D]")
        self.model = model
        self.input = images[0].name
        self.dimensions = int(out.shape[1])

    def embed(self, crop: U8) -> NDArray[np.float32]:
        """The unit embedding of a face aligned to ArcFace's 112 px template."""
        (out, *_) = self.model.run({self.input: planar_blob(crop, 1 / 127.5, -1.0)})
        vector = np.asarray(out, np.float32).reshape(-1)
        if vector.shape != (self.dimensions,) or not np.isfinite(vector).all():
            raise self.model.contract_error(f"it returned {np.asarray(out).shape} (or non-finite values), not one "
                                            f"{self.dimensions}-d embedding")
        norm = float(np.linalg.norm(vector))
        unit: NDArray[np.float32] = vector / max(norm, 1e-12)
        return unit


class OnnxSwapper:
    """A learned face swapper as a :class:`~fusionkit.fusion.engine.FaceRenderer`.

    Parameters
    ----------
    swapper, recogniser
        The user's models (:class:`~fusionkit.domain.models.ModelSpec`), checked against their hashes and
        contracts when first used.
    projection
        Optional ``.npy`` (D x D) identity projection (inswapper's ``emap``).

    Sessions are made on first use in each process, with :func:`fusionkit.vision.current_runtime`'s providers, and
    shared; a swapper pickles as its :attr:`spec` (a worker process loads its own sessions).
    """

    name = "onnx-swapper"

    def __init__(self, swapper: ModelSpec, recogniser: ModelSpec, projection: ModelSpec | None = None) -> None:
        models = {"swapper": swapper, "recogniser": recogniser}
        if projection is not None:
            models["projection"] = projection
        self.spec = PluginSpec(name=self.name, models=models)
        self._swapper_spec, self._recogniser_spec, self._projection_spec = swapper, recogniser, projection
        self._by_user: PerCall[NDArray[np.float32]] = PerCall()

    @classmethod
    def from_spec(cls, spec: PluginSpec) -> OnnxSwapper:
        """The swapper a :class:`PluginSpec` names (``models``: swapper, recogniser, optional projection)."""
        swapper, recogniser = spec.model("swapper"), spec.model("recogniser")
        if swapper is None or recogniser is None:
            raise ParameterValueError("the onnx-swapper renderer needs models 'swapper' and 'recogniser' (and "
                                      f"optionally 'projection'), got {[role for role, _ in spec.models]}")
        extra = {role for role, _ in spec.models} - {"swapper", "recogniser", "projection"}
        if extra or spec.settings:
            raise ParameterValueError(f"the onnx-swapper renderer takes no models {sorted(extra)} and no settings "
                                      f"{[k for k, _ in spec.settings]}")
        return cls(swapper, recogniser, spec.model("projection"))

    def __reduce__(self) -> tuple[Any, ...]:
        return OnnxSwapper.from_spec, (self.spec,)

    def _loaded(self) -> tuple[UserModel, str, str, int, _Recogniser, NDArray[np.float32] | None]:
        model = load_user_model(self._swapper_spec, "swapper")
        recogniser = _Recogniser(load_user_model(self._recogniser_spec, "recogniser"))
        images = [p for p in model.inputs if _image_port_ok(p.shape)]
        vectors = [p for p in model.inputs if p.rank == 2]
        if len(model.inputs) != 2 or len(images) != 1 or len(vectors) != 1:
            raise model.contract_error("it must have two inputs: the face [1, 3, S, S] and the identity [1, D]")
        size = _square_size(model, images[0].shape, self._swapper_spec.input_size, _SWAPPER_SIZES)
        width = vectors[0].shape[1]
        if width is not None and width != recogniser.dimensions:
            raise model.contract_error(f"its identity input takes {width} values, the recogniser "
                                       f"{recogniser.model.spec.file_name} gives {recogniser.dimensions}")
        if not model.outputs or model.outputs[0].rank != 4:
            raise model.contract_error("its first output must be the swapped face [1, 3, S, S]")
        projection = None
        if self._projection_spec is not None:
            projection = load_projection(self._projection_spec, recogniser.dimensions)
        return model, images[0].name, vectors[0].name, size, recogniser, projection

    def prepare(self) -> None:
        """Load the models now: their hashes, files and contracts checked (typed errors naming the model)."""
        self._loaded()

    def _identity(self, recogniser: _Recogniser, request: RenderRequest, topo: MeshTopology) -> NDArray[np.float32]:
        """The user's unit embedding, kept under the call's user key (every frame of a video after the first) and
        nowhere else: an identity embedding is biometric data, so none outlives the call that made it."""
        def embed() -> NDArray[np.float32]:
            crop, _ = align(request.user, five_points(to_core(request.plan.user_points), topo), ARCFACE_112, 112)
            return recogniser.embed(crop)

        return self._by_user.get_or_make(request.user_key, "identity", embed)

    def render(self, request: RenderRequest) -> RenderedFace:
        model, image_input, identity_input, size, recogniser, projection = self._loaded()
        plan, topo = request.plan, request.topology
        target_five = five_points(plan.in_inner(plan.target), topo)
        identity = self._identity(recogniser, request, topo)
        crop, alignment = align(np.asarray(request.template), target_five, arcface_template(size), size)
        beta = request.options.fuse_face_degree / 100.0
        if beta > 0:
            # The template face's own identity, from the crop just made (the same alignment at 112 px).
            own = recogniser.embed(arcface_112_from(crop, size))
            identity = (1.0 - beta) * identity + beta * own
        latent = identity.reshape(1, -1).astype(np.float32)
        if projection is not None:
            latent = latent @ projection
        latent /= max(float(np.linalg.norm(latent)), 1e-12)
        blob = planar_blob(crop, 1 / 255, 0.0)
        (out, *_) = model.run({image_input: blob, identity_input: latent})
        out = np.asarray(out)
        if out.shape != (1, 3, size, size) or not np.isfinite(out).all():
            raise model.contract_error(f"it returned {out.shape} (or non-finite values), not the face [1, 3, {size}, "
                                       f"{size}]")
        texture, coverage = paste_back(np.asarray(out[0], np.float32), alignment, plan.shape, (0.0, 1.0))
        return RenderedFace(texture=texture, coverage=coverage, identity_mixed=True)
