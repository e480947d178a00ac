"""Scaling out: fusions per second of ``fusionkit.fuse_many`` on threads in one process and on one or two Dask
worker processes, what the Dask path adds per fusion, and a batch of 10,000 small fusions in constant memory.

Usage::

    .venv/bin/python benchmarks/bench_scale.py [--json] [--quick] [--rounds N] [--requests N] [--small N]
        [--inputs paths|arrays] [--worker-malloc-trim dask|unset] [--dir PATH]

Everything is measured in the same run, on the same requests (the bar from issue 17 in brackets):

- ``fps_threads_1``, ``fps_threads_2``: fusions per second of ``fuse_many(requests, executor="threads",
  workers=1 or 2)``; ``fps_processes_1``, ``fps_processes_2``: the same requests through ``fuse_many(requests,
  executor=client)`` on a ``distributed.LocalCluster(n_workers=1 or 2, threads_per_worker=1, processes=True)``.
  Each figure is the median over rounds (``..._best`` the best round); the four run one after the other within a
  round, in the reverse order every other round, so that the noise of a shared machine falls on all of them.
  ``process_speedup`` is the median over rounds of that round's ``processes_2 / processes_1`` [>= 1.7 on a
  two-core machine]; ``thread_speedup`` is the same for threads, for comparison (no bar).
- ``fps_studio_processes_1``, ``fps_studio_processes_2``, ``studio_process_speedup``: the same clusters running
  ``studio.fuse_many`` (a studio on local disk, the template a material, each request a fusion into it by the user
  photo's path), the results stored by the workers and returned as URLs, as a studio on a cluster returns them,
  instead of 0.86 MB arrays through Dask; rounds of 1 and 2 workers back to back, the order reversed every other
  round, the ratio the median of the rounds' [>= 1.7, the same bar as ``process_speedup``].
- ``dask_overhead_ms``: what a fusion costs through a 1-worker, 1-thread cluster minus what it costs on one thread
  in this process, ``fuse_many``'s default in-flight count (two), from the same rounds (the two are run back to
  back in every round), median over rounds [<= 5 ms]; ``..._min`` is the smallest round's. Requests are pipelined
  as ``fuse_many`` does, so this is the time the worker process spends on Dask per fusion (receiving the task,
  sending the picture back) while the scheduler and the client work on the other core.
  ``dask_round_trip_overhead_ms`` is the same with ``in_flight=1`` (nothing pipelined: every fusion waits for the
  full client-scheduler-worker round trip), from rounds of its own, interleaved the same way; reported, no bar.
- ``small_*``: ``--small`` (10,000) fusions of a 160 px face crop into a 160 px template crop through
  ``fuse_many`` on two threads, each result dropped as it arrives and the requests made lazily: the process's peak
  RSS (``small_peak_rss_mb`` from ``resource.getrusage``, measured before any cluster is started so it is this
  batch's and the models'; ``small_peak_rss_sampled_mb`` from RSS read every 50 results), RSS after the first
  1,000 results and after all of them, and the growth between the two [<= 50 MB].
- ``worker_peak_rss_mb``: the largest peak RSS among the cluster's worker processes (``resource.getrusage`` run
  on each worker with ``client.run``) after the rounds; ``worker_malloc_trim_threshold``: the workers'
  ``MALLOC_TRIM_THRESHOLD_``.

Dask's nannies set ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker process they spawn (the
``distributed.nanny.pre-spawn-environ`` setting). Setting it also turns off glibc's dynamic mmap threshold, so every
large array of a fusion was mapped, faulted in page by page and unmapped again (13,600 page faults and 62 ms a
1,000 px portrait fusion instead of 34 ms); fusionkit now raises the thresholds again in each worker process on its
first fusion (``fusionkit.fusion.batch.tune_worker_memory``). The benchmark runs with Dask's defaults, as a user
would; ``--worker-malloc-trim unset`` removes the variable from the workers (``None`` in that setting), for
comparison.

Inputs: the template is ``obama.jpg`` scaled to 600 px tall (480 x 600, a realistic portrait template) and the user
photo a 400 px crop around Biden's head from ``biden.jpg``: about 25 ms a fusion on this machine. They are written
once as JPEG files and the requests carry their **paths** (``--inputs paths``, the default): a request is then a
few hundred bytes to ship to a worker, as it is in a real deployment where workers read from shared storage, while
both executors decode the same files, so the comparison is of the executors only. ``--inputs arrays`` sends the
decoded pictures instead (about 1.3 MB a request), to show what shipping pixels costs.

Each worker process loads the face models on its first fusion: every worker is warmed (one fusion on each with
``client.run``, then a short batch) before any round, and warm-up is never timed. Medians and minimums, never
means: the machine is shared and timings are noisy. ``--quick`` shrinks everything to a smoke test (< 60 s).
"""

