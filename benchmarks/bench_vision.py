"""Face-analysis latency and landmark consistency on the test photos.

Latency (milliseconds, median over ``--repeat`` runs, single thread: onnxruntime intra-op 1, OpenCV 1; the
fastest run of detection + landmarks is shown too, the cost without interference from other processes):

- models alone (short-range detector, full-range detector, landmark model) on a fixed input;
- detection per image, landmarks per face, and detection + landmarks per face, on a 512 x 512 portrait
  (astronaut.png), a 1920 x 1080 frame with one face (cut from obama3.jpg) and a 1920 x 1080 frame with two
  faces (two_people.jpg scaled up), for the ``short`` and ``auto`` detectors, with and without ``refine``.

Consistency: the mesh of a photo rotated by +-30 degrees, scaled by 0.5 and 2 and mirrored, mapped
back, against the mesh of the original: mean and 95th-percentile point error in % of the inter-ocular distance
(33-263).

Usage::

    python benchmarks/bench_vision.py            # table
    python benchmarks/bench_vision.py --json     # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import fusionkit.samples
from fusionkit.imaging import load_image
from fusionkit.vision import FaceDetector, FaceLandmarker, RuntimeOptions, mesh_topology
from fusionkit.vision._runtime import get_session

DATA = Path(fusionkit.samples.__file__).resolve().parent
SINGLE = RuntimeOptions(intra_op_threads=1, inter_op_threads=1)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def inputs() -> dict[str, np.ndarray]:
    astronaut = load_image(DATA / "astronaut.png")
    obama3 = load_image(DATA / "obama3.jpg")  # 1434 x 2333, face near y 300-630
    one = cv2.resize(obama3[100:907], (1920, 1080), interpolation=cv2.INTER_LINEAR)
    two_people = load_image(DATA / "two_people.jpg")
    two = cv2.resize(two_people, (1920, round(1920 * 661 / 1126)), interpolation=cv2.INTER_LINEAR)[:1080]
    return {"512x512 (1 face)": astronaut, "1920x1080 (1 face)": one, "1920x1080 (2 faces)": two}


def pipeline(img: np.ndarray, model: str, refine: bool, repeat: int) -> dict[str, Any]:
    """Detection, landmarks and both, timed in turn within each round (so that a burst of load from another
    process hits all three alike)."""
    detector = FaceDetector(model=model, options=SINGLE)  # type: ignore[arg-type]
    landmarker = FaceLandmarker(refine=refine, options=SINGLE)
    faces = detector.detect(img)

    def both() -> None:
        for f in detector.detect(img):
            landmarker.mesh(img, f)

    steps: dict[str, Callable[[], object]] = {
        "det": lambda: detector.detect(img),
        "mesh": lambda: [landmarker.mesh(img, f) for f in faces],
        "both": both,
    }
    times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():
        fn()
    for _ in range(repeat):
        for key, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[key].append((time.perf_counter() - t0) * 1e3)
    det, mesh, total = (statistics.median(times[k]) for k in steps)
    best = min(times["both"])
    n = max(len(faces), 1)
    return {
        "detector": model,
        "refine": refine,
        "faces": len(faces),
        "detect_per_image_ms": round(det, 3),
        "landmarks_per_face_ms": round(mesh / n, 3),
        "detect_and_landmarks_per_image_ms": round(total, 3),
        "detect_and_landmarks_per_face_ms": round(total / n, 3),
        "detect_and_landmarks_per_face_fastest_ms": round(best / n, 3),
    }


def latency(repeat: int, models: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"models": {}, "pipelines": []}
    for name, size, value in [
        ("face_detection_short_range.onnx", 128, 0.0),
        ("face_detection_full_range.onnx", 192, 0.0),
        ("face_landmark.onnx", 192, 0.5),
    ]:
        session = get_session(name, SINGLE)
        crop = cv2.resize(load_image(DATA / "astronaut.png")[60:240, 135:315], (size, size))
        x = crop.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        x = x * 2 - 1 if "detection" in name else x + 0 * value
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)}
        out["models"][name] = round(median_ms(lambda s=session, f=feed: s.run(None, f), repeat), 3)
    for label, img in inputs().items():
        for model in models:
            for refine in (False, True):
                out["pipelines"].append({"input": label, **pipeline(img, model, refine, repeat)})
    return out


def consistency() -> list[dict[str, Any]]:
    perm = mesh_topology().flip_permutation
    rows = []
    for refine in (False, True):
        detector, landmarker = FaceDetector(), FaceLandmarker(refine=refine)

        def mesh(img: np.ndarray, d: FaceDetector = detector, lm: FaceLandmarker = landmarker) -> np.ndarray:
            faces = d.detect(img)
            if len(faces) != 1:
                raise SystemExit(f"expected one face, found {len(faces)}")
            return lm.mesh(img, faces[0]).points[:, :2]

        for name in ("astronaut.png", "obama.jpg", "obama3.jpg", "biden.jpg"):
            img = load_image(DATA / name)
            h, w = img.shape[:2]
            base = mesh(img)
            iod = float(np.linalg.norm(base[263] - base[33]))
            cx, cy = base.mean(axis=0)
            errors: dict[str, np.ndarray] = {}
            for angle in (30, -30):
                m = cv2.getRotationMatrix2D((float(cx) - 0.5, float(cy) - 0.5), angle, 1.0)
                got = mesh(cv2.warpAffine(img, m, (w, h)))
                errors[f"rotate {angle:+d}"] = (
                    np.linalg.norm(got - ((base - 0.5) @ m[:, :2].T + m[:, 2] + 0.5), axis=1) / iod
                )
            for scale in (0.5, 2.0):
                interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
                small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
                sx, sy = small.shape[1] / w, small.shape[0] / h
                errors[f"scale {scale:g}"] = np.linalg.norm(mesh(small) - base * (sx, sy), axis=1) / (iod * sx)
            back = mesh(np.ascontiguousarray(img[:, ::-1])).copy()
            back[:, 0] = w - back[:, 0]
            errors["flip"] = np.linalg.norm(back - base[perm], axis=1) / iod
            for transform, e in errors.items():
                rows.append(
                    {
                        "photo": name,
                        "refine": refine,
                        "transform": transform,
                        "mean_pct_iod": round(float(e.mean()) * 100, 2),
                        "p95_pct_iod": round(float(np.percentile(e, 95)) * 100, 2),
                    }
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--skip-auto", action="store_true", help="leave out the slow tiled 'auto' detector")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    result = {
        "machine": {"python": sys.version.split()[0], "cpu": platform.processor() or platform.machine()},
        "single_thread": True,
        **latency(args.repeat, ("short",) if args.skip_auto else ("short", "auto")),
        "consistency": consistency(),
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print("models alone (ms):", ", ".join(f"{k} {v}" for k, v in result["models"].items()))
    print(
        f"{'input':22} {'det':5} {'refine':6} {'faces':5} {'det/img':>8} {'lmk/face':>8} {'all/img':>8} {'all/face':>8}"
    )
    for r in result["pipelines"]:
        print(
            f"{r['input']:22} {r['detector']:5} {r['refine']!s:6} {r['faces']:5} "
            f"{r['detect_per_image_ms']:8.2f} "
            f"{r['landmarks_per_face_ms']:8.2f} {r['detect_and_landmarks_per_image_ms']:8.2f} "
            f"{r['detect_and_landmarks_per_face_ms']:8.2f} {r['detect_and_landmarks_per_face_fastest_ms']:8.2f}"
        )
    print("consistency, % of inter-ocular distance (mean / p95):")
    for r in result["consistency"]:
        print(
            f"  {r['photo']:14} refine={r['refine']!s:5} {r['transform']:10} "
            f"{r['mean_pct_iod']:5.2f} / {r['p95_pct_iod']:5.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
