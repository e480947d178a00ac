"""How long the studio keeps what it stores, and the receipt of an erasure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import JsonDocument, id_of, json_field, utc
from fusionkit.errors import ParameterValueError

__all__ = ["ERASURE_CATEGORIES", "MAXIMUM_PERIODS", "ErasureReceipt", "RetentionPolicy"]

#: The longest each kind of data may be kept under the service's duties (docs/governance.md): request logs and
#: image results 7 days, video results 1 day. A longer period needs a stated reason (``allow_longer``).
MAXIMUM_PERIODS = {"logs": timedelta(days=7), "image_results": timedelta(days=7), "video_results": timedelta(days=1)}


def _period(value: Any) -> timedelta:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ParameterValueError(f"a retention period must be a positive timedelta or seconds, got {value!r}")
    return value


def _period_or_none(value: Any) -> timedelta | None:
    return None if value is None else _period(value)


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 10 <= len(value.strip()) <= 500 or not value.isprintable():
        raise ParameterValueError("allow_longer must be the reason for keeping data longer than the duties allow "
                                  f"(10-500 printable characters), got {value!r}")
    return value.strip()


@attrs.frozen(kw_only=True)
class RetentionPolicy(JsonDocument):
    """How long the studio keeps what it stores. The studio applies the policy it has now to everything stored:
    shortening a period expires what is already older than the new one.

    Attributes
    ----------
    logs
        Request log lines (default and most 7 days).
    image_results
        Stored fused images (default and most 7 days).
    video_results
        Stored fused videos, and video jobs left queued without a worker (default and most 1 day).
    materials
        ``None`` (default): materials stay until deleted.
    audit
        The audit trail of deletions, erasures, sweeps and retention changes (default about 3 years, 1096 days);
        it holds no personal data.
    allow_longer
        ``None`` (default): a period beyond :data:`MAXIMUM_PERIODS` is refused. To keep data longer (a legal hold,
        say), give the reason here (10-500 characters); it goes to the audit trail with the policy.

    Raises
    ------
    ParameterValueError
        A period that is not positive, or longer than the duties allow without ``allow_longer``.
    """

    KIND: ClassVar[str] = "retention_policy"

    logs: timedelta = attrs.field(default=timedelta(days=7), converter=_period,
                                  metadata=json_field("logs_s", required=True))
    image_results: timedelta = attrs.field(default=timedelta(days=7), converter=_period,
                                           metadata=json_field("image_results_s", required=True))
    video_results: timedelta = attrs.field(default=timedelta(days=1), converter=_period,
                                           metadata=json_field("video_results_s", required=True))
    materials: timedelta | None = attrs.field(default=None, converter=_period_or_none,
                                              metadata=json_field("materials_s"))
    audit: timedelta = attrs.field(default=timedelta(days=1096), converter=_period, metadata=json_field("audit_s"))
    allow_longer: str | None = attrs.field(default=None, converter=_reason, metadata=json_field(omit_none=True))

    def __attrs_post_init__(self) -> None:
        if self.allow_longer is not None:
            return
        for name, most in MAXIMUM_PERIODS.items():
            period: timedelta = getattr(self, name)
            if period > most:
                raise ParameterValueError(
                    f"{name} of {period} is longer than the duties allow ({most}): shorten it, or give the reason "
                    "in RetentionPolicy(allow_longer=...)")


#: The categories an :class:`ErasureReceipt` counts.
ERASURE_CATEGORIES = ("activities", "materials", "faces", "sources", "tracks", "results", "log_records")


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ParameterValueError("counts must be a mapping of category to count")
    out = {c: 0 for c in ERASURE_CATEGORIES}
    for k, v in value.items():
        if k not in out or isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ParameterValueError(f"bad erasure count {k!r}: {v!r}")
        out[k] = v
    return out


@attrs.frozen(kw_only=True)
class ErasureReceipt(JsonDocument):
    """What a deletion or a data-subject erasure removed, and when.

    Attributes
    ----------
    id
        ``er_...``.
    completed
        UTC timestamp when everything listed was gone.
    subject_ids
        The ids the request named.
    counts
        Objects removed per category (:data:`ERASURE_CATEGORIES`).
    """

    KIND: ClassVar[str] = "erasure_receipt"

    id: str = attrs.field(validator=id_of(ids.ERASURE, "erasure receipt"))
    completed: datetime = attrs.field(converter=utc)
    subject_ids: tuple[str, ...] = attrs.field(converter=_strings)
    counts: dict[str, int] = attrs.field(converter=_counts, hash=False)

    @property
    def total(self) -> int:
        """Objects removed in all categories."""
        return sum(self.counts.values())
