"""The studio's background work: video jobs and video preprocessing run on a bounded pool of threads.

One way to queue, run, cancel and close: a task has a key (a job id, ``"preprocess:{material_id}"``), is queued
at most once while it is queued or running here, and leaves the books when it ends; a cancelled task is told so
when it asks (:meth:`Workers.cancelled`), for as long as it is in the books; closing stops the threads and drops
what never started (it stays queued in storage, for the next studio opened). The pool starts on the first task.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["SCRATCH_PREFIX", "Workers", "remove_stale_scratch"]

#: The name every task's scratch folder starts with, in the system's temporary folder.
SCRATCH_PREFIX = "fusionkit-job-"


class Workers:
    """A pool of ``threads`` worker threads (none: nothing runs here) sharing ``lock`` with their owner.

    Parameters
    ----------
    threads
        How many tasks run at once; 0 queues nothing (another process runs the store's work).
    lock
        The lock the books are read and written under; whoever changes the state a task reads (a job's document)
        takes it too, so it can check the books atomically with that state.
    """

    def __init__(self, threads: int, lock: threading.RLock) -> None:
        self.threads = threads
        self.lock = lock
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: dict[str, Future[None]] = {}
        self._cancelled: set[str] = set()
        self._scratch: set[str] = set()

    def submit(self, key: str, work: Callable[[], None]) -> bool:
        """Queue ``work`` under ``key`` unless it is queued or running here already (or no thread runs here);
        return whether it was queued. ``work`` must call :meth:`finished` when it ends."""
        if self.threads < 1:
            return False
        with self.lock:
            if key in self._tasks:
                return False
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fusionkit-video")
            self._tasks[key] = self._pool.submit(work)
            return True

    def finished(self, key: str) -> None:
        """The task ``key`` ended (it leaves the books, with its cancellation)."""
        with self.lock:
            self._tasks.pop(key, None)
            self._cancelled.discard(key)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A private temporary folder for a task's files (copies of a template video, a fused video being
        written: end users' faces), removed when the block ends; while it runs, :func:`remove_stale_scratch` leaves
        it alone. One left by a process that died is removed by the next sweep or open after an hour."""
        folder = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
        with self.lock:
            self._scratch.add(folder)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with self.lock:
                self._scratch.discard(folder)

    def scratch_in_use(self) -> set[str]:
        """The scratch folders of the tasks running here."""
        with self.lock:
            return set(self._scratch)

    def cancel(self, key: str) -> None:
        """Tell the task ``key``, when it is queued or running here, that it is cancelled (it stops at its next
        :meth:`cancelled` check); a task not here is left to the state it reads (its document)."""
        with self.lock:
            if key in self._tasks:
                self._cancelled.add(key)

    def cancelled(self, key: str) -> bool:
        """Whether the task ``key`` has been cancelled while it was here."""
        with self.lock:
            return key in self._cancelled

    def holds(self, key: str) -> bool:
        """Whether the task ``key`` is queued or running here."""
        with self.lock:
            return key in self._tasks

    def keys(self) -> list[str]:
        """The keys of the tasks queued or running here, in the order they were queued."""
        with self.lock:
            return list(self._tasks)

    def count(self) -> int:
        """Tasks queued or running here."""
        with self.lock:
            return len(self._tasks)

    def close(self, *, wait: bool = True) -> list[str]:
        """Stop the threads (waiting for running tasks with ``wait``); return the keys of the tasks that never
        started, which leave the books."""
        with self.lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        with self.lock:
            dropped = [key for key, future in self._tasks.items() if future.cancelled()]
            for key in dropped:
                del self._tasks[key]
                self._cancelled.discard(key)
        return dropped


def remove_stale_scratch(in_use: set[str], older_than_s: float = 3600.0) -> int:
    """Remove the scratch folders (``fusionkit-job-*`` in the temporary folder) that no task here uses and nothing
    has touched for ``older_than_s`` seconds: what a killed process left (its template copy and partial output
    hold end users' faces). Returns how many went."""
    root = tempfile.gettempdir()
    removed = 0
    now = time.time()
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        path = os.path.join(root, name)
        if not name.startswith(SCRATCH_PREFIX) or path in in_use or not os.path.isdir(path):
            continue
        try:
            touched = max([os.stat(path).st_mtime] + [os.stat(os.path.join(path, f)).st_mtime
                                                      for f in os.listdir(path)])
        except OSError:
            continue
        if touched + older_than_s <= now:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
