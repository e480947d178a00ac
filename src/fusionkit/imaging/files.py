"""Writing output files whole or not at all: a temporary file beside the target, written in full (a short write is
continued, a failed one is an error), flushed to disk, then renamed over it."""

from __future__ import annotations

import errno
import os
import secrets

from fusionkit.errors import StorageError

__all__ = ["temp_path_beside", "write_all", "write_bytes_atomic"]

_WHY = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "the file would pass the size limit this process may write", errno.EROFS: "it is read-only",
        errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


def temp_path_beside(target: str) -> str:
    """A fresh hidden name in ``target``'s folder (same filesystem, so the final rename is atomic)."""
    folder, name = os.path.split(os.path.abspath(target))
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.part")


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``: ``os.write`` may write fewer bytes than asked (a size limit, a
    signal); the rest is written until it is all there or the system says why it cannot be."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.EIO, "the system wrote nothing")
        view = view[n:]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, with the permissions a new file gets under the umask.

    A failure (or an interrupt) removes the temporary file and leaves any old ``path`` untouched.

    Raises
    ------
    StorageError
        The file could not be written whole (a full disk, a size limit, permissions): the message says which.
    """
    target = os.path.abspath(os.fspath(path))
    tmp = temp_path_beside(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {_WHY.get(exc.errno or 0, exc.strerror or str(exc))}") from None
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {target} whole ({len(data)} bytes): "
                               f"{_WHY.get(exc.errno or 0, exc.strerror or str(exc))}; nothing was written, "
                               "any file there is as it was") from None
        raise
