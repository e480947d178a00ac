"""A store wrapper that fails one chosen storage call: the fault injection of tests/faults.

:class:`FaultyStore` wraps any :class:`~fusionkit.storage.BlobStore` and numbers, in order, every call that changes
it: ``write``, ``append``, ``rewrite_lines``, ``delete``, ``delete_prefix``, and, when the store underneath is a
:class:`~fusionkit.storage.LocalStore`, each ``rename`` of a written temporary file into place (``os.replace``,
watched for the length of the wrapped call). Run an operation once with ``at=None`` to learn its sequence
(:attr:`FaultyStore.events`), then once per position ``N`` with ``at=N``: the ``N``-th event fails with the chosen
exception (:func:`disk_full`, :func:`storage_error`, :func:`interrupt`), nothing before it does, and nothing after
it is counted as failing.

How the chosen event fails:

- a call (``write`` ... ``delete_prefix``) raises before anything reaches the store underneath, but for an
  ``OSError`` on a local ``write`` or ``append``, which the system raises there (the file cannot be made) for the
  store to report as it would a real one;
- a ``rename`` raises from ``os.replace``: the temporary file is whole, the target untouched;
- with ``short=True`` a ``write`` or ``append`` on local disk writes half its bytes and then meets the error
  from the next ``os.write`` (a disk that fills up half-way); on other stores, whose writes are one put, it fails
  as a call does.

Setting a studio's ``root`` to a FaultyStore puts it under every tenant's view (and under the encryption, so the
keyring's writes are counted too). The wrapper patches ``os`` functions for the length of a local call only; use
it with one thread touching the store (``video_workers=0``, ``sweep_every=None``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any

from fusionkit.errors import StorageError
from fusionkit.storage import BlobStore, LocalStore

__all__ = [
    "ERRORS",
    "EVENTS",
    "FaultyStore",
    "Injected",
    "disk_full",
    "interrupt",
    "is_injected",
    "local_store",
    "storage_error",
]

#: Every kind of event a FaultyStore numbers.
EVENTS = ("write", "create", "append", "rewrite_lines", "delete", "delete_prefix", "rename")


class Injected:
    """Marks the exceptions a FaultyStore raised (an attribute on the instance), so a test tells them from a
    real Ctrl-C or a real failure."""

    ATTRIBUTE = "_fusionkit_injected"


def _mark(exc: BaseException) -> BaseException:
    setattr(exc, Injected.ATTRIBUTE, True)
    return exc


def disk_full() -> BaseException:
    """``OSError(ENOSPC)``: what the disk says when it is full."""
    return _mark(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))


def storage_error() -> BaseException:
    """A :class:`~fusionkit.errors.StorageError`: what a store says when a call fails."""
    return _mark(StorageError("injected storage failure"))


def interrupt() -> BaseException:
    """``KeyboardInterrupt``: the process told to stop in the middle of a call."""
    return _mark(KeyboardInterrupt("injected interrupt"))


#: The exception kinds by name, as tests and reports name them.
ERRORS: dict[str, Callable[[], BaseException]] = {"enospc": disk_full, "storage": storage_error,
                                                  "interrupt": interrupt}


def is_injected(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it was raised from or during, came from a FaultyStore (a store that
    turns an injected ``OSError`` into a typed error keeps it as the cause or context only when it chains; an
    injected ``OSError`` translated ``from None`` is recognised by the message the store gives it)."""
    seen = 0
    while exc is not None and seen < 20:
        if getattr(exc, Injected.ATTRIBUTE, False):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def local_store(store: Any) -> LocalStore | None:
    """The LocalStore under ``store``'s wrappers (their ``inner``), if there is one."""
    seen = 0
    while not isinstance(store, LocalStore) and hasattr(store, "inner") and seen < 20:
        store = store.inner
        seen += 1
    return store if isinstance(store, LocalStore) else None


