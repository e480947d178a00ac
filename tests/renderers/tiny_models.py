"""Tiny ONNX graphs, built here with ``onnx.helper``, that honour the plug-in contracts, so the whole learned
renderer path runs in CI without anyone's weights.

- :func:`recogniser`: a 112 px face -> a 512-d embedding: the face's mean colour through a fixed 3 x 512
  projection (different people, different embeddings);
- :func:`swapper`: the aligned template face and an identity -> that face tinted by the identity (a fixed 512 x 3
  projection of it), so what reaches the fused picture shows which identity the swapper was given;
- :func:`marker_swapper`: a flat grey face with a white square on ArcFace's image-left eye point (alignment and
  paste-back checked by where the square lands);
- :func:`enhancer`: a 512 px face -> the same face, darkened (x * 0.5 - 0.5 in [-1, 1]);
- :func:`save` writes a graph and returns its :class:`ModelSpec` (path, sha256, licence).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fusionkit.domain.models import ModelSpec

OPSET = [helper.make_opsetid("", 17)]
D = 512


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _image(name: str, size: int | str, batch: int | str = 1) -> Any:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, 3, size, size])


def recogniser(size: int = 112, dims: int = D, seed: int = 1) -> onnx.ModelProto:
    weights = np.random.default_rng(seed).normal(size=(3, dims)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "W"], ["embedding"])]
    return _model(nodes, [_image("input.1", size, "N")],
                  [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dims])],
                  [numpy_helper.from_array(weights, "W")])


def tint_matrix(dims: int = D, seed: int = 2) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(dims, 3)) * 0.05).astype(np.float32)


def swapper(size: int = 128, dims: int = D, seed: int = 2, extra_input: bool = False,
            image_name: str = "target", identity_name: str = "source") -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", [identity_name, "V"], ["tint"]),
             helper.make_node("Reshape", ["tint", "shape"], ["tint4"]),
             helper.make_node("Add", [image_name, "tint4"], ["raw"]),
             helper.make_node("Clip", ["raw", "lo", "hi"], ["output"])]
    inits = [numpy_helper.from_array(tint_matrix(dims, seed), "V"),
             numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(1.0, np.float32), "hi")]
    inputs = [_image(image_name, size), helper.make_tensor_value_info(identity_name, TensorProto.FLOAT, [1, dims])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, size, size]))
        nodes.append(helper.make_node("Identity", ["mask"], ["mask_out"]))
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])]
    if extra_input:
        outputs.append(helper.make_tensor_value_info("mask_out", TensorProto.FLOAT, [1, 1, size, size]))
    return _model(nodes, inputs, outputs, inits)


def marker_swapper(point: tuple[float, float], size: int = 128, half: int = 3) -> onnx.ModelProto:
    """Grey everywhere, white in a (2 half + 1) px square centred on ``point`` (x, y) of the crop."""
    face = np.full((1, 3, size, size), 0.5, np.float32)
    x, y = round(point[0]), round(point[1])
    face[:, :, y - half:y + half + 1, x - half:x + half + 1] = 1.0
    nodes = [helper.make_node("Mul", ["target", "zero"], ["nothing"]),
             helper.make_node("ReduceSum", ["source"], ["id_sum"], keepdims=1),
             helper.make_node("Mul", ["id_sum", "zero"], ["id_zero"]),
             helper.make_node("Add", ["nothing", "face"], ["drawn"]),
             helper.make_node("Add", ["drawn", "id_zero"], ["output"])]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero"), numpy_helper.from_array(face, "face")]
    return _model(nodes, [_image("target", size), helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, D])],
                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)


def enhancer(size: int = 512, weight: str | None = None, flat_output: bool = False,
             weight_shape: list[int | str] | None = None) -> onnx.ModelProto:
    """``weight``: also take a double input of that name (CodeFormer's is ``weight``; shape ``weight_shape``,
    a scalar by default), added to nothing."""
    nodes = [helper.make_node("Mul", ["input", "half"], ["scaled"]),
             helper.make_node("Sub", ["scaled", "half"], ["restored"])]
    inputs = [_image("input", size)]
    if weight is not None:
        inputs.append(helper.make_tensor_value_info(weight, TensorProto.DOUBLE, weight_shape or []))
        nodes += [helper.make_node("Cast", [weight], ["weight_v"], to=TensorProto.FLOAT),
                  helper.make_node("ReduceSum", ["weight_v"], ["weight_f"], keepdims=0),
                  helper.make_node("Mul", ["weight_f", "zero"], ["nothing"]),
                  helper.make_node("Add", ["restored", "nothing"], ["output_4d"])]
    else:
        nodes.append(helper.make_node("Identity", ["restored"], ["output_4d"]))
    shape: list[int] = [1, 3, size, size]
    if flat_output:
        nodes.append(helper.make_node("Flatten", ["output_4d"], ["output"]))
        shape = [1, 3 * size * size]
    else:
        nodes.append(helper.make_node("Identity", ["output_4d"], ["output"]))
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    if weight is not None:
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
    return _model(nodes, inputs, [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)], inits)


def save(model: onnx.ModelProto | bytes, path: Path, licence: str = "test graph, no weights",
         **spec: Any) -> ModelSpec:
    data = model if isinstance(model, bytes) else model.SerializeToString()
    path.write_bytes(data)
    return ModelSpec(path=str(path), sha256=hashlib.sha256(data).hexdigest(), licence=licence, **spec)


def save_projection(matrix: np.ndarray, path: Path) -> ModelSpec:
    np.save(path, matrix)
    return ModelSpec(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), licence="test projection")
