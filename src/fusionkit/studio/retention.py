"""How long the studio keeps each kind of data, and how it goes: one rule object per kind.

Each rule answers both questions its data raises, so the sweeper and the rooms that read the data cannot
disagree: when a stored item expires (asked when it is written and when it is read) and how expired or erased
items are removed (asked by :meth:`Studio.sweep`, :meth:`Studio.erase` and the deletes). To add a kind of data,
write its rule here and name it in :class:`RetentionRules`; the rooms never remove another room's data
themselves.

- :class:`ImageResultRule`: fused images under ``results/image/{date}/`` (the policy's ``image_results``);
- :class:`VideoResultRule`: video jobs and their results (``video_results``); erasing one running here cancels it;
- :class:`JobInputRule`: the user photos of a job that never ran (failed as expired after ``video_results``);
- :class:`LogRule`: request log lines (``logs``);
- :class:`OrphanRule`: material folders an interrupted upload or delete left without a document;
- :class:`MaterialRule`: materials (``materials``, none by default) and everything derived from one, at once.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta, timezone

import attrs

from fusionkit.domain import ids
from fusionkit.domain.studio import FusedResult, JobStatus, LogRecord, VideoJob
from fusionkit.errors import FusionKitError, JobExpiredError, MaterialIdNotFoundError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.audit import AuditTrail
from fusionkit.studio.claims import Claims
from fusionkit.studio.common import day_folders, day_of, job_ids, load_job, load_material, result_id_of
from fusionkit.studio.rulebook import LEFTOVER_AGE, Rule, Site, Subjects, keyed_scopes, shred, shredded
from fusionkit.studio.templates import TemplateCache
from fusionkit.studio.workers import Workers

__all__ = [
    "ImageResultRule",
    "LogRule",
    "MaterialRule",
    "OrphanRule",
    "RetentionRules",
    "Rule",
    "Subjects",
    "VideoResultRule",
]


class ImageResultRule:
    """Fused images stored under ``results/image/{date}/``: a document ``{material_id}.{result_id}.json`` and its
    image beside it, expiring the policy's ``image_results`` after they were made."""

    name = "results"

    def __init__(self, site: Site) -> None:
        self._site = site

    def expires(self, created: datetime) -> datetime:
        """When a result made at ``created`` expires."""
        return created + self._site.retention.image_results

    def expired(self, result: FusedResult, now: datetime) -> bool:
        """Whether a stored result reads as gone at ``now``: by the policy the studio has now, so a shorter period
        applies to results stored under a longer one."""
        return now >= self.expires(result.created)

    def _folders(self) -> list[tuple[date, str]]:
        return day_folders(self._site.store, keys.RESULTS_IMAGE, keys.result_folder)

    def _delete(self, folder: str, name: str) -> None:
        store = self._site.store
        stem = name[: -len(".json")]
        # The image first, the record last: a delete stopped in between leaves the record, which a retry or the
        # sweep finds again (a record whose image is gone already reads as not found).
        for ext in ("jpg", "png"):
            store.delete(f"{folder}/{stem}.{ext}")
        store.delete(f"{folder}/{name}")

    def _drop_if_empty(self, folder: str) -> None:
        if not self._site.store.list(folder):
            self._site.store.delete_prefix(folder)

    def sweep(self, now: datetime) -> int:
        """Remove the results past the policy's period (whole days at once where they can be), and those whose
        material is gone (a fusion that finished while its material was deleted)."""
        store = self._site.store
        keep_for = self._site.retention.image_results
        removed = self._sweep_orphans()
        for day, folder in self._folders():
            start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            if start + timedelta(days=1) + keep_for <= now:
                removed += sum(1 for n in store.list(folder) if n.endswith(".json"))
                store.delete_prefix(folder)
                continue
            if start + keep_for > now:
                continue  # nothing in this day can have expired yet
            for name in store.list(folder):
                rid = result_id_of(name)
                if rid is None or not ids.is_id(rid, ids.RESULT) or ids.id_time(rid) + keep_for > now:
                    continue
                try:
                    result = FusedResult.from_json(store.read(f"{folder}/{name}"))
                except KeyNotFound:
                    continue
                if self.expired(result, now):
                    self._delete(folder, name)
                    removed += 1
            self._drop_if_empty(folder)
        return removed

    def _sweep_orphans(self) -> int:
        """Results whose material is gone, and records whose image is gone (a delete stopped between the two:
        the image goes first; a result being stored writes its image first)."""
        store = self._site.store
        gone = set()
        removed = 0
        for _, folder in self._folders():
            names = set(store.list(folder))
            for name in names:
                stem = name[: -len(".json")]
                if result_id_of(name) is not None and f"{stem}.jpg" not in names and f"{stem}.png" not in names:
                    removed += int(store.delete(f"{folder}/{name}"))
            for mid in {name.split(".", 1)[0] for name in names if result_id_of(name) is not None}:
                if ids.is_id(mid, ids.MATERIAL) and not store.exists(keys.material_doc(mid)):
                    gone.add(mid)
        return removed + (self.erase(Subjects(material_ids=frozenset(gone))) if gone else 0)

    def erase(self, subjects: Subjects) -> int:
        """Remove every result of the named materials, with the named ids, or made by the named requests."""
        store = self._site.store
        removed = 0
        for _, folder in self._folders():
            for name in store.list(folder):
                rid = result_id_of(name)
                if rid is None:
                    continue
                hit = name.split(".", 1)[0] in subjects.material_ids or rid in subjects.result_ids
                if not hit and (subjects.request_ids or subjects.subject_ids):
                    try:
                        doc = json.loads(store.read(f"{folder}/{name}"))
                    except KeyNotFound:
                        continue
                    hit = doc.get("request_id") in subjects.request_ids or doc.get("subject") in subjects.subject_ids
                if hit:
                    self._delete(folder, name)
                    removed += 1
            self._drop_if_empty(folder)
        return removed


