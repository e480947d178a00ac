"""Retention that runs by itself: a daemon thread that sweeps an open studio every minute, so what has expired is
deleted within a minute of its expiry without anyone calling :meth:`Studio.sweep`."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

__all__ = ["DEFAULT_SWEEP_EVERY", "Sweeper"]

#: Seconds between two automatic sweeps of an open studio.
DEFAULT_SWEEP_EVERY = 60.0

_log = logging.getLogger("fusionkit.studio.sweeper")


class Sweeper:
    """Calls ``sweep`` every ``every`` seconds on a daemon thread, until :meth:`stop` or until the object the
    bound method belongs to is garbage collected (the thread holds it weakly, so an abandoned studio goes).

    Parameters
    ----------
    sweep
        A bound method (the studio's own sweep); an error in it is logged by type and the next round runs.
    every
        Seconds between rounds (the first round runs ``every`` seconds after :meth:`start`).
    name
        The thread's name, and what a failed round is logged as (the studio's job scanner uses one too).
    """

    def __init__(self, sweep: Callable[[], object], every: float, *, name: str = "fusionkit-sweeper") -> None:
        self.every = every
        self._sweep = weakref.WeakMethod(sweep)
        self._stop = threading.Event()
        self._name = name
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.rounds = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (waiting up to ``timeout`` seconds for a round in progress)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            sweep = self._sweep()
            if sweep is None:
                return  # the studio is gone
            try:
                sweep()
            except Exception as exc:  # the next round tries again; no personal data goes to the log
                _log.error("fusionkit: %s failed (%s); it runs again in %.0f s", self._name,
                           type(exc).__name__, self.every)
            finally:
                del sweep
            self.rounds += 1
