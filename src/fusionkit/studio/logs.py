"""``studio.logs``: the request log, one JSON line per public call under ``logs/{date}/{hour}.jsonl``, also
sent to Python's :mod:`logging` (logger :data:`LOGGER_NAME`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from fusionkit.domain.studio import LogRecord
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound
from fusionkit.studio.common import Calls, day_of
from fusionkit.studio.context import RequestContext
from fusionkit.studio.retention import RetentionRules

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["LOGGER_NAME", "RequestLog"]

LOGGER_NAME = "fusionkit.studio.requests"
_log = logging.getLogger(LOGGER_NAME)


@attrs.define(eq=False)
class RequestLog:
    """``studio.logs``: one JSON line per public call under ``logs/{date}/{hour}.jsonl``, also sent to the
    ``"fusionkit.studio.requests"`` logger; lines older than the retention policy's log period read as gone."""

    _studio: Studio
    _calls: Calls
    _rules: RetentionRules

    def write(self, record: LogRecord) -> None:
        """Append one record to the log (the studio's call wrapper does this for every call) and send it to
        Python's logging."""
        line = record.to_json()
        try:
            self._studio.store.append(keys.log_file(record.timestamp), line.encode() + b"\n")
        except Exception as exc:  # the request log must not turn a good call into a failed one
            _log.error("fusionkit: could not write the request log: %r", exc)
        _log.info(line, extra={"fusionkit_request": record.to_dict()})

    def _hour_keys(self, since: datetime, until: datetime) -> Iterator[str]:
        store = self._studio.store
        for name in store.list(keys.LOGS):
            day = day_of(name)
            if day is None or not since.date() <= day <= until.date():
                continue
            for hour in store.list(keys.log_folder(day)):
                if hour.endswith(".jsonl") and hour[:2].isdigit():
                    yield f"{keys.log_folder(day)}/{hour}"

    def query(self, since: datetime, until: datetime, interface: str | None = None, *,
              context: RequestContext | None = None) -> list[LogRecord]:
        """The records with ``since <= timestamp < until`` (and of ``interface``, when given), oldest first.

        Lines older than the retention policy's log period are never returned, swept or not. The query itself
        is logged (``"QueryLogs"``) after it has read.
        """
        with self._calls("QueryLogs", context):
            return self._query(since, until, interface)

    def _query(self, since: datetime, until: datetime, interface: str | None) -> list[LogRecord]:
        since = self._utc(since, "since")
        until = self._utc(until, "until")
        if interface is not None and not isinstance(interface, str):
            raise ParameterValueError("interface must be a string or None")
        oldest = self._rules.logs.oldest(self._studio.now())
        out = []
        for key in self._hour_keys(since, until):
            try:
                lines = self._studio.store.read(key).splitlines()
            except KeyNotFound:
                continue
            for line in lines:
                try:
                    rec = LogRecord.from_json(line)
                except (FusionKitError, ValueError):
                    continue  # a torn or foreign line is skipped, never returned
                if since <= rec.timestamp < until and rec.timestamp > oldest and (
                        interface is None or rec.interface == interface):
                    out.append(rec)
        out.sort(key=lambda r: r.timestamp)
        return out

    @staticmethod
    def _utc(value: Any, name: str) -> datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ParameterValueError(f"{name} must be a timezone-aware datetime")
        return value.astimezone(timezone.utc)
