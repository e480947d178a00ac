"""The shipped model files: manifest hashes, NOTICE, lazy loading, and typed errors for bad files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusionkit.errors import ModelFileError
from fusionkit.vision import RuntimeOptions
from fusionkit.vision._runtime import MODELS_DIR, get_session, model_path

MODEL_FILES = ("face_detection_short_range.onnx", "face_detection_full_range.onnx", "face_landmark.onnx")


def test_manifest_matches_every_shipped_file() -> None:
    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())["files"]
    assert set(manifest) == {*MODEL_FILES, "topology.json", "mesh.json", "NOTICE"}
    for name, entry in manifest.items():
        data = (MODELS_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert len(data) == entry["size"]
    notice = (MODELS_DIR / "NOTICE").read_text()
    assert "MediaPipe" in notice and "Apache" in notice


def test_sessions_load_with_the_expected_io() -> None:
    opts = RuntimeOptions(intra_op_threads=1)
    # The short-range detector's input size is free (its pyramid runs it on whole pictures), the others' fixed.
    for name, size in [(MODEL_FILES[0], ["height", "width"]), (MODEL_FILES[1], [192, 192]),
                       (MODEL_FILES[2], [192, 192])]:
        session = get_session(name, opts)
        assert session.get_inputs()[0].shape == [1, 3, *size]
        assert get_session(name, opts) is session  # shared
    short = get_session(MODEL_FILES[0], opts)
    boxes, scores = short.run(None, {"input": np.zeros((1, 3, 96, 160), np.float32)})
    assert boxes.shape == (1, (12 * 20) * 2 + (6 * 10) * 6, 16) and scores.shape == (1, boxes.shape[1], 1)


def _copy_models(tmp_path: Path) -> Path:
    out = tmp_path / "models"
    shutil.copytree(MODELS_DIR, out)
    return out


def test_corrupt_model_file_is_refused(tmp_path: Path) -> None:
    models = _copy_models(tmp_path)
    target = models / "face_landmark.onnx"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    expected = json.loads((models / "manifest.json").read_text())["files"]["face_landmark.onnx"]["sha256"]
    with pytest.raises(ModelFileError) as err:
        get_session("face_landmark.onnx", RuntimeOptions(), models_dir=models)
    assert "face_landmark.onnx" in str(err.value) and expected in str(err.value)
    assert err.value.code == "FailedOperation.ModelFileError"


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    models = _copy_models(tmp_path)
    (models / "face_detection_short_range.onnx").unlink()
    with pytest.raises(ModelFileError, match=r"face_detection_short_range\.onnx.*missing"):
        model_path("face_detection_short_range.onnx", models_dir=models)
    (models / "manifest.json").unlink()
    with pytest.raises(ModelFileError, match="manifest"):
        model_path("face_landmark.onnx", models_dir=models)


def test_import_is_light() -> None:
    code = (
        "import sys, fusionkit\n"
        "assert not {'cv2', 'onnxruntime'} & set(sys.modules), 'import fusionkit must stay light'\n"
        "import fusionkit.vision, fusionkit.vision._runtime as r\n"
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime is imported on first use only'\n"
        "assert not r._sessions and not r._verified\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_layers_import_only_downward() -> None:
    import ast

    src = Path(__file__).resolve().parents[2] / "src" / "fusionkit"
    for sub, banned in [
        ("vision", ("fusionkit.fusion", "fusionkit.storage", "fusionkit.studio")),
        ("imaging", ("fusionkit.fusion", "fusionkit.storage", "fusionkit.vision", "onnxruntime")),
        ("domain", ("fusionkit.vision", "fusionkit.imaging", "cv2", "onnxruntime")),
    ]:
        for path in (src / sub).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                )
                for name in names:
                    assert not name.startswith(banned), f"{path.name} imports {name}"


def test_using_runtime_sets_the_models_options_for_its_block_and_thread_only() -> None:
    import threading

    from fusionkit.vision import FaceDetector, FaceLandmarker
    from fusionkit.vision._runtime import BATCH_RUNTIME, current_runtime, using_runtime

    assert current_runtime() == RuntimeOptions()
    seen: list[RuntimeOptions] = []
    with using_runtime(BATCH_RUNTIME):
        assert FaceDetector().options == BATCH_RUNTIME and FaceLandmarker().options == BATCH_RUNTIME
        other = threading.Thread(target=lambda: seen.append(current_runtime()))
        other.start()
        other.join()
    assert seen == [RuntimeOptions()] and current_runtime() == RuntimeOptions()


def test_batch_workers_run_the_models_single_threaded() -> None:
    # Two batch threads on two cores each running onnxruntime with a thread per core fought over the cores.
    from fusionkit.fusion.batch import fuse_many
    from fusionkit.vision import _runtime
    from tests.photos import photo

    items = list(fuse_many([(photo("obama.jpg"), photo("biden.jpg"))], workers=2))
    assert items[0].ok
    assert {options for _, options, _ in _runtime._sessions} >= {_runtime.BATCH_RUNTIME}
