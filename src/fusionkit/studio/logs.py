"""``studio.logs``: the request log, one JSON line per public call under ``logs/{date}/{hour}.jsonl``; Python's
:mod:`logging` (logger :data:`LOGGER_NAME`) gets a line without personal data for each call."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from fusionkit.domain.studio import LogRecord
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound, LocalStore
from fusionkit.studio.common import Calls, day_of
from fusionkit.studio.context import RequestContext
from fusionkit.studio.retention import RetentionRules

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["LOGGER_NAME", "RequestLog"]

LOGGER_NAME = "fusionkit.studio.requests"
_log = logging.getLogger(LOGGER_NAME)


#: Bytes of request log lines a studio writes to one file on an object store before it starts another.
_PART_BYTES = 256 * 1024


def appends_across_processes(store: Any) -> bool:
    """Whether ``store`` (under its wrappers: their ``inner``) appends safely from many processes at once: local
    disk does (``flock``); an object store's append is a read and a whole write, safe within one process only."""
    while not isinstance(store, LocalStore) and hasattr(store, "inner"):
        store = store.inner
    return isinstance(store, LocalStore)


@attrs.define(eq=False)
class RequestLog:
    """``studio.logs``: one JSON line per public call under ``logs/{date}/{hour}.jsonl``; lines older than the
    retention policy's log period read as gone, and a data-subject erasure removes the lines that name its ids.

    The ``"fusionkit.studio.requests"`` Python logger gets, per call, only the request id, interface, status and
    time: whatever the host's handlers do with it is outside the studio's retention and erasure, so IPs, account
    ids and URLs go there only when the studio was opened with ``log_personal_fields=True``.
    """

    _studio: Studio
    _calls: Calls
    _rules: RetentionRules

    # This studio's own hour files on stores whose appends are not safe across processes (object stores: an
    # append there is a read and a whole write), so that studios in many processes lose none of each other's lines;
    # a new file every 256 KiB, so that an append never reads and writes more than that.
    _writer: str = attrs.field(init=False, factory=lambda: secrets.token_hex(6))
    _part: list[int] = attrs.field(init=False, factory=lambda: [0, 0])  # [file number, bytes in it]

    def write(self, record: LogRecord) -> None:
        """Append one record to the log (the studio's call wrapper does this for every call) and tell Python's
        logging about it (without personal fields unless the studio opted in)."""
        line = record.to_json()
        writer = None
        if not appends_across_processes(self._studio.root):
            if self._part[1] >= _PART_BYTES:
                self._part[:] = [self._part[0] + 1, 0]
            self._part[1] += len(line) + 1
            writer = f"{self._writer}{self._part[0]:x}"
        try:
            self._studio.store.append(keys.log_file(record.timestamp, writer), line.encode() + b"\n")
        except Exception as exc:  # the request log must not turn a good call into a failed one
            _log.error("fusionkit: could not write the request log (%s)", type(exc).__name__)
        if not _log.isEnabledFor(logging.INFO):
            return
        if self._studio.log_personal_fields:
            _log.info(line, extra={"fusionkit_request": record.to_dict()})
            return
        brief = {"request_id": record.request_id, "interface": record.interface,
                 "status": record.error_code or "ok", "time_cost_ms": round(record.time_cost_ms, 3)}
        _log.info("%s %s %s %.1f ms", record.request_id, record.interface, brief["status"], record.time_cost_ms,
                  extra={"fusionkit_request": brief})

    def lines_about(self, subject: str) -> list[LogRecord]:
        """Every record (within the log period) of calls for the end user ``subject`` (``us_...``), oldest first:
        what :meth:`EndUsers.export <fusionkit.studio.subjects.EndUsers.export>` hands over."""
        oldest = self._rules.logs.oldest(self._studio.now())
        out = []
        for key in self._hour_keys(oldest, self._studio.now()):
            try:
                lines = self._studio.store.read(key).splitlines()
            except KeyNotFound:
                continue
            for line in lines:
                if subject.encode() not in line:
                    continue
                try:
                    rec = LogRecord.from_json(line)
                except (FusionKitError, ValueError):
                    continue
                if rec.subject == subject and rec.timestamp > oldest:
                    out.append(rec)
        out.sort(key=lambda r: r.timestamp)
        return out

    def export(self, since: datetime, until: datetime, *, format: str = "jsonl",
               context: RequestContext | None = None) -> bytes:
        """The records with ``since <= timestamp < until`` under the service's field names (Timestamp, AppId, Uin,
        SubAccountUin, RequestId, ClientIp, ReportIp, TimeCost, Region, InterfaceName, VideoUrl, ResultUrl,
        ImageUrl), one JSON object a line, oldest first: for a host that hands the log on in the service's form.

        Parameters
        ----------
        since, until
            Timezone-aware datetimes.
        format
            ``"jsonl"`` (the only one).
        """
        with self._calls("ExportLogs", context):
            if format != "jsonl":
                raise ParameterValueError(f"format must be 'jsonl', got {format!r}")
            records = self._query(since, until, None)
            return b"".join(json.dumps(r.to_service(), ensure_ascii=False).encode() + b"\n" for r in records)

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