class FaultyStore:
    """``inner`` with its ``at``-th changing call (1-based, in :data:`EVENTS`) failing with ``error()``.

    Parameters
    ----------
    inner
        The store to wrap (any BlobStore).
    at
        The event to fail; ``None`` fails none (to count them).
    error
        Makes the exception to raise (:func:`disk_full`, :func:`storage_error`, :func:`interrupt`).
    short
        Fail a local ``write`` or ``append`` half-way through its bytes instead of before it.
    kinds
        The kinds of event counted (default: all of :data:`EVENTS`).
    full_from_then_on
        A disk that stays full: after event ``at``, every ``write`` and ``append`` fails too (deletes and renames
        go on working, as they do on a full disk).

    Attributes
    ----------
    events
        ``(kind, key)`` of every event counted so far, in order (a rename names its target's key).
    injected
        The event that failed, once it has (the first, when more fail).
    """

    def __init__(self, inner: BlobStore, *, at: int | None = None,
                 error: Callable[[], BaseException] = storage_error, short: bool = False,
                 kinds: Collection[str] = EVENTS, full_from_then_on: bool = False) -> None:
        unknown = set(kinds) - set(EVENTS)
        if unknown:
            raise ValueError(f"unknown event kinds {sorted(unknown)}; choose from {EVENTS}")
        self.inner = inner
        self.at = at
        self.error = error
        self.short = short
        self.kinds = frozenset(kinds)
        self.full_from_then_on = full_from_then_on
        self.events: list[tuple[str, str]] = []
        self.injected: tuple[str, str] | None = None
        self._local = local_store(inner)
        self._lock = threading.RLock()

    # -- counting ------------------------------------------------------------------------------------------------

    def _event(self, kind: str, key: str) -> bool:
        """Count the event; whether it is the one to fail."""
        if kind not in self.kinds:
            return False
        with self._lock:
            self.events.append((kind, key))
            hit = self.at is not None and len(self.events) == self.at
            if hit:
                self.injected = (kind, key)
            elif self.full_from_then_on and self.injected is not None and kind in ("write", "append"):
                return True
            return hit

    def _key_of(self, path: Any) -> str:
        assert self._local is not None
        try:
            return os.path.relpath(os.fspath(path), self._local.root)
        except ValueError:
            return str(os.fspath(path))

    @contextlib.contextmanager
    def _watching(self, *, half: bool) -> Iterator[None]:
        """For the length of a call on local disk: count its renames (failing the chosen one), and with ``half``
        let the first ``os.write`` write half its bytes and fail the next one."""
        if self._local is None:
            yield
            return
        real_replace, real_write = os.replace, os.write
        state = {"writes": 0}

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            if self._event("rename", self._key_of(dst)):
                raise self.error()
            real_replace(src, dst, **kwargs)

        def write(fd: int, data: Any) -> int:
            state["writes"] += 1
            if state["writes"] == 1 and len(data) > 1:
                return real_write(fd, memoryview(data)[: len(data) // 2])
            raise self.error()

        os.replace = replace
        if half:
            os.write = write
        try:
            yield
        finally:
            os.replace = real_replace
            os.write = real_write

    def _call(self, kind: str, key: str, run: Callable[[], Any], size: int = 0) -> Any:
        hit = self._event(kind, key)
        # An empty write has no half: it fails as a call does.
        half = hit and self.short and self._local is not None and kind in ("write", "append") and size > 1
        if hit and not half and self._local is not None and kind in ("write", "append"):
            error = self.error()
            if isinstance(error, OSError):  # what the system says goes through the store, as the disk's would
                with self._refusing_open(error):
                    return run()
            raise error
        if hit and not half:
            raise self.error()
        with self._watching(half=half):
            return run()

    @contextlib.contextmanager
    def _refusing_open(self, error: OSError) -> Iterator[None]:
        """For the length of a local call: its first ``os.open`` (the file a write or append makes) fails."""
        real_open = os.open
        state = {"opened": 0}

        def refuse(*args: Any, **kwargs: Any) -> int:
            state["opened"] += 1
            if state["opened"] == 1:
                raise error
            return real_open(*args, **kwargs)

        os.open = refuse
        try:
            yield
        finally:
            os.open = real_open

    # -- the BlobStore protocol ----------------------------------------------------------------------------------

    def write(self, key: str, data: bytes) -> None:
        self._call("write", key, lambda: self.inner.write(key, data), len(data))

    def create(self, key: str, data: bytes) -> bool:
        return bool(self._call("create", key, lambda: self.inner.create(key, data), len(data)))

    def append(self, key: str, data: bytes) -> None:
        self._call("append", key, lambda: self.inner.append(key, data), len(data))

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int:
        return int(self._call("rewrite_lines", key, lambda: self.inner.rewrite_lines(key, keep)))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", key, lambda: self.inner.delete(key)))

    def delete_prefix(self, prefix: str) -> int:
        return int(self._call("delete_prefix", prefix, lambda: self.inner.delete_prefix(prefix)))

    def read(self, key: str) -> bytes:
        return self.inner.read(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def size(self, prefix: str) -> int:
        return self.inner.size(prefix)

    def url(self, key: str) -> str:
        return self.inner.url(key)

    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        return self.inner.lock(key)

    def __getattr__(self, name: str) -> Any:  # what a particular store has besides the protocol
        return getattr(self.inner, name)
