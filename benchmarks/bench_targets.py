"""Issue 19's table: every performance target, ours against the strongest baseline a user would write, in one run.

Usage::

    .venv/bin/python benchmarks/bench_targets.py                 # the table
    .venv/bin/python benchmarks/bench_targets.py --json          # one JSON object (the table goes to stderr)
    .venv/bin/python benchmarks/bench_targets.py --only warp fuse --rounds 5

Each row names its baseline. Timings are medians over rounds in which ours and every baseline run once each, in
the reverse order every other round, so that the noise of a shared machine falls on all of them alike. Single
thread (OpenCV, BLAS and onnxruntime pinned to one) unless the row says otherwise; a baseline "threads on" is the
same code with OpenCV's own threading at its default (all cores), and a row's ratio takes the faster baseline.

Rows (the targets of issue 19):

- ``warp``: :func:`fusionkit.core.warp_mesh`, a 468-point mesh over 40% of a 1920x1080 frame, against the
  per-triangle affine maps rasterised into a remap of the mesh's bounding box (maps built on each call, OpenCV
  threads off and on; ``bench_core.opencv_dense_map``) [>= 20x]; and ours over the floor, one read and one write
  of the touched pixels at the measured copy rate [<= 15]: the interleaved time over a copy from memory, and the
  time run back to back (pictures in the cache) over a copy of a cached frame-sized buffer; the bar takes the
  worse.
- ``poisson``: :func:`fusionkit.core.blend_poisson` (normal mode) of a mask over 40% of a 1080p frame, against
  ``cv2.seamlessClone`` on the mask's box and a margin of 8 px, threads off and on, and on the whole frame
  [>= 40x].
- ``multiband``: :func:`fusionkit.core.blend_multiband`, 6 levels, against a ``pyrDown``/``pyrUp`` Laplacian blend
  on the region of interest (a margin of 64 px), threads off and on [>= 8x].
- ``fuse``: the engine (:func:`fusionkit.fusion.engine.fuse_face`, both meshes known, a face about 260 px wide in
  a 1080p template) against the OpenCV recipe on the same meshes and the face's region (per-triangle
  ``warpAffine``, mix, ``seamlessClone``; ``fusion_baseline.baseline_fuse_roi``), threads off and on [>= 8x].
- ``analysis``: detection and mesh of one face in a 1080p frame (short-range detector, one landmark pass) over the
  two models' own ``session.run`` on the very inputs the pipeline gave them [<= 1.1].
- ``threads``: ``fusionkit.fuse_many`` of a batch of 1080p fusions (each analysing both pictures) on two threads
  over one [>= 1.8x on a two-core machine]; beside it the same fusions as ``fusionkit.fuse`` calls from the
  caller's own pool of two threads over one, and a video job (``fuse_video`` with stored tracks, 720p) with its
  frames fused on two threads over one.
- ``video``: a 720p video job (``fuse_video`` with stored tracks and its default threads, a face on every frame)
  against a plain PyAV transcode of the same clip with the same x264 settings (``bench_video.floor``, FFmpeg's
  own threads on, as in ours): transcode time / ours [>= 0.5]; the same without stored tracks (tracking every
  frame) beside it, no bar.
- ``memory``: in a fresh process, the peak resident memory one fusion into a 1080p template adds above what the
  process holds before the call (the images, the models, the caches of a first fusion): ``VmHWM`` reset through
  ``/proc/self/clear_refs`` after ``malloc_trim``, in MB of 10^6 bytes [<= 60 MB]; the first call's beside it, no
  bar.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

cv2.setNumThreads(1)


@dataclass(frozen=True)
class Target:
    """A row's bar: ``figure`` (a key of the row's figures) at least or at most ``value``."""

    figure: str
    op: str  # ">=" or "<="
    value: float

    def met(self, figures: dict[str, Any]) -> bool:
        v = float(figures[self.figure])
        return v >= self.value if self.op == ">=" else v <= self.value


@dataclass(frozen=True)
class Row:
    """One line of the table: what is measured, against what, the bars, and the function measuring it."""

    measure: str
    baseline: str
    targets: tuple[Target, ...]
    run: Callable[[int], dict[str, Any]]
    show: Callable[[dict[str, Any]], str]


@contextlib.contextmanager
def opencv_threads() -> Iterator[None]:
    """OpenCV's own threading at its default (all cores) for the block; one thread again after."""
    cv2.setNumThreads(-1)
    try:
        yield
    finally:
        cv2.setNumThreads(1)


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int,
                threaded: dict[str, Callable[[], Any]] | None = None) -> dict[str, float]:
    """Median milliseconds of each function, over ``rounds`` rounds that call each once (after a warm-up round),
    in the reverse order every other round.

    ``threaded`` functions (baselines with OpenCV's threads on) get rounds of their own afterwards: OpenCV's pool
    threads keep spinning for a while after their work, which would slow the single-threaded code run next to
    them on a two-core machine.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(rounds):
        for k in keys if r % 2 == 0 else keys[::-1]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append((time.perf_counter() - t0) * 1e3)
    out = {k: statistics.median(v) for k, v in times.items()}
    if threaded:
        with opencv_threads():
            out.update(interleaved(threaded, rounds))
    return out


def copy_rate(nbytes: int, rounds: int) -> float:
    """Bytes per second ``np.copyto`` moves (each byte read once and written once)."""
    a = np.ones(nbytes, np.uint8)
    b = np.empty_like(a)
    ms = interleaved({"copy": lambda: np.copyto(b, a)}, max(rounds, 9))["copy"]
    return nbytes / (ms / 1e3)


# ------------------------------------------------------------------------------------------------------------
# Rows


def row_warp(rounds: int) -> dict[str, Any]:
    from bench_core import face_mesh, opencv_dense_map, scene

    from fusionkit.core import warp_mesh

    img = scene(1080, 1920)
    sp, dp, tri = face_mesh(1080, 1920, 468)
    ours_out, theirs_out = img[::-1].copy(), img[::-1].copy()
    cov = warp_mesh(img, sp, dp, tri, ours_out)
    t = interleaved({
        "ours": lambda: warp_mesh(img, sp, dp, tri, ours_out, coverage=cov),
        "remap_bbox": lambda: opencv_dense_map(img, sp, dp, tri, theirs_out),
    }, 3 * rounds, threaded={"remap_bbox_threads": lambda: opencv_dense_map(img, sp, dp, tri, theirs_out)})
    # Two floors: in the interleaved rounds the baselines push our pictures out of the caches, so ours is set
    # against a copy from memory (a buffer far larger than the last-level cache); run back to back (warm), against
    # a copy of a frame-sized buffer, which the cache holds. The bar takes the worse of the two ratios.
    warm = interleaved({"ours": lambda: warp_mesh(img, sp, dp, tri, ours_out, coverage=cov)}, 3 * rounds)["ours"]
    touched = int((cov > 0).sum()) * img.shape[2]
    floor_ms = touched / copy_rate(256 << 20, rounds) * 1e3
    floor_warm_ms = touched / copy_rate(img.nbytes, rounds) * 1e3
    best = min(t["remap_bbox"], t["remap_bbox_threads"])
    return {"ours_ms": t["ours"], "baseline_ms": best, "baseline_1thread_ms": t["remap_bbox"],
            "baseline_threads_ms": t["remap_bbox_threads"], "ratio": best / t["ours"], "ours_warm_ms": warm,
            "floor_ms": floor_ms, "floor_warm_ms": floor_warm_ms, "floor_ratio_cold": t["ours"] / floor_ms,
            "floor_ratio_warm": warm / floor_warm_ms,
            "floor_ratio": max(t["ours"] / floor_ms, warm / floor_warm_ms)}


def _blend_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    from bench_blend import make_scene

    sc = make_scene()
    return sc["src"], sc["dst"], sc["mask"], sc["bbox"]


def row_poisson(rounds: int) -> dict[str, Any]:
    from bench_blend import cv_clone_roi, roi

    from fusionkit.core import blend_poisson

    src, dst, mask, bbox = _blend_scene()
    x, y, w, h = bbox
    box = roi(bbox, 8)
    work = dst.copy()

    def ours() -> None:
        np.copyto(work, dst)
        blend_poisson(src, mask, work, mode="normal")

    t = interleaved({
        "ours": ours,
        "clone_roi": lambda: cv_clone_roi(src, dst, mask, box, cv2.NORMAL_CLONE),
        "clone_frame": lambda: cv2.seamlessClone(src, dst, mask.copy(), (x + w // 2, y + h // 2), cv2.NORMAL_CLONE),
    }, rounds, threaded={"clone_roi_threads": lambda: cv_clone_roi(src, dst, mask, box, cv2.NORMAL_CLONE)})
    best = min(t["clone_roi"], t["clone_roi_threads"], t["clone_frame"])
    return {"ours_ms": t["ours"], "baseline_ms": best, "baseline_roi_ms": t["clone_roi"],
            "baseline_roi_threads_ms": t["clone_roi_threads"], "baseline_frame_ms": t["clone_frame"],
            "ratio": best / t["ours"], "ratio_frame": t["clone_frame"] / t["ours"]}


def row_multiband(rounds: int) -> dict[str, Any]:
    from bench_blend import cv_laplacian_blend_roi, roi

    from fusionkit.core import blend_multiband

    src, dst, mask, bbox = _blend_scene()
    box = roi(bbox, 64)
    work = dst.copy()

    def ours() -> None:
        np.copyto(work, dst)
        blend_multiband(src, mask, work, levels=6)

    t = interleaved({
        "ours": ours,
        "pyramid_roi": lambda: cv_laplacian_blend_roi(src, dst, mask, box, 6),
    }, 3 * rounds, threaded={"pyramid_roi_threads": lambda: cv_laplacian_blend_roi(src, dst, mask, box, 6)})
    best = min(t["pyramid_roi"], t["pyramid_roi_threads"])
    return {"ours_ms": t["ours"], "baseline_ms": best, "baseline_1thread_ms": t["pyramid_roi"],
            "baseline_threads_ms": t["pyramid_roi_threads"], "ratio": best / t["ours"]}


def _fusion_inputs() -> dict[str, Any]:
    from bench_fuse import template_1080p

    from fusionkit import analyze
    from fusionkit.imaging import load_image
    from fusionkit.samples import sample_path
    from fusionkit.vision import RuntimeOptions, mesh_topology

    runtime = RuntimeOptions(intra_op_threads=1, inter_op_threads=1)
    template = template_1080p()
    user = load_image(sample_path("biden.jpg"))
    return {"template": template, "user": user, "runtime": runtime, "topo": mesh_topology(),
            "tmesh": analyze(template, model="auto", options=runtime)[0],
            "umesh": analyze(user, model="short", options=runtime)[0]}


def row_fuse(rounds: int) -> dict[str, Any]:
    from fusion_baseline import baseline_fuse_roi

    from fusionkit import FuseOptions
    from fusionkit.fusion.engine import fuse_face

    f = _fusion_inputs()
    opts = FuseOptions()
    template, tmesh, user, umesh, topo = f["template"], f["tmesh"], f["user"], f["umesh"], f["topo"]
    canvas = template.copy()

    def ours() -> None:
        np.copyto(canvas, template)
        fuse_face(canvas, tmesh, user, umesh, opts, topo)

    def recipe() -> None:
        baseline_fuse_roi(template, tmesh, user, umesh, opts.fuse_face_degree, opts.fuse_profile_degree, topo)

    t = interleaved({"ours": ours, "recipe_roi": recipe}, 3 * rounds, threaded={"recipe_roi_threads": recipe})
    best = min(t["recipe_roi"], t["recipe_roi_threads"])
    return {"ours_ms": t["ours"], "baseline_ms": best, "baseline_1thread_ms": t["recipe_roi"],
            "baseline_threads_ms": t["recipe_roi_threads"], "ratio": best / t["ours"],
            "face_width_px": float(tmesh.face.width)}


def row_analysis(rounds: int) -> dict[str, Any]:
    from bench_vision import inputs

    from fusionkit.vision import FaceDetector, FaceLandmarker, RuntimeOptions
    from fusionkit.vision._runtime import get_session

    runtime = RuntimeOptions(intra_op_threads=1, inter_op_threads=1)
    img = inputs()["1920x1080 (1 face)"]
    detector = FaceDetector(model="short", options=runtime)
    landmarker = FaceLandmarker(refine=False, options=runtime)
    fed: list[tuple[Any, dict[str, np.ndarray]]] = []

    class Recording:
        """A session that remembers what the pipeline fed it (once), then runs the real one."""

        def __init__(self, session: Any) -> None:
            self.session = session

        def __getattr__(self, name: str) -> Any:
            return getattr(self.session, name)

        def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
            fed.append((self.session, {k: v.copy() for k, v in feeds.items()}))
            return self.session.run(names, feeds)

    import fusionkit.vision.detector as det_module
    import fusionkit.vision.landmarker as lm_module

    def pipeline() -> int:
        faces = detector.detect(img)
        for face in faces:
            landmarker.mesh(img, face)
        return len(faces)

    for module in (det_module, lm_module):
        module.get_session = lambda file, options: Recording(get_session(file, options))  # type: ignore[attr-defined]
    try:
        faces = pipeline()
    finally:
        det_module.get_session = get_session  # type: ignore[attr-defined]
        lm_module.get_session = get_session  # type: ignore[attr-defined]

    def models() -> None:
        for session, feeds in fed:
            session.run(None, feeds)

    t = interleaved({"ours": pipeline, "models": models}, 15 * rounds)
    return {"ours_ms": t["ours"], "baseline_ms": t["models"], "ratio": t["ours"] / t["models"], "faces": faces,
            "model_runs": len(fed)}


def _video_clip(work: Path) -> Path:
    from tests.video.clips import make_clip

    return Path(make_clip(work / "tmpl_720p.mp4", sample="biden.jpg", width=1280, height=720, seconds=4.0,
                          reflect=False))


def row_threads(rounds: int) -> dict[str, Any]:
    import fusionkit
    from fusionkit.fusion import fuse_video, track_video
    from fusionkit.samples import sample_path

    f = _fusion_inputs()
    requests = [(f["template"], f["user"])] * 12

    def batch(workers: int) -> Callable[[], None]:
        def run() -> None:
            for item in fusionkit.fuse_many(requests, workers=workers):
                if item.error is not None:
                    raise item.error

        return run

    def callers(workers: int) -> Callable[[], None]:
        # The caller's own pool calling fusionkit.fuse, default options throughout.
        def run() -> None:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda r: fusionkit.fuse(*r), requests))

        return run

    t = interleaved({"one": batch(1), "two": batch(2), "callers_one": callers(1), "callers_two": callers(2)},
                    max(2, rounds // 2))
    out: dict[str, Any] = {"batch_one_thread_ms": t["one"], "batch_two_threads_ms": t["two"],
                           "ratio": t["one"] / t["two"], "batch_size": len(requests),
                           "callers_one_thread_ms": t["callers_one"], "callers_two_threads_ms": t["callers_two"],
                           "callers_ratio": t["callers_one"] / t["callers_two"]}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = _video_clip(work)
        tracks = track_video(clip)
        user = sample_path("obama3.jpg")
        v = interleaved({
            "one": lambda: fuse_video(clip, user, work / "one.mp4", tracks=tracks, workers=1),
            "two": lambda: fuse_video(clip, user, work / "two.mp4", tracks=tracks, workers=2),
        }, max(3, rounds - 2))  # video runs, the noisiest figures (a second each): more rounds
    out.update({"video_one_thread_ms": v["one"], "video_two_threads_ms": v["two"], "video_ratio": v["one"] / v["two"]})
    return out


def row_video(rounds: int) -> dict[str, Any]:
    from bench_video import floor

    from fusionkit.fusion import fuse_video, track_video
    from fusionkit.samples import sample_path

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = _video_clip(work)
        user = sample_path("obama3.jpg")
        tracks = track_video(clip)
        t = interleaved({
            "transcode": lambda: floor(clip, work / "floor.mp4"),
            "job": lambda: fuse_video(clip, user, work / "job.mp4", tracks=tracks),
            "live": lambda: fuse_video(clip, user, work / "live.mp4"),
        }, max(3, rounds - 2))  # video runs, the noisiest figures (a second each): more rounds
    return {"ours_ms": t["job"], "baseline_ms": t["transcode"], "ratio": t["transcode"] / t["job"],
            "live_ms": t["live"], "live_ratio": t["transcode"] / t["live"], "fps": 100 / (t["job"] / 1e3),
            "transcode_fps": 100 / (t["transcode"] / 1e3)}


MEMORY_PROBE = textwrap.dedent("""
    import ctypes, gc, json, os, sys
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    sys.path[:0] = [{bench!r}, {root!r}]

    def status(key):  # MB (10^6 bytes), the bar's unit
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024 / 1e6
        raise KeyError(key)

    libc = ctypes.CDLL("libc.so.6")

    def reset_peak():
        # Freed blocks go back to the system first, so that the peak counts the call's whole working memory
        # and not only what it needed beyond blocks an earlier call left in the allocator.
        gc.collect()
        libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    import fusionkit
    from bench_fuse import template_1080p
    from fusionkit.imaging import load_image
    from fusionkit.samples import sample_path
    template = template_1080p()
    user = load_image(sample_path("biden.jpg"))
    meshes = fusionkit.analyze(template)
    reset_peak()
    before = status("VmRSS")
    fusionkit.fuse(template, user, template_meshes=meshes)
    first = status("VmHWM") - before
    peaks = []
    for _ in range(3):
        reset_peak()
        before = status("VmRSS")
        fusionkit.fuse(template, user, template_meshes=meshes)
        peaks.append(status("VmHWM") - before)
    print(json.dumps({{"first_mb": first, "steady_mb": sorted(peaks)[1],
                       "images_mb": (template.nbytes + user.nbytes) / 1e6}}))