class VideoResultRule:
    """Video jobs (``jobs/{job_id}.json``) and their results under ``results/video/{date}/``, expiring the policy's
    ``video_results`` after the job ended; erasing a job queued or running here cancels it through the workers."""

    name = "video_results"

    def __init__(self, site: Site, workers: Workers) -> None:
        self._site = site
        self._workers = workers

    def expires(self, ended: datetime) -> datetime:
        """When the result (or the record of a failure) of a job that ended at ``ended`` expires."""
        return ended + self._site.retention.video_results

    def expired(self, job: VideoJob, now: datetime) -> bool:
        """Whether a job reads as gone at ``now``: one that ended, by the policy the studio has now."""
        return job.done and now >= self.expires(job.updated)

    def sweep(self, now: datetime) -> int:
        store = self._site.store
        removed = 0
        for job_id in job_ids(store):
            try:
                job = load_job(store, job_id)
            except FusionKitError:
                continue
            if self.expired(job, now):
                # Its key first (nothing of it reads from then on), its video, its document last: a sweep stopped
                # part-way finds the document again, or the leftovers below.
                shred(store, job_id)
                store.delete(keys.video_result(job.updated.date(), job_id))
                store.delete(keys.job_doc(job_id))
                removed += 1
        return removed + self._leftovers(store, now)

    @staticmethod
    def _leftovers(store: BlobStore, now: datetime) -> int:
        """Documents whose key a stopped sweep destroyed, and videos left without their job (a sweep or a
        delivery stopped part-way); empty day folders go too."""
        removed = 0
        keyed = keyed_scopes(store)
        if keyed is not None:
            for job_id in job_ids(store):
                if job_id not in keyed and ids.id_time(job_id) + LEFTOVER_AGE <= now:
                    removed += int(store.delete(keys.job_doc(job_id)))
        for day, folder in day_folders(store, keys.RESULTS_VIDEO, keys.video_result_folder):
            for video in store.list(folder):
                job_id = video.removesuffix(".mp4")
                if ids.is_id(job_id, ids.JOB) and not store.exists(keys.job_doc(job_id)):
                    removed += int(store.delete(keys.video_result(day, job_id)))
            if not store.list(folder):
                store.delete_prefix(folder)
        return removed

    def erase(self, subjects: Subjects) -> int:
        """Delete every job of the named materials or submitted by the named requests, with its result (a running
        one stops and leaves nothing); return how many stored results went."""
        store = self._site.store
        if not subjects.material_ids and not subjects.request_ids and not subjects.subject_ids:
            return 0
        removed = 0
        for job_id in job_ids(store):
            with self._workers.lock:
                try:
                    job = load_job(store, job_id)
                except FusionKitError:
                    continue
                if (job.material_id not in subjects.material_ids and job.request_id not in subjects.request_ids
                        and job.subject not in subjects.subject_ids):
                    continue
                self._workers.cancel(job_id)
                shred(store, job_id)
                store.delete(keys.job_doc(job_id))
                if job.status == JobStatus.COMPLETED and job.user_designated_url is None:
                    removed += int(store.delete(keys.video_result(job.updated.date(), job_id)))
                store.delete_prefix(keys.job_folder(job_id))
        return removed


