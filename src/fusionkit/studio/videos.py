"""``studio.videos``: asynchronous video fusion jobs (``jobs/{job_id}.json``) into video materials, run by a
bounded pool of worker threads that also preprocesses video materials uploaded with ``wait=False``."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fusionkit.domain import ids
from fusionkit.domain.models import licence_text, licences
from fusionkit.domain.options import FuseOptions
from fusionkit.domain.studio import JobStatus, Material, MaterialStatus, VideoJob
from fusionkit.errors import (
    FusionKitError,
    JobCancelledError,
    JobInterruptedError,
    JobNotExistError,
    MaterialIdNotFoundError,
    MaterialPreprocessingError,
    ParameterValueError,
    StorageError,
)
from fusionkit.imaging.decode import decode_image
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound
from fusionkit.storage.outside import OutputPolicy, StagedWrite
from fusionkit.studio.capacity import CapacityGuard
from fusionkit.studio.claims import Claims, Lease, TakenOver
from fusionkit.studio.common import (
    Call,
    Calls,
    Cancelled,
    check_consent,
    encode_array,
    fuse_options,
    job_ids,
    load_activity,
    load_job,
    load_material,
    material_merges,
    need_activity,
    need_job,
    need_material,
    one_line,
    produced_by,
)
from fusionkit.studio.context import RequestContext
from fusionkit.studio.logs import LOGGER_NAME
from fusionkit.studio.preprocess import Preprocessing
from fusionkit.studio.retention import RetentionRules
from fusionkit.studio.sweeper import Sweeper
from fusionkit.studio.workers import Workers, remove_stale_scratch

if TYPE_CHECKING:
    from fusionkit.fusion.api import Merge
    from fusionkit.fusion.video import VideoFusionResult, VideoTracks
    from fusionkit.studio.cluster import VideoCluster
    from fusionkit.studio.studio import Studio

_log = logging.getLogger(LOGGER_NAME)

__all__ = ["Videos"]


def _estimated_seconds(frames: int, width: int, height: int, faces: int, ahead: int) -> float:
    """A job's expected wait and run time: per frame 6 ms plus 11 ms per megapixel plus 6 ms per face after the
    first (benchmarks/bench_video.py on 2 cores: 720p about 16 ms, 1080p about 28 ms a frame), a third more for
    a busy machine, times the jobs ahead of it plus itself (each taken as long as this one)."""
    per_frame = 0.006 + 0.011 * width * height / 1e6 + 0.006 * max(0, faces - 1)
    return round(1.3 * frames * per_frame * (ahead + 1), 1)


_OPTION_FIELDS = ("fuse_face_degree", "fuse_profile_degree", "skin_smoothing", "sharpening", "colour_match")


def _ready_video(material: Material) -> Material:
    """``material`` when it is a video ready for jobs; else why it is not (still preprocessing: how far)."""
    if material.kind == "video" and material.status == MaterialStatus.PREPROCESSING:
        progress = material.video.progress if material.video is not None else 0.0
        raise MaterialPreprocessingError(f"material {material.id} is still being preprocessed "
                                         f"({progress:.0%}): wait until its status is ready, then submit")
    if material.kind != "video" or material.status != MaterialStatus.READY:
        raise ParameterValueError(f"material {material.id} is not a ready video material "
                                  f"(kind {material.kind}, status {material.status})")
    return material


@attrs.define(eq=False)
class Videos:
    """``studio.videos``: asynchronous video fusion jobs into video materials, run by a bounded pool of threads.

    A job is the document ``jobs/{job_id}.json`` (written atomically when its state changes) and its user images
    ``jobs/{job_id}/user_{n}.png`` (deleted when it ends). The result goes to ``results/video/{date}/{job_id}.mp4``
    and expires after the retention policy's video-result period, or to the job's ``user_designated_url``.

    Any number of studios (and Dask workers, with ``video_cluster``) may run the jobs of one store: a worker runs
    a job only under a claim with a lease (:mod:`.claims`), so each job runs once, and a job whose worker died is
    taken over within a lease (``job_lease``). A studio that runs jobs picks up queued and interrupted jobs when it
    opens and looks for them again every half lease. Progress is the running worker's (in its claim); cancelling
    or erasing a job reaches the worker running it, wherever it is, within two seconds.

    Attributes
    ----------
    preprocessing
        The background tracking of video materials uploaded with ``wait=False``
        (:class:`~fusionkit.studio.preprocess.Preprocessing`), on the same workers.
    """

    _studio: Studio
    _calls: Calls
    _rules: RetentionRules
    # Queued or running here: job ids and "preprocess:{material_id}"; job documents change under its lock.
    _workers: Workers
    _guard: CapacityGuard
    _claims: Claims
    _cluster: VideoCluster | None = None
    _lock: threading.RLock = attrs.field(init=False)
    _ended: dict[str | None, set[str]] = attrs.field(init=False, factory=dict)  # per tenant: jobs seen ended
    _scanner: Sweeper | None = attrs.field(init=False, default=None)

    preprocessing: Preprocessing = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._lock = self._workers.lock
        self.preprocessing = Preprocessing(self._studio, self._workers, self._lock)
        # The studio builds this room last: the jobs picked up here may start on a worker at once.
        self._recover()
        if self._runs_jobs():
            self._scanner = Sweeper(self.scan, self._claims.lease_s / 2, name="fusionkit-job-scanner")
            self._scanner.start()

    def _runs_jobs(self) -> bool:
        return self._studio.video_workers > 0 or self._cluster is not None

    # -- documents -----------------------------------------------------------------------------------------------

    def _outputs(self) -> OutputPolicy:
        return OutputPolicy.of(self._studio.output_urls, self._studio.root)

    def _load(self, job_id: str) -> VideoJob:
        return load_job(self._studio.store, job_id)

    def _save(self, job: VideoJob) -> None:
        self._studio.store.write(keys.job_doc(job.id), job.to_json().encode())

    def _fail(self, job_id: str, code: str, message: str) -> None:
        with self._lock:
            try:
                job = self._load(job_id)
            except JobNotExistError:
                return
            if job.done:
                return
            now = self._studio.now()
            self._save(attrs.evolve(job, status=JobStatus.FAILED, error_code=code, error_message=one_line(message),
                                    updated=now, expires=self._rules.video_results.expires(now)))

    # -- public calls --------------------------------------------------------------------------------------------

    def submit(
        self,
        activity_id: str,
        material_id: str,
        merges: Any,
        *,
        options: FuseOptions | None = None,
        fuse_face_degree: float | None = None,
        fuse_profile_degree: float | None = None,
        user_designated_url: str | None = None,
        consent: Mapping[str, Any] | None = None,
        context: RequestContext | None = None,
    ) -> VideoJob:
        """Queue a fusion of user faces into a ready video material; returns at once.

        Parameters
        ----------
        activity_id, material_id
            The video material and its activity.
        merges
            As for :meth:`Studio.fuse` (user images, or :class:`~fusionkit.Merge` with a material face id).
        options, fuse_face_degree, fuse_profile_degree, consent, context
            As for :meth:`Studio.fuse`. The options are stored with the job (label and logo included), so a job
            picked up after a restart runs with them.
        user_designated_url
            Write the result there (any fsspec URL) instead of the studio's ``results/video/``.

        Returns
        -------
        VideoJob
            Queued, with ``queue_length`` (jobs ahead of it here) and ``estimated_seconds``.

        Raises
        ------
        ActivityIdNotFoundError, MaterialIdNotFoundError, ParameterValueError, ConsentRequiredError
            And the user-image errors of :func:`fusionkit.fuse` (checked before it is queued).
        """
        s = self._studio
        with self._calls("SubmitVideoFaceFusionJob", context) as (call, request_id):
            activity_id = need_activity(activity_id)
            material_id = need_material(material_id)
            call.refs.update(activity_id=activity_id, material_id=material_id)
            url = None if user_designated_url is None else self._outputs().check(user_designated_url)
            if options is not None and not isinstance(options, FuseOptions):
                raise ParameterValueError(f"options must be a FuseOptions, got {type(options).__name__}")
            check_consent(s.consent, activity_id, material_id, consent, self._calls.resolve(context), call,
                          purpose="video")
            activity = load_activity(s.store, activity_id)
            material = _ready_video(load_material(s.store, material_id, activity_id))
            opts = fuse_options(options, activity, material, fuse_face_degree, fuse_profile_degree)
            call.refs["models"] = licence_text(licences(opts.renderer, opts.enhancer))
            from fusionkit.fusion.renderers import enhancer_for, prepare, renderer_for

            # An unknown renderer, or a model with the wrong hash or contract, fails the submit, not the job.
            with s.model_runtime():
                prepare(renderer_for(opts.renderer), enhancer_for(opts.enhancer))
            if opts.logo is not None:
                opts.logo.placed(material.width, material.height)  # a logo outside the frame fails now, not later
            merge_list = material_merges(material, merges)
            if not 1 <= len(merge_list) <= 6:
                raise ParameterValueError(f"give 1 to 6 merges, got {len(merge_list)}")
            from fusionkit.imaging.decode import load_image

            images = [encode_array(load_image(m.image, limits=s.limits)) for m in merge_list]
            now = s.now()
            job_id = ids.new_id(ids.JOB, now)
            opts = attrs.evolve(opts, aigc=produced_by(opts.aigc, self._calls.resolve(context), job_id))
            ahead = self._workers.count()
            frames = material.video.frame_count if material.video is not None else 0
            params: dict[str, Any] = {k: getattr(opts, k) for k in _OPTION_FIELDS}
            params.update(blend_mode=opts.blend_mode.value, users=len(images),
                          template_faces=[m.template_face for m in merge_list],
                          input_face_rects=[list(m.input_face_rect) if m.input_face_rect else None
                                            for m in merge_list])
            job = VideoJob(id=job_id, activity_id=activity_id, material_id=material_id, request_id=request_id,
                           subject=self._calls.subject_of(context), parameters=params, user_designated_url=url,
                           queue_length=ahead,
                           estimated_seconds=_estimated_seconds(frames, material.width, material.height,
                                                                len(merge_list), ahead),
                           created=now, updated=now)
            with self._guard.claim(sum(len(i) for i in images), activity_id=activity_id):
                self._store_job(job, images, opts)
            call.refs["video_url"] = s.store.url(keys.material_source(material_id, "mp4"))  # the video fused into
            self._enqueue(job_id)
            return job

    def _store_job(self, job: VideoJob, images: list[bytes], opts: FuseOptions) -> None:
        """The job's user images and options, then its document (what a worker reads); all gone on a failure."""
        store = self._studio.store
        try:
            for i, data in enumerate(images):
                store.write(keys.job_user(job.id, i), data)
            store.write(keys.job_options(job.id), opts.to_json().encode())
            self._save(job)
        except BaseException:
            with contextlib.suppress(Exception):
                store.delete_prefix(keys.job_folder(job.id))
            raise

    def get(self, job_id: str, *, context: RequestContext | None = None) -> VideoJob:
        """The job: status (and ``status_code``), progress, error, and when completed the output.

        Raises
        ------
        JobNotExistError
            Unknown id, or a completed job whose result has expired.
        """
        with self._calls("DescribeVideoFaceFusionJob", context) as (call, _):
            job_id = need_job(job_id)
            return self._current(job_id, call)

    def _current(self, job_id: str, call: Call | None = None) -> VideoJob:
        job = self._load(job_id)
        if call is not None:
            call.refs.update(activity_id=job.activity_id, material_id=job.material_id, result_url=job.url,
                             video_url=self._studio.store.url(keys.material_source(job.material_id, "mp4")))
        rule = self._rules.video_results
        if rule.expired(job, self._studio.now()):
            raise JobNotExistError(f"video job {job_id} has expired with its result")
        if job.status == JobStatus.PROCESSING:  # the worker running it reports progress in its claim
            progress = self._claims.progress(self._studio.store, job_id)
            if progress is not None:
                job = attrs.evolve(job, progress=progress)
        return job if job.expires is None else attrs.evolve(job, expires=rule.expires(job.updated))

    def cancel(self, job_id: str, *, context: RequestContext | None = None) -> VideoJob:
        """Cancel a queued or running job (it ends failed with ``FailedOperation.JobCancelled``, and nothing is
        written); a finished job is returned as it is."""
        s = self._studio
        with self._calls("CancelVideoFaceFusionJob", context) as (call, _):
            job_id = need_job(job_id)
            with self._lock:
                job = self._current(job_id, call)
                if job.done:
                    return job
                self._workers.cancel(job_id)
                now = s.now()
                job = attrs.evolve(job, status=JobStatus.FAILED, error_code=JobCancelledError.code,
                                   error_message="cancelled by the caller", updated=now,
                                   expires=self._rules.video_results.expires(now))
                self._save(job)
                # The user images go now; a worker reading them meanwhile stops (the job is already failed).
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.job_folder(job_id))
            return job

    def wait(self, job_id: str, *, timeout: float | None = None, poll: float = 0.05,
             context: RequestContext | None = None) -> VideoJob:
        """Block until the job has failed or completed (or ``timeout`` seconds passed) and return it."""
        with self._calls("WaitVideoFaceFusionJob", context) as (call, _):
            job_id = need_job(job_id)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                job = self._current(job_id, call)
                if job.done or (deadline is not None and time.monotonic() >= deadline):
                    return job
                time.sleep(poll)

    def close(self, *, wait: bool = True) -> None:
        """Stop looking for jobs and stop the worker threads (queued jobs stay queued in storage, for any studio
        that runs jobs); jobs handed to a cluster are no longer followed from here."""
        if self._scanner is not None:
            self._scanner.stop()
        if self._cluster is not None:
            self._cluster.close()
        self._workers.close(wait=wait)  # what never started is no longer queued here (it is, in storage)

    def run(self, job_id: str, *, tenant: str | None = None, wait: bool = False) -> bool:
        """Run the job ``job_id`` of ``tenant`` here and now, if this studio can claim it (what a cluster worker
        calls; a studio's own threads do the same). With ``wait``, while another worker holds it, wait for that
        one's lease to lapse (a worker that died) or for the job to end. Returns whether the job has ended (here
        or elsewhere), rather than being left to the worker that holds it."""
        job_id = need_job(job_id)
        with self._studio.tenant_scope(tenant):
            while True:
                try:
                    if self._process(job_id):
                        return True
                except Exception as exc:  # the job is marked failed; the worker carries on
                    _log.error("fusionkit: video job %s failed: %r", job_id, exc)
                    with contextlib.suppress(Exception):
                        self._fail(job_id, "FailedOperation.InternalError", f"{type(exc).__name__}: {exc}")
                    return True
                if not wait:
                    return False
                with contextlib.suppress(StorageError):  # a store that fails now is asked again next time
                    if not self._wanted(job_id):  # it ended where it ran: nothing of it to watch any more
                        self._claims.forget(job_id)
                        return True
                time.sleep(min(1.0, self._claims.lease_s / 4))

    def scan(self) -> int:
        """Hand every job of every tenant that has not ended, and is not queued or running here, to this studio's
        workers (which run it when they can claim it): how jobs queued by other studios, and jobs whose worker
        died, get run. Every half lease while jobs run here; returns how many were handed over."""
        handed = 0
        for tenant in self._studio.tenants():
            with self._studio.tenant_scope(tenant):
                handed += self._scan_tenant(tenant)
        return handed

    def _scan_tenant(self, tenant: str | None) -> int:
        store = self._studio.store
        listed = set(job_ids(store))
        ended = self._ended.setdefault(tenant, set())
        ended &= listed  # a job whose document is gone is forgotten
        handed = 0
        for job_id in sorted(listed - ended):
            if self._workers.holds(job_id) or (self._cluster is not None and self._cluster.holds(job_id)):
                continue
            try:
                job = self._load(job_id)
            except (JobNotExistError, FusionKitError):
                continue
            if job.done:
                ended.add(job_id)  # an ended job never runs again: its document is not read again
                self._claims.forget(job_id)
                continue
            handed += int(self._enqueue(job_id))
        return handed

    # -- workers -------------------------------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> bool:
        """Hand the job to this studio's cluster or worker threads (in the tenant of the call: the one that
        submitted it); whether it was handed over (not when it is here already, or nothing runs jobs here)."""
        tenant = self._studio.tenant()
        if self._cluster is not None:
            return self._cluster.submit(job_id, tenant)

        def run() -> None:
            try:
                self.run(job_id, tenant=tenant)
            finally:
                self._workers.finished(job_id)

        return self._workers.submit(job_id, run)

    def _recover(self) -> None:
        """On open: in every tenant, the video materials still preprocessing, and the jobs that have not ended
        (queued, or left running by a worker that died: taken over once its lease lapses)."""
        if not self._runs_jobs():
            return
        remove_stale_scratch(self._workers.scratch_in_use())  # a killed process's template copies and outputs
        for tenant in self._studio.tenants():
            with self._studio.tenant_scope(tenant):
                self.preprocessing.recover()
                self._scan_tenant(tenant)

    def _wanted(self, job_id: str) -> bool:
        """Whether the job is still to run (not cancelled, failed or erased): what a claim's holder keeps asking."""
        try:
            return not self._load(job_id).done
        except JobNotExistError:
            return False

    def _start(self, job_id: str) -> VideoJob | None:
        """Under a claim: the job marked processing (one attempt more), or ``None`` when it ended or was erased
        meanwhile, or was interrupted twice already (then it fails)."""
        s = self._studio
        with self._lock:
            try:
                job = self._load(job_id)
            except JobNotExistError:
                return None
            if job.done or self._workers.cancelled(job_id):
                return None
            if job.status == JobStatus.PROCESSING and job.attempts >= 2:  # its worker died twice: not a third time
                self._fail(job_id, JobInterruptedError.code,
                           f"the job was interrupted {job.attempts} times while it ran; submit it again")
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.job_folder(job_id))
                return None
            job = attrs.evolve(job, status=JobStatus.PROCESSING, attempts=job.attempts + 1, progress=0.0,
                               updated=s.now())
            self._save(job)
            return job

    def _process(self, job_id: str) -> bool:
        """Run the job if this studio can claim it; ``False`` when another worker holds it."""
        s = self._studio
        store = s.store
        try:
            found: VideoJob | None = self._load(job_id)
        except JobNotExistError:
            found = None  # erased before it ran
        if found is None or found.done:  # erased or cancelled while queued: its user images go
            with contextlib.suppress(Exception):
                store.delete_prefix(keys.job_folder(job_id))
            return True
        if self._workers.cancelled(job_id):
            return True
        try:
            claim = self._claims.take(store, job_id)
        except StorageError:  # the store failed now: the next scan tries again (a claim that landed anyway is
            return False  # this studio's and not kept, so it is taken back at once)
        if claim is None:
            return False
        # BaseException (the process going down) leaves the job processing: another worker takes it over once
        # the claim's lease lapses (the claim object goes with this block, so at once when this process lives).
        with self._claims.kept(store, claim, lambda: self._wanted(job_id)) as lease:
            job = self._start(job_id)
            if job is None:
                return True
            failure: tuple[str, str] | None = None
            with self._workers.scratch() as tmp:
                try:
                    self._fuse(job, tmp, lease)
                except TakenOver:  # the worker that has it now runs it; nothing of it is touched here
                    _log.warning("fusionkit: video job %s left to another worker: %s", job_id, lease.why)
                    return True
                except Cancelled:
                    pass
                except FusionKitError as exc:
                    failure = (exc.code, str(exc))
                except Exception as exc:
                    failure = ("FailedOperation.InternalError", f"{type(exc).__name__}: {exc}")
            # A failed or cancelled job's user images go before its final document is written (a completed one's
            # went right after its document, in _deliver); whatever a crash leaves, the sweep removes.
            with contextlib.suppress(Exception):
                store.delete_prefix(keys.job_folder(job_id))
            if failure is not None:
                self._fail(job_id, *failure)
        return True

    def _stop_if_lost(self, job_id: str, lease: Lease) -> None:
        """Stop the run when the job was cancelled here, or (as the lease last saw, or ``check``) taken over or
        no longer wanted."""
        if self._workers.cancelled(job_id):
            raise Cancelled
        if lease.lost.is_set():
            raise TakenOver if lease.taken_over else Cancelled

    def _fuse(self, job: VideoJob, tmp: str, lease: Lease) -> None:
        """Run a job: its inputs from the store, the fusion (stopped at the next frame when the job is cancelled,
        erased or taken over), then the delivery."""
        s = self._studio
        from fusionkit.fusion.video import fuse_video

        source, tracks, merges, opts = self._inputs(job)
        src = os.path.join(tmp, "template.mp4")
        with builtins.open(src, "wb") as fh:
            fh.write(source)
        del source
        out = os.path.join(tmp, "out.mp4")

        def progress(fraction: float) -> None:
            self._stop_if_lost(job.id, lease)
            lease.report(fraction)  # written with the claim's next beat: the job's document is not rewritten

        with s.model_runtime():
            result = fuse_video(src, merges, out, opts, tracks=tracks, limits=s.video_limits,
                                image_limits=s.limits, progress=progress)
        lease.still_held()  # cancelled, erased or taken over after the last frame: write nothing
        self._stop_if_lost(job.id, lease)
        with builtins.open(out, "rb") as rfh:
            data = rfh.read()
        self._deliver(job, result, data, lease)

    def _inputs(self, job: VideoJob) -> tuple[bytes, VideoTracks | None, list[Merge], FuseOptions]:
        """A job's template video, its stored tracks (None when the material has none), merges and options."""
        s = self._studio
        from fusionkit.fusion.api import Merge
        from fusionkit.fusion.video import VideoTracks

        try:
            material = load_material(s.store, job.material_id)
            source = s.store.read(keys.material_source(job.material_id, "mp4"))
        except KeyNotFound:
            raise MaterialIdNotFoundError(f"material {job.material_id} was deleted before the job ran") from None
        tracks = None
        tracks_key = keys.material_tracks(material.id)
        with contextlib.suppress(KeyNotFound), np.load(io.BytesIO(s.store.read(tracks_key))) as npz:
            tracks = VideoTracks(points=npz["points"], present=npz["present"],
                                 shots=npz["shots"] if "shots" in npz else np.zeros(1, np.int32))
        p = job.parameters
        merges = []
        for i in range(int(p["users"])):
            try:
                image = decode_image(s.store.read(keys.job_user(job.id, i)), limits=s.limits)
            except KeyNotFound:
                raise StorageError(f"the user images of job {job.id} are gone from storage") from None
            rect = p["input_face_rects"][i]
            merges.append(Merge(image=image, template_face=p["template_faces"][i],
                                input_face_rect=tuple(rect) if rect else None))
        # Every option, the label and logo included, comes from the store: a job picked up after a restart runs
        # as it would have in the process that took it.
        try:
            opts = FuseOptions.from_json(s.store.read(keys.job_options(job.id)))
        except KeyNotFound:  # a job stored by fusionkit before options.json: its scalar options, as it ran then
            opts = FuseOptions(**{k: p[k] for k in _OPTION_FIELDS}, blend_mode=p["blend_mode"])
        return source, tracks, merges, opts

    def _deliver(self, job: VideoJob, result: VideoFusionResult, data: bytes, lease: Lease) -> None:
        """Store the fused video (or stage it at the job's URL) and complete the job, unless it was cancelled,
        erased or taken over meanwhile (then nothing of it is left from here)."""
        s = self._studio
        md5 = hashlib.md5(data).hexdigest()
        now = s.now()
        key: str | None = None
        staged: StagedWrite | None = None  # at the user's URL
        if job.user_designated_url is not None:
            self._outputs().check(job.user_designated_url)  # again: the place may have changed since the submit
            # Staged beside the target and renamed only once the job is known not cancelled: a cancel never
            # touches a file the user already had there.
            staged = StagedWrite.stage(job.user_designated_url, data)
            url, expires = job.user_designated_url, self._rules.video_results.expires(now)  # the record; not the file
        else:
            key = keys.video_result(now.date(), job.id)
            s.store.write(key, data)
            url, expires = s.store.url(key), self._rules.video_results.expires(now)
        with self._lock:
            try:
                current: VideoJob | None = self._load(job.id)
            except JobNotExistError:
                current = None  # its material was deleted meanwhile
            try:
                if current is None or current.status != JobStatus.PROCESSING or not lease.still_held():
                    # Cancelled or erased meanwhile: what was written here goes. Completed by another worker, or
                    # taken over (it writes the same key): the key is that worker's, and stays.
                    gone = current is None or current.status == JobStatus.FAILED
                    if key is not None and gone:
                        s.store.delete(key)
                    return
                if staged is not None:
                    staged.commit()
            finally:
                if staged is not None:  # not renamed: the temporary file goes, the user's file stays as it was
                    staged.discard()
            # The completed document first, then the user images: killed in between, the job is complete (its
            # result kept) and the sweep removes the photos an ended job still holds; the other order lost the
            # result (a retry found its photos gone).
            self._save(attrs.evolve(
                current, status=JobStatus.COMPLETED, progress=1.0, url=url, md5=md5, width=result.width,
                height=result.height, fps=result.fps, duration_s=result.duration_s, frame_count=result.frame_count,
                faces=[face.to_dict() for face in result.faces], updated=now, expires=expires))
            s.store.delete_prefix(keys.job_folder(job.id))
