"""Tenants: each app id's data in its own folder of the studio's store (``tenants/{tenant_id}/``), so a call made
for one app id cannot read, list or erase another's. A call without an app id works in the store's root, as every
studio did before tenants existed, so an existing store opens with its data where it was."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator

from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore
from fusionkit.storage.prefixed import PrefixedStore
from fusionkit.studio.context import RequestContext

__all__ = ["Tenants"]


class Tenants:
    """The stores of a studio's tenants, and which one the current call (thread or task) works in.

    Parameters
    ----------
    root
        The studio's store.
    wrap
        Applied once to each tenant's store, with the tenant (the studio's encryption, say); none by default.
    """

    def __init__(self, root: BlobStore, wrap: Callable[[BlobStore, str | None], BlobStore] | None = None) -> None:
        self._root = root
        self._wrap = wrap or (lambda store, tenant: store)
        self._stores: dict[str | None, BlobStore] = {}
        self._lock = threading.Lock()
        self._current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            f"fusionkit_tenant_{id(self)}", default=None)

    @property
    def root(self) -> BlobStore:
        """The studio's whole store."""
        return self._root

    @root.setter
    def root(self, store: BlobStore) -> None:
        with self._lock:
            self._root = store
            self._stores.clear()

    @staticmethod
    def of(context: RequestContext) -> str | None:
        """The tenant a call with ``context`` works in: its app id's, or ``None`` (the root) without one."""
        return None if context.app_id is None else keys.tenant_id(context.app_id)

    def current(self) -> str | None:
        """The tenant of the call running in this thread or task."""
        return self._current.get()

    def store(self) -> BlobStore:
        """The store of the current call's tenant."""
        return self.store_of(self._current.get())

    def store_of(self, tenant: str | None) -> BlobStore:
        """The store of ``tenant`` (``None``: the root's)."""
        with self._lock:
            store = self._stores.get(tenant)
            if store is None:
                inner = self._root if tenant is None else PrefixedStore(self._root, f"{keys.TENANTS}/{tenant}")
                store = self._stores[tenant] = self._wrap(inner, tenant)
            return store

    @contextlib.contextmanager
    def scope(self, tenant: str | None) -> Iterator[None]:
        """Work in ``tenant``'s store inside the ``with`` block (in this thread or task)."""
        token = self._current.set(tenant)
        try:
            yield
        finally:
            self._current.reset(token)

    def all(self) -> list[str | None]:
        """Every tenant with data: the root (``None``) and each folder under ``tenants/``."""
        return [None, *(t for t in self._root.list(keys.TENANTS) if t.startswith("t_"))]