class JobInputRule:
    """The end user's photos a video job holds (``jobs/{job_id}/``) while it waits or runs: a job that has not
    ended within the policy's ``video_results`` period of its last change (queued with no worker to take it, or
    left running by a process that died) fails with ``FailedOperation.JobExpired`` and its photos go."""

    name = "job_inputs"

    def __init__(self, site: Site, workers: Workers, claims: Claims | None = None) -> None:
        self._site = site
        self._workers = workers
        self._claims = claims

    def _last_sign_of_life(self, store: BlobStore, job: VideoJob) -> datetime:
        """When the job last changed, or its worker last renewed its claim (a running job's document is written
        when it starts and when it ends only)."""
        renewed = None if self._claims is None else self._claims.renewed(store, job.id)
        return job.updated if renewed is None else max(job.updated, renewed)

    def sweep(self, now: datetime) -> int:
        store = self._site.store
        keep_for = self._site.retention.video_results
        removed = 0
        documented = set(job_ids(store))
        for name in store.list(keys.JOBS):  # inputs whose job document was never written (a submit killed)
            if ids.is_id(name, ids.JOB) and name not in documented and ids.id_time(name) + LEFTOVER_AGE <= now:
                removed += int(store.delete_prefix(keys.job_folder(name)) > 0)
        for job_id in documented:
            young = ids.id_time(job_id) + keep_for > now
            if young and not store.list(keys.job_folder(job_id)):
                continue  # nothing held, nothing expired
            with self._workers.lock:
                try:
                    job = load_job(store, job_id)
                except FusionKitError:
                    continue
                if job.done:  # an ended job holds no photos: a delivery stopped before removing them
                    if store.list(keys.job_folder(job_id)):
                        store.delete_prefix(keys.job_folder(job_id))
                        removed += 1
                    continue
                if young or self._last_sign_of_life(store, job) + keep_for > now:
                    continue
                self._workers.cancel(job_id)
                store.delete_prefix(keys.job_folder(job_id))  # the photos first: they are what must not stay
                store.write(keys.job_doc(job_id), attrs.evolve(
                    job, status=JobStatus.FAILED, error_code=JobExpiredError.code, updated=now, expires=now + keep_for,
                    error_message=f"the job waited more than {keep_for} without running; submit it again").to_json(
                ).encode())
                removed += 1
        return removed


class LogRule:
    """Request log lines under ``logs/{date}/{hour}.jsonl``, kept the policy's ``logs`` period."""

    name = "log_records"

    def __init__(self, site: Site) -> None:
        self._site = site

    def oldest(self, now: datetime) -> datetime:
        """Lines at or before this time read as gone at ``now``."""
        return now - self._site.retention.logs

    def sweep(self, now: datetime) -> int:
        store = self._site.store
        oldest = self.oldest(now)
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
                if start > oldest:
                    continue
                if start + timedelta(hours=1) <= oldest:
                    try:
                        removed += store.read(key).count(b"\n")
                    except KeyNotFound:
                        continue
                    store.delete(key)
                else:
                    removed += store.rewrite_lines(key, lambda line: self._fresh(line, oldest))
            if not store.list(folder):
                shred(store, keys.log_scope(day))
                store.delete_prefix(folder)
        return removed

    @staticmethod
    def _fresh(line: bytes, oldest: datetime) -> bool:
        try:
            return LogRecord.from_json(line).timestamp > oldest
        except (FusionKitError, ValueError):
            return False

    def erase(self, subjects: Subjects) -> int:
        """Remove every line that refers to a named id (a line that does not parse goes when it holds one)."""
        subject_ids = subjects.all
        if not subject_ids:
            return 0
        store = self._site.store

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


