"""An audit record: that a deletion, an erasure, a sweep or a change of retention happened, with no personal data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import JsonDocument, json_field, one_of, optional_id_of, utc
from fusionkit.errors import ParameterValueError

__all__ = ["AUDIT_KINDS", "AuditRecord"]

#: What an audit record can say happened.
AUDIT_KINDS = ("material_deleted", "activity_deleted", "erasure", "sweep", "retention_changed")


_SUBJECT_KINDS = (ids.ACTIVITY, ids.MATERIAL, ids.RESULT, ids.REQUEST, ids.JOB)


def _id_list(value: Any) -> tuple[str, ...]:
    out = tuple(value)
    for v in out:
        if not any(ids.is_id(v, kind) for kind in _SUBJECT_KINDS):
            raise ParameterValueError(f"an audit record names only activity, material, result, request or job ids, "
                                      f"got {v!r}")
    return out


def _tenant(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.startswith("t_") or not 3 <= len(value) <= 40
                              or not value[2:].isalnum()):
        raise ParameterValueError(f"tenant must be a tenant folder name t_..., got {value!r}")


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ParameterValueError("an audit record's counts must be a mapping of category to count")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ParameterValueError(f"bad audit count {k!r}: {v!r}")
        out[k] = v
    return out


def _detail(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ParameterValueError("an audit record's detail must be a mapping")
    return dict(value)


@attrs.frozen(kw_only=True)
class AuditRecord(JsonDocument):
    """One line of the studio's audit trail (``audit/{YYYY-MM-DD}.jsonl``), kept for the policy's ``audit``
    period. It names what happened and to which ids, never who the end user was: no IPs, URLs, names or images.

    Attributes
    ----------
    time
        When it happened (UTC).
    kind
        One of :data:`AUDIT_KINDS`.
    request_id
        The call that did it (``rq_...``), or ``None`` for the studio's own automatic sweep.
    tenant
        The tenant folder it happened in (``t_...``), ``None`` for the store's root.
    subject_ids
        The activity, material, result and request ids it concerned.
    counts
        How many objects of each kind went (an erasure receipt's counts; a sweep's).
    receipt_id
        The erasure receipt's id (``er_...``) when the call returned one: the receipt is kept here.
    detail
        For a retention change: the old and new periods in seconds, and the reason when longer than the duties.
    """

    KIND: ClassVar[str] = "audit_record"

    time: datetime = attrs.field(converter=utc)
    kind: str = attrs.field(validator=one_of(*AUDIT_KINDS), metadata=json_field("event"))
    request_id: str | None = attrs.field(default=None, validator=optional_id_of(ids.REQUEST, "request"))
    tenant: str | None = attrs.field(default=None, validator=_tenant)
    subject_ids: tuple[str, ...] = attrs.field(default=(), converter=_id_list)
    counts: dict[str, int] = attrs.field(factory=dict, converter=_counts, hash=False)
    receipt_id: str | None = attrs.field(default=None, validator=optional_id_of(ids.ERASURE, "erasure receipt"),
                                         metadata=json_field(omit_none=True))
    detail: dict[str, Any] = attrs.field(factory=dict, converter=_detail, hash=False)

    def refers_to(self, any_of: frozenset[str]) -> bool:
        """Whether the record names one of ``any_of``."""
        return bool(set(self.subject_ids) & any_of) or self.request_id in any_of
