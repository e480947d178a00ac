"""Stores on fsspec filesystems: object stores (S3 and the like: no folders, one put per write, every failure a
typed :class:`~fusionkit.errors.StorageError` within a deadline) and ``memory://`` in tests. :func:`open_store
<fusionkit.storage.backends.open_store>` makes them; the protocol and local disk are in :mod:`.backends`."""

from __future__ import annotations

import contextlib
import errno
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from fusionkit.errors import StorageError
from fusionkit.storage.backends import NAMED_LOCKS, REASONS, KeyNotFound, check_key

__all__ = ["FsspecStore"]


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What an fsspec filesystem's client raises when its server cannot be reached or stops answering: OSError
    (fsspec's timeouts, errors s3fs translated from a response), asyncio's timeout (not an OSError before Python
    3.11), and the HTTP clients' own: s3fs returns botocore's connection errors (EndpointConnectionError,
    ConnectTimeoutError, ReadTimeoutError...) untranslated, and aiohttp's may surface through aiobotocore. Looked up
    in sys.modules, never imported: a client that was never loaded raised nothing."""
    import asyncio

    found: list[type[BaseException]] = [OSError, asyncio.TimeoutError]
    for module, name in (("botocore.exceptions", "BotoCoreError"), ("botocore.exceptions", "ClientError"),
                         ("aiohttp", "ClientError")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _unanswered(exc: BaseException, what: str, *, write: bool) -> StorageError:
    """A typed error for an object store's failure, saying why in words (and, for a write, that nothing landed)."""
    import asyncio

    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in REASONS:
        why = REASONS[exc.errno or 0]
    elif (isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError))
          or any(word in name for word in ("Connect", "Timeout", "Disconnect", "ConnectionClosed"))):
        detail = str(exc) or "no answer before the call's deadline"
        why = (f"the object store could not be reached or stopped answering ({name}: {detail}); check that it is up, "
               "and the endpoint, retries and timeouts in storage_options")
    elif isinstance(exc, OSError):  # an error response s3fs translated (access denied, an internal error)
        why = exc.strerror or str(exc) or name
    else:
        why = f"{name}: {exc}"
    tail = "; nothing half-written was left (a put lands whole or not at all)" if write else ""
    return StorageError(f"could not {what}: {why}{tail}")


#: fsspec protocols of object stores: no folders, only objects whose keys share prefixes.
_OBJECT_STORES = frozenset({"s3", "s3a", "gcs", "gs", "abfs", "abfss", "az", "adl", "oss"})


