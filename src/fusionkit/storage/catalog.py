"""Documents and blobs written together: several writes that all land or leave nothing behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from fusionkit.storage.backends import BlobStore

__all__ = ["write_together"]


def write_together(store: BlobStore, blobs: Iterable[tuple[str, bytes]], *, folder: str | None = None) -> None:
    """Write ``(key, data)`` pairs in order; if any write fails (or the caller is interrupted), delete what was
    written, newest first, and then ``folder`` (a prefix the writes lived under), and re-raise.

    Order the pairs so that each one only points at what came before it (the data, then the document that names
    it, then the marker that lists the document): a crash between two writes then leaves no reference to something
    missing, only an unreferenced leftover that the orphan sweep removes.
    """
    written: list[str] = []
    try:
        for key, data in blobs:
            written.append(key)
            store.write(key, data)
    except BaseException:
        for key in reversed(written):
            with contextlib.suppress(Exception):
                store.delete(key)
        if folder is not None:
            with contextlib.suppress(Exception):
                store.delete_prefix(folder)
        raise
