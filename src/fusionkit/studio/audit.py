"""``studio.audit``: the audit trail, one JSON line per deletion, erasure, sweep that removed something, and
retention change, under ``audit/{YYYY-MM-DD}.jsonl`` in the store's root (every tenant's events, each naming its
tenant folder). It is append-only, holds no personal data (ids and counts, never IPs, URLs or pictures), is kept
for the retention policy's ``audit`` period (3 years by default) and is not touched by erasures: it is the proof
that they happened. Erasure receipts are kept in it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from fusionkit.domain import ids
from fusionkit.domain.audit import AuditRecord
from fusionkit.domain.studio import ErasureReceipt, RetentionPolicy
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.common import day_of

__all__ = ["AuditTrail"]

_log = logging.getLogger("fusionkit.studio.audit")


class AuditTrail:
    """Appends and reads the audit trail.

    Parameters
    ----------
    root
        The studio's whole store (not a tenant's): returns the store at each call.
    now
        The studio's clock.
    policy
        Returns the studio's retention policy (its ``audit`` period).
    tenant
        Returns the tenant the current call works in.
    """

    name = "audit_records"

    def __init__(self, root: Callable[[], BlobStore], now: Callable[[], datetime],
                 policy: Callable[[], RetentionPolicy], tenant: Callable[[], str | None]) -> None:
        self._root = root
        self._now = now
        self._policy = policy
        self._tenant = tenant

    def record(self, kind: str, *, request_id: str | None = None, subject_ids: Iterable[str] = (),
               counts: Mapping[str, int] | None = None, receipt_id: str | None = None,
               detail: Mapping[str, Any] | None = None) -> AuditRecord:
        """Append one record (of the current tenant) and return it. A failure to write is logged and raised: a
        deletion must not look unrecorded when it was."""
        record = AuditRecord(time=self._now(), kind=kind, request_id=request_id, tenant=self._tenant(),
                             subject_ids=sorted(set(subject_ids)), counts=dict(counts or {}), receipt_id=receipt_id,
                             detail=dict(detail or {}))
        self._root().append(keys.audit_file(record.time.date()), record.to_json().encode() + b"\n")
        return record

    def receipt(self, kind: str, request_id: str, subject_ids: Iterable[str], counts: Mapping[str, int]
                ) -> ErasureReceipt:
        """The receipt of a deletion or erasure that just completed, kept in the trail; returned to the caller."""
        now = self._now()
        subjects = sorted(set(subject_ids))
        receipt = ErasureReceipt(id=ids.new_id(ids.ERASURE, now), completed=now, subject_ids=subjects,
                                 counts=counts)
        self.record(kind, request_id=request_id, subject_ids=subjects, counts=receipt.counts, receipt_id=receipt.id)
        return receipt

    def query(self, since: datetime, until: datetime, *, kind: str | None = None) -> list[AuditRecord]:
        """The records with ``since <= time < until`` (of ``kind``, when given), oldest first, every tenant's."""
        for name, value in (("since", since), ("until", until)):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ParameterValueError(f"{name} must be a timezone-aware datetime")
        store = self._root()
        out = []
        for name in store.list(keys.AUDIT):
            day = day_of(name.removesuffix(".jsonl"))
            if day is None or not since.date() <= day <= until.date():
                continue
            try:
                lines = store.read(keys.audit_file(day)).splitlines()
            except KeyNotFound:
                continue
            for line in lines:
                try:
                    rec = AuditRecord.from_json(line)
                except (FusionKitError, ValueError):
                    continue
                if since <= rec.time < until and (kind is None or rec.kind == kind):
                    out.append(rec)
        out.sort(key=lambda r: r.time)
        return out

    def sweep(self, now: datetime) -> int:
        """Remove the days of the trail older than the policy's ``audit`` period; how many records went."""
        store = self._root()
        keep_for = self._policy().audit
        removed = 0
        for name in store.list(keys.AUDIT):
            day = day_of(name.removesuffix(".jsonl"))
            if day is None:
                continue
            if datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1) + keep_for <= now:
                try:
                    removed += store.read(keys.audit_file(day)).count(b"\n")
                except KeyNotFound:
                    continue
                store.delete(keys.audit_file(day))
        return removed
