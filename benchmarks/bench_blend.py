"""Blending, colour and filter speed against OpenCV, single thread, on a face-like 1920x1080 scene.

Compares, in one run: (v) ``cv2.seamlessClone`` NORMAL_CLONE and MIXED_CLONE against ``blend_poisson``;
(vi) a 6-level Laplacian blend written with ``cv2.pyrDown``/``cv2.pyrUp`` against ``blend_multiband``; both on the
whole frame and, as a careful user writes them, on the region of interest only (the mask's box and a margin: 8 px
for seamlessClone, 64 for the pyramid), that with OpenCV's own threads off and on (``*_roi_speedup`` takes the
faster);
(vii) a Lab transfer with ``cv2.cvtColor`` + NumPy on the face bounding box against ``transfer_colour``;
(viii) a guided filter (radius 8, eps 0.01) written with ``cv2.boxFilter`` + NumPy against
``guided_filter``, on the face bounding box; (ix) robust Lab statistics (median, MAD, outliers left out, mean
and spread of the rest) with ``cv2.cvtColor`` + NumPy against ``cvtColor`` + ``robust_stats``, on the face
bounding box, every other row and column as fusion samples them. Each blend also gets a seam score: the mean
absolute gradient jump across the mask boundary (see :func:`seam_score`; lower is smoother), with the plain step
across it as a second opinion. Every routine also gets its floor ratio: its time over one read of what it reads
and one write of what it writes, over its box, at the measured copy rate. Times are medians of ``repeats`` runs
after a warm-up.

Run ``python benchmarks/bench_blend.py [--repeats N] [--json]``; ``blend_figures(repeats)`` returns the
figures.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fusionkit.core import blend_multiband, blend_poisson, guided_filter, robust_stats, transfer_colour  # noqa: E402

cv2.setNumThreads(1)

WIDTH, HEIGHT = 1920, 1080
GUIDED_RADIUS, GUIDED_EPS = 8, 0.01


def _texture(rng: np.random.Generator, tint: tuple[float, float, float]) -> np.ndarray:
    """Multi-scale noise (skin-like blotches, hair-like streaks, fine grain) with a colour tint, uint8 BGR."""
    acc = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    for cells, amp in ((6, 60.0), (24, 30.0), (96, 15.0), (384, 8.0)):
        small = rng.normal(0.0, 1.0, (max(cells * HEIGHT // WIDTH, 2), cells, 3)).astype(np.float32)
        acc += amp * cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    acc += rng.normal(0.0, 4.0, acc.shape).astype(np.float32)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    acc += (40.0 * np.sin(xx / 37.0 + yy / 91.0))[..., None]
    acc += np.array(tint, np.float32)
    return np.clip(acc, 0, 255).astype(np.uint8)


def make_scene(seed: int = 7) -> dict[str, Any]:
    """Template (dst), user face (src), an ellipse mask covering ~40% of the frame, and its bounding box."""
    rng = np.random.default_rng(seed)
    dst = _texture(rng, (70.0, 110.0, 150.0))
    src = _texture(rng, (120.0, 140.0, 190.0))
    k = np.sqrt(0.40 * WIDTH * HEIGHT / (np.pi * (WIDTH / 2) * (HEIGHT / 2)))
    axes = (int(k * WIDTH / 2), int(k * HEIGHT / 2))
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.ellipse(mask, (WIDTH // 2, HEIGHT // 2), axes, 0, 0, 360, 255, -1)
    x, y, w, h = cv2.boundingRect(mask)
    return {"dst": dst, "src": src, "mask": mask, "bbox": (x, y, w, h)}


def seam_score(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute gradient jump across the boundary of mask >= 128.

    For each 4-neighbour pair (p, q) straddling the boundary, with p2 and q2 the next pixels beyond p and q
    on the same line: |(f_p - f_q) - ((f_p2 - f_p) + (f_q - f_q2)) / 2|, the step across the seam against
    the mean of the steps beside it, averaged over pairs and channels. 0 for a linear ramp; a pasted edge
    scores its jump.
    """
    f = img.astype(np.float32)
    om = mask >= 128
    jumps = []
    for axis in (0, 1):
        ff, oo = np.moveaxis(f, axis, 0), np.moveaxis(om, axis, 0)
        a, b, c, d = ff[:-3], ff[1:-2], ff[2:-1], ff[3:]
        edge = oo[1:-2] != oo[2:-1]
        jumps.append(np.abs((c - b) - 0.5 * ((b - a) + (d - c)))[edge].ravel())
    return float(np.concatenate(jumps).mean())


