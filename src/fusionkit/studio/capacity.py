"""Capacity that holds: every byte a studio's tenant stores counts against :class:`~fusionkit.studio.Capacity`,
and a check and the claim it makes are one step under the store's lock, so concurrent uploads cannot both pass.

A call that will write (an upload, a stored fusion, a video job's inputs) first *claims* its bytes: under the lock
``capacity/lock`` it adds what is stored to what other calls have claimed and not yet written, refuses when that
passes a limit, and else writes its claim ``capacity/claims/{claim_id}.json``; the claim goes when the call ends
(its bytes are then in the store) or, left by a process that died, after an hour. On local disk the lock is a
``flock`` and holds across processes; on object stores fsspec has no lock, so it holds across the threads of one
process only: run one writer process per object store when the limit must be exact.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from fusionkit.domain import ids
from fusionkit.domain.documents import iso, utc
from fusionkit.errors import CapacityExceededError, FusionKitError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.context import Capacity

__all__ = ["CLAIM_LIFETIME", "CapacityGuard"]

#: How long a claim left behind by a process that died holds its bytes.
CLAIM_LIFETIME = timedelta(hours=1)
#: The folders whose bytes count (everything the studio stores for a tenant but its keys and these claims).
_COUNTED = (keys.ACTIVITIES, keys.MATERIALS, keys.RESULTS_IMAGE.split("/")[0], keys.JOBS, keys.LOGS)


class _Site(Protocol):
    @property
    def store(self) -> BlobStore: ...

    @property
    def capacity(self) -> Capacity: ...

    def now(self) -> datetime: ...


class CapacityGuard:
    """Claims bytes against the studio's capacity (see the module's docstring)."""

    def __init__(self, site: _Site) -> None:
        self._site = site

    @contextlib.contextmanager
    def claim(self, new_bytes: int, *, materials: int = 0, activity_id: str | None = None) -> Iterator[None]:
        """Hold ``new_bytes`` (and ``materials`` new materials, of ``activity_id``) against the capacity for the
        ``with`` block, in which the caller writes them.

        Raises
        ------
        CapacityExceededError
            A limit would be passed; nothing is claimed.
        """
        cap = self._site.capacity
        if cap.max_bytes is None and cap.max_materials is None and cap.max_bytes_per_activity is None:
            yield
            return
        store = self._site.store
        now = self._site.now()
        with store.lock(keys.capacity_lock()):
            claims = self._live_claims(store, now)
            self._check(store, cap, claims, new_bytes, materials, activity_id)
            claim_id = ids.new_id(ids.CLAIM, now)
            store.write(keys.capacity_claim(claim_id), json.dumps(
                {"bytes": new_bytes, "materials": materials, "activity_id": activity_id, "created": iso(now)}).encode())
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a claim left behind lapses after CLAIM_LIFETIME
                store.delete(keys.capacity_claim(claim_id))

    @staticmethod
    def _live_claims(store: BlobStore, now: datetime) -> list[dict[str, object]]:
        out = []
        for name in store.list(keys.capacity_claims()):
            claim_id = name.removesuffix(".json")
            if not ids.is_id(claim_id, ids.CLAIM):
                continue
            key = keys.capacity_claim(claim_id)
            try:
                claim = json.loads(store.read(key))
                lapsed = utc(claim["created"]) + CLAIM_LIFETIME <= now
            except (KeyNotFound, ValueError, KeyError, TypeError, FusionKitError):
                continue
            if lapsed:
                store.delete(key)
            else:
                out.append(claim)
        return out

    @staticmethod
    def _check(store: BlobStore, cap: Capacity, claims: list[dict[str, object]], new_bytes: int, materials: int,
               activity_id: str | None) -> None:
        def claimed(field: str, of: str | None = None) -> int:
            return sum(int(c.get(field) or 0) for c in claims  # type: ignore[call-overload]
                       if of is None or c.get("activity_id") == of)

        if cap.max_materials is not None and materials:
            n = len([m for m in store.list(keys.MATERIALS) if ids.is_id(m, ids.MATERIAL)]) + claimed("materials")
            if n + materials > cap.max_materials:
                raise CapacityExceededError(f"the studio holds {n} materials, its limit is {cap.max_materials}: "
                                            "delete some or raise Capacity.max_materials")
        if cap.max_bytes is not None:
            used = sum(store.size(folder) for folder in _COUNTED) + claimed("bytes")
            if used + new_bytes > cap.max_bytes:
                raise CapacityExceededError(f"the studio stores {used} bytes; {new_bytes} more would pass its limit "
                                            f"of {cap.max_bytes}: delete some or raise Capacity.max_bytes")
        if cap.max_bytes_per_activity is not None and activity_id is not None:
            members = [m for m in store.list(keys.activity_members(activity_id)) if ids.is_id(m, ids.MATERIAL)]
            used = sum(store.size(keys.material_folder(m)) for m in members) + claimed("bytes", activity_id)
            if used + new_bytes > cap.max_bytes_per_activity:
                raise CapacityExceededError(
                    f"activity {activity_id} stores {used} bytes of materials; {new_bytes} more would pass the limit "
                    f"of {cap.max_bytes_per_activity} per activity: delete some or raise "
                    "Capacity.max_bytes_per_activity")
