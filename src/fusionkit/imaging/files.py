"""Files: reading an image file within its byte cap (a regular file only: never a pipe, a device or a folder), and
writing output files whole or not at all (a temporary file beside the target, written in full, flushed to disk,
then renamed over it)."""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat

from fusionkit.errors import ImageDecodeFailedError, ImageSizeExceedError, ParameterValueError, StorageError

__all__ = ["read_image_file", "temp_path_beside", "write_all", "write_bytes_atomic"]

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


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _not_a_file(path: str, mode: int) -> ImageDecodeFailedError | None:
    if stat.S_ISREG(mode):
        return None
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return ImageDecodeFailedError(
        f"{path!r} is {kind}, not an image file; give the path of a JPEG, PNG or WebP file, or pass the image's bytes"
    )


def read_image_file(source: str | os.PathLike[str], max_bytes: int) -> bytes:
    """Read an image file whole, refusing anything but a regular file and reading at most ``max_bytes + 1`` bytes."""
    path = os.fsdecode(os.fspath(source))
    if "\x00" in path:
        raise ParameterValueError(
            f"the image path {path!r} contains a NUL character; give the path of a JPEG, PNG or WebP file"
        )
    try:
        # Stat first: opening a FIFO would wait for a writer, and a device can be endless.
        refused = _not_a_file(path, os.stat(path).st_mode)
        if refused is not None:
            raise refused
        # O_NONBLOCK: should the path become a FIFO after the stat, the open still returns (and fstat refuses it).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImageDecodeFailedError(
            f"cannot read the image file {path!r}: {exc.strerror}; give the path of a readable JPEG, PNG or WebP file"
        ) from exc
    with io.FileIO(fd, "r", closefd=True) as fh:
        info = os.fstat(fd)
        refused = _not_a_file(path, info.st_mode)
        if refused is not None:
            raise refused
        if info.st_size > max_bytes:
            raise ImageSizeExceedError(
                f"the image file {path!r} has {info.st_size} bytes; the maximum is {max_bytes}"
            )
        # Read what the stat promised plus one byte, then on in 1 MiB steps (files in /proc say 0 bytes), never
        # more than max_bytes + 1 in all: a file that grew past the cap is refused without reading the rest.
        cap = max_bytes + 1
        parts: list[bytes] = []
        got, step = 0, min(cap, info.st_size + 1)
        while got < cap:
            more = fh.read(min(cap - got, step))
            if not more:
                break
            parts.append(more)
            got += len(more)
            step = 1 << 20
        data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > max_bytes:
        raise ImageSizeExceedError(f"the image file {path!r} has more than {max_bytes} bytes (the maximum)")
    return data