""")


def row_memory(rounds: int) -> dict[str, Any]:
    code = MEMORY_PROBE.format(bench=str(HERE), root=str(HERE.parent))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe failed:\n{done.stderr}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return {"peak_above_mb": probe["steady_mb"], "first_call_above_mb": probe["first_mb"],
            "images_mb": probe["images_mb"]}


def _show_time(f: dict[str, Any]) -> str:
    return f"{f['ours_ms']:.2f} ms vs {f['baseline_ms']:.2f} ms: {f['ratio']:.1f}x"


def _show_threads(f: dict[str, Any]) -> str:
    return (f"batch {f['ratio']:.2f}x, fuse from the caller's threads {f['callers_ratio']:.2f}x, "
            f"video {f['video_ratio']:.2f}x")


ROWS: dict[str, Row] = {
    "warp": Row("warp 1080p/468", "remap of the mesh's bounding box, maps built per call (OpenCV threads off/on)",
                (Target("ratio", ">=", 20.0), Target("floor_ratio", "<=", 15.0)), row_warp,
                lambda f: _show_time(f) + f"; floor x{f['floor_ratio_cold']:.0f} (warm {f['ours_warm_ms']:.2f} ms: "
                                          f"x{f['floor_ratio_warm']:.0f})"),
    "poisson": Row("Poisson 1080p", "cv2.seamlessClone on the ROI (threads off/on) and on the frame",
                   (Target("ratio", ">=", 40.0),), row_poisson, _show_time),
    "multiband": Row("multi-band 1080p, 6 levels", "pyrDown/pyrUp Laplacian blend on the ROI (threads off/on)",
                     (Target("ratio", ">=", 8.0),), row_multiband, _show_time),
    "fuse": Row("fuse, template cached", "OpenCV recipe on the same meshes, face region (threads off/on)",
                (Target("ratio", ">=", 8.0),), row_fuse, _show_time),
    "analysis": Row("detection + mesh, 1080p", "the two models' own session.run on the same inputs",
                    (Target("ratio", "<=", 1.1),), row_analysis,
                    lambda f: f"{f['ours_ms']:.2f} ms over {f['baseline_ms']:.2f} ms: {f['ratio']:.2f}"),
    "threads": Row("2 threads vs 1", "the same work on one thread (fuse_many batch; fuse calls; video frames)",
                   (Target("ratio", ">=", 1.8),), row_threads, _show_threads),
    "video": Row("video job 720p, a face on every frame", "plain PyAV transcode, same x264 settings",
                 (Target("ratio", ">=", 0.5),), row_video,
                 lambda f: f"{f['fps']:.0f} fps vs {f['transcode_fps']:.0f} fps: {f['ratio']:.2f} "
                           f"(tracking every frame: {f['live_ratio']:.2f})"),
    "memory": Row("peak memory, one fusion into 1080p", "what the process holds before the call",
                  (Target("peak_above_mb", "<=", 60.0),), row_memory,
                  lambda f: f"+{f['peak_above_mb']:.1f} MB (first call +{f['first_call_above_mb']:.1f} MB)"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every row's figures")
    parser.add_argument("--only", nargs="+", choices=sorted(ROWS), help="run only these rows")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per row (some rows run a multiple)")
    args = parser.parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    result: dict[str, Any] = {"cpu_count": os.cpu_count()}
    print(f"issue 19's targets, {os.cpu_count()} CPU(s); ratios are baseline / ours unless the row says otherwise",
          file=stream)
    print(f"{'row':<38} {'figures':<62} {'target':<22} met", file=stream)
    for key in args.only or list(ROWS):
        row = ROWS[key]
        figures = row.run(args.rounds)
        met = all(t.met(figures) for t in row.targets)
        bars = ", ".join(f"{t.figure} {t.op} {t.value:g}" for t in row.targets)
        result[key] = {"measure": row.measure, "baseline": row.baseline, "figures": figures,
                       "targets": [t.__dict__ for t in row.targets], "met": met}
        print(f"{row.measure:<38} {row.show(figures):<62} {bars:<22} {'yes' if met else 'NO'}", file=stream)
        print(f"{'':<38}   baseline: {row.baseline}", file=stream)
        stream.flush()
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