class OrphanRule:
    """Material folders left without a document by an interrupted upload or delete (a source with nothing pointing
    at it; folders younger than an hour are left alone, their upload may be running), activities' markers of
    materials that are gone or unreadable (a marker is written after its material's document and deleted first),
    and in an encrypted store the data keys of materials and jobs that are gone (an upload or a submit that
    failed after its first write made the key)."""

    name = "orphans"

    def __init__(self, site: Site) -> None:
        self._site = site

    def sweep(self, now: datetime) -> int:
        store = self._site.store
        removed = 0
        for mid in store.list(keys.MATERIALS):
            if not ids.is_id(mid, ids.MATERIAL) or ids.id_time(mid) + timedelta(hours=1) > now:
                continue
            if not store.exists(keys.material_doc(mid)):
                removed += store.delete_prefix(keys.material_folder(mid))
        materials = set(store.list(keys.MATERIALS))
        keyed = keyed_scopes(store)
        for name in store.list(keys.ACTIVITIES):
            if not ids.is_id(name, ids.ACTIVITY):
                continue  # an activity's document (.json), not its folder
            for mid in store.list(keys.activity_members(name)):
                if not ids.is_id(mid, ids.MATERIAL):
                    continue
                # A marker is written after its material's document and deleted before it: one whose material
                # folder is gone, or whose data key was destroyed, is a leftover.
                if mid not in materials or (keyed is not None and mid not in keyed):
                    removed += int(store.delete(keys.material_marker(name, mid)))
        return removed + self._orphan_keys(store, keyed, materials, now)

    @staticmethod
    def _orphan_keys(store: BlobStore, keyed: set[str] | None, materials: set[str], now: datetime) -> int:
        if not keyed:
            return 0
        removed = 0
        jobs = None
        for scope in sorted(keyed):
            if ids.is_id(scope, ids.MATERIAL):
                gone = scope not in materials
            elif ids.is_id(scope, ids.JOB):
                jobs = set(store.list(keys.JOBS)) if jobs is None else jobs
                gone = f"{scope}.json" not in jobs and scope not in jobs
            else:
                continue
            if gone and ids.id_time(scope) + LEFTOVER_AGE <= now:
                shred(store, scope)
                removed += 1
        return removed


class MaterialRule:
    """Materials, kept until deleted unless the policy's ``materials`` period is set; a material goes with
    everything derived from it: its results (image and video), faces, source, tracks and cached image."""

    name = "materials"

    def __init__(self, site: Site, image_results: ImageResultRule, video_results: VideoResultRule,
                 templates: TemplateCache) -> None:
        self._site = site
        self._image_results = image_results
        self._video_results = video_results
        self._templates = templates

    def sweep(self, now: datetime) -> int:
        """Remove the materials past the policy's ``materials`` period, and those whose activity is gone (an upload
        that finished while its activity was deleted, or a delete that stopped half-way)."""
        store = self._site.store
        keep_for = self._site.retention.materials
        cutoff = None if keep_for is None else now - keep_for
        listed = self._listed(store)  # listings only: a sweep reads no material document it keeps
        keyed = keyed_scopes(store)
        removed = 0
        for mid in store.list(keys.MATERIALS):
            if not ids.is_id(mid, ids.MATERIAL):
                continue
            made = ids.id_time(mid)
            expired = cutoff is not None and made + timedelta(milliseconds=1) <= cutoff
            stray = mid not in listed and made + LEFTOVER_AGE <= now
            if expired or stray or (keyed is not None and mid not in keyed):
                with contextlib.suppress(MaterialIdNotFoundError):
                    self.erase(mid, {})
                    removed += 1
        return removed

    @staticmethod
    def _listed(store: BlobStore) -> set[str]:
        """The materials the listing of a live activity names."""
        out: set[str] = set()
        for name in store.list(keys.ACTIVITIES):
            if ids.is_id(name, ids.ACTIVITY) and store.exists(keys.activity_doc(name)):
                out.update(store.list(keys.activity_members(name)))
        return out

    def erase(self, material_id: str, counts: dict[str, int], *, results_done: bool = False) -> None:
        """Delete the material and everything derived from it, adding what went to ``counts`` (the categories of
        an :class:`~fusionkit.domain.ErasureReceipt`); ``results_done`` when its image results went already.

        Raises
        ------
        MaterialIdNotFoundError
            There is no such material.
        """
        store = self._site.store
        try:
            material = load_material(store, material_id)
        except MaterialIdNotFoundError:
            if not shredded(store, keys.material_doc(material_id)):
                raise
            self._finish_shredded(material_id, counts)  # a delete that stopped half-way: finish it
            return
        # The marker goes first (the listing stops showing it), then its data key (from then on nothing of it can
        # be read, wherever a copy is), then results, then the document and the source.
        store.delete(keys.material_marker(material.activity_id, material_id))
        shred(store, material_id)
        one = Subjects(material_ids=frozenset({material_id}))
        if not results_done:
            counts["results"] = counts.get("results", 0) + self._image_results.erase(one)
        counts["results"] = counts.get("results", 0) + self._video_results.erase(one)
        store.delete(keys.material_doc(material_id))
        sources = int(store.delete(keys.material_source(material_id, material.source_format)))
        if material.kind == "video":
            counts["tracks"] = counts.get("tracks", 0) + int(store.delete(keys.material_tracks(material_id)))
        store.delete_prefix(keys.material_folder(material_id))
        self._templates.forget(material_id)
        counts["materials"] = counts.get("materials", 0) + 1
        counts["faces"] = counts.get("faces", 0) + len(material.faces)
        counts["sources"] = counts.get("sources", 0) + sources

    def _finish_shredded(self, material_id: str, counts: dict[str, int]) -> None:
        """Remove what a delete that stopped after destroying the material's data key left (unreadable already):
        its results, jobs and folder. Its marker went before the key."""
        one = Subjects(material_ids=frozenset({material_id}))
        counts["results"] = counts.get("results", 0) + self._image_results.erase(one) + self._video_results.erase(one)
        self._site.store.delete_prefix(keys.material_folder(material_id))
        self._templates.forget(material_id)
        counts["materials"] = counts.get("materials", 0) + 1


