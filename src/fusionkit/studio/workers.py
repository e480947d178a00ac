"""The studio's background work: video jobs and video preprocessing run on a bounded pool of threads.

One way to queue, run and close: a task has a key (a job id, ``"preprocess:{material_id}"``), is queued at most
once while it is queued or running here, and leaves the books when it ends; closing stops the threads and drops
what never started (it stays queued in storage, for the next studio opened). The pool starts on the first task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Workers"]


class Workers:
    """A pool of ``threads`` worker threads (none: nothing runs here) sharing ``lock`` with their owner.

    Parameters
    ----------
    threads
        How many tasks run at once; 0 queues nothing (another process runs the store's work).
    lock
        The owner's lock: the books are read and written under it, so the owner can check them atomically with
        its own state.
    """

    def __init__(self, threads: int, lock: threading.RLock) -> None:
        self.threads = threads
        self._lock = lock
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: dict[str, Future[None]] = {}

    def submit(self, key: str, work: Callable[[], None]) -> bool:
        """Queue ``work`` under ``key`` unless it is queued or running here already (or no thread runs here);
        return whether it was queued. ``work`` must call :meth:`finished` when it ends."""
        if self.threads < 1:
            return False
        with self._lock:
            if key in self._tasks:
                return False
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="fusionkit-video")
            self._tasks[key] = self._pool.submit(work)
            return True

    def finished(self, key: str) -> None:
        """The task ``key`` ended (it leaves the books)."""
        with self._lock:
            self._tasks.pop(key, None)

    def holds(self, key: str) -> bool:
        """Whether the task ``key`` is queued or running here."""
        with self._lock:
            return key in self._tasks

    def keys(self) -> list[str]:
        """The keys of the tasks queued or running here, in the order they were queued."""
        with self._lock:
            return list(self._tasks)

    def count(self) -> int:
        """Tasks queued or running here."""
        with self._lock:
            return len(self._tasks)

    def close(self, *, wait: bool = True) -> list[str]:
        """Stop the threads (waiting for running tasks with ``wait``); return the keys of the tasks that never
        started, which leave the books."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            dropped = [key for key, future in self._tasks.items() if future.cancelled()]
            for key in dropped:
                del self._tasks[key]
        return dropped
