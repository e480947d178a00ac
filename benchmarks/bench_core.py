"""Speed of the C core against what a user would otherwise write with OpenCV or scikit-image, in one run.

Usage::

    .venv/bin/python benchmarks/bench_core.py            # human-readable tables
    .venv/bin/python benchmarks/bench_core.py --json     # one JSON object (tables go to stderr)
    .venv/bin/python benchmarks/bench_core.py --quick    # fewer repeats, skips scikit-image beyond 512x512

Everything runs single-threaded (OpenCV and BLAS pinned to one thread). Each figure is the median of repeated
runs after a warm-up; ratios are theirs / ours, so above 1 means fusionkit is faster.

Scenes: scikit-image's astronaut photo resized to each size; a mesh of 68 or 468 points (a ring on the border,
the rest spread evenly inside) covering about 40% of the image, Delaunay-triangulated; the source mesh is the
destination mesh under a smooth displacement of a few percent, as in face fusion.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.spatial import Delaunay  # noqa: E402
from skimage import data as skdata  # noqa: E402
from skimage.transform import PiecewiseAffineTransform, warp  # noqa: E402

from fusionkit.core import composite, feather_mask, fill_polygon, warp_mesh  # noqa: E402

cv2.setNumThreads(1)

SIZES = {"512": (512, 512), "1024": (1024, 1024), "1080p": (1080, 1920)}
POINTS = (68, 468)


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: caches, lazy allocations
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def scene(h: int, w: int) -> np.ndarray:
    img = cv2.resize(skdata.astronaut(), (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def face_mesh(h: int, w: int, n_points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Destination points filling a disc of 40% of the image, source points displaced smoothly, triangles."""
    rng = np.random.default_rng(seed)
    radius = np.sqrt(0.4 * h * w / np.pi)
    cx, cy = w / 2, h / 2
    n_ring = max(16, n_points // 8)
    ring_t = np.linspace(0, 2 * np.pi, n_ring, endpoint=False)
    ring = np.stack([cx + radius * np.cos(ring_t), cy + radius * np.sin(ring_t)], axis=1)
    k = np.arange(n_points - n_ring) + 0.5  # a sunflower spiral: evenly spread interior points
    r = radius * 0.97 * np.sqrt(k / (n_points - n_ring))
    t = k * np.pi * (3 - np.sqrt(5))
    inner = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
    dst = np.concatenate([ring, inner])
    shift = 0.03 * radius * np.stack([np.sin(dst[:, 1] / radius * 3), np.cos(dst[:, 0] / radius * 2)], axis=1)
    src = dst + shift + rng.normal(0, 0.5, dst.shape)
    tri = Delaunay(dst).simplices.astype(np.int32)
    return src, dst, tri


# ----------------------------------------------------------------------------------------------------------
# The alternatives


def opencv_per_triangle(src: np.ndarray, sp: np.ndarray, dp: np.ndarray, tri: np.ndarray, out: np.ndarray) -> None:
    """(i) The common recipe: per triangle, an affine warp of its bounding rect, composited through its mask."""
    for a, b, c in tri:
        s = sp[[a, b, c]].astype(np.float32)
        d = dp[[a, b, c]].astype(np.float32)
        sx, sy, sw, sh = cv2.boundingRect(s)
        dx, dy, dw, dh = cv2.boundingRect(d)
        sx0, sy0 = max(sx, 0), max(sy, 0)
        crop = src[sy0:sy + sh, sx0:sx + sw]
        dx0, dy0 = max(dx, 0), max(dy, 0)
        dx1, dy1 = min(dx + dw, out.shape[1]), min(dy + dh, out.shape[0])
        if crop.size == 0 or dx1 <= dx0 or dy1 <= dy0:
            continue
        m = cv2.getAffineTransform((s - [sx0, sy0]).astype(np.float32), (d - [dx0, dy0]).astype(np.float32))
        patch = cv2.warpAffine(crop, m, (dx1 - dx0, dy1 - dy0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros((dy1 - dy0, dx1 - dx0), np.uint8)
        cv2.fillConvexPoly(mask, np.round((d - [dx0, dy0]) * 16).astype(np.int32), 255, cv2.LINE_8, 4)
        cv2.copyTo(patch, mask, out[dy0:dy1, dx0:dx1])


def opencv_dense_map(src: np.ndarray, sp: np.ndarray, dp: np.ndarray, tri: np.ndarray, out: np.ndarray) -> None:
    """(ii) A rasterised triangle-index map, per-triangle inverse affines, one cv2.remap (map building included)."""
    x0, y0 = np.floor(dp.min(axis=0)).astype(int).clip(0)
    x1, y1 = np.ceil(dp.max(axis=0)).astype(int) + 1
    x1, y1 = min(x1, out.shape[1]), min(y1, out.shape[0])
    index = np.full((y1 - y0, x1 - x0), -1, np.int32)
    for t, (a, b, c) in enumerate(tri):
        pts = np.round((dp[[a, b, c]] - [x0, y0]) * 16).astype(np.int32)
        cv2.fillConvexPoly(index, pts, int(t), cv2.LINE_8, 4)
    d = dp[tri]  # (M, 3, 2)
    s = sp[tri]
    dst_h = np.concatenate([d, np.ones((len(tri), 3, 1))], axis=2)  # (M, 3, 3)
    affine = np.linalg.solve(dst_h, s).transpose(0, 2, 1).astype(np.float32)  # (M, 2, 3): dst -> src
    valid = index >= 0
    idx = np.where(valid, index, 0)
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    a = affine[idx]
    map_x = a[..., 0, 0] * gx + a[..., 0, 1] * gy + a[..., 0, 2]
    map_y = a[..., 1, 0] * gx + a[..., 1, 1] * gy + a[..., 1, 2]
    warped = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cv2.copyTo(warped, valid.astype(np.uint8), out[y0:y1, x0:x1])


def skimage_piecewise(src: np.ndarray, sp: np.ndarray, dp: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(iii) scikit-image: PiecewiseAffineTransform (it triangulates itself) and warp."""
    tform = PiecewiseAffineTransform()
    tform.estimate(dp, sp)  # maps output (destination) coordinates to input (source) coordinates
    return warp(src, tform, output_shape=src.shape[:2], order=1, preserve_range=True)  # type: ignore[no-any-return]


def copy_rate_bytes_per_s(nbytes: int, repeats: int) -> float:
    a = np.ones(nbytes, np.uint8)
    b = np.empty_like(a)
    return nbytes / (median_ms(lambda: np.copyto(b, a), repeats) / 1e3)


# ----------------------------------------------------------------------------------------------------------


def bench_warp(repeats: int, quick: bool, log: Callable[[str], None]) -> dict[str, float]:
    figures: dict[str, float] = {}
    log(f"{'warp_mesh':<14}{'ours ms':>9}{'(i) ms':>9}{'(ii) ms':>9}{'(ii) thr':>9}{'(iii) ms':>10}{'speedup':>9}"
        f"{'floor ms':>10}{'/floor':>8}{'max diff':>9}")
    for name, (h, w) in SIZES.items():
        img = scene(h, w)
        rate = copy_rate_bytes_per_s(img.nbytes, repeats)
        for n in POINTS:
            sp, dp, tri = face_mesh(h, w, n)
            ours_out = img[::-1].copy()
            cov = warp_mesh(img, sp, dp, tri, ours_out)
            touched = int((cov > 0).sum()) * img.shape[2]
            floor_ms = touched / rate * 1e3
            ours = median_ms(lambda: warp_mesh(img, sp, dp, tri, ours_out, coverage=cov), repeats)  # noqa: B023
            o1 = img[::-1].copy()
            t1 = median_ms(lambda: opencv_per_triangle(img, sp, dp, tri, o1), max(3, repeats // 4))  # noqa: B023
            o2 = img[::-1].copy()
            t2 = median_ms(lambda: opencv_dense_map(img, sp, dp, tri, o2), max(3, repeats // 4))  # noqa: B023
            cv2.setNumThreads(-1)  # (ii) as a careful user runs it: OpenCV's own threads on
            try:
                t2_threads = median_ms(lambda: opencv_dense_map(img, sp, dp, tri, o2), max(3, repeats // 4))  # noqa: B023
            finally:
                cv2.setNumThreads(1)
            inside = cv2.erode(cov, np.ones((3, 3), np.uint8)) > 0  # away from the mesh border
            diff = int(np.abs(ours_out.astype(int) - o2.astype(int))[inside].max())
            skip_skimage = quick and name != "512"  # scikit-image takes seconds per run
            t3 = float("nan") if skip_skimage else median_ms(lambda: skimage_piecewise(img, sp, dp, tri), 1)  # noqa: B023
            speedup = min(t1, t2, t2_threads) / ours
            key = f"warp_{name}_{n}"
            figures.update({f"{key}_ms": ours, f"{key}_opencv_per_triangle_ms": t1, f"{key}_opencv_remap_ms": t2,
                            f"{key}_opencv_remap_threads_ms": t2_threads,
                            f"{key}_skimage_ms": t3, f"{key}_speedup": speedup,
                            f"{key}_skimage_speedup": t3 / ours, f"{key}_floor_ms": floor_ms,
                            f"{key}_floor_ratio": ours / floor_ms})
            log(f"{name + ' ' + str(n):<14}{ours:9.2f}{t1:9.2f}{t2:9.2f}{t2_threads:9.2f}{t3:10.1f}{speedup:8.1f}x"
                f"{floor_ms:10.3f}{ours / floor_ms:7.1f}x{diff:9d}")
        figures[f"copy_rate_{name}_gb_s"] = rate / 1e9
    log("speedup = the fastest of (i), (ii) and (ii) with OpenCV's threads on / ours; (ii) remaps the mesh's bounding "
        "box only, maps built on each call; floor = one read + one write of the touched pixels at the "
        "measured copy rate; max diff = grey levels against (ii) inside the mesh")
    return figures


def bench_feather(repeats: int, log: Callable[[str], None]) -> dict[str, float]:
    """Feather + composite of a face-sized ROI (400 x 360 in a 1080p frame), against GaussianBlur + blendLinear."""
    frame = scene(1080, 1920)
    face = np.ascontiguousarray(frame[::-1, ::-1][300:660, 700:1100])
    h, w = face.shape[:2]
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    oval = np.stack([w / 2 + 0.42 * w * np.cos(t), h / 2 + 0.45 * h * np.sin(t)], axis=1)
    hard = fill_polygon(oval, np.zeros((h, w), np.uint8))
    sigma = 0.03 * max(h, w)
    dst_ours = frame.copy()
    soft = np.empty_like(hard)

    def ours() -> None:
        feather_mask(hard, sigma, out=soft)
        composite(face, soft, dst_ours, (700, 300))

    dst_cv = frame.copy()

    def opencv() -> None:
        alpha = cv2.GaussianBlur(hard, (0, 0), sigma).astype(np.float32) * (1 / 255)
        roi = dst_cv[300:660, 700:1100]
        roi[...] = cv2.blendLinear(face, roi, alpha, 1 - alpha)

    t_ours = median_ms(ours, repeats * 4)
    t_cv = median_ms(opencv, repeats * 4)
    log(f"feather+composite {w}x{h} sigma {sigma:.1f}: ours {t_ours:.3f} ms, GaussianBlur+blendLinear "
        f"{t_cv:.3f} ms, speedup {t_cv / t_ours:.1f}x")
    return {"feather_composite_ms": t_ours, "feather_composite_opencv_ms": t_cv,
            "feather_composite_speedup": t_cv / t_ours}


def bench_threads(repeats: int, log: Callable[[str], None]) -> dict[str, float]:
    """Two threads warping two frames at once: the C core releases the GIL, so throughput should double on two
    cores (the only multi-threaded figure here)."""
    from concurrent.futures import ThreadPoolExecutor

    h, w = SIZES["1080p"]
    img = scene(h, w)
    sp, dp, tri = face_mesh(h, w, 468)
    outs = [img[::-1].copy() for _ in range(2)]

    def one(k: int) -> None:
        for _ in range(8):
            warp_mesh(img, sp, dp, tri, outs[k])

    serial = median_ms(lambda: (one(0), one(1)), max(3, repeats // 4))
    with ThreadPoolExecutor(2) as pool:
        parallel = median_ms(lambda: list(pool.map(one, (0, 1))), max(3, repeats // 4))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    log(f"two threads, 16 warps 1080p/468: serial {serial:.1f} ms, threaded {parallel:.1f} ms, "
        f"speedup {serial / parallel:.2f}x on {cores} core(s)")
    return {"threads_2_speedup": serial / parallel}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--quick", action="store_true", help="fewer repeats; scikit-image only at 512x512")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 21, quick 7)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (7 if args.quick else 21)
    stream = sys.stderr if args.json else sys.stdout

    def log(line: str) -> None:
        print(line, file=stream, flush=True)

    log(f"fusionkit core benchmark: single thread, median of {repeats} runs")
    figures: dict[str, Any] = {"repeats": repeats, "opencv": cv2.__version__, "numpy": np.__version__}
    figures.update(bench_warp(repeats, args.quick, log))
    figures.update(bench_feather(repeats, log))
    figures.update(bench_threads(repeats, log))
    try:  # the blending benchmarks (Poisson, multi-band, colour, guided filter) live beside this file
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_blend import blend_figures  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        figures.update(blend_figures(repeats))
    if args.json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
