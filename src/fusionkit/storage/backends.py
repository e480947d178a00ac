"""Blob stores over one storage root: the protocol, local disk (plain ``os`` calls) and :func:`open_store`, which
routes a URL to local disk or to any fsspec filesystem (:class:`~fusionkit.storage.objects.FsspecStore`).

A store maps keys (``"materials/mt_.../material.json"``, built by :mod:`fusionkit.storage.keys` from validated
ids) to bytes. Writes are atomic: on local disk a temporary file beside the target is renamed over it; on fsspec
filesystems (``memory://``, object stores) a whole value is written with one put. A reader sees the old object,
the new one, or none; never part of one.

Routing follows zarr's ``make_store``: a :class:`os.PathLike`, a plain path or ``file://`` is local disk,
``memory://`` is fsspec's in-memory filesystem, anything else goes through ``fsspec.url_to_fs``. Storage options
that the chosen store does not use are an error.

On local disk every file the store creates is ``0600`` and every folder ``0700`` whatever the process's umask: the
data is faces, readable by its owner only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

import attrs

from fusionkit.errors import ParameterValueError, StorageError

__all__ = ["NAMED_LOCKS", "REASONS", "BlobStore", "KeyNotFound", "LocalStore", "check_key", "local_path",
           "open_store", "remove_stale_temporaries", "storage_failure"]


#: A failed call's errno, in words for its error message.
REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "a file would pass the size limit this process may write", errno.EROFS: "the disk is read-only",
        errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def storage_failure(exc: OSError, what: str) -> StorageError:
    """A typed error for a local-disk failure (or a write an object store refused), saying why in words: nothing
    half-written is left."""
    return StorageError(f"could not {what}: {REASONS.get(exc.errno or 0, exc.strerror or str(exc))}; nothing "
                        "half-written was left")


#: What an interrupted atomic write leaves beside its target (LocalStore.write's temporary name).
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def remove_stale_temporaries(store: Any, older_than_s: float = 3600.0) -> int:
    """:meth:`LocalStore.remove_temporaries` of the local store under ``store``'s wrappers (their ``inner``);
    0 for other stores, whose writes are one put that lands whole or not at all."""
    while not isinstance(store, LocalStore) and hasattr(store, "inner"):
        store = store.inner
    return store.remove_temporaries(older_than_s) if isinstance(store, LocalStore) else 0


class KeyNotFound(KeyError):
    """No object is stored under the key."""


class BlobStore(Protocol):
    """What the studio needs from a storage root."""

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None: ...

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` under ``key`` only if no object is there; return whether it was written. Exclusive across
        processes where the backend can (local disk: a hard link; S3: a conditional put, ``If-None-Match: *``);
        across the threads of this process everywhere. Claims on video jobs are made of these."""
        ...

    def append(self, key: str, data: bytes) -> None: ...

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int: ...

    def delete(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def list(self, prefix: str) -> list[str]: ...

    def exists(self, key: str) -> bool: ...

    def size(self, prefix: str) -> int: ...

    def url(self, key: str) -> str: ...

    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Hold an exclusive lock named by ``key`` for the ``with`` block: across threads, and across processes
        where the backend can (local disk: ``flock`` on the 0-byte object at ``key``); other stores say what
        they hold."""
        ...


def _abspath(value: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.fspath(value)))


def check_key(key: str) -> None:
    """Refuse (:class:`~fusionkit.errors.StorageError`) a key that is empty, absolute, has an empty, ``.`` or ``..``
    part, a backslash or a colon. Keys come from keys.py; this is the last line of defence against a traversal
    reaching the filesystem (every store, and every store wrapping another, calls it first)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or ":" in key:
        raise StorageError(f"refusing the malformed storage key {key!r}")


@attrs.define
class LocalStore:
    """A directory on local disk.

    Parameters
    ----------
    root
        The directory (created on first write).
    fsync
        Flush every written file to the disk before renaming it into place (durable across a power cut).
    """

    root: Path = attrs.field(converter=_abspath)
    #: Mode of every file the store creates (``chmod`` after creation, so the umask cannot loosen or break it).
    FILE_MODE: ClassVar[int] = 0o600
    #: Mode of every folder the store creates.
    FOLDER_MODE: ClassVar[int] = 0o700
    fsync: bool = True
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def _mkdirs(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents with :attr:`FOLDER_MODE` (``mkdir -p`` would use the umask)."""
        if folder.is_dir():
            return
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            try:
                os.mkdir(path, self.FOLDER_MODE)
            except FileExistsError:  # another writer made it meanwhile
                continue
            os.chmod(path, self.FOLDER_MODE)  # the umask may have taken bits away

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise KeyNotFound(key) from None

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:  # os.write may write less than asked (a size limit, a signal): write the rest
            n = os.write(fd, view)
            if n <= 0:
                raise OSError(errno.EIO, "the system wrote nothing")
            view = view[n:]

    def write(self, key: str, data: bytes) -> None:
        try:
            self._write(key, data)
        except OSError as exc:
            raise storage_failure(exc, f"write {key}") from None

    def _stage(self, target: Path, data: bytes) -> Path:
        """``data`` in a new temporary file beside ``target`` (0600, on the disk with ``fsync``): what a write
        renames over its target and a create links to it. Nothing is left when it fails."""
        self._mkdirs(target.parent)
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.FILE_MODE)
        try:
            try:
                os.fchmod(fd, self.FILE_MODE)
                self._write_all(fd, data)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def _write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        tmp = self._stage(target, data)
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def create(self, key: str, data: bytes) -> bool:
        """The whole object written beside the target, then hard-linked to it: ``link`` fails when the target
        exists, atomically, across processes (and on NFS), and a reader never sees part of it."""
        target = self._path(key)
        try:
            tmp = self._stage(target, data)
            try:
                os.link(tmp, target)
                return True
            except FileExistsError:
                return False
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        except OSError as exc:
            raise storage_failure(exc, f"create {key}") from None

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[int]:
        """An fd of ``path`` (created if missing) holding an exclusive flock; retried when the file was replaced
        while waiting (a concurrent rewrite), so a line is never appended to an unlinked file."""
        import fcntl

        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.FILE_MODE)
            try:
                if os.fstat(fd).st_mode & 0o777 != self.FILE_MODE:  # just created under a umask, or an older file
                    with contextlib.suppress(OSError):
                        os.fchmod(fd, self.FILE_MODE)
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    yield fd
                    return
            finally:
                os.close(fd)  # closing releases the flock

    def append(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            self._mkdirs(path.parent)
            with self._locked(path) as fd:
                end = os.fstat(fd).st_size
                try:
                    self._write_all(fd, data)
                except BaseException:  # a line half written would be a torn line: cut back to where it began
                    with contextlib.suppress(OSError):
                        if end == 0:
                            os.unlink(path)  # a file this append created holds nothing: it goes (an empty one
                        else:  # is not a log an encrypted store can read)
                            os.ftruncate(fd, end)
                    raise
        except OSError as exc:
            raise storage_failure(exc, f"append to {key}") from None

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int:
        path = self._path(key)
        if not path.exists():
            return 0
        with self._locked(path):
            lines = path.read_bytes().splitlines(keepends=True)
            kept = [line for line in lines if keep(line)]
            removed = len(lines) - len(kept)
            if removed:
                if kept:
                    self.write(key, b"".join(kept))
                else:
                    path.unlink()
            return removed

    def delete(self, key: str) -> bool:
        try:
            os.unlink(self._path(key))
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def delete_prefix(self, prefix: str) -> int:
        path = self._path(prefix)
        if not path.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(path))
        shutil.rmtree(path, ignore_errors=True)
        return count

    def list(self, prefix: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._path(prefix)) if not n.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def size(self, prefix: str) -> int:
        total = 0
        for dirpath, _, files in os.walk(self._path(prefix)):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(dirpath, name)).st_size
        return total

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def remove_temporaries(self, older_than_s: float = 3600.0) -> int:
        """Remove the temporary files of writes a killed process left (``.{name}.{12 hex}.tmp``) that nothing has
        touched for ``older_than_s`` seconds; a write in progress is seconds old. Returns how many went."""
        removed = 0
        cutoff = time.time() - older_than_s
        for folder, _, files in os.walk(self.root):
            for name in files:
                if _TEMPORARY.fullmatch(name):
                    path = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        if os.stat(path).st_mtime <= cutoff:
                            os.unlink(path)
                            removed += 1
        return removed

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Across threads and processes on this machine (and NFS where flock works): ``flock`` on ``key``."""
        path = self._path(key)
        self._mkdirs(path.parent)
        with NAMED_LOCKS.held(str(path)), self._locked(path):
            yield


class NamedLocks:
    """One process-wide lock per name (a lock file's path, an object's URL): threads of this process that lock the
    same name wait for each other even through different store objects."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def held(self, name: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            yield


#: The process's locks by name (a lock file's path, an object's URL), shared by every store object.
NAMED_LOCKS = NamedLocks()


def local_path(url: str) -> str | None:
    """The local folder a studio URL names (a plain path, or ``file://PATH``), or ``None`` for any other store: the
    one rule for what is local, which :func:`open_store` and the command line both follow."""
    if url.startswith("file://"):
        return url[len("file://"):]
    return url if "://" not in url and "::" not in url else None


def open_store(url: str | os.PathLike[str], storage_options: dict[str, Any] | None = None) -> BlobStore:
    """The store for ``url``: local disk for a path or ``file://``, fsspec's memory for ``memory://``, and
    ``fsspec.url_to_fs(url, **storage_options)`` for every other URL.

    Raises
    ------
    ParameterValueError
        ``url`` is not a string or path, or ``storage_options`` were given for a store that takes none.
    """
    options = dict(storage_options or {})
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise ParameterValueError(f"the studio URL must be a non-empty string or path, got {url!r}")
    path = local_path(url)
    if (path is not None or url.startswith("memory://")) and options:
        kind = "memory" if url.startswith("memory://") else "local"
        raise ParameterValueError(f"storage_options {sorted(options)} are not used by {kind} stores; remove them")
    if path is not None:
        if not path:
            raise ParameterValueError(f"the studio URL {url!r} names no folder: give file:///path/to/studio")
        if os.path.exists(path) and not os.path.isdir(path):
            raise ParameterValueError(f"the studio URL {url!r} is a file, not a folder: give a folder (it is made "
                                      "if missing)")
        return LocalStore(path)
    import fsspec

    from fusionkit.storage.objects import FsspecStore

    if url.startswith("memory://"):
        fs = fsspec.filesystem("memory")
        root = "/" + url[len("memory://"):].strip("/")
        return FsspecStore(fs, root.rstrip("/") or "/studio", "memory")
    try:
        fs, path = fsspec.url_to_fs(url, **options)
    except ImportError as exc:  # the protocol's package is missing: say which, and fusionkit's extra where there is one
        extra = " (pip install 'fusionkit[s3]')" if url.split("://", 1)[0] in ("s3", "s3a") else ""
        raise ParameterValueError(f"the studio URL {url!r} needs a package that is not installed{extra}: "
                                  f"{exc}") from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return FsspecStore(fs, str(path).rstrip("/"), str(protocol))
