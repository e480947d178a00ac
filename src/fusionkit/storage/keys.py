"""The key layout of a studio root, built only from ids that :func:`fusionkit.domain.ids.is_id` accepts.

::

    activities/{activity_id}.json
    activities/{activity_id}/materials/{material_id}      membership marker (the per-activity listing)
    materials/{material_id}/material.json                  metadata, faces and meshes, default degrees
    materials/{material_id}/source.{jpg|png|mp4}
    materials/{material_id}/tracks.npz                     a video material's per-frame face tracks
    results/image/{YYYY-MM-DD}/{material_id}.{result_id}.json + .{jpg|png}
    results/video/{YYYY-MM-DD}/{job_id}.mp4                a fused video (its record is the job document)
    jobs/{job_id}.json                                     a video job
    jobs/{job_id}/user_{n}.png                             the job's user images, deleted when it ends
    jobs/{job_id}/claims/{generation}.json                 the claim of the worker running it (studio/claims.py)
    logs/{YYYY-MM-DD}/{HH}.jsonl                           (on object stores {HH}.{writer}.jsonl, one per studio)
    keyring/{scope}/{key_id}.key                           a wrapped data key (encrypted stores only)
    tenants/{tenant_id}/...                                the same layout again for each app id (tenant)
    audit/{YYYY-MM-DD}.jsonl                               the audit trail (the root's only; no personal data)
    encryption.json                                        an encrypted studio's marker: its master key's id
    subjects/salt                                          the secret end users' ids are hashed with
    capacity/lock, capacity/claims/{claim_id}.json         the capacity check's lock and the bytes in flight
    sweeps/claims/{generation}.json                        the claim of the studio sweeping the store now

Results sit in per-day folders so that expiry is a prefix delete; their names start with the material id so that
deleting a material finds its results by listing names, without reading a document.

Encryption scopes
-----------------
An encrypted store (:mod:`fusionkit.storage.crypto`) encrypts each object under the data key of its *scope*,
:func:`scope_of` its key, so that destroying one data key (crypto-shredding) makes exactly the data that must go
together unreadable at once:

=================================================================  ==========================
key                                                                scope
=================================================================  ==========================
``materials/{material_id}/...``                                    ``{material_id}``
``results/image/{YYYY-MM-DD}/{material_id}.{result_id}.*``         ``{material_id}``
``jobs/{job_id}.json``, ``jobs/{job_id}/...``                      ``{job_id}``
``results/video/{YYYY-MM-DD}/{job_id}.mp4``                        ``{job_id}``
``logs/{YYYY-MM-DD}/...``                                          ``logs-{YYYY-MM-DD}``
``activities/...`` and every other key                             ``studio``
=================================================================  ==========================

A material's results share its scope (deleting the material shreds them with it); a video job has its own (the
studio shreds a job's key when the job's material is deleted); a day of logs is one scope, so an expired day is
shredded whole.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, datetime

from fusionkit.domain import ids
from fusionkit.errors import StorageError

__all__ = [
    "ACTIVITIES",
    "JOBS",
    "KEYRING",
    "LOGS",
    "MATERIALS",
    "RESULTS_IMAGE",
    "RESULTS_VIDEO",
    "ROOT_FOLDERS",
    "STUDIO_SCOPE",
    "activity_doc",
    "activity_members",
    "job_doc",
    "job_folder",
    "job_user",
    "keyring_entry",
    "keyring_folder",
    "log_file",
    "log_folder",
    "log_scope",
    "material_doc",
    "material_folder",
    "material_marker",
    "material_source",
    "material_tracks",
    "result_blob",
    "result_doc",
    "result_folder",
    "scope_of",
    "video_result",
    "video_result_folder",
]

ACTIVITIES = "activities"
MATERIALS = "materials"
RESULTS_IMAGE = "results/image"
RESULTS_VIDEO = "results/video"
JOBS = "jobs"
LOGS = "logs"
KEYRING = "keyring"
TENANTS = "tenants"
AUDIT = "audit"
CAPACITY = "capacity"
#: In the root of the store: the claim of the one studio sweeping it (one sweep at a time, across processes).
SWEEP_CLAIMS = "sweeps/claims"
#: The studio's secret for hashing end users' ids (``us_...``), in the root of the store.
SUBJECT_SALT = "subjects/salt"
#: In the root of an encrypted studio: which master key its data keys are wrapped under (not secret, not encrypted).
ENCRYPTION_MARKER = "encryption.json"
#: The folders at the root of a studio's store (the migration to encryption walks these).
ROOT_FOLDERS = (ACTIVITIES, MATERIALS, RESULTS_IMAGE.split("/")[0], JOBS, LOGS)
#: The scope of every key that belongs to no material, job or day of logs.
STUDIO_SCOPE = "studio"
_EXT = {"jpeg": "jpg", "png": "png", "mp4": "mp4"}


def tenant_id(app_id: str) -> str:
    """The folder name of the tenant ``app_id``: ``t_`` and 26 base-32 letters of its SHA-256, so any app id (any
    printable text) makes a safe, fixed-length key part and no two app ids share one."""
    digest = hashlib.sha256(app_id.encode("utf-8")).digest()
    return "t_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def tenant_folder(app_id: str) -> str:
    """Where the tenant ``app_id``'s studio lives (its own activities, materials, results, jobs, logs, keys)."""
    return f"{TENANTS}/{tenant_id(app_id)}"