from __future__ import annotations

import os

# One thread per BLAS or OpenMP library: the parallelism measured is the executor's. Dask's nannies set the same in
# worker processes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

import fusionkit  # noqa: E402
from fusionkit.imaging.decode import load_image  # noqa: E402
from fusionkit.imaging.encode import encode_image  # noqa: E402
from fusionkit.samples import sample_path  # noqa: E402

try:
    psutil: Any = importlib.import_module("psutil")
except ImportError:  # RSS is then read from /proc/self/status
    psutil = None

#: (sample, crop box x0, y0, x1, y1 in its pixels, longest side after scaling) of each input picture.
PORTRAIT_TEMPLATE = ("obama.jpg", (0, 0, 910, 1137), 600)
PORTRAIT_USER = ("biden.jpg", (300, 120, 850, 700), 400)
SMALL_TEMPLATE = ("obama.jpg", (300, 60, 690, 470), 160)
SMALL_USER = ("biden.jpg", (330, 160, 820, 650), 160)

BARS_MIN = {"process_speedup": 1.7, "studio_process_speedup": 1.7}
BARS_MAX = {"dask_overhead_ms": 5.0, "small_rss_growth_mb": 50.0}


def picture(spec: tuple[str, tuple[int, int, int, int], int]) -> NDArray[np.uint8]:
    """A bundled sample cropped and scaled (area interpolation) so that its longest side is ``spec[2]`` pixels."""
    name, (x0, y0, x1, y1), side = spec
    crop = load_image(sample_path(name))[y0:y1, x0:x1]
    scale = side / max(crop.shape[:2])
    size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))


def write_jpeg(image: NDArray[np.uint8], path: str) -> str:
    with open(path, "wb") as f:
        f.write(encode_image(image, "jpeg", jpeg_quality=92))
    return path