@attrs.define
class FsspecStore:
    """A root on any fsspec filesystem (``memory://`` in tests; object stores in production).

    Each write is one ``pipe_file`` (one PUT on object stores, atomic there). Appends and line rewrites are a
    read and a whole write under a lock held by this process: safe across threads, not across processes on
    object stores (use local disk, or one writer process, for the request log there).

    On object stores (S3 and the like), for a store that several studios, processes and machines share:

    - listings and existence checks always ask the server: the filesystem's listings cache is dropped for the path
      first, since another process's writes and deletes never reach this one's cache;
    - every failure of the filesystem's client (a server that is down, a connection cut, a timeout, an error
      response) is a :class:`~fusionkit.errors.StorageError` saying what could not be done and why;
    - there are no folders: a prefix exists while an object is under it, and deleting leaves no marker behind;
    - every call has a deadline (:attr:`deadline`, plus :attr:`seconds_per_mib` for what it sends), after which it
      is abandoned with a typed error: a server that accepts a connection and then stops answering (a hung or
      paused process, a network that drops packets) would otherwise hold a write forever, since the client's
      timeouts do not cover the whole of a request (botocore sends puts over 1 MiB with ``Expect: 100-continue``,
      and aiohttp awaits the go-ahead with no timeout at all).
    """

    fs: Any
    root: str
    protocol: str
    #: Seconds one call to an asynchronous filesystem (S3, GCS, Azure, HTTP) may take in all, retries included,
    #: before it is abandoned; ``None``: no deadline. Synchronous filesystems (memory) have none.
    deadline: float | None = 120.0
    #: Seconds added to :attr:`deadline` per MiB a call sends (a 100 MiB video result: 120 + 200 s).
    seconds_per_mib: float = 2.0
    _lock: threading.RLock = attrs.field(factory=threading.RLock, init=False, repr=False)

    def _call(self, method: str, *args: Any, sent: int = 0, **kwargs: Any) -> Any:
        """``self.fs.method(*args, **kwargs)`` under the deadline: fsspec's blocking wrappers of an asynchronous
        filesystem take ``timeout=`` and cancel the request when it passes (raising FSTimeoutError)."""
        if self.deadline is not None and getattr(self.fs, "async_impl", False):
            kwargs["timeout"] = self.deadline + self.seconds_per_mib * sent / 2**20
        return getattr(self.fs, method)(*args, **kwargs)

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.root}/{key}"

    @contextlib.contextmanager
    def _answered(self, what: str, *, write: bool = False) -> Iterator[None]:
        """Turn the client's failures in the block into a typed :class:`StorageError` (the block handles the
        not-found cases it expects first)."""
        try:
            yield
        except StorageError:
            raise
        except _unreachable_errors() as exc:
            raise _unanswered(exc, what, write=write) from None

    def _fresh(self, path: str) -> str:
        """``path``, with whatever the filesystem's listings cache holds of it and its parents dropped: s3fs (and
        gcsfs, adlfs) remember listings per filesystem instance, and an existence check answers from a parent's
        listing; another process's writes never reach that cache, so a studio would not see a job, claim or result
        another one wrote (or would see one another deleted). A no-op on the memory filesystem."""
        with contextlib.suppress(Exception):  # a cache that cannot be cleared is no reason to fail the call
            self.fs.invalidate_cache(path)
        return path

    def read(self, key: str) -> bytes:
        path = self._path(key)
        with self._answered(f"read {key}"):
            try:
                data = self._call("cat_file", path)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError, KeyError):
                # KeyError: fsspec's memory filesystem when the object is deleted between its lookup and its read.
                raise KeyNotFound(key) from None
        return bytes(data)

    def write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._answered(f"write {key}", write=True):  # one put: it landed whole or not at all
            self._call("pipe_file", path, bytes(data), sent=len(data))

    def create(self, key: str, data: bytes) -> bool:
        """fsspec's ``pipe_file(mode="create")``: a conditional put on S3 (``If-None-Match: *``, which AWS and
        recent S3 servers honour), a check and a write elsewhere; under this process's lock of the key either way,
        so threads here never race. A server that refuses conditional puts is a typed error saying so."""
        path = self._path(key)
        with NAMED_LOCKS.held(f"{self.protocol}://{path}"), self._answered(f"create {key}", write=True):
            for attempt in range(4):
                try:
                    self._call("pipe_file", path, bytes(data), sent=len(data), mode="create")
                    return True
                except FileExistsError:
                    return False
                except NotImplementedError:
                    raise StorageError(f"could not create {key}: this object store does not take conditional "
                                       "writes (If-None-Match), which claims on video jobs need; use a server that "
                                       "does, or run one studio's workers on the store") from None
                except OSError as exc:
                    # S3 answers 409 ConditionalRequestConflict (EBUSY here, as SlowDown) when a conditional put
                    # races another write or delete of the key, and asks for a retry.
                    if exc.errno != errno.EBUSY or attempt == 3:
                        raise
                    time.sleep(0.05 * 2**attempt)
            raise AssertionError("unreachable")

    def append(self, key: str, data: bytes) -> None:
        with self._lock:
            try:
                old = self.read(key)
            except KeyNotFound:
                old = b""
            self.write(key, old + data)

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int:
        with self._lock:
            try:
                lines = self.read(key).splitlines(keepends=True)
            except KeyNotFound:
                return 0
            kept = [line for line in lines if keep(line)]
            removed = len(lines) - len(kept)
            if removed:
                if kept:
                    self.write(key, b"".join(kept))
                else:
                    self.delete(key)
            return removed

    def delete(self, key: str) -> bool:
        """Whether an object was there: object stores delete a missing key without a word (S3's DELETE always
        succeeds), so the object is looked up first. Two deleters racing may then both answer True."""
        path = self._fresh(self._path(key))
        with self._answered(f"delete {key}"):
            try:
                if self._call("info", path).get("type") != "file":
                    return False  # a prefix with objects under it is not an object
                self._call("rm_file", path)
                return True
            except FileNotFoundError:
                return False

    def _files(self, prefix: str) -> list[str]:
        path = self._fresh(self._path(prefix))
        with self._answered(f"list {prefix}"):
            try:
                found = self._call("find", path)
            except FileNotFoundError:
                return []
        return [str(p) for p in found]

    def delete_prefix(self, prefix: str) -> int:
        files = self._files(prefix)
        with self._answered(f"delete {prefix}"):
            if files:
                try:
                    self._call("rm", files)  # one bulk request on object stores
                except FileNotFoundError:  # some were deleted meanwhile: go one by one
                    for f in files:
                        with contextlib.suppress(FileNotFoundError):
                            self._call("rm_file", f)
            if self.protocol not in _OBJECT_STORES:  # folders outlive their files (memory, sftp); object stores
                # have none, and a recursive delete there would take objects written since the listing, uncounted
                with contextlib.suppress(FileNotFoundError, OSError):
                    self._call("rm", self._path(prefix), recursive=True)
        self._fresh(self._path(prefix))
        return len(files)

    def list(self, prefix: str) -> list[str]:
        path = self._fresh(self._path(prefix))
        with self._answered(f"list {prefix}"):
            for attempt in range(5):
                try:
                    entries = self._call("ls", path, detail=False)
                    break
                except FileNotFoundError:
                    return []
                except KeyError:  # memory filesystem: an object deleted while being listed; list again
                    if attempt == 4:
                        raise
        base = path.rstrip("/") + "/"
        # fsspec may return paths with or without the protocol; a file's own path (ls of a file) is not a child.
        names = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries
                 if str(e).rstrip("/") != base.rstrip("/") and base.rstrip("/") in str(e)}
        return sorted(n for n in names if n and "/" not in n and not n.startswith("."))

    def exists(self, key: str) -> bool:
        path = self._fresh(self._path(key))
        with self._answered(f"look up {key}"):
            return bool(self._call("exists", path))

    def size(self, prefix: str) -> int:
        total = 0
        with self._answered(f"measure {prefix}"):
            for f in self._files(prefix):
                with contextlib.suppress(FileNotFoundError, KeyError):
                    total += int(self._call("size", f))
        return total

    def url(self, key: str) -> str:
        path = self._path(key)
        return path if "://" in path else f"{self.protocol}://{path}"

    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Across the threads of this process only: fsspec has no lock an object store honours, so two processes
        on one object store are not kept apart by it (the studio says where that matters)."""
        return NAMED_LOCKS.held(f"{self.protocol}://{self._path(key)}")
