"""``studio.results``: stored fused image results under ``results/image/{date}/``; an expired one reads as not
found, and the sweeper and erasure remove them."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import attrs

from fusionkit.domain import ids
from fusionkit.domain.studio import FusedResult
from fusionkit.errors import ResultIdNotFoundError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.common import Calls, need_result
from fusionkit.studio.context import RequestContext
from fusionkit.studio.retention import ImageResultRule, RetentionRules

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["Results", "store_result"]


def store_result(store: BlobStore, rule: ImageResultRule, result: FusedResult, data: bytes) -> FusedResult:
    """Store a fused image ``data`` with its record (the image first, so a readable record always has its image);
    return the record with its URL and the expiry ``rule`` gives it."""
    day = result.created.date()
    blob = keys.result_blob(day, result.material_id, result.id, result.format)
    doc = keys.result_doc(day, result.material_id, result.id)
    result = attrs.evolve(result, expires=rule.expires(result.created), url=store.url(blob))
    store.write(blob, data)
    try:
        store.write(doc, result.to_json().encode())
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(blob)
        raise
    return result


@attrs.define(eq=False)
class Results:
    """``studio.results``: stored fused results; an expired one reads as not found."""

    _studio: Studio
    _calls: Calls
    _rules: RetentionRules

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
                rule = self._rules.image_results
                if result.id != result_id or rule.expired(result, s.now()):
                    break
                return key, attrs.evolve(result, expires=rule.expires(result.created))  # by today's policy
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
