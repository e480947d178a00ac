"""``studio.results``: stored fused image results under ``results/image/{date}/``; an expired one reads as not
found, and the sweeper and erasure remove them."""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import attrs

from fusionkit.domain import ids
from fusionkit.domain.studio import FusedResult
from fusionkit.errors import ResultIdNotFoundError
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound
from fusionkit.studio.common import Calls, day_of, need_result, result_id_of
from fusionkit.studio.context import RequestContext

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["Results"]


@attrs.define(eq=False)
class Results:
    """``studio.results``: stored fused results; an expired one reads as not found."""

    _studio: Studio
    _calls: Calls

    def _store(self, result: FusedResult, data: bytes) -> FusedResult:
        s = self._studio
        day = result.created.date()
        blob = keys.result_blob(day, result.material_id, result.id, result.format)
        doc = keys.result_doc(day, result.material_id, result.id)
        result = attrs.evolve(result, expires=result.created + s.retention.image_results, url=s.store.url(blob))
        s.store.write(blob, data)
        try:
            s.store.write(doc, result.to_json().encode())
        except BaseException:
            with contextlib.suppress(Exception):
                s.store.delete(blob)
            raise
        return result

    def _find(self, result_id: str) -> tuple[str, FusedResult]:
        s = self._studio
        folder = keys.result_folder(ids.id_time(result_id).date())
        suffix = f".{result_id}.json"
        for name in s.store.list(folder):
            if name.endswith(suffix):
                key = f"{folder}/{name}"
                try:
                    result = FusedResult.from_json(s.store.read(key))
                except KeyNotFound:
                    break
                if result.id != result_id or result.is_expired(s.now()):
                    break
                return key, result
        raise ResultIdNotFoundError(f"no stored result {result_id} (never stored, deleted or expired)")

    def get(self, result_id: str, *, context: RequestContext | None = None) -> FusedResult:
        """The stored result's record (no payload)."""
        with self._calls("DescribeResult", context) as (call, _):
            call.refs["result_id"] = result_id = need_result(result_id)
            return self._find(result_id)[1]

    def read(self, result_id: str, *, context: RequestContext | None = None) -> bytes:
        """The stored result's encoded bytes."""
        s = self._studio
        with self._calls("DownloadResult", context) as (call, _):
            call.refs["result_id"] = result_id = need_result(result_id)
            key, result = self._find(result_id)
            try:
                return s.store.read(key[: -len("json")] + ("jpg" if result.format == "jpeg" else "png"))
            except KeyNotFound:
                raise ResultIdNotFoundError(f"no stored result {result_id} (deleted meanwhile)") from None

    def _folders(self) -> list[tuple[date, str]]:
        out = []
        for name in self._studio.store.list(keys.RESULTS_IMAGE):
            day = day_of(name)
            if day is not None:
                out.append((day, keys.result_folder(day)))
        return out

    def _delete(self, folder: str, name: str) -> None:
        store = self._studio.store
        stem = name[: -len(".json")]
        store.delete(f"{folder}/{name}")  # the document first: the result stops being readable at once
        for ext in ("jpg", "png"):
            store.delete(f"{folder}/{stem}.{ext}")

    def _sweep(self, now: datetime) -> int:
        keep_for = self._studio.retention.image_results
        removed = 0
        for day, folder in self._folders():
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            if start + timedelta(days=1) + keep_for <= now:
                removed += sum(1 for n in self._studio.store.list(folder) if n.endswith(".json"))
                self._studio.store.delete_prefix(folder)
                continue
            if start + keep_for > now:
                continue  # nothing in this day can have expired yet
            for name in self._studio.store.list(folder):
                rid = result_id_of(name)
                if rid is None or not ids.is_id(rid, ids.RESULT) or ids.id_time(rid) + keep_for > now:
                    continue
                try:
                    result = FusedResult.from_json(self._studio.store.read(f"{folder}/{name}"))
                except KeyNotFound:
                    continue
                if result.is_expired(now):
                    self._delete(folder, name)
                    removed += 1
            self._drop_if_empty(folder)
        return removed

    def _erase(self, material_ids: frozenset[str], result_ids: frozenset[str], request_ids: frozenset[str]) -> int:
        removed = 0
        for _, folder in self._folders():
            for name in self._studio.store.list(folder):
                rid = result_id_of(name)
                if rid is None:
                    continue
                hit = name.split(".", 1)[0] in material_ids or rid in result_ids
                if not hit and request_ids:
                    try:
                        doc = json.loads(self._studio.store.read(f"{folder}/{name}"))
                    except KeyNotFound:
                        continue
                    hit = doc.get("request_id") in request_ids
                if hit:
                    self._delete(folder, name)
                    removed += 1
            self._drop_if_empty(folder)
        return removed

    def _drop_if_empty(self, folder: str) -> None:
        if not self._studio.store.list(folder):
            self._studio.store.delete_prefix(folder)
