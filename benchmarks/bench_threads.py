"""What keeps fusions on two threads from running twice as fast: each fusion beside another thread, and the GIL
releases a fusion makes, stage by stage.

Usage::

    .venv/bin/python benchmarks/bench_threads.py [--json] [--rounds N]

The engine (:func:`fusionkit.fusion.engine.fuse_face`, both meshes known) on the ``obama.jpg`` face in a 1920x1080
frame (about 260 px wide) and in the same frame shrunk to 640x360 (about 90 px, a video's face), the user
``biden.jpg``. Figures, per size (times are medians in ms):

- ``alone_ms``: a fusion with nothing else running;
- ``beside_kernel_ms``: the same while another thread runs a C kernel that holds no GIL (a multi-band blend of a
  256 px square, over and over): about what sharing the cores and caches costs (the kernel's Python wrapper holds
  the GIL for a few microseconds a call);
- ``beside_fusion_ms``: the same while another thread runs fusions: what sharing the interpreter costs too;
- ``two_threads_ratio``: fusions on two threads over one thread (throughput, interleaved rounds);
- ``gil_releases``: GIL releases per fusion, by stage. A thread that never releases the GIL (a pure-Python loop)
  spins beside the fusion; each release hands it the GIL for a whole switch interval (set to 2 ms here), so a
  stage's extra time, over the interval, counts the releases in it. Each release is a chance for the other
  thread to take the GIL, and taking it back costs a thread wake-up.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fuse import median_ms, template_1080p  # noqa: E402
from bench_targets import interleaved  # noqa: E402

from fusionkit.core import blend_multiband  # noqa: E402
from fusionkit.domain.options import FuseOptions  # noqa: E402
from fusionkit.fusion.engine import UserKey, fuse_face  # noqa: E402
from fusionkit.imaging.decode import load_image  # noqa: E402
from fusionkit.samples import sample_path  # noqa: E402
from fusionkit.vision import RuntimeOptions, analyze, mesh_topology  # noqa: E402

cv2.setNumThreads(1)
SWITCH_S = 0.002  # the switch interval while counting releases


def _cases() -> dict[str, Callable[[], dict[str, float]]]:
    """A fusion per size: a function fusing once into a fresh copy of the frame, returning its stage timings."""
    runtime = RuntimeOptions(intra_op_threads=1, inter_op_threads=1)
    user = load_image(sample_path("biden.jpg"))
    umesh = analyze(user, model="short", options=runtime)[0]
    topo, opts = mesh_topology(), FuseOptions()
    big = template_1080p()
    cases = {}
    for name, frame in (("1080p", big), ("360p", cv2.resize(big, (640, 360), interpolation=cv2.INTER_AREA))):
        cases[name] = _fusion(frame, analyze(frame, model="auto", options=runtime)[0], user, umesh, opts, topo)
    return cases


def _fusion(frame: np.ndarray, tmesh: Any, user: np.ndarray, umesh: Any, opts: FuseOptions,
            topo: Any) -> Callable[[], dict[str, float]]:
    key = UserKey()

    def fuse() -> dict[str, float]:
        return fuse_face(frame.copy(), tmesh, user, umesh, opts, topo, user_key=key).timings_ms

    return fuse


@contextmanager
def beside(work: Callable[[], Any]) -> Iterator[None]:
    """``work`` over and over on another thread for the block."""
    stop = threading.Event()
    failed: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                work()
        except BaseException as exc:  # raised again below: a dead helper would turn "beside" into "alone"
            failed.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.05)
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if failed:
        raise RuntimeError("the thread running beside the fusions failed") from failed[0]


def _kernel() -> Callable[[], None]:
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    dst = src[::-1].copy()
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    return lambda: blend_multiband(src, mask, dst, levels=4)


def _spin() -> None:
    x = 0
    while x < 1_000_000:  # about 20 ms of Python that never releases the GIL
        x += 1


def _batch(fuse: Callable[[], Any], threads: int, pool: ThreadPoolExecutor) -> Callable[[], None]:
    """20 fusions, on one thread or split between two of ``pool``'s."""
    def run() -> None:
        if threads == 1:
            for _ in range(20):
                fuse()
        else:
            list(pool.map(lambda _: [fuse() for _ in range(10)], range(2)))

    return run


def releases(fuse: Callable[[], dict[str, float]], n: int) -> dict[str, float]:
    """GIL releases per fusion by stage (see the module), from ``n`` fusions alone and ``n`` beside the spinning
    thread; ``"total"`` from the stages' sum (a stage's own figure is clipped at 0, the total is not)."""
    base = [fuse() for _ in range(n)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_S)
    try:
        with beside(_spin):
            slow = [fuse() for _ in range(n)]
    finally:
        sys.setswitchinterval(old)
    for runs in (base, slow):
        for t in runs:
            t["total"] = sum(t.values())
    out = {}
    for stage in base[0]:
        extra = statistics.median(t[stage] for t in slow) - statistics.median(t[stage] for t in base)
        out[stage] = extra / (SWITCH_S * 1e3) if stage == "total" else max(0.0, extra / (SWITCH_S * 1e3))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    figures: dict[str, Any] = {"cpus": os.cpu_count()}
    kernel = _kernel()
    with ThreadPoolExecutor(2) as pool:
        for name, fuse in _cases().items():
            figures[name] = _measure(name, fuse, kernel, pool, args.rounds, stream)
    if args.json:
        print(json.dumps(figures))
    return 0


def _measure(name: str, fuse: Callable[[], dict[str, float]], kernel: Callable[[], None], pool: ThreadPoolExecutor,
             rounds: int, stream: Any) -> dict[str, Any]:
    """One size's figures (see the module), printed as they come."""
    for _ in range(3):
        fuse()
    alone = median_ms(fuse, rounds)
    with beside(kernel):
        with_kernel = median_ms(fuse, rounds)
    with beside(fuse):
        with_fusion = median_ms(fuse, rounds)
    t = interleaved({"one": _batch(fuse, 1, pool), "two": _batch(fuse, 2, pool)}, max(3, rounds // 8))
    counts = releases(fuse, max(8, rounds // 4))
    total = counts.pop("total")
    print(f"{name}: a fusion alone {alone:.1f} ms; beside a GIL-free C kernel {with_kernel:.1f} ms; beside another "
          f"fusion {with_fusion:.1f} ms; two threads over one {t['one'] / t['two']:.2f}x", file=stream)
    print(f"  GIL releases a fusion: about {total:.0f} ("
          + ", ".join(f"{k} {v:.0f}" for k, v in counts.items() if v >= 0.5) + ")", file=stream)
    return {"alone_ms": alone, "beside_kernel_ms": with_kernel, "beside_fusion_ms": with_fusion,
            "two_threads_ratio": t["one"] / t["two"], "gil_releases": counts, "gil_releases_total": total}


if __name__ == "__main__":
    raise SystemExit(main())
