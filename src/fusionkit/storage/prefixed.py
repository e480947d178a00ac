"""A store inside another store's folder: what a tenant of the studio sees (``tenants/{tenant_id}/...``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from fusionkit.storage.backends import BlobStore, check_key

__all__ = ["PrefixedStore"]


class PrefixedStore:
    """Every key of ``inner`` under ``prefix``: the same store, seen from one folder, so what is stored through it
    cannot be read, listed or deleted through another prefix.

    Parameters
    ----------
    inner
        The store holding the folder.
    prefix
        The folder, a valid key (``tenants/t_...``).
    """

    def __init__(self, inner: BlobStore, prefix: str) -> None:
        check_key(prefix)
        self.inner = inner
        self.prefix = prefix

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}"

    def read(self, key: str) -> bytes:
        return self.inner.read(self._key(key))

    def write(self, key: str, data: bytes) -> None:
        self.inner.write(self._key(key), data)

    def create(self, key: str, data: bytes) -> bool:
        return self.inner.create(self._key(key), data)

    def append(self, key: str, data: bytes) -> None:
        self.inner.append(self._key(key), data)

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int:
        return self.inner.rewrite_lines(self._key(key), keep)

    def delete(self, key: str) -> bool:
        return self.inner.delete(self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(self._key(prefix))

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(self._key(prefix))

    def exists(self, key: str) -> bool:
        return self.inner.exists(self._key(key))

    def size(self, prefix: str) -> int:
        return self.inner.size(self._key(prefix))

    def url(self, key: str) -> str:
        return self.inner.url(self._key(key))

    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        return self.inner.lock(self._key(key))
