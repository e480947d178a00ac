"""``studio.logs``: the request log, one JSON line per public call under ``logs/{date}/{hour}.jsonl``, also
sent to Python's :mod:`logging` (logger :data:`LOGGER_NAME`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import attrs

from fusionkit.domain.studio import LogRecord
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound
from fusionkit.studio.common import Calls, day_of
from fusionkit.studio.context import RequestContext

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
        oldest = self._studio.now() - self._studio.retention.logs
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

    def _sweep(self, now: datetime) -> int:
        store = self._studio.store
        keep_for = self._studio.retention.logs
        removed = 0
        for name in store.list(keys.LOGS):
            day = day_of(name)
            if day is None:
                continue
            folder = keys.log_folder(day)
            for hour_name in store.list(folder):
                if not (hour_name.endswith(".jsonl") and hour_name[:2].isdigit()):
                    continue
                start = datetime(day.year, day.month, day.day, int(hour_name[:2]), tzinfo=timezone.utc)
                key = f"{folder}/{hour_name}"
                if start + keep_for > now:
                    continue
                if start + timedelta(hours=1) + keep_for <= now:
                    try:
                        removed += store.read(key).count(b"\n")
                    except KeyNotFound:
                        continue
                    store.delete(key)
                else:
                    removed += store.rewrite_lines(key, lambda line: self._fresh(line, now - keep_for))
            if not store.list(folder):
                store.delete_prefix(folder)
        return removed

    @staticmethod
    def _fresh(line: bytes, oldest: datetime) -> bool:
        try:
            return LogRecord.from_json(line).timestamp > oldest
        except (FusionKitError, ValueError):
            return False

    def _erase(self, subject_ids: frozenset[str]) -> int:
        if not subject_ids:
            return 0
        store = self._studio.store

        def keep(line: bytes) -> bool:
            try:
                return not LogRecord.from_json(line).refers_to(subject_ids)
            except (FusionKitError, ValueError):
                return not any(s.encode() in line for s in subject_ids)

        removed = 0
        for name in store.list(keys.LOGS):
            day = day_of(name)
            if day is None:
                continue
            for hour_name in store.list(keys.log_folder(day)):
                if hour_name.endswith(".jsonl"):
                    removed += store.rewrite_lines(f"{keys.log_folder(day)}/{hour_name}", keep)
        return removed
