"""What a studio folder must look like after anything went wrong in it, and the recovery that gets it there.

:func:`recover_and_check` takes a local studio folder some failure was injected into (a store call that failed, a
process killed with SIGKILL) and reports, with a fresh studio opened on it:

- *corrupt*: a document that does not parse by its kind (every ``.json`` by its key's kind, every line of a
  request log and of the audit trail), an object that does not decrypt, a file the layout does not know;
- *leftovers*, after a sweep run two hours later (the folder's files and the job scratch folders aged two hours
  with it, so whatever an interrupted call left qualifies): a temporary file of a write, a material folder
  without its document, a material without its source, marker or activity, a marker without its material, a
  result without its image or material (or an image without its record), a job's inputs beside a job that ended
  or has no document, a video result without its completed job, an object whose data key was destroyed, a job
  scratch folder (``fusionkit-job-*`` in the temporary folder).

Keys of data nothing uses any more (a keyring scope with no object) are *notes*: harmless, reported apart.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import fusionkit
from fusionkit.domain import ids
from fusionkit.domain.audit import AuditRecord
from fusionkit.domain.options import FuseOptions
from fusionkit.domain.studio import Activity, FusedResult, LogRecord, Material, VideoJob
from fusionkit.storage import KeyNotFound
from fusionkit.storage.crypto import ObjectShredded
from fusionkit.studio import Studio
from fusionkit.studio.workers import SCRATCH_PREFIX

__all__ = ["AGE", "Report", "age_tree", "recover_and_check", "scratch_folders", "walk"]

#: How far the check moves time on before its sweep: past every "untouched for an hour" rule.
AGE = timedelta(hours=2)
_TMP = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")
_DAY = r"\d{4}-\d{2}-\d{2}"
_ID = r"[a-z]{2}_[0-9A-Za-z]{10,40}"


@attrs.define
class Report:
    """What a check found: ``corrupt`` and ``leftovers`` are failures, ``notes`` are not."""

    corrupt: list[str] = attrs.field(factory=list)
    leftovers: list[str] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)
    unmet: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.leftovers or self.unmet)

    def lines(self) -> list[str]:
        return ([f"corrupt: {p}" for p in self.corrupt] + [f"leftover: {p}" for p in self.leftovers]
                + [f"unmet: {p}" for p in self.unmet])


def age_tree(folder: str | os.PathLike[str], by: timedelta = AGE) -> None:
    """Move the modification time of every file and folder under ``folder`` (itself too) ``by`` into the past."""
    seconds = by.total_seconds()
    for path in [str(folder), *_all_paths(folder)]:
        try:
            st = os.stat(path, follow_symlinks=False)
            os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds), follow_symlinks=False)
        except OSError:
            continue


def _all_paths(folder: str | os.PathLike[str]) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


def scratch_folders(tmpdir: str | None = None) -> list[str]:
    """The job scratch folders (``fusionkit-job-*``) in ``tmpdir`` (default: the temporary folder)."""
    root = tmpdir or tempfile.gettempdir()
    try:
        return sorted(os.path.join(root, n) for n in os.listdir(root) if n.startswith(SCRATCH_PREFIX))
    except OSError:
        return []


def _tenant_stores(studio: Studio) -> dict[str, Any]:
    """``{folder prefix: the store a tenant's calls see}``: ``""`` for the root's, ``tenants/t_.../`` for each."""
    out = {}
    for tenant in studio.tenants():
        with studio.tenant_scope(tenant):
            out["" if tenant is None else f"tenants/{tenant}/"] = studio.store
    return out


def _split(rel: str, prefixes: list[str]) -> tuple[str, str]:
    """(tenant prefix, key within the tenant) of a path relative to the studio's folder."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix and rel.startswith(prefix):
            return prefix, rel[len(prefix):]
    return "", rel


@attrs.define
class _Tenant:
    """What one tenant's folder holds, by kind, gathered by :func:`walk`."""

    activities: set[str] = attrs.field(factory=set)
    markers: set[tuple[str, str]] = attrs.field(factory=set)
    material_folders: set[str] = attrs.field(factory=set)
    materials: dict[str, Material] = attrs.field(factory=dict)
    sources: set[tuple[str, str]] = attrs.field(factory=set)
    result_docs: dict[tuple[str, str, str], FusedResult] = attrs.field(factory=dict)
    result_blobs: set[tuple[str, str, str]] = attrs.field(factory=set)
    jobs: dict[str, VideoJob] = attrs.field(factory=dict)
    job_folders: set[str] = attrs.field(factory=set)
    video_results: set[tuple[str, str]] = attrs.field(factory=set)
    keyring: set[str] = attrs.field(factory=set)
    shredded: list[str] = attrs.field(factory=list)
    temporaries: list[str] = attrs.field(factory=list)


def _read_as(store: Any, key: str, parse: Callable[[bytes], object], tenant: _Tenant, report: Report,
             where: str) -> Any:
    """``parse(store.read(key))``; a read or parse failure goes to the report (a shredded object to the tenant)."""
    try:
        data = store.read(key)
    except ObjectShredded:
        tenant.shredded.append(where)
        return None
    except KeyNotFound:
        return None  # removed while walking (it cannot be: one thread) or a folder
    except Exception as exc:
        report.corrupt.append(f"{where}: unreadable ({type(exc).__name__}: {exc})")
        return None
    try:
        return parse(data)
    except Exception as exc:
        report.corrupt.append(f"{where}: does not parse ({type(exc).__name__}: {exc})")
        return None


def _lines(parse: Callable[[bytes], object]) -> Callable[[bytes], object]:
    def each(data: bytes) -> object:
        for n, line in enumerate(data.splitlines(), 1):
            try:
                parse(line)
            except Exception as exc:
                raise ValueError(f"line {n} ({line[:60]!r}...): {type(exc).__name__}: {exc}") from None
        return data

    return each


def _npz(data: bytes) -> object:
    with np.load(io.BytesIO(data)) as npz:
        return {k: npz[k] for k in npz.files}


def _json_object(data: bytes) -> object:
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def walk(studio: Studio, folder: str | os.PathLike[str], report: Report) -> dict[str, _Tenant]:
    """Read every file under the studio's ``folder`` by its kind, through the store its tenant's calls see
    (decrypting, when the studio encrypts); what does not read or parse goes to ``report.corrupt``."""
    stores = _tenant_stores(studio)
    tenants = {prefix: _Tenant() for prefix in stores}
    root = str(folder)
    for path in sorted(_all_paths(root)):
        if os.path.isdir(path):
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            prefix, key = _split(rel + "/", list(stores))
            m = re.fullmatch(rf"materials/({_ID})/", key)
            if m and prefix in tenants:
                tenants[prefix].material_folders.add(m.group(1))
            m = re.fullmatch(rf"jobs/({_ID})/", key)
            if m and prefix in tenants:
                tenants[prefix].job_folders.add(m.group(1))
            continue
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        prefix, key = _split(rel, list(stores))
        t = tenants.get(prefix)
        if t is None:
            report.corrupt.append(f"{rel}: in a tenant folder the studio does not list")
            continue
        store = stores[prefix]
        name = key.rsplit("/", 1)[-1]
        if _TMP.fullmatch(name):
            t.temporaries.append(rel)
            continue
        if prefix == "" and key == "encryption.json":
            _read_as(studio.root, key, _json_object, t, report, rel)
            continue
        m = re.fullmatch(r"keyring/([0-9A-Za-z][0-9A-Za-z_-]*)/[0-9a-f]{16,64}\.key", key)
        if m:
            t.keyring.add(m.group(1))
            _read_as(studio.root, rel, _json_object, t, report, rel)
            continue
        if m := re.fullmatch(rf"activities/({_ID})\.json", key):
            if _read_as(store, key, Activity.from_json, t, report, rel) is not None:
                t.activities.add(m.group(1))
        elif m := re.fullmatch(rf"activities/({_ID})/materials/({_ID})", key):
            t.markers.add((m.group(1), m.group(2)))
            _read_as(store, key, bytes, t, report, rel)
        elif m := re.fullmatch(rf"materials/({_ID})/material\.json", key):
            material = _read_as(store, key, Material.from_json, t, report, rel)
            if material is not None:
                t.materials[m.group(1)] = material
                if material.id != m.group(1):
                    report.corrupt.append(f"{rel}: holds material {material.id}")
        elif m := re.fullmatch(rf"materials/({_ID})/source\.(jpg|png|mp4)", key):
            if _read_as(store, key, bytes, t, report, rel) is not None:
                t.sources.add((m.group(1), m.group(2)))
        elif re.fullmatch(rf"materials/{_ID}/(tracks|references)\.npz", key):
            _read_as(store, key, _npz, t, report, rel)
        elif m := re.fullmatch(rf"results/image/({_DAY})/({_ID})\.({_ID})\.json", key):
            result = _read_as(store, key, FusedResult.from_json, t, report, rel)
            if result is not None:
                t.result_docs[(m.group(1), m.group(2), m.group(3))] = result
        elif m := re.fullmatch(rf"results/image/({_DAY})/({_ID})\.({_ID})\.(jpg|png)", key):
            if _read_as(store, key, bytes, t, report, rel) is not None:
                t.result_blobs.add((m.group(1), m.group(2), m.group(3)))
        elif m := re.fullmatch(rf"results/video/({_DAY})/({_ID})\.mp4", key):
            if _read_as(store, key, bytes, t, report, rel) is not None:
                t.video_results.add((m.group(1), m.group(2)))
        elif m := re.fullmatch(rf"jobs/({_ID})\.json", key):
            job = _read_as(store, key, VideoJob.from_json, t, report, rel)
            if job is not None:
                t.jobs[m.group(1)] = job
        elif re.fullmatch(rf"jobs/{_ID}/user_\d+\.png", key):
            _read_as(store, key, bytes, t, report, rel)
        elif re.fullmatch(rf"jobs/{_ID}/options\.json", key):
            _read_as(store, key, FuseOptions.from_json, t, report, rel)
        elif re.fullmatch(rf"jobs/{_ID}/claims/\d{{8}}\.json", key):
            _read_as(store, key, _json_object, t, report, rel)
        elif re.fullmatch(rf"logs/{_DAY}/\d\d(\.[0-9a-f]+)?\.jsonl", key):
            _read_as(store, key, _lines(LogRecord.from_json), t, report, rel)
        elif prefix == "" and re.fullmatch(rf"audit/{_DAY}\.jsonl", key):
            _read_as(store, key, _lines(AuditRecord.from_json), t, report, rel)
        elif key == "subjects/salt":
            salt = _read_as(store, key, bytes, t, report, rel)
            if salt is not None and len(salt) != 32:
                report.corrupt.append(f"{rel}: {len(salt)} bytes, not 32")
        elif key == "capacity/lock":
            continue
        elif re.fullmatch(rf"capacity/claims/{_ID}\.json", key):
            _read_as(store, key, _json_object, t, report, rel)
        elif prefix == "" and re.fullmatch(r"sweeps/claims/\d{8}\.json", key):
            if _read_as(store, key, _json_object, t, report, rel) is not None:
                report.leftovers.append(f"{rel}: the claim of a sweep that has ended")
        else:
            report.corrupt.append(f"{rel}: a file the studio's layout does not have")
    return tenants


def _leftovers(tenants: dict[str, _Tenant], report: Report, encrypted: bool) -> None:
    """The references between what :func:`walk` found that must hold once a sweep has run."""
    for prefix, t in tenants.items():
        report.leftovers += [f"{p}: a temporary file of a write" for p in t.temporaries]
        report.leftovers += [f"{p}: an object whose data key was destroyed" for p in t.shredded]
        listed = {mid for _, mid in t.markers}
        for mid in sorted(t.material_folders - set(t.materials)):
            report.leftovers.append(f"{prefix}materials/{mid}/: a material folder without its document")
        for mid, material in sorted(t.materials.items()):
            ext = {"jpeg": "jpg"}.get(material.source_format, material.source_format)
            if (mid, ext) not in t.sources:
                report.leftovers.append(f"{prefix}materials/{mid}: a material without its source")
            if (material.activity_id, mid) not in t.markers:
                report.leftovers.append(f"{prefix}materials/{mid}: a material its activity does not list")
            if material.activity_id not in t.activities:
                report.leftovers.append(f"{prefix}materials/{mid}: a material whose activity is gone")
        for aid, mid in sorted(t.markers):
            if mid not in t.materials:
                report.leftovers.append(f"{prefix}activities/{aid}/materials/{mid}: a marker without its material")
            if aid not in t.activities:
                report.leftovers.append(f"{prefix}activities/{aid}/materials/{mid}: a marker without its activity")
        for (day, mid, rid), _ in sorted(t.result_docs.items()):
            if (day, mid, rid) not in t.result_blobs:
                report.leftovers.append(f"{prefix}results/image/{day}/{mid}.{rid}: a record without its image")
            if mid not in t.materials:
                report.leftovers.append(f"{prefix}results/image/{day}/{mid}.{rid}: a result whose material is gone")
        for day, mid, rid in sorted(t.result_blobs - set(t.result_docs)):
            report.leftovers.append(f"{prefix}results/image/{day}/{mid}.{rid}: an image without its record")
        for jid in sorted(t.job_folders):
            job = t.jobs.get(jid)
            if job is None:
                report.leftovers.append(f"{prefix}jobs/{jid}/: a job's inputs without its document")
            elif job.done:
                report.leftovers.append(f"{prefix}jobs/{jid}/: the inputs of a job that ended ({job.status})")
        for day, jid in sorted(t.video_results):
            job = t.jobs.get(jid)
            if job is None or job.status != "completed":
                report.leftovers.append(f"{prefix}results/video/{day}/{jid}.mp4: a video without its completed job")
        if encrypted:
            live = set(t.materials) | set(t.jobs) | listed
            for scope in sorted(t.keyring):
                if (ids.is_id(scope, ids.MATERIAL) or ids.is_id(scope, ids.JOB)) and scope not in live:
                    report.notes.append(f"{prefix}keyring/{scope}: the data key of nothing stored")


def wait_for_jobs(studio: Studio, timeout: float = 120.0) -> list[str]:
    """Let the studio's workers finish every job they picked up; the ids of those still not done at ``timeout``."""
    from fusionkit.studio.common import job_ids, load_job

    deadline = time.monotonic() + timeout
    pending: list[str] = []
    for tenant in studio.tenants():
        with studio.tenant_scope(tenant):
            for jid in job_ids(studio.store):
                while True:
                    try:
                        job = load_job(studio.store, jid)
                    except Exception:
                        break
                    if job.done:
                        break
                    if time.monotonic() > deadline:
                        pending.append(jid)
                        break
                    time.sleep(0.05)
    return pending


def recover_and_check(
    folder: str | os.PathLike[str],
    *,
    now: datetime,
    encryption: str | None,
    tmpdir: str | None = None,
    run_jobs: bool = False,
    expect: Callable[[Studio], list[str]] | None = None,
) -> Report:
    """Reopen the studio at ``folder`` after a failure and check it (see the module's docstring).

    Parameters
    ----------
    folder
        The studio's local folder; no process may be using it.
    now
        The studio clock's time when it failed; the check runs at ``now + AGE``.
    encryption
        ``"auto"`` or ``None``, as the studio was opened.
    tmpdir
        Where the studio's job scratch folders are (default: the temporary folder).
    run_jobs
        First open it with a video worker and let it finish the jobs a restart picks up (a job interrupted by
        the failure is retried), as a host's next start would.
    expect
        Given the studio after the sweep, returns what it finds unmet about the calls that succeeded.
    """
    report = Report()
    later = now + AGE
    if not os.path.isdir(folder):
        return report  # killed before it made the folder
    if run_jobs:
        studio = fusionkit.open(folder, clock=lambda: later, video_workers=1, sweep_every=None, job_lease=1,
                                encryption=encryption)
        try:
            pending = wait_for_jobs(studio)
            report.unmet += [f"job {jid} did not end after the restart" for jid in pending]
        finally:
            studio.close()
    studio = fusionkit.open(folder, clock=lambda: later, video_workers=0, sweep_every=None, job_lease=1,
                            encryption=encryption)
    encrypted = studio.encryption is not None
    before = Report()
    walk(studio, folder, before)
    report.corrupt += before.corrupt
    age_tree(folder)
    for scratch in scratch_folders(tmpdir):
        age_tree(scratch)
    try:
        studio.sweep()
    except Exception as exc:
        report.unmet.append(f"the sweep failed: {type(exc).__name__}: {exc}")
    after = Report()
    tenants = walk(studio, folder, after)
    report.corrupt += [p for p in after.corrupt if p not in report.corrupt]
    report.leftovers += after.leftovers  # a sweep's claim, which the sweep just run must have taken over
    _leftovers(tenants, report, encrypted)
    report.leftovers += [f"{p}: a job scratch folder" for p in scratch_folders(tmpdir)]
    if expect is not None:
        try:
            report.unmet += expect(studio)
        except Exception as exc:
            report.unmet.append(f"checking the calls that succeeded failed: {type(exc).__name__}: {exc}")
    studio.close()
    return report


def files_of(folder: str | os.PathLike[str]) -> list[str]:
    """Every file under ``folder``, relative, sorted (for a failure's description)."""
    return sorted(str(Path(p).relative_to(folder)) for p in _all_paths(folder) if os.path.isfile(p))
