"""Writing output files whole or not at all: a temporary file beside the target, renamed over it."""

from __future__ import annotations

import io
import os
import secrets

__all__ = ["temp_path_beside", "write_bytes_atomic"]


def temp_path_beside(target: str) -> str:
    """A fresh hidden name in ``target``'s folder (same filesystem, so the final rename is atomic)."""
    folder, name = os.path.split(os.path.abspath(target))
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.part")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, with the permissions a new file gets under the umask.

    A failure (or an interrupt) removes the temporary file and leaves any old ``path`` untouched.
    """
    target = os.path.abspath(os.fspath(path))
    tmp = temp_path_beside(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with io.FileIO(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