def seam_step(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute step |f_p - f_q| over 4-neighbour pairs straddling the boundary of mask >= 128."""
    f = img.astype(np.float32)
    om = mask >= 128
    steps = [np.abs(f[:, :-1] - f[:, 1:])[om[:, :-1] != om[:, 1:]], np.abs(f[:-1] - f[1:])[om[:-1] != om[1:]]]
    return float(np.concatenate([s.ravel() for s in steps]).mean())


def _time(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


# ------------------------------------------------------------------------------------------------------------
# The OpenCV + NumPy versions a user would write.


def roi(bbox: tuple[int, int, int, int], margin: int) -> tuple[int, int, int, int]:
    """The mask's box grown by ``margin`` px, inside the frame: ``(x0, y0, x1, y1)``."""
    x, y, w, h = bbox
    return max(0, x - margin), max(0, y - margin), min(WIDTH, x + w + margin), min(HEIGHT, y + h + margin)


def cv_clone_roi(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int],
                 flag: int) -> np.ndarray:
    """The careful user's seamlessClone: on the region of interest only, laid back into a copy of the frame."""
    x0, y0, x1, y1 = box
    out = dst.copy()
    part = cv2.seamlessClone(src[y0:y1, x0:x1], dst[y0:y1, x0:x1], mask[y0:y1, x0:x1].copy(),
                             ((x1 - x0) // 2, (y1 - y0) // 2), flag)
    out[y0:y1, x0:x1] = part
    return out


def cv_laplacian_blend_roi(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int],
                           levels: int = 6) -> np.ndarray:
    """The careful user's pyramid blend: on the region of interest only (a margin of 2^levels px), laid back."""
    x0, y0, x1, y1 = box
    out = dst.copy()
    out[y0:y1, x0:x1] = cv_laplacian_blend(src[y0:y1, x0:x1], dst[y0:y1, x0:x1], mask[y0:y1, x0:x1], levels)
    return out


def copy_rate(nbytes: int, repeats: int) -> float:
    """Bytes per second ``np.copyto`` moves for a buffer of ``nbytes``: the memory-bandwidth floor's rate."""
    a = np.ones(nbytes, np.uint8)
    b = np.empty_like(a)
    return nbytes / (_time(lambda: np.copyto(b, a), repeats) / 1e3)


@contextlib.contextmanager
def opencv_threads() -> Any:
    """OpenCV's own threading on (its default, all cores) for the block; one thread again after."""
    cv2.setNumThreads(-1)
    try:
        yield
    finally:
        cv2.setNumThreads(1)


def cv_laplacian_blend(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, levels: int = 6) -> np.ndarray:
    gs, gd = [src.astype(np.float32)], [dst.astype(np.float32)]
    gm = [cv2.merge([mask.astype(np.float32) / 255.0] * 3)]
    for _ in range(levels - 1):
        gs.append(cv2.pyrDown(gs[-1]))
        gd.append(cv2.pyrDown(gd[-1]))
        gm.append(cv2.pyrDown(gm[-1]))
    bands = []
    for k in range(levels):
        if k < levels - 1:
            size = (gs[k].shape[1], gs[k].shape[0])
            ls = gs[k] - cv2.pyrUp(gs[k + 1], dstsize=size)
            ld = gd[k] - cv2.pyrUp(gd[k + 1], dstsize=size)
        else:
            ls, ld = gs[k], gd[k]
        bands.append(gm[k] * ls + (1.0 - gm[k]) * ld)
    out = bands[-1]
    for k in range(levels - 2, -1, -1):
        out = bands[k] + cv2.pyrUp(out, dstsize=(bands[k].shape[1], bands[k].shape[0]))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def cv_colour_transfer(
    src: np.ndarray, ref: np.ndarray, mask: np.ndarray, strength: float = 1.0
) -> np.ndarray:
    s = cv2.cvtColor(src, cv2.COLOR_BGR2LAB).astype(np.float32)
    r = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).astype(np.float32)
    sel = mask > 0
    ms, ss = s[sel].mean(axis=0), s[sel].std(axis=0)
    mr, sr = r[sel].mean(axis=0), r[sel].std(axis=0)
    t = np.clip((s - ms) * (sr / np.maximum(ss, 1e-6)) + mr + 0.5, 0, 255).astype(np.uint8)
    rec = cv2.cvtColor(t, cv2.COLOR_LAB2BGR).astype(np.float32)
    wt = (mask.astype(np.float32) * (strength / 255.0))[..., None]
    return np.clip(src + wt * (rec - src) + 0.5, 0, 255).astype(np.uint8)


