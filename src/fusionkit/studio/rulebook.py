"""What every retention rule (:mod:`fusionkit.studio.retention`) shares: the studio as the rules see it, the rule
protocol, the ids an erasure names, and the questions an encrypted store answers about destroyed data keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import attrs

from fusionkit.domain.studio import RetentionPolicy
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.storage.crypto import EncryptedStore, ObjectShredded

__all__ = ["LEFTOVER_AGE", "Rule", "Site", "Subjects", "keyed_scopes", "shred", "shredded"]


def shredded(store: BlobStore, key: str) -> bool:
    """Whether ``key`` holds an object whose data key was destroyed (a delete that stopped after shredding)."""
    try:
        store.read(key)
    except ObjectShredded:
        return True
    except KeyNotFound:
        return False
    return False


def keyed_scopes(store: BlobStore) -> set[str] | None:
    """The scopes with a data key when ``store`` encrypts (one listing, no object read), else ``None``: a material
    of an encrypted store whose scope is not among them was shredded."""
    return store.keyed_scopes() if isinstance(store, EncryptedStore) else None


#: How old a material must be before the sweep takes it for a leftover (no live activity lists it): an upload in
#: flight writes its listing marker last, within seconds.
LEFTOVER_AGE = timedelta(hours=1)


def shred(store: BlobStore, scope: str) -> None:
    """Destroy ``scope``'s data key when ``store`` is encrypted (before its objects are deleted): whatever copy of
    them survives the delete (a backup, an object version, a crash half-way) is unreadable from now on."""
    if isinstance(store, EncryptedStore):
        store.shred(scope)


class Site(Protocol):
    """What the rules read from the studio at each call: its store and its retention policy."""

    @property
    def store(self) -> BlobStore: ...

    @property
    def retention(self) -> RetentionPolicy: ...


class Rule(Protocol):
    """One kind of data the studio keeps for a while."""

    #: The key of this rule's count in :meth:`Studio.sweep`'s answer.
    name: str

    def sweep(self, now: datetime) -> int:
        """Remove what has expired by ``now``; return how many items went."""
        ...


@attrs.frozen
class Subjects:
    """The ids a data-subject erasure names."""

    material_ids: frozenset[str] = frozenset()
    result_ids: frozenset[str] = frozenset()
    request_ids: frozenset[str] = frozenset()
    #: End users, as the studio keeps them (``us_...``).
    subject_ids: frozenset[str] = frozenset()

    @property
    def all(self) -> frozenset[str]:
        """Every id named."""
        return self.material_ids | self.result_ids | self.request_ids | self.subject_ids
