"""Many fusions at once: :func:`fuse_many` streams results back as they finish, on threads in this process or on a
Dask cluster, with at most a few requests in flight, so memory stays flat however many are asked for.

Each request's failure is its own (a typed error on its item), never the batch's. The work runs where the executor
puts it: the face models and the C core are loaded in each worker on its first fusion, never pickled. A user photo
that several requests share (one user into many templates) is decoded and analysed once for the batch, and so is
a template they share given as bytes or a file (many users into one template; see :mod:`fusionkit.fusion.photos`).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import attrs

from fusionkit.domain.options import FuseOptions
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.fusion.photos import PhotoMemo, task_photos
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits
from fusionkit.vision._runtime import RuntimeOptions, current_runtime, single_threaded, using_runtime

__all__ = ["CLUSTER_CHUNK", "BatchItem", "FuseRequest", "Plan", "forgetting_photos", "fuse_many", "runner_for",
           "stream_batch", "tune_worker_memory"]


@attrs.frozen
class FuseRequest:
    """One fusion of a batch: what :func:`fusionkit.fuse` takes.

    Attributes
    ----------
    template
        The template picture (array, bytes or path).
    merges
        A user picture, a :class:`~fusionkit.Merge` or a list of up to six.
    options
        This request's options (the batch's when ``None``).
    """

    template: Any
    merges: Any
    options: FuseOptions | None = None


@attrs.frozen
class BatchItem:
    """One finished request of :func:`fuse_many`: its index in the requests, and its result or its typed error.

    Attributes
    ----------
    index
        The request's position in what :func:`fuse_many` was given (results come back in completion order).
    result
        The :class:`~fusionkit.FusionResult`, or ``None`` when the request failed.
    error
        The :class:`~fusionkit.errors.FusionKitError` it failed with, or ``None``.
    """

    index: int
    result: Any = None
    error: FusionKitError | None = None

    @property
    def ok(self) -> bool:
        """Whether the request gave a result."""
        return self.error is None


def _as_request(value: Any) -> FuseRequest:
    if isinstance(value, FuseRequest):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        return FuseRequest(*value)
    raise ParameterValueError("each request must be a FuseRequest or a (template, merges[, options]) tuple, got "
                              f"{type(value).__name__}")


_tuned = threading.Event()


def tune_worker_memory() -> None:
    """In a Dask worker process, once: let glibc keep the memory a fusion frees for the next one.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes glibc's mmap threshold:
    every array over 128 KiB is then mapped and unmapped each time, and a fusion took 62 ms instead of 34 ms
    (13,700 page faults a fusion instead of none; benchmarks/bench_scale.py measured 21 ms of Dask overhead a
    fusion). Arrays up to 64 MiB come from the heap again, and up to 128 MiB freed at its top stays mapped.
    """
    if _tuned.is_set():
        return
    _tuned.set()
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        import distributed

        distributed.get_worker()  # raises outside a worker: a user's own setting elsewhere is left alone
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_trim_threshold, 128 << 20)
        libc.mallopt(m_mmap_threshold, 64 << 20)
    except (ImportError, ValueError, OSError, AttributeError):
        return


def _fuse_one(index: int, request: FuseRequest, options: FuseOptions | None, limits: ImageLimits,
              runtime: RuntimeOptions) -> BatchItem:
    """In a worker: one fusion, its failure kept on its item (a typed error travels back; anything else becomes
    the internal error it is). The models run single-threaded (``runtime``, the caller's providers): the worker is
    one of several keeping the cores busy."""
    from fusionkit.fusion.api import fuse

    tune_worker_memory()
    try:
        with using_runtime(runtime):
            return BatchItem(index, fuse(request.template, request.merges, request.options or options,
                                         limits=limits))
    except FusionKitError as exc:
        return BatchItem(index, error=exc)


class _Runner(Protocol):
    """Where the work runs: submit a call, and collect the calls that have finished."""

    def submit(self, fn: Callable[..., list[BatchItem]], *args: Any) -> Any: ...

    def finished(self) -> list[tuple[Any, list[BatchItem]]]:
        """Block until a submitted call has finished; every finished one (its future, its items), each once."""
        ...

    def close(self) -> None: ...


class _Threads:
    def __init__(self, workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fusionkit-batch")
        self._pending: set[Any] = set()

    def submit(self, fn: Callable[..., list[BatchItem]], *args: Any) -> Any:
        future = self._pool.submit(fn, *args)
        self._pending.add(future)
        return future

    def finished(self) -> list[tuple[Any, list[BatchItem]]]:
        done, self._pending = concurrent.futures.wait(self._pending, return_when=concurrent.futures.FIRST_COMPLETED)
        return [(future, future.result()) for future in done]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Dask:
    def __init__(self, client: Any) -> None:
        import distributed

        self._client = client
        self._wait: Any = distributed.wait
        self._pending: set[Any] = set()
        self._direct = _gathers_direct(client)

    def submit(self, fn: Callable[..., list[BatchItem]], *args: Any) -> Any:
        future = self._client.submit(fn, *args, pure=False)
        self._pending.add(future)
        return future

    def finished(self) -> list[tuple[Any, list[BatchItem]]]:
        done, self._pending = self._wait(list(self._pending), return_when="FIRST_COMPLETED")
        ordered = list(done)
        results: list[list[BatchItem]] = self._client.gather(ordered, direct=self._direct)  # one call for all
        return list(zip(ordered, results, strict=True))

    def close(self) -> None:
        self._pending.clear()


def _gathers_direct(client: Any) -> bool:
    """Whether results come straight from the workers: as the client says (``direct_to_workers``), else when every
    worker listens on this host's loopback, so it can be reached.

    Dask's default fetches a result through the scheduler, which receives it and sends it on: twice the transfer.
    On a LocalCluster the scheduler shares the client's process and cores with the workers, and that second hop cost
    2 worker processes on 2 cores about 0.4 ms of CPU a portrait result (benchmarks/bench_scale.py). A remote
    cluster may sit behind a gateway that only the scheduler crosses, so there Dask's choice stands.
    """
    if client.direct_to_workers is not None:
        return bool(client.direct_to_workers)
    workers = client.scheduler_info()["workers"]
    return bool(workers) and all(_on_loopback(address) for address in workers)


def _on_loopback(address: str) -> bool:
    """``tcp://127.0.0.1:40123`` or ``inproc://...``: an address only this host can reach."""
    scheme, _, rest = address.partition("://")
    if scheme == "inproc":
        return True
    host = rest.rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


#: Requests in one task on a cluster by default: a Dask task costs its client and scheduler about 2 ms of CPU on top
#: of shipping the result, a portrait fusion 25-35 ms; with the client on the workers' cores (a LocalCluster), one
#: request a task held 2 worker processes to 1.5x one, four a task reached 1.63-1.72x (benchmarks/bench_scale.py).
CLUSTER_CHUNK = 4


@attrs.frozen
class Plan:
    """Where a batch runs: the runner, the threads that run it, and the requests sent together in one task."""

    runner: _Runner
    threads: int
    chunk: int

    def in_flight(self, asked: int | None) -> int:
        """``asked``, checked; by default two tasks for each thread, so none waits for the client."""
        value = 2 * self.threads * self.chunk if asked is None else asked
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterValueError(f"in_flight must be a whole number >= 1, got {value!r}")
        return value


def runner_for(executor: Any, workers: int, chunk: int | None = None) -> Plan:
    """The :class:`Plan` for ``executor`` (``"threads"``: ``workers`` threads here, one request a task; a
    ``dask.distributed.Client``: its cluster's threads, :data:`CLUSTER_CHUNK` requests a task unless ``chunk``
    says); what :func:`fuse_many` and ``Studio.fuse_many`` share."""
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 1000):
        raise ParameterValueError(f"chunk must be a whole number within 1-1000, got {chunk!r}")
    if isinstance(executor, str) and executor == "threads":
        return Plan(_Threads(workers), workers, chunk or 1)
    if type(executor).__module__.startswith("distributed") and hasattr(executor, "submit"):
        threads = sum(w.get("nthreads", 1) for w in executor.scheduler_info()["workers"].values())
        return Plan(_Dask(executor), max(1, threads), chunk or CLUSTER_CHUNK)
    if executor == "dask":
        raise ParameterValueError("executor='dask' needs a dask.distributed.Client: install the dask extra "
                                  "(pip install 'fusionkit[dask]') and pass Client(...) as executor")
    raise ParameterValueError(f"executor must be 'threads' or a dask.distributed.Client, got {executor!r}")