def rss_mb() -> float:
    """This process's resident set size now, in MB."""
    if psutil is not None:
        return float(psutil.Process().memory_info().rss) / 2**20
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (``ru_maxrss``: kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def warm_worker(template: Any, user: Any) -> float:
    """On a worker: one fusion (loads the face models and the C core), returning the process's peak RSS in MB."""
    fusionkit.fuse(template, user)
    return peak_rss_mb()


def run_batch(requests: Sequence[tuple[Any, Any]], executor: Any, workers: int, in_flight: int | None = None) -> float:
    """Seconds for ``fuse_many`` to yield every request's result (each one checked and dropped)."""
    t0 = time.perf_counter()
    count = 0
    for item in fusionkit.fuse_many(requests, executor=executor, workers=workers, in_flight=in_flight):
        if item.error is not None:
            raise item.error
        count += 1
    seconds = time.perf_counter() - t0
    assert count == len(requests), (count, len(requests))
    return seconds


def small_batch(template: Any, user: Any, n: int, first: int) -> dict[str, Any]:
    """``n`` fusions on two threads, the requests made lazily and each result dropped as it arrives, with RSS read
    after the first ``first`` results, every 50 and at the end."""

    def requests() -> Iterator[tuple[Any, Any]]:
        for _ in range(n):
            yield template, user

    rss_first = rss_last = sampled_peak = rss_mb()
    t0 = time.perf_counter()
    done = 0
    for item in fusionkit.fuse_many(requests(), executor="threads", workers=2):
        if item.error is not None:
            raise item.error
        del item  # nothing of the result is kept
        done += 1
        if done % 50 == 0 or done in (first, n):
            now = rss_mb()
            sampled_peak = max(sampled_peak, now)
            if done == first:
                rss_first = now
            if done == n:
                rss_last = now
    seconds = time.perf_counter() - t0
    assert done == n, (done, n)
    return {
        "small": n,
        "small_fps": round(n / seconds, 1),
        "small_peak_rss_mb": round(peak_rss_mb(), 1),
        "small_peak_rss_sampled_mb": round(sampled_peak, 1),
        "small_rss_first_at": first,
        "small_rss_after_first_mb": round(rss_first, 1),
        "small_rss_after_all_mb": round(rss_last, 1),
        "small_rss_growth_mb": round(rss_last - rss_first, 1),
    }


def worker_malloc_trim() -> str:
    """On a worker: its ``MALLOC_TRIM_THRESHOLD_`` (``"unset"`` when glibc's own, dynamic, thresholds apply)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset")


def start_cluster(workers: int, directory: str, template: Any, user: Any, malloc_trim: str) -> tuple[Any, Any]:
    """A LocalCluster of ``workers`` single-threaded worker processes and its client, every worker warmed."""
    dask: Any = importlib.import_module("dask")  # the dask extra; untyped
    distributed: Any = importlib.import_module("distributed")
    if malloc_trim == "unset":
        # None removes the variable from what the nannies set in the worker processes they spawn.
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", local_directory=directory, silence_logs=40)
    client = distributed.Client(cluster)
    client.wait_for_workers(workers)
    client.run(warm_worker, template, user)  # the models on every worker, not just on the first to get a task
    run_batch([(template, user)] * (4 * workers), client, 1)  # and the Dask path itself
    return cluster, client


def studio_rounds(args: argparse.Namespace, work: str, files: tuple[str, str], client_1: Any,
                  client_2: Any) -> dict[str, Any]:
    """``studio.fuse_many`` on the same clusters: a studio on local disk with the template as a material, each
    request a fusion into it by the user photo's path, results stored by the workers and returned as URLs (what a
    studio on a cluster returns). Rounds of 1 and 2 workers back to back, in the reverse order every other round."""
    studio = fusionkit.open(os.path.join(work, "studio"), encryption=None, sweep_every=None)
    activity = studio.activities.create("bench_scale")
    material = studio.materials.upload(activity.id, files[0])
    asks = [(activity.id, material.id, files[1])] * args.requests

    def run(client: Any, count: int) -> float:
        t0 = time.perf_counter()
        items = list(studio.fuse_many(asks[:count], executor=client))
        seconds = time.perf_counter() - t0
        failed = [item.error for item in items if item.error is not None]
        if failed:
            raise failed[0]
        return seconds

    run(client_1, 4)
    run(client_2, 8)  # each worker opens the studio once, and loads its material
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for workers, client in ((1, client_1), (2, client_2)) if r % 2 == 0 else ((2, client_2), (1, client_1)):
            times[workers].append(run(client, args.requests))
    ratios = [one / two for one, two in zip(times[1], times[2], strict=True)]
    studio.close()
    n = args.requests
    return {"fps_studio_processes_1": round(statistics.median(n / s for s in times[1]), 1),
            "fps_studio_processes_2": round(statistics.median(n / s for s in times[2]), 1),
            "studio_process_speedup": round(statistics.median(ratios), 2),
            "studio_process_speedup_min": round(min(ratios), 2)}


def scale(args: argparse.Namespace, work: str) -> dict[str, Any]:
    """All the figures, in one run."""
    portrait: tuple[Any, Any] = (write_jpeg(picture(PORTRAIT_TEMPLATE), os.path.join(work, "template.jpg")),
                write_jpeg(picture(PORTRAIT_USER), os.path.join(work, "user.jpg")))
    files = portrait
    small = (write_jpeg(picture(SMALL_TEMPLATE), os.path.join(work, "small-template.jpg")),
             write_jpeg(picture(SMALL_USER), os.path.join(work, "small-user.jpg")))
    if args.inputs == "arrays":
        portrait = (load_image(portrait[0]), load_image(portrait[1]))

    # Models loaded in this process, then one fusion timed alone: the scale of everything below.
    fusionkit.fuse(*portrait)
    fuse_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        fusionkit.fuse(*portrait)
        fuse_ms.append((time.perf_counter() - t0) * 1e3)
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "inputs": args.inputs, "requests": args.requests,
                               "rounds": args.rounds, "fuse_alone_min_ms": round(min(fuse_ms), 1)}

    # The small batch first, before any cluster exists, so that ru_maxrss is this batch's (and the models').
    figures.update(small_batch(*small, n=args.small, first=min(1000, max(1, args.small // 10))))

    requests = [portrait] * args.requests
    run_batch(requests[:4], "threads", 2)
    cluster_1, client_1 = start_cluster(1, work, *portrait, malloc_trim=args.worker_malloc_trim)
    cluster_2, client_2 = start_cluster(2, work, *portrait, malloc_trim=args.worker_malloc_trim)
    try:
        configs: list[tuple[str, Any, int]] = [("threads_1", "threads", 1), ("processes_1", client_1, 1),
                                               ("processes_2", client_2, 1), ("threads_2", "threads", 2)]
        seconds: dict[str, list[float]] = {name: [] for name, _, _ in configs}
        for r in range(args.rounds):
            # threads_1 and processes_1 are always back to back: their difference is the Dask overhead.
            for name, executor, workers in configs if r % 2 == 0 else configs[::-1]:
                seconds[name].append(run_batch(requests, executor, workers))
        latency: dict[str, list[float]] = {"threads_1": [], "processes_1": []}
        for r in range(args.rounds):
            pair = [("threads_1", "threads"), ("processes_1", client_1)]
            for name, executor in pair if r % 2 == 0 else pair[::-1]:
                latency[name].append(run_batch(requests[: args.requests // 2], executor, 1, in_flight=1))
        figures.update(studio_rounds(args, work, files, client_1, client_2))
        figures["worker_malloc_trim_threshold"] = ",".join(sorted(set(client_2.run(worker_malloc_trim).values())))
        worker_peaks = [*client_1.run(peak_rss_mb).values(), *client_2.run(peak_rss_mb).values()]
    finally:
        for client, cluster in ((client_2, cluster_2), (client_1, cluster_1)):
            client.close()
            cluster.close()

    n = len(requests)
    for name, values in seconds.items():
        fps = [n / s for s in values]
        figures[f"fps_{name}"] = round(statistics.median(fps), 1)
        figures[f"fps_{name}_best"] = round(max(fps), 1)
    speedups = [one / two for one, two in zip(seconds["processes_1"], seconds["processes_2"], strict=True)]
    figures["process_speedup"] = round(statistics.median(speedups), 2)
    figures["process_speedup_min"] = round(min(speedups), 2)
    thread_speedups = [one / two for one, two in zip(seconds["threads_1"], seconds["threads_2"], strict=True)]
    figures["thread_speedup"] = round(statistics.median(thread_speedups), 2)
    figures["processes_2_over_threads_2"] = round(statistics.median(
        [t / p for t, p in zip(seconds["threads_2"], seconds["processes_2"], strict=True)]), 2)
    figures["ms_per_fusion_threads_1"] = round(statistics.median(seconds["threads_1"]) / n * 1e3, 2)
    figures["ms_per_fusion_processes_1"] = round(statistics.median(seconds["processes_1"]) / n * 1e3, 2)
    overhead = [(p - t) / n * 1e3 for t, p in zip(seconds["threads_1"], seconds["processes_1"], strict=True)]
    figures["dask_overhead_ms"] = round(statistics.median(overhead), 2)
    figures["dask_overhead_min_ms"] = round(min(overhead), 2)
    m = args.requests // 2
    round_trip = [(p - t) / m * 1e3 for t, p in zip(latency["threads_1"], latency["processes_1"], strict=True)]
    figures["dask_round_trip_overhead_ms"] = round(statistics.median(round_trip), 2)
    figures["dask_round_trip_overhead_min_ms"] = round(min(round_trip), 2)
    figures["worker_peak_rss_mb"] = round(max(worker_peaks), 1)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="a smoke test: few requests, rounds and small fusions")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of every executor (default 7; quick 2)")
    parser.add_argument("--requests", type=int, default=None, help="fusions per executor per round (64; quick 8)")
    parser.add_argument("--small", type=int, default=None, help="fusions of the small batch (10,000; quick 200)")
    parser.add_argument("--inputs", choices=("paths", "arrays"), default="paths",
                        help="what the requests carry (default: JPEG file paths)")
    parser.add_argument("--worker-malloc-trim", choices=("dask", "unset"), default="dask",
                        help="MALLOC_TRIM_THRESHOLD_ in worker processes: Dask's default (65536) or unset")
    parser.add_argument("--dir", default=None, help="a local directory to work in (default: a temporary one)")
    args = parser.parse_args()
    for name, full, quick in (("rounds", 7, 2), ("requests", 64, 8), ("small", 10_000, 200)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.rounds < 1 or args.requests < 2 or args.small < 1:
        parser.error("--rounds and --small must be >= 1, --requests >= 2")

    work = tempfile.mkdtemp(prefix="bench-scale-", dir=args.dir)
    try:
        figures = scale(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{'figure':34s} {'value':>10s}   bar")
    for name, value in figures.items():
        line = f"{name:34s} {value!s:>10s}"
        if name in BARS_MIN:
            line += f"   >= {BARS_MIN[name]:g}: {'ok' if value >= BARS_MIN[name] else 'FAIL'}"
        if name in BARS_MAX:
            line += f"   <= {BARS_MAX[name]:g}: {'ok' if value <= BARS_MAX[name] else 'FAIL'}"
        print(line)


if __name__ == "__main__":
    main()
