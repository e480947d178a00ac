"""``studio.subjects``: everything the studio holds about one end user, found, exported and erased by the host's
own id for them (the request context's ``user_id``).

The studio never stores that id: results, jobs and log lines carry ``us_`` and 26 letters of an HMAC-SHA256 of it
under a secret of the studio's own (``subjects/salt``, encrypted like the rest when the studio is), so the same
user is the same subject across calls, and the stored value says nothing about who they are without the studio.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import secrets
import threading
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from fusionkit.domain import ids
from fusionkit.domain.studio import ErasureReceipt, FusedResult
from fusionkit.errors import FusionKitError, ParameterValueError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.common import Calls, day_folders, job_ids, load_job, result_id_of
from fusionkit.studio.context import RequestContext
from fusionkit.studio.rulebook import Subjects

if TYPE_CHECKING:
    from fusionkit.studio.retention import RetentionRules
    from fusionkit.studio.studio import Studio

__all__ = ["EndUsers", "SubjectHasher"]


class SubjectHasher:
    """Turns the host's user ids into the studio's subject ids (``us_...``) with the studio's secret, made on first
    use (32 random bytes at ``subjects/salt``; read back after writing, so processes that raced to make it agree
    on the one that stayed).

    Parameters
    ----------
    root
        Returns the store the secret lives in (the root's view, encrypted when the studio is).
    """

    def __init__(self, root: Callable[[], BlobStore]) -> None:
        self._root = root
        self._salt: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._salt is None:
                store = self._root()
                try:
                    self._salt = store.read(keys.SUBJECT_SALT)
                except KeyNotFound:
                    store.write(keys.SUBJECT_SALT, secrets.token_bytes(32))
                    self._salt = store.read(keys.SUBJECT_SALT)
            return self._salt

    def subject(self, user_id: str) -> str:
        """The subject id of the host's ``user_id``."""
        digest = hmac.new(self._secret(), user_id.encode("utf-8"), hashlib.sha256).digest()
        return f"{ids.SUBJECT}_" + base64.b32encode(digest).decode("ascii").lower()[:26]

    def of(self, context: RequestContext) -> str | None:
        """The subject of a call's context (``None`` without a ``user_id``)."""
        return None if context.user_id is None else self.subject(context.user_id)


def _user(user_id: object) -> str:
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= 256 or not user_id.isprintable():
        raise ParameterValueError(f"user_id must be 1-256 printable characters, got {user_id!r}")
    return user_id


class EndUsers:
    """``studio.subjects``: an access request (:meth:`export`) and an erasure request (:meth:`erase`) for one end
    user, in the tenant of the call."""

    def __init__(self, studio: Studio, calls: Calls, rules: RetentionRules, hasher: SubjectHasher) -> None:
        self._studio = studio
        self._calls = calls
        self._rules = rules
        self._hasher = hasher

    def export(self, user_id: str, *, context: RequestContext | None = None) -> bytes:
        """Everything held about the end user ``user_id``, as one ZIP archive: ``results/{result_id}.json`` with
        each stored fused image beside it, ``jobs/{job_id}.json`` with each stored fused video, and ``logs.jsonl``
        (their request log lines, under the service's field names, with the studio's own fields)."""
        with self._calls("ExportSubjectData", context):
            subject = self._hasher.subject(_user(user_id))
            store = self._studio.store
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
                for name, data in self._results(store, subject):
                    archive.writestr(name, data)
                for name, data in self._jobs(store, subject):
                    archive.writestr(name, data)
                lines = [r.to_json() for r in self._studio.logs.lines_about(subject)]
                archive.writestr("logs.jsonl", "".join(line + "\n" for line in lines))
                archive.writestr("README.txt", f"Everything fusionkit's studio held about end user {subject} (their "
                                 "id hashed under the studio's secret), at the time of the export.\n")
            return buf.getvalue()

    def erase(self, user_id: str, *, context: RequestContext | None = None) -> ErasureReceipt:
        """Delete everything held about the end user ``user_id`` (results, video jobs and their results, request
        log lines); the receipt is kept in the audit trail, which names no end user."""
        with self._calls("EraseSubjectData", context) as (_, request_id):
            subject = self._hasher.subject(_user(user_id))
            counts = self._rules.erase(Subjects(subject_ids=frozenset({subject})))
            return self._rules.audit.receipt("erasure", request_id, (), counts)

    @staticmethod
    def _results(store: BlobStore, subject: str) -> list[tuple[str, bytes]]:
        out = []
        for day, folder in day_folders(store, keys.RESULTS_IMAGE, keys.result_folder):
            for doc_name in store.list(folder):
                if result_id_of(doc_name) is None:
                    continue
                try:
                    result = FusedResult.from_json(store.read(f"{folder}/{doc_name}"))
                    if result.subject != subject:
                        continue
                    image = store.read(keys.result_blob(day, result.material_id, result.id, result.format))
                except (KeyNotFound, FusionKitError):
                    continue
                out.append((f"results/{result.id}.json", result.to_json().encode()))
                out.append((f"results/{result.id}.{'jpg' if result.format == 'jpeg' else 'png'}", image))
        return out

    @staticmethod
    def _jobs(store: BlobStore, subject: str) -> list[tuple[str, bytes]]:
        out = []
        for job_id in job_ids(store):
            try:
                job = load_job(store, job_id)
            except FusionKitError:
                continue
            if job.subject != subject:
                continue
            out.append((f"jobs/{job.id}.json", json.dumps(job.to_dict()).encode()))
            if job.status == "completed" and job.user_designated_url is None:
                with contextlib.suppress(KeyNotFound):
                    out.append((f"jobs/{job.id}.mp4", store.read(keys.video_result(job.updated.date(), job.id))))
        return out
