"""Face-analysis latency and landmark consistency on the test photos.

Latency (milliseconds, median over ``--repeat`` runs, single thread: onnxruntime intra-op 1, OpenCV 1; the
fastest run of detection + landmarks is shown too, the cost without interference from other processes):

- models alone (short-range detector, full-range detector, landmark model) on a fixed input;
- detection per image, landmarks per face, and detection + landmarks per face, on a 512 x 512 portrait
  (astronaut.png), a 1920 x 1080 frame with one face (cut from obama3.jpg) and a 1920 x 1080 frame with two
  faces (two_people.jpg scaled up), for the ``short`` and ``auto`` detectors, with and without ``refine``.

Detection on the labelled set (tests/vision/detection_set.py: portraits, rescaled photos with faces of 34-1500 px,
crops, group photos and negatives, with true face boxes): for each detector setting (``FaceDetector(model=m)``
for every model, ``fusionkit.detect_faces`` and ``fusionkit.analyze`` with their defaults), the recall (true
faces found, IoU >= 0.3), false faces, the largest faces missed and the median time per image of each kind, single
thread; and the time of ``fusionkit.analyze`` with its defaults on the 1920 x 1080 one-face frame and on the
6-face 1280 x 886 group, against the targets (6 ms and 60 ms).

Consistency: the mesh of a photo rotated by +-30 degrees, scaled by 0.5 and 2 and mirrored, mapped
back, against the mesh of the original: mean and 95th-percentile point error in % of the inter-ocular distance
(33-263).

Usage::

    python benchmarks/bench_vision.py            # table
    python benchmarks/bench_vision.py --json     # one JSON object on stdout
    python benchmarks/bench_vision.py --detection-only   # only the labelled set (skips latency, consistency)
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import cv2
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import fusionkit
import fusionkit.samples
from fusionkit.errors import FaceSizeTooSmallError
from fusionkit.imaging import load_image
from fusionkit.vision import DetectorModel, FaceDetector, FaceLandmarker, RuntimeOptions, mesh_topology
from fusionkit.vision._runtime import get_session
from tests.vision.detection_set import KINDS, LabelledImage, detection_set, match, missed_faces

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


#: Face widths (px) at which recall is broken down: [34, 50), [50, 100), ...
WIDTH_BINS = (34, 50, 100, 200, 400)
#: Targets for ``fusionkit.analyze`` with its defaults, single thread (milliseconds per image).
TARGETS_MS = {"1920x1080 (1 face)": 6.0, "1280x886 (6 faces)": 60.0}


def _boxes(faces: list[Any]) -> NDArray[np.float32]:
    return np.array([f.box for f in faces], np.float32).reshape(-1, 4)


def _detect_boxes(detector: FaceDetector, img: np.ndarray) -> NDArray[np.float32]:
    return _boxes(detector.detect(img))


def detection_settings() -> dict[str, Callable[[np.ndarray], NDArray[np.float32]]]:
    """The detector settings compared on the labelled set: ``name -> fn(rgb) -> boxes (N, 4)`` in pixels.

    Every model of ``FaceDetector`` (``short``, ``full``, ``auto`` and any other), then ``fusionkit.detect_faces``
    and ``fusionkit.analyze`` called with their defaults (whatever those are), all single thread. ``analyze``
    raising ``FaceSizeTooSmallError`` counts as no face found.
    """
    known: tuple[DetectorModel, ...] = get_args(DetectorModel)
    models: list[DetectorModel] = [m for m in known if m in ("short", "full", "auto")]
    models = sorted(models, key=("short", "full", "auto").index) + [m for m in known if m not in models]
    out: dict[str, Callable[[np.ndarray], NDArray[np.float32]]] = {}
    for m in models:
        detector = FaceDetector(model=m, options=SINGLE)
        out[f"FaceDetector({m})"] = functools.partial(_detect_boxes, detector)

    def analyze_default(img: np.ndarray) -> NDArray[np.float32]:
        try:
            return _boxes([m.face for m in fusionkit.analyze(img, options=SINGLE)])
        except FaceSizeTooSmallError:
            return np.zeros((0, 4), np.float32)

    out["detect_faces()"] = lambda img: _boxes(fusionkit.detect_faces(img, options=SINGLE))
    out["analyze()"] = analyze_default
    return out


def score_setting(
    fn: Callable[[np.ndarray], NDArray[np.float32]], images: list[LabelledImage], repeat: int
) -> dict[str, Any]:
    """Recall, false faces, worst misses and times of one setting over the labelled images.

    Each image is run ``repeat`` times (after one warm-up call on the first image); its time is the median, in
    milliseconds.
    """
    fn(images[0].image)
    faces = hits = false = 0
    by_kind: dict[str, list[int]] = {k: [0, 0] for k in KINDS}  # kind -> [faces, found]
    by_width = np.zeros((len(WIDTH_BINS), 2), int)  # [faces, found] per width bin
    misses: list[tuple[float, str]] = []
    false_on: Counter[str] = Counter()
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    for item in images:
        runs = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            found = fn(item.image)
            runs.append((time.perf_counter() - t0) * 1e3)
        times[item.kind].append(statistics.median(runs))
        tp, _, fp = match(found, item.faces)
        missed = missed_faces(found, item.faces)
        faces, hits, false = faces + len(item.faces), hits + tp, false + fp
        by_kind[item.kind][0] += len(item.faces)
        by_kind[item.kind][1] += tp
        widths = item.face_widths
        # whole pixels, so that a 399.99 px face counts as 400 and a 33.9 px one as 34
        bins = np.clip(np.digitize(np.round(widths), WIDTH_BINS) - 1, 0, None)
        hit = np.ones(len(widths), bool)
        hit[missed] = False
        for b, h in zip(bins, hit, strict=True):
            by_width[b] += (1, int(h))
        misses += [(float(widths[j]), item.name) for j in missed]
        if fp:
            false_on[item.name] = fp
    labels = [f"{lo}-{hi}" for lo, hi in itertools.pairwise(WIDTH_BINS)] + [f">={WIDTH_BINS[-1]}"]
    negatives = {i.name for i in images if i.kind == "negative"}
    return {
        "images": len(images),
        "faces": faces,
        "found": hits,
        "recall": round(hits / max(faces, 1), 3),
        "false_faces": false,
        "false_faces_per_image": round(false / len(images), 3),
        "false_faces_on_negatives": sum(n for name, n in false_on.items() if name in negatives),
        "false_faces_by_image": dict(false_on.most_common()),
        "worst_misses": [{"image": name, "face_width_px": round(w)} for w, name in sorted(misses, reverse=True)[:6]],
        "recall_by_kind": {k: round(f / n, 3) for k, (n, f) in by_kind.items() if n},
        "recall_by_face_width_px": {
            lab: round(int(f) / int(n), 3) for lab, (n, f) in zip(labels, by_width, strict=True) if n
        },
        "median_ms_by_kind": {k: round(statistics.median(v), 2) for k, v in times.items() if v},
        "total_s": round(sum(sum(v) for v in times.values()) / 1e3, 2),
    }


def detection(repeat: int, detection_repeat: int) -> dict[str, Any]:
    """The labelled set's contents, each setting's scores, and ``analyze()``'s time against the targets."""
    t0 = time.perf_counter()
    images = detection_set()
    build_s = time.perf_counter() - t0
    widths = np.concatenate([i.face_widths for i in images])
    out: dict[str, Any] = {
        "set": {
            "images": len(images),
            "faces": len(widths),
            "images_by_kind": dict(Counter(i.kind for i in images)),
            "faces_by_kind": {k: sum(len(i.faces) for i in images if i.kind == k) for k in KINDS},
            "face_width_px": [round(float(widths.min()), 1), round(float(widths.max()), 1)],
            "largest_image_px": max(max(i.size) for i in images),
            "build_s": round(build_s, 2),
        },
        "settings": {},
    }
    for name, fn in detection_settings().items():
        out["settings"][name] = score_setting(fn, images, detection_repeat)
    group = next(i for i in images if i.kind == "group" and len(i.faces) == 6 and i.size == (1280, 886))
    frames = {"1920x1080 (1 face)": inputs()["1920x1080 (1 face)"], "1280x886 (6 faces)": group.image}
    out["analyze_default_ms"] = {
        label: {
            "ms": round(median_ms(functools.partial(fusionkit.analyze, img, options=SINGLE), repeat), 2),
            "target_ms": TARGETS_MS[label],
            "faces": len(fusionkit.analyze(img, options=SINGLE)),
        }
        for label, img in frames.items()
    }
    return out