def _need(value: str, prefix: str) -> str:
    if not ids.is_id(value, prefix):
        raise StorageError(f"refusing to build a storage key from {value!r}")
    return value


def activity_doc(activity_id: str) -> str:
    return f"{ACTIVITIES}/{_need(activity_id, ids.ACTIVITY)}.json"


def activity_folder(activity_id: str) -> str:
    return f"{ACTIVITIES}/{_need(activity_id, ids.ACTIVITY)}"


def activity_members(activity_id: str) -> str:
    return f"{activity_folder(activity_id)}/materials"


def material_marker(activity_id: str, material_id: str) -> str:
    return f"{activity_members(activity_id)}/{_need(material_id, ids.MATERIAL)}"


def material_folder(material_id: str) -> str:
    return f"{MATERIALS}/{_need(material_id, ids.MATERIAL)}"


def material_doc(material_id: str) -> str:
    return f"{material_folder(material_id)}/material.json"


def material_source(material_id: str, fmt: str) -> str:
    return f"{material_folder(material_id)}/source.{_EXT[fmt]}"


def material_tracks(material_id: str) -> str:
    return f"{material_folder(material_id)}/tracks.npz"


def material_references(material_id: str) -> str:
    """A video material's reference faces (mesh points, one face per reference photo)."""
    return f"{material_folder(material_id)}/references.npz"


def result_folder(day: date) -> str:
    return f"{RESULTS_IMAGE}/{day.isoformat()}"


def result_doc(day: date, material_id: str, result_id: str) -> str:
    return f"{result_folder(day)}/{_need(material_id, ids.MATERIAL)}.{_need(result_id, ids.RESULT)}.json"


def result_blob(day: date, material_id: str, result_id: str, fmt: str) -> str:
    return f"{result_folder(day)}/{_need(material_id, ids.MATERIAL)}.{_need(result_id, ids.RESULT)}.{_EXT[fmt]}"


def log_folder(day: date) -> str:
    return f"{LOGS}/{day.isoformat()}"


def log_file(when: datetime, writer: str | None = None) -> str:
    """The hour's request log file; with ``writer`` (hex digits), that writer's own file of the hour
    (``{HH}.{writer}.jsonl``: on object stores each studio appends to a file no other process writes)."""
    if writer is None:
        return f"{log_folder(when.date())}/{when.hour:02d}.jsonl"
    if not writer or any(c not in "0123456789abcdef" for c in writer):
        raise StorageError(f"refusing the log writer name {writer!r}")
    return f"{log_folder(when.date())}/{when.hour:02d}.{writer}.jsonl"


def job_doc(job_id: str) -> str:
    return f"{JOBS}/{_need(job_id, ids.JOB)}.json"


