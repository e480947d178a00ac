"""The studio's worker pool: a task is queued once, leaves the books when it ends, and closing drops what never
started (real threads)."""

from __future__ import annotations

import threading

from fusionkit.studio.workers import Workers


def test_a_task_is_queued_once_and_closing_drops_what_never_started() -> None:
    lock = threading.RLock()
    workers = Workers(1, lock)
    started, release = threading.Event(), threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(5)
        workers.finished("a")

    assert workers.submit("a", blocking) and started.wait(5)
    assert not workers.submit("a", blocking)  # running: not queued twice
    assert workers.submit("b", lambda: workers.finished("b"))  # queued behind "a" on the one thread
    assert workers.keys() == ["a", "b"] and workers.count() == 2 and workers.holds("b")
    ended = threading.Event()
    workers._tasks["a"].add_done_callback(lambda _: ended.set())  # to wait for the running task to end
    assert workers.close(wait=False) == ["b"]  # "b" never started: dropped; "a" runs on
    assert workers.keys() == ["a"]
    release.set()
    assert ended.wait(5) and workers.keys() == []  # "a" ran to its end and left the books


def test_no_threads_no_work() -> None:
    workers = Workers(0, threading.RLock())
    assert not workers.submit("a", lambda: None) and workers.keys() == [] and workers.close() == []


def test_a_cancelled_task_is_told_while_it_is_here_and_forgotten_when_it_ends() -> None:
    workers = Workers(1, threading.RLock())
    started, release, ended = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def task() -> None:
        started.set()
        release.wait(5)
        seen.append(workers.cancelled("a"))
        workers.finished("a")
        ended.set()

    workers.cancel("a")  # not here yet: nothing to tell
    assert not workers.cancelled("a")
    assert workers.submit("a", task) and started.wait(5)
    workers.cancel("a")
    assert workers.cancelled("a")
    release.set()
    assert ended.wait(5) and seen == [True]
    assert not workers.cancelled("a")  # it left the books, its cancellation with it
    workers.close()