def print_detection(result: dict[str, Any]) -> None:
    s = result["set"]
    kinds = ", ".join(f"{k} {n} ({s['faces_by_kind'][k]} faces)" for k, n in s["images_by_kind"].items())
    print(
        f"detection on the labelled set: {s['images']} images, {s['faces']} faces of "
        f"{s['face_width_px'][0]:.0f}-{s['face_width_px'][1]:.0f} px, up to {s['largest_image_px']} px "
        f"(built in {s['build_s']:.1f} s): {kinds}"
    )
    kinds_timed = list(next(iter(result["settings"].values()))["median_ms_by_kind"])
    print(
        f"  {'setting':22} {'recall':>6} {'found':>7} {'false':>5} {'false/img':>9}  median ms per image: "
        + " ".join(f"{k:>8}" for k in kinds_timed)
    )
    for name, r in result["settings"].items():
        print(
            f"  {name:22} {r['recall']:6.3f} {r['found']:3}/{r['faces']:<3} {r['false_faces']:5} "
            f"{r['false_faces_per_image']:9.3f}  {'':20}"
            + " ".join(f"{r['median_ms_by_kind'].get(k, float('nan')):8.1f}" for k in kinds_timed)
        )
    print("  recall by face width (px):")
    for name, r in result["settings"].items():
        print(f"    {name:22} " + "  ".join(f"{k} {v:.2f}" for k, v in r["recall_by_face_width_px"].items()))
    print("  worst misses (largest faces missed) and false faces:")
    for name, r in result["settings"].items():
        misses = ", ".join(f"{m['image']} ({m['face_width_px']} px)" for m in r["worst_misses"]) or "none"
        falses = ", ".join(f"{k} x{v}" for k, v in list(r["false_faces_by_image"].items())[:6]) or "none"
        print(f"    {name:22} missed: {misses}")
        print(f"    {'':22} false:  {falses}")
    print("  fusionkit.analyze() defaults, single thread (median ms):")
    for label, r in result["analyze_default_ms"].items():
        verdict = "ok" if r["ms"] <= r["target_ms"] else "OVER"
        print(f"    {label:20} {r['ms']:8.2f} ms  target <= {r['target_ms']:g} ms  {verdict}  ({r['faces']} faces)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--skip-auto", action="store_true", help="leave out the slow tiled 'auto' detector")
    parser.add_argument("--detection-only", action="store_true", help="only the labelled set's detection section")
    parser.add_argument(
        "--detection-repeat", type=int, default=1, help="runs per labelled image (its time is their median)"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    result: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "cpu": platform.processor() or platform.machine()},
        "single_thread": True,
    }
    if not args.detection_only:
        result.update(latency(args.repeat, ("short",) if args.skip_auto else ("short", "auto")))
        result["consistency"] = consistency()
    result["detection"] = detection(args.repeat, args.detection_repeat)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    if args.detection_only:
        print_detection(result["detection"])
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
    print_detection(result["detection"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