def fuse_many(
    requests: Iterable[Any],
    options: FuseOptions | None = None,
    *,
    executor: Any = "threads",
    workers: int = 2,
    in_flight: int | None = None,
    chunk: int | None = None,
    progress: bool = False,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> Iterator[BatchItem]:
    """Fuse many requests, yielding each :class:`BatchItem` as it finishes (completion order, with its index).

    Parameters
    ----------
    requests
        :class:`FuseRequest` values or ``(template, merges[, options])`` tuples; read lazily, a few ahead of the
        work, so a generator of a million requests is fine.
    options
        The options of requests that give none.
    executor
        ``"threads"`` (default: ``workers`` threads in this process) or a ``dask.distributed.Client`` (the
        ``dask`` extra): each fusion runs on a cluster worker, which loads the models once.
    workers
        Threads, for ``executor="threads"`` (1-64).
    in_flight
        The most requests submitted and not yet yielded (default: two tasks for each thread that runs them): what
        bounds memory.
    chunk
        Requests sent together in one task (default: 1 on threads, 4 on a cluster, where each task costs the
        client and scheduler about 2 ms); each still comes back as its own item, when its task ends.
    progress
        Show a progress bar (``tqdm.auto``: a widget in notebooks, a line in terminals).
    limits
        Decoding caps for every input.

    A user photo or a template given as bytes or a path whose content an earlier request of the batch had is not
    decoded and analysed again: the request takes the same decoding and faces, so the same result (on a cluster,
    within each task's ``chunk``). What is kept is the batch's, a few pictures at most, and goes with it.

    Every model (ours and the user's plug-ins) runs with the runtime options of the call's
    :func:`~fusionkit.vision.using_runtime` block (its execution providers), one thread inside each model run.

    Yields
    ------
    BatchItem
        One per request: its result, or the typed error it failed with (the batch goes on).

    Raises
    ------
    ParameterValueError
        A request that is neither a FuseRequest nor a tuple, or a bad executor, worker or in-flight count.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ParameterValueError(f"workers must be a whole number within 1-64, got {workers!r}")
    plan = runner_for(executor, workers, chunk)
    limit = plan.in_flight(in_flight)
    # The caller's runtime (its execution providers) reaches every worker, with one thread inside each model run.
    runtime = single_threaded(current_runtime())

    # One memo of user photos and templates for the batch's threads; a cluster's tasks each make their own (it cannot
    # travel).
    photos = PhotoMemo() if isinstance(plan.runner, _Threads) else None

    def submit(items: list[tuple[int, Any]]) -> Any:
        return plan.runner.submit(_fuse_chunk, [(i, _as_request(v)) for i, v in items], options, limits, runtime,
                                  photos)

    return forgetting_photos(stream_batch(requests, submit, plan.runner, limit, progress, plan.chunk), photos)


def forgetting_photos(items: Iterator[BatchItem], photos: PhotoMemo | None) -> Iterator[BatchItem]:
    """``items``, and ``photos`` emptied when they end (or are given up): nothing of the batch's user photos (or
    templates) is kept past it, not even through a failed item's traceback, which refers to the memo."""
    try:
        yield from items
    finally:
        if photos is not None:
            photos.clear()