#: The order :meth:`RetentionRules.sweep` reports its counts in.
SWEEP_REPORT = ("results", "log_records", "materials", "orphans", "video_results", "job_inputs")


class RetentionRules:
    """The studio's rules, one per kind of data, and the sweep and erasures that run them all.

    Parameters
    ----------
    site
        The studio (its store and retention policy, read at each call).
    workers
        The video workers (erasing a job running there cancels it).
    templates
        The cache of decoded material images (a deleted material's goes).
    audit
        The audit trail every deletion, erasure and sweep is recorded in (its own expiry too).
    """

    def __init__(self, site: Site, workers: Workers, templates: TemplateCache, audit: AuditTrail,
                 claims: Claims | None = None) -> None:
        self._site = site
        self.audit = audit
        self.image_results = ImageResultRule(site)
        self.video_results = VideoResultRule(site, workers)
        self.job_inputs = JobInputRule(site, workers, claims)
        self.logs = LogRule(site)
        self.orphans = OrphanRule(site)
        self.materials = MaterialRule(site, self.image_results, self.video_results, templates)
        # Materials last: a material that expires with its results counts them once, as results.
        self.rules: tuple[Rule, ...] = (self.image_results, self.logs, self.orphans, self.video_results,
                                        self.job_inputs, self.materials)

    def sweep(self, now: datetime) -> dict[str, int]:
        """Run every rule's sweep; how many items of each kind went."""
        counts = {rule.name: rule.sweep(now) for rule in self.rules}
        return {name: counts[name] for name in SWEEP_REPORT}

    def erase(self, subjects: Subjects) -> dict[str, int]:
        """Remove every stored result and log line that refers to a named id; counts per receipt category."""
        return {"results": self.image_results.erase(subjects) + self.video_results.erase(subjects),
                "log_records": self.logs.erase(subjects)}

    def erase_activity(self, activity_id: str) -> dict[str, int]:
        """Delete an activity with its materials, their faces and sources, and every result made from them."""
        store = self._site.store
        counts: dict[str, int] = {}
        mids = [m for m in store.list(keys.activity_members(activity_id)) if ids.is_id(m, ids.MATERIAL)]
        # Results first (they point at materials), then materials (they point at the activity), then it.
        counts["results"] = self.image_results.erase(Subjects(material_ids=frozenset(mids)))
        for mid in mids:
            with contextlib.suppress(MaterialIdNotFoundError):
                self.materials.erase(mid, counts, results_done=True)
        store.delete(keys.activity_doc(activity_id))
        # An upload that wrote its material after the listing above but saw the activity before this delete
        # left a marker: erase those too. One that comes later sees the activity gone and removes itself.
        for mid in store.list(keys.activity_members(activity_id)):
            if ids.is_id(mid, ids.MATERIAL):
                with contextlib.suppress(MaterialIdNotFoundError):
                    self.materials.erase(mid, counts)
        store.delete_prefix(keys.activity_folder(activity_id))
        counts["activities"] = 1
        return counts