def job_folder(job_id: str) -> str:
    return f"{JOBS}/{_need(job_id, ids.JOB)}"


def job_user(job_id: str, index: int) -> str:
    return f"{job_folder(job_id)}/user_{int(index)}.png"


def job_options(job_id: str) -> str:
    """The job's fusion options (FuseOptions.to_dict as JSON), beside its user images until it ends."""
    return f"{job_folder(job_id)}/options.json"


def audit_file(day: date) -> str:
    return f"{AUDIT}/{day.isoformat()}.jsonl"


def capacity_lock() -> str:
    return f"{CAPACITY}/lock"


def capacity_claims() -> str:
    return f"{CAPACITY}/claims"


def capacity_claim(claim_id: str) -> str:
    return f"{capacity_claims()}/{_need(claim_id, ids.CLAIM)}.json"


def video_result_folder(day: date) -> str:
    return f"{RESULTS_VIDEO}/{day.isoformat()}"


def video_result(day: date, job_id: str) -> str:
    return f"{video_result_folder(day)}/{_need(job_id, ids.JOB)}.mp4"


# -- encryption scopes and the keyring ------------------------------------------------------------------------------

_DAY = r"\d{4}-\d{2}-\d{2}"
_ID = r"[a-z]{2}_[0-9A-Za-z]{10,40}"
# (layout, the id kind its group must be or None for a day, what the scope puts before the group)
_SCOPED = [
    (re.compile(rf"{MATERIALS}/({_ID})/.+"), ids.MATERIAL, ""),
    (re.compile(rf"{RESULTS_IMAGE}/{_DAY}/({_ID})\.{_ID}\.[a-z]+"), ids.MATERIAL, ""),
    (re.compile(rf"{JOBS}/({_ID})(?:\.json|/.+)"), ids.JOB, ""),
    (re.compile(rf"{RESULTS_VIDEO}/{_DAY}/({_ID})\.mp4"), ids.JOB, ""),
    (re.compile(rf"{LOGS}/({_DAY})/.+"), None, "logs-"),
]
# A scope is a path part of the keyring: letters, digits, "_" and "-" only.
_SCOPE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,79}")
_KEY_ID = re.compile(r"[0-9a-f]{16,64}")


def scope_of(key: str) -> str:
    """The encryption scope of the storage key ``key``: whose data key encrypts it (see the table above).

    A key that follows none of the layouts above, or names an id of the wrong kind, is in the ``"studio"`` scope.

    Examples
    --------
    >>> scope_of("materials/mt_0123456789ab/source.png")
    'mt_0123456789ab'
    >>> scope_of("results/image/2026-01-02/mt_0123456789ab.rs_0123456789ab.jpg")
    'mt_0123456789ab'
    >>> scope_of("logs/2026-01-02/07.jsonl")
    'logs-2026-01-02'
    >>> scope_of("activities/ac_0123456789ab.json")
    'studio'
    """
    for pattern, kind, prefix in _SCOPED:
        m = pattern.fullmatch(key)
        if m is not None:
            if kind is not None and not ids.is_id(m.group(1), kind):
                break
            return prefix + m.group(1)
    return STUDIO_SCOPE


def log_scope(day: date) -> str:
    """The scope of a day of logs (what :func:`scope_of` gives for every key under :func:`log_folder`)."""
    return f"logs-{day.isoformat()}"


def keyring_folder(scope: str) -> str:
    """The folder of the wrapped data keys of ``scope`` (deleting it shreds the scope)."""
    if type(scope) is not str or not _SCOPE.fullmatch(scope):
        raise StorageError(f"refusing to build a keyring key from the scope {scope!r}")
    return f"{KEYRING}/{scope}"


def keyring_entry(scope: str, key_id: str) -> str:
    """One wrapped data key of ``scope``; ``key_id`` is its random hex id (an encrypted object's header names it)."""
    if type(key_id) is not str or not _KEY_ID.fullmatch(key_id):
        raise StorageError(f"refusing to build a keyring key from the data key id {key_id!r}")
    return f"{keyring_folder(scope)}/{key_id}.key"