def _fuse_chunk(items: list[tuple[int, FuseRequest]], options: FuseOptions | None, limits: ImageLimits,
                runtime: RuntimeOptions, photos: PhotoMemo | None = None) -> list[BatchItem]:
    """In a worker: the requests of one task, one after the other, sharing ``photos`` (the batch's memo of user
    photos and templates; the task's own when ``None``)."""
    with task_photos(photos):
        return [_fuse_one(index, request, options, limits, runtime) for index, request in items]


def stream_batch(requests: Iterable[Any], submit: Callable[[list[tuple[int, Any]]], Any], runner: _Runner,
                 in_flight: int, progress: bool, chunk: int = 1) -> Iterator[BatchItem]:
    """Submit ``requests`` (each with its index) ``chunk`` at a time through ``submit`` (whose future gives their
    :class:`BatchItem` values), at most ``in_flight`` requests not yet yielded, and yield each finished item; what
    :func:`fuse_many` and ``Studio.fuse_many`` share."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit="fusion", desc="fusionkit")
    source = iter(enumerate(requests))
    sizes: dict[Any, int] = {}  # pending task -> its requests
    exhausted = False
    try:
        while True:
            while not exhausted and sum(sizes.values()) < in_flight:
                room = min(chunk, in_flight - sum(sizes.values()))
                items = [nxt for nxt in (next(source, None) for _ in range(room)) if nxt is not None]
                exhausted = len(items) < room
                if items:
                    sizes[submit(items)] = len(items)
            if not sizes:
                return
            for future, finished in runner.finished():
                del sizes[future]
                if bar is not None:
                    bar.update(len(finished))
                yield from finished
    finally:
        for future in sizes:
            future.cancel()
        runner.close()
        if bar is not None:
            bar.close()