def numpy_robust_stats(lab: np.ndarray, mask: np.ndarray, spread: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """Median, MAD and the moments of the inliers, as one writes them with NumPy (sorts for the medians)."""
    px = lab[::2, ::2][mask[::2, ::2] > 0].astype(np.float64)
    med = np.median(px, axis=0)
    dev = np.abs(px - med)
    keep = (dev <= spread * (1.4826 * np.median(dev, axis=0) + 1e-3)).all(axis=1)
    kept = px[keep] if keep.sum() >= 16 else px
    return kept.mean(axis=0), kept.std(axis=0)


def cv_guided_filter(
    img: np.ndarray, mask: np.ndarray, radius: int, eps: float, strength: float = 1.0
) -> np.ndarray:
    i = img.astype(np.float32) / 255.0
    k = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.boxFilter(i, -1, k)
    mean_ii = cv2.boxFilter(i * i, -1, k)
    a = (mean_ii - mean_i * mean_i) / (mean_ii - mean_i * mean_i + eps)
    b = mean_i - a * mean_i
    q = cv2.boxFilter(a, -1, k) * i + cv2.boxFilter(b, -1, k)
    wt = (mask.astype(np.float32) * (strength / 255.0))[..., None]
    return np.clip(255.0 * (i + wt * (q - i)) + 0.5, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------------


def blend_figures(repeats: int = 5) -> dict[str, float]:
    """Run every comparison; print a table and return the figures (milliseconds, ratios, seam scores).

    ``cv2.seamlessClone`` writes into its mask argument, so it always gets a copy.
    """
    sc = make_scene()
    src, dst, mask = sc["src"], sc["dst"], sc["mask"]
    x, y, w, h = sc["bbox"]
    center = (x + w // 2, y + h // 2)
    fig: dict[str, float] = {"mask_fraction": float((mask >= 128).mean())}
    # The floor of a blend: one read of the source, the destination and the mask and one write of the destination,
    # over the mask's box, at the measured copy rate (a copy reads and writes each byte once).
    box_bytes = w * h * (2 * src.shape[2] + 1) + w * h * dst.shape[2]
    floor_ms = box_bytes / copy_rate(src.nbytes, repeats) * 1e3 / 2
    fig["blend_floor_ms"] = floor_ms

    # (v) Poisson cloning.
    clone_box = roi(sc["bbox"], 8)
    for mode, flag in (("normal", cv2.NORMAL_CLONE), ("mixed", cv2.MIXED_CLONE)):
        cv_out = cv2.seamlessClone(src, dst, mask.copy(), center, flag)
        theirs = _time(
            lambda flag=flag: cv2.seamlessClone(src, dst, mask.copy(), center, flag), max(repeats // 2, 1)
        )
        roi_ms = _time(lambda flag=flag: cv_clone_roi(src, dst, mask, clone_box, flag), max(repeats // 2, 1))
        with opencv_threads():
            roi_threads_ms = _time(lambda flag=flag: cv_clone_roi(src, dst, mask, clone_box, flag),
                                   max(repeats // 2, 1))
        ours_out = dst.copy()
        stats = blend_poisson(src, mask, ours_out, mode=mode)
        work = dst.copy()

        def run(mode: str = mode, work: np.ndarray = work) -> None:
            np.copyto(work, dst)
            blend_poisson(src, mask, work, mode=mode)

        ours = _time(run, repeats)
        exact = dst.copy()
        blend_poisson(src, mask, exact, mode=mode, tol=1e-6, max_cycles=200)
        tag = "poisson" if mode == "normal" else "poisson_mixed"
        fig[f"{tag}_ours_ms"] = ours
        fig[f"{tag}_cv2_ms"] = theirs
        fig[f"{tag}_1080p_speedup"] = theirs / ours
        fig[f"{tag}_cv2_roi_ms"] = roi_ms
        fig[f"{tag}_cv2_roi_threads_ms"] = roi_threads_ms
        fig[f"{tag}_roi_speedup"] = min(roi_ms, roi_threads_ms) / ours
        fig[f"{tag}_floor_ratio"] = ours / floor_ms
        fig[f"{tag}_cycles"] = float(stats.cycles)
        fig[f"{tag}_residual"] = stats.residual
        err = np.abs(ours_out.astype(int) - exact.astype(int))
        fig[f"{tag}_max_err_vs_converged"] = float(err.max())
        fig[f"{tag}_mean_err_vs_converged"] = float(err[mask >= 128].mean())
        fig[f"{tag}_seam_ours"] = seam_score(ours_out, mask)
        fig[f"{tag}_seam_cv2"] = seam_score(cv_out, mask)
        fig[f"{tag}_seam_ratio"] = fig[f"{tag}_seam_ours"] / fig[f"{tag}_seam_cv2"]
        fig[f"{tag}_seam_converged"] = seam_score(exact, mask)
        fig[f"{tag}_step_ratio"] = seam_step(ours_out, mask) / seam_step(cv_out, mask)
        outside = mask < 128
        changed = cv_out[outside] != dst[outside]
        fig[f"{tag}_cv2_outside_changed_fraction"] = float(changed.any(axis=-1).mean())

    # (vi) Laplacian pyramid blend.
    theirs = _time(lambda: cv_laplacian_blend(src, dst, mask, 6), repeats)
    pyramid_box = roi(sc["bbox"], 64)
    roi_ms = _time(lambda: cv_laplacian_blend_roi(src, dst, mask, pyramid_box, 6), repeats)
    with opencv_threads():
        roi_threads_ms = _time(lambda: cv_laplacian_blend_roi(src, dst, mask, pyramid_box, 6), repeats)
    work = dst.copy()

    def run_mb() -> None:
        np.copyto(work, dst)
        blend_multiband(src, mask, work, levels=6)

    ours = _time(run_mb, repeats)
    mb_out = dst.copy()
    blend_multiband(src, mask, mb_out, levels=6)
    fig["multiband_ours_ms"] = ours
    fig["multiband_cv2_ms"] = theirs
    fig["multiband_1080p_speedup"] = theirs / ours
    fig["multiband_cv2_roi_ms"] = roi_ms
    fig["multiband_cv2_roi_threads_ms"] = roi_threads_ms
    fig["multiband_roi_speedup"] = min(roi_ms, roi_threads_ms) / ours
    fig["multiband_floor_ratio"] = ours / floor_ms
    fig["multiband_seam_ours"] = seam_score(mb_out, mask)
    fig["multiband_seam_cv2"] = seam_score(cv_laplacian_blend(src, dst, mask, 6), mask)
    fig["multiband_seam_ratio"] = fig["multiband_seam_ours"] / fig["multiband_seam_cv2"]
    fig["seam_dst_alone"] = seam_score(dst, mask)
    fig["seam_src_alone"] = seam_score(src, mask)
    fig["multiband_max_diff_vs_cv2"] = float(
        np.abs(mb_out.astype(int) - cv_laplacian_blend(src, dst, mask, 6)).max()
    )

    # (vii) Lab colour transfer on the face bounding box.
    fs, fd, fm = (a[y : y + h, x : x + w] for a in (src, dst, mask))
    fs, fd, fm = np.ascontiguousarray(fs), np.ascontiguousarray(fd), np.ascontiguousarray(fm)
    theirs = _time(lambda: cv_colour_transfer(fs, fd, fm), repeats)
    ours = _time(lambda: transfer_colour(fs, fm, fd, fm, channel_order="bgr"), repeats)
    fig["colour_ours_ms"] = ours
    fig["colour_cv2_ms"] = theirs
    fig["colour_speedup"] = theirs / ours
    fig["colour_mean_abs_diff_vs_cv2"] = float(
        np.abs(
            transfer_colour(fs, fm, fd, fm, channel_order="bgr").astype(int) - cv_colour_transfer(fs, fd, fm)
        ).mean()
    )

    # (viii) Guided filter on the face bounding box.
    theirs = _time(lambda: cv_guided_filter(fs, fm, GUIDED_RADIUS, GUIDED_EPS), repeats)
    ours = _time(lambda: guided_filter(fs, GUIDED_RADIUS, GUIDED_EPS, mask=fm), repeats)
    fig["guided_ours_ms"] = ours
    fig["guided_cv2_ms"] = theirs
    fig["guided_speedup"] = theirs / ours
    fig["guided_mean_abs_diff_vs_cv2"] = float(
        np.abs(
            guided_filter(fs, GUIDED_RADIUS, GUIDED_EPS, mask=fm).astype(int)
            - cv_guided_filter(fs, fm, GUIDED_RADIUS, GUIDED_EPS)
        ).mean()
    )

    # (ix) Robust Lab statistics on the face bounding box (Lab conversion included on both sides).
    theirs = _time(lambda: numpy_robust_stats(cv2.cvtColor(fs, cv2.COLOR_BGR2Lab), fm), repeats)
    ours = _time(lambda: robust_stats(cv2.cvtColor(fs, cv2.COLOR_BGR2Lab), fm, step=2), repeats)
    fig["robust_stats_ours_ms"] = ours
    fig["robust_stats_cv2_ms"] = theirs
    fig["robust_stats_speedup"] = theirs / ours
    lab = cv2.cvtColor(fs, cv2.COLOR_BGR2Lab)
    fig["robust_stats_max_mean_diff_vs_numpy"] = float(
        np.abs(robust_stats(lab, fm, step=2)[0] - numpy_robust_stats(lab, fm)[0]).max())

    # Floors of the face-box routines, the same way: the bytes each must read and write once over the box.
    rate = copy_rate(src.nbytes, repeats)
    for key, per_pixel in (("colour", 3 + 1 + 3 + 1 + 3), ("guided", 3 + 1 + 3), ("robust_stats", 3 + 1)):
        fig[f"{key}_floor_ms"] = w * h * per_pixel / rate * 1e3 / 2
        fig[f"{key}_floor_ratio"] = fig[f"{key}_ours_ms"] / fig[f"{key}_floor_ms"]

    print(f"scene {WIDTH}x{HEIGHT}, mask {fig['mask_fraction']:.1%} of the frame, face box {w}x{h}, 1 thread")
    print(f"{'routine':28s} {'ours ms':>9s} {'OpenCV ms':>10s} {'speedup':>8s} {'/floor':>8s}")
    for name, key in (
        ("poisson normal", "poisson"),
        ("poisson mixed", "poisson_mixed"),
        ("multiband 6 levels", "multiband"),
        ("colour transfer (face box)", "colour"),
        ("guided filter (face box)", "guided"),
        ("robust Lab stats (face box)", "robust_stats"),
    ):
        sp = fig.get(f"{key}_1080p_speedup", fig.get(f"{key}_speedup", 0.0))
        print(f"{name:28s} {fig[key + '_ours_ms']:9.2f} {fig[key + '_cv2_ms']:10.2f} {sp:8.2f}x "
              f"{fig[key + '_floor_ratio']:7.0f}x")
    print(
        f"seam score (gradient jump; dst alone {fig['seam_dst_alone']:.2f}, src alone "
        f"{fig['seam_src_alone']:.2f}):"
    )
    for key in ("poisson", "poisson_mixed", "multiband"):
        print(
            f"  {key:14s} ours {fig[key + '_seam_ours']:.3f}  OpenCV {fig[key + '_seam_cv2']:.3f}  "
            f"ratio {fig[key + '_seam_ratio']:.3f}"
        )
    print("against the careful user's versions, on the region of interest only (a margin of 8 px for seamlessClone,")
    print("64 for the 6-level pyramid), with OpenCV's threads off and on; the ratio takes the faster:")
    print(f"{'routine':28s} {'ours ms':>9s} {'ROI 1 thr':>10s} {'ROI threads':>12s} {'speedup':>8s} {'/floor':>8s}")
    for name, key in (("poisson normal", "poisson"), ("poisson mixed", "poisson_mixed"),
                      ("multiband 6 levels", "multiband")):
        print(f"{name:28s} {fig[key + '_ours_ms']:9.2f} {fig[key + '_cv2_roi_ms']:10.2f} "
              f"{fig[key + '_cv2_roi_threads_ms']:12.2f} {fig[key + '_roi_speedup']:7.2f}x "
              f"{fig[key + '_floor_ratio']:7.0f}x")
    print(f"floor = one read of source, destination and mask and one write of the destination over the mask's box at "
          f"the measured copy rate: {floor_ms:.2f} ms (the face-box routines: what each reads and writes once)")
    changed = fig["poisson_cv2_outside_changed_fraction"]
    print(f"  seamlessClone changed {changed:.1%} of the pixels outside the mask; blend_poisson changes none")
    print(
        f"poisson: {fig['poisson_cycles']:.0f} V-cycles, residual {fig['poisson_residual']:.2e}, "
        f"{fig['poisson_mean_err_vs_converged']:.2f} mean / {fig['poisson_max_err_vs_converged']:.0f} max "
        "grey levels from a 1e-6 solve"
    )
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print only the figures as one JSON object (the table goes to stderr)",
    )
    args = parser.parse_args()
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            fig = blend_figures(args.repeats)
        print(json.dumps(fig))
    else:
        blend_figures(args.repeats)


if __name__ == "__main__":
    main()
