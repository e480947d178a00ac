"""The studio: activities, materials, fusion into materials, stored results, the request log, retention and
erasure, over one storage root.

Every public call validates its ids before touching storage, appends one line to the request log (and to
Python's :mod:`logging`, logger ``"fusionkit.studio.requests"``), and reads time from the studio's clock.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from fusionkit.domain import ids
from fusionkit.domain.audit import AuditRecord
from fusionkit.domain.models import licence_text, licences
from fusionkit.domain.options import FuseOptions
from fusionkit.domain.studio import ErasureReceipt, FusedResult, RetentionPolicy
from fusionkit.errors import (
    MaterialIdNotFoundError,
    ParameterValueError,
)
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, VideoLimits
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, open_store, remove_stale_temporaries
from fusionkit.storage.crypto import KeyProvider
from fusionkit.storage.outside import OutputPolicy
from fusionkit.studio.activities import Activities
from fusionkit.studio.audit import AuditTrail
from fusionkit.studio.capacity import CapacityGuard
from fusionkit.studio.claims import DEFAULT_LEASE, Claims
from fusionkit.studio.cluster import StudioSpec, VideoCluster, fuse_on_worker, fuse_requests
from fusionkit.studio.common import (
    RESPONSES,
    Call,
    Calls,
    check_consent,
    fuse_options,
    load_activity,
    load_material,
    material_merges,
    need_activity,
    need_material,
    need_request,
    need_result,
    produced_by,
    utc_now,
)
from fusionkit.studio.context import Capacity, ConsentPolicy, RequestContext
from fusionkit.studio.encryption import encrypted_view, resolve_encryption
from fusionkit.studio.logs import RequestLog
from fusionkit.studio.materials import MaterialPage, Materials
from fusionkit.studio.results import Results, store_result
from fusionkit.studio.retention import RetentionRules, Subjects
from fusionkit.studio.subjects import EndUsers, SubjectHasher
from fusionkit.studio.sweeper import DEFAULT_SWEEP_EVERY, Sweeper
from fusionkit.studio.templates import TemplateCache
from fusionkit.studio.tenants import Tenants
from fusionkit.studio.videos import Videos
from fusionkit.studio.workers import Workers, remove_stale_scratch

if TYPE_CHECKING:
    from fusionkit.fusion.api import FusionResult
    from fusionkit.fusion.batch import BatchItem
    from fusionkit.vision._runtime import RuntimeOptions

__all__ = ["Activities", "MaterialPage", "Materials", "RequestLog", "Results", "Studio", "Videos", "open"]

_TEMPLATE_CACHE = 8


@attrs.define(eq=False)
class Studio:
    """The stateful SDK over one storage root; create it with :func:`fusionkit.open`.

    Attributes
    ----------
    activities, materials, results, videos, logs, subjects
        The sub-APIs (:class:`Activities`, :class:`Materials`, :class:`Results`, :class:`Videos`,
        :class:`RequestLog`, :class:`~fusionkit.studio.subjects.EndUsers`: one end user's data).
    retention
        The :class:`~fusionkit.domain.RetentionPolicy`.
    store
        The store of the tenant the current call works in (the root's outside calls; decrypted when the studio
        encrypts); see :mod:`.tenants`.
    """

    _root: BlobStore = attrs.field(alias="store")
    clock: Callable[[], datetime] = utc_now
    retention: RetentionPolicy = attrs.field(
        factory=RetentionPolicy, on_setattr=lambda self, attribute, policy: self._set_retention(policy))
    capacity: Capacity = attrs.field(factory=Capacity)
    consent: ConsentPolicy | None = None
    limits: ImageLimits = DEFAULT_LIMITS
    store_results: str = attrs.field(default="url", validator=attrs.validators.in_(("url", "always")))
    fuse_threads: int = 1
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS
    video_workers: int = 1
    log_personal_fields: bool = False
    sweep_every: float | None = DEFAULT_SWEEP_EVERY
    encryption: KeyProvider | None = None
    keyring: BlobStore | None = None
    output_urls: tuple[str, ...] | None = None
    job_lease: float = DEFAULT_LEASE
    video_cluster: Any = None
    runtime: RuntimeOptions | None = None
    #: How :func:`open` opened it (what a cluster's workers open again); ``None`` for a studio built directly.
    spec: StudioSpec | None = None
    activities: Activities = attrs.field(init=False)
    materials: Materials = attrs.field(init=False)
    results: Results = attrs.field(init=False)
    videos: Videos = attrs.field(init=False)
    logs: RequestLog = attrs.field(init=False)
    subjects: EndUsers = attrs.field(init=False)
    _hasher: SubjectHasher = attrs.field(init=False)
    _guard: CapacityGuard = attrs.field(init=False)
    _workers: Workers = attrs.field(init=False)
    _calls: Calls = attrs.field(init=False)
    _templates: TemplateCache = attrs.field(init=False)
    _rules: RetentionRules = attrs.field(init=False)
    _sweeper: Sweeper | None = attrs.field(init=False, default=None)
    _sweep_claims: Claims = attrs.field(init=False)
    _job_claims: Claims = attrs.field(init=False)
    _tenants: Tenants = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tenants = Tenants(self._root, encrypted_view(self.encryption, self.keyring))
        audit = AuditTrail(lambda: self._tenants.store_of(None), self.now, lambda: self.retention,
                           self._tenants.current)
        self._hasher = SubjectHasher(lambda: self._tenants.store_of(None))
        self._calls = Calls(self.now, lambda record: self.logs.write(record),
                            lambda context: self._tenants.scope(Tenants.of(context)), self._hasher.of)
        self._templates = TemplateCache(self, size=_TEMPLATE_CACHE)
        workers = self._workers = Workers(self.video_workers, threading.RLock())
        self._sweep_claims = Claims(self.job_lease, folder=lambda _: keys.SWEEP_CLAIMS)
        self._job_claims = Claims(self.job_lease, clock=self.now)
        self._rules = RetentionRules(self, workers, self._templates, audit, self._job_claims)
        self.activities = Activities(self, self._calls, self._rules)
        self._guard = CapacityGuard(self)
        self.materials = Materials(self, self._calls, self._rules, self._guard)
        self.results = Results(self, self._calls, self._rules)
        self.logs = RequestLog(self, self._calls, self._rules)
        self.subjects = EndUsers(self, self._calls, self._rules, self._hasher)
        cluster = None
        if self.video_cluster is not None:
            if self.spec is None:
                raise ParameterValueError("a studio whose jobs run on a cluster must be opened with fusionkit.open "
                                          "(its workers open it again the same way)")
            cluster = VideoCluster(self.video_cluster, self.spec)
        self.videos = Videos(self, self._calls, self._rules, workers, self._guard, self._job_claims,
                             cluster)  # last: it picks up queued jobs
        if self.sweep_every is not None:
            self._sweeper = Sweeper(self._sweep_expired, self.sweep_every)
            self._sweeper.start()

    def _set_retention(self, policy: Any) -> RetentionPolicy:
        """A new retention policy applies at once to everything stored; the change goes to the audit trail."""
        if not isinstance(policy, RetentionPolicy):
            raise ParameterValueError(f"retention must be a RetentionPolicy, got {type(policy).__name__}")
        self._rules.audit.record("retention_changed", detail={"old": self.retention.to_dict(),
                                                             "new": policy.to_dict()})
        return policy

    @property
    def store(self) -> BlobStore:
        return self._tenants.store()

    @property
    def root(self) -> BlobStore:
        """The whole store as it is (every tenant's folder, encrypted bytes when the studio encrypts): setting it
        puts another store underneath every tenant's view (tests wrap the real one to inject failures)."""
        return self._root

    @root.setter
    def root(self, value: BlobStore) -> None:
        self._root = self._tenants.root = value

    def tenant(self) -> str | None:
        """The tenant the current call works in (``None``: the store's root, for calls without an app id)."""
        return self._tenants.current()

    def tenant_scope(self, tenant: str | None) -> contextlib.AbstractContextManager[None]:
        """Work in ``tenant``'s data inside the ``with`` block: for background work started by a call (a video
        job, a material's preprocessing), which runs in the tenant that started it."""
        return self._tenants.scope(tenant)

    def tenants(self) -> list[str | None]:
        """Every tenant with data in the store (``None`` is the root's)."""
        return self._tenants.all()

    def close(self) -> None:
        """Stop the automatic sweeps and the video workers (queued jobs stay queued in storage). The studio's
        calls still work; nothing runs in the background any more."""
        if self._sweeper is not None:
            self._sweeper.stop()
        self.videos.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The studio clock's time (UTC)."""
        value = self.clock()
        if value.tzinfo is None:
            raise ParameterValueError("the studio clock must return timezone-aware datetimes")
        return value.astimezone(timezone.utc)

    @contextlib.contextmanager
    def request_context(self, context: RequestContext) -> Iterator[None]:
        """Use ``context`` for every call made inside the ``with`` block (in this thread or task); :attr:`store` is
        its tenant's there too."""
        if not isinstance(context, RequestContext):
            raise ParameterValueError("context must be a RequestContext")
        token = self._calls.context.set(context)
        try:
            with self._tenants.scope(Tenants.of(context)):
                yield
        finally:
            self._calls.context.reset(token)

    # -- fusion --------------------------------------------------------------------------------------------------

    def fuse(
        self,
        activity_id: str,
        material_id: str,
        merges: Any,
        *,
        response: str = "url",
        options: FuseOptions | None = None,
        fuse_face_degree: float | None = None,
        fuse_profile_degree: float | None = None,
        consent: Mapping[str, Any] | None = None,
        context: RequestContext | None = None,
    ) -> FusedResult:
        """Fuse user faces into a material, using the faces found at upload.

        Parameters
        ----------
        activity_id, material_id
            The material to fuse into and its activity.
        merges
            As for :func:`fusionkit.fuse`: a :class:`~fusionkit.Merge`, a list of up to six, or a user image.
            A merge's ``template_face`` is a material face id (``"<material_id>_<n>"``) or an index.
        response
            ``"url"`` (store the result, payload is its URL), ``"base64"``, ``"bytes"`` or ``"array"``.
        options
            Fusion options; when given, its degrees are used as they are.
        fuse_face_degree, fuse_profile_degree
            0-100; when ``None`` (and no ``options``): the material's, else the activity's, else the library's.
        consent
            What the studio's consent policy checks (e.g. ``{"token": ...}``), when one is configured.
        context
            The caller, for the request log.

        Returns
        -------
        FusedResult
            With the payload; stored under ``results/image/{date}/`` (expiring after the retention policy's
            image-result period) when ``response="url"`` or the studio stores every result.

        Raises
        ------
        ActivityIdNotFoundError, MaterialIdNotFoundError, TemplateFaceIDNotExistError, ConsentRequiredError
            And every error of :func:`fusionkit.fuse`.
        """
        with self._calls("FuseFace", context) as (call, request_id):
            activity_id = need_activity(activity_id)
            material_id = need_material(material_id)
            call.refs.update(activity_id=activity_id, material_id=material_id)
            if response not in RESPONSES:
                raise ParameterValueError(f"response must be one of {RESPONSES}, got {response!r}")
            if options is not None and not isinstance(options, FuseOptions):
                raise ParameterValueError(f"options must be a FuseOptions, got {type(options).__name__}")
            check_consent(self.consent, activity_id, material_id, consent, self._calls.resolve(context), call)
            activity = load_activity(self.store, activity_id)
            material = load_material(self.store, material_id, activity_id)
            call.refs["image_url"] = self.store.url(keys.material_source(material.id, material.source_format))
            opts = fuse_options(options, activity, material, fuse_face_degree, fuse_profile_degree)
            call.refs["models"] = licence_text(licences(opts.renderer, opts.enhancer))
            merge_list = material_merges(material, merges)
            template = self._templates.image(material)
            meshes = [f.mesh for f in material.faces]

            from fusionkit.fusion.api import fuse

            with self.model_runtime():
                fused = fuse(template, merge_list, opts, template_meshes=meshes, limits=self.limits,
                             threads=self.fuse_threads)
            fmt = material.source_format if opts.output_format.value == "auto" else str(opts.output_format.value)
            now = self.now()
            result_id = ids.new_id(ids.RESULT, now)
            call.refs["result_id"] = result_id
            fused.aigc = produced_by(fused.aigc, self._calls.resolve(context), result_id)
            params: dict[str, Any] = {
                "fuse_face_degree": opts.fuse_face_degree, "fuse_profile_degree": opts.fuse_profile_degree,
                "template_faces": [m.template_face_index for m in fused.merges], "blend_mode": opts.blend_mode.value,
            }
            if fused.model_licences:
                params["model_licences"] = [list(pair) for pair in fused.model_licences]
            result = FusedResult(id=result_id, activity_id=activity_id, material_id=material_id,
                                 request_id=request_id, subject=self._calls.subject_of(context),
                                 created=now, format=fmt, parameters=params, response=response)
            return self._respond(result, fused, call)

    def model_runtime(self) -> contextlib.AbstractContextManager[None]:
        """A block whose models (face detection, meshes, plug-in renderers' models) run with the studio's
        ``runtime`` (see :func:`open`), unless the caller's own :func:`~fusionkit.vision.using_runtime` block
        chose one."""
        if self.runtime is None:
            return contextlib.nullcontext()
        from fusionkit.vision._runtime import current_runtime, using_runtime

        return using_runtime(current_runtime(self.runtime))

    def fuse_many(self, requests: Iterable[Any], *, response: str = "url", executor: Any = "threads",
                  workers: int = 2, in_flight: int | None = None, chunk: int | None = None,
                  progress: bool = False, context: RequestContext | None = None) -> Iterator[BatchItem]:
        """Many fusions into materials, yielded as they finish (completion order, each :class:`BatchItem` with its
        index and its :class:`~fusionkit.domain.FusedResult` or typed error): each request is one :meth:`fuse`
        call, logged as such, read lazily with at most ``in_flight`` (default two tasks for each thread that runs
        them) not yet yielded, ``chunk`` in a task (as for :func:`fusionkit.fuse_many`).

        Parameters
        ----------
        requests
            ``(activity_id, material_id, merges)`` tuples.
        response, context
            As for :meth:`fuse`, for every request (the context is the caller's, on every worker).
        executor
            ``"threads"`` (default: ``workers`` threads here) or a ``dask.distributed.Client``: each request runs
            on a cluster worker, in this studio opened again there from how :func:`open` opened it (the URL must
            name a store the workers reach: not ``memory://`` across processes).
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise ParameterValueError(f"workers must be a whole number within 1-64, got {workers!r}")
        from fusionkit.fusion.batch import forgetting_photos, runner_for, stream_batch
        from fusionkit.fusion.photos import PhotoMemo
        from fusionkit.vision._runtime import current_runtime, single_threaded

        ctx = self._calls.resolve(context)  # workers do not see this thread's request context
        runtime = single_threaded(current_runtime(self.runtime))  # nor its runtime: the caller's, else the studio's
        plan = runner_for(executor, workers, chunk)
        limit = plan.in_flight(in_flight)
        photos = PhotoMemo() if isinstance(executor, str) else None  # threads share photos (see fuse_many)
        if isinstance(executor, str):
            def submit(items: list[tuple[int, Any]]) -> Any:
                return plan.runner.submit(fuse_requests, self, items, response, ctx, runtime, photos)
        else:
            if self.spec is None:
                raise ParameterValueError("a studio whose fusions run on a cluster must be opened with "
                                          "fusionkit.open (its workers open it again the same way)")
            spec = self.spec

            def submit(items: list[tuple[int, Any]]) -> Any:
                return plan.runner.submit(fuse_on_worker, spec, items, response, ctx, runtime)

        return forgetting_photos(stream_batch(requests, submit, plan.runner, limit, progress, plan.chunk), photos)

    def _respond(self, result: FusedResult, fused: FusionResult, call: Call) -> FusedResult:
        """The result with its payload as ``result.response`` asks (stored first when that is a URL, or when the
        studio stores every result)."""
        response = result.response
        data: bytes | None = None
        if response != "array" or self.store_results == "always":
            data = fused.encode(result.format)
            result = attrs.evolve(result, size=len(data))
        if response == "url" or self.store_results == "always":
            assert data is not None
            with self._guard.claim(len(data), activity_id=result.activity_id):
                result = store_result(self.store, self._rules.image_results, result, data)
            call.refs["result_url"] = result.url
            # A delete of the material takes its marker first and then its results: either it comes after this
            # check and removes the result, or this check sees the marker gone and removes it here.
            if not self.store.exists(keys.material_marker(result.activity_id, result.material_id)):
                self._rules.image_results.erase(Subjects(result_ids=frozenset({result.id})))
                raise MaterialIdNotFoundError(f"material {result.material_id} was deleted during the fusion; "
                                              "nothing of the fusion was kept")
        payload: Any
        if response == "array":
            payload = fused.image
        elif response == "bytes":
            payload = data
        elif response == "base64":
            payload = base64.b64encode(data or b"").decode("ascii")
        else:
            payload = result.url
        return attrs.evolve(result, payload=payload)

    # -- retention and erasure -----------------------------------------------------------------------------------

    def sweep(self, *, context: RequestContext | None = None) -> dict[str, int]:
        """Delete everything that has expired; return how many results, log records and materials went (and how
        many orphaned files an interrupted upload or delete had left)."""
        with self._calls("Sweep", context) as (_, request_id):
            return self._sweep_expired(request_id)

    def _sweep_expired(self, request_id: str | None = None) -> dict[str, int]:
        """Every tenant's expired data, each tenant's sweep that removed something in the audit trail; also the
        automatic sweep (which writes no request log line: nobody asked). Retention is the studio's duty, so a
        sweep covers every tenant whoever calls it."""
        with self._sweep_turn():
            return self._sweep_now(request_id)

    @contextlib.contextmanager
    def _sweep_turn(self) -> Iterator[None]:
        """Wait for the store's other sweeps to end (studios in any process: a claim on ``sweeps/claims``, taken
        over when its sweeper died), then hold it: sweeps that overlapped deleted and counted the same day folders
        twice, and wrote the same audit record twice."""
        store = self._tenants.store_of(None)
        while (claim := self._sweep_claims.take(store, "store")) is None:
            time.sleep(0.25)  # sweeps take seconds; a LIST and a GET a poll is what waiting costs the store
        with self._sweep_claims.kept(store, claim, lambda: True):
            yield

    def _sweep_now(self, request_id: str | None) -> dict[str, int]:
        now = self.now()
        total: dict[str, int] = {}
        for tenant in self._tenants.all():
            with self._tenants.scope(tenant):
                counts = self._rules.sweep(now)
                if any(counts.values()):
                    self._rules.audit.record("sweep", request_id=request_id, counts=counts)
            for name, n in counts.items():
                total[name] = total.get(name, 0) + n
        total[self._rules.audit.name] = self._rules.audit.sweep(now)
        # What killed processes left outside the documents: temporary files of writes, and video jobs' scratch
        # folders (copies of templates and partial outputs: end users' faces), untouched for an hour.
        total["leftovers"] = remove_stale_temporaries(self._root) + remove_stale_scratch(self._workers.scratch_in_use())
        return total

    def audit(self, since: datetime, until: datetime, *, kind: str | None = None,
              context: RequestContext | None = None) -> list[AuditRecord]:
        """The audit trail's records with ``since <= time < until`` (of ``kind``: ``"material_deleted"``,
        ``"activity_deleted"``, ``"erasure"``, ``"sweep"``, ``"retention_changed"``), oldest first: every tenant's
        for a call without an app id (the operator), the tenant's own otherwise. The trail holds ids and counts,
        never personal data, and erasures leave it as it is: it is their proof."""
        with self._calls("QueryAudit", context):
            records = self._rules.audit.query(since, until, kind=kind)
            tenant = self._tenants.current()
            return records if tenant is None else [r for r in records if r.tenant == tenant]

    def erase(
        self,
        *,
        material_ids: Sequence[str] = (),
        result_ids: Sequence[str] = (),
        request_ids: Sequence[str] = (),
        context: RequestContext | None = None,
    ) -> ErasureReceipt:
        """Serve a data-subject request: remove every stored result and every log line that refers to one of the
        given material, result or request ids (materials themselves are deleted with :meth:`Materials.delete`).
        """
        # The Erase call's own log line names no subject id, so erasing never writes a new reference.
        with self._calls("EraseData", context) as (_, request_id):
            mids = frozenset(need_material(v) for v in material_ids)
            rids = frozenset(need_result(v) for v in result_ids)
            qids = frozenset(need_request(v) for v in request_ids)
            counts = self._rules.erase(Subjects(material_ids=mids, result_ids=rids, request_ids=qids))
            return self._rules.audit.receipt("erasure", request_id, mids | rids | qids, counts)


def open(
    url: str | os.PathLike[str],
    *,
    storage_options: dict[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    retention: RetentionPolicy | None = None,
    capacity: Capacity | None = None,
    consent: ConsentPolicy | None = None,
    limits: ImageLimits = DEFAULT_LIMITS,
    store_results: str = "url",
    fuse_threads: int = 1,
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    video_workers: int = 1,
    log_personal_fields: bool = False,
    sweep_every: float | None = DEFAULT_SWEEP_EVERY,
    encryption: KeyProvider | str | None = "auto",
    keyring: str | os.PathLike[str] | None = None,
    output_urls: Sequence[str] | None = None,
    job_lease: float = DEFAULT_LEASE,
    video_cluster: Any = None,
    runtime: RuntimeOptions | None = None,
) -> Studio:
    """Open (or start) a studio at ``url``.

    Parameters
    ----------
    url
        A local directory (plain path or ``file://``), ``memory://name`` (tests), or any fsspec URL.
    storage_options
        For fsspec filesystems; an error for local and memory stores, which take none.
    clock
        Returns the current time as an aware datetime (default: the system clock in UTC); tests pass a fake one.
    retention
        The :class:`~fusionkit.domain.RetentionPolicy` (default: logs 7 days, image results 7 days, video
        results 1 day, materials until deleted).
    capacity
        The :class:`Capacity` limits (default: none).
    consent
        A consent policy called before every fusion; once given, a fusion without accepted consent fails.
    limits
        Caps on uploaded and user images.
    store_results
        ``"url"``: store results only when a URL is asked for; ``"always"``: store every result.
    fuse_threads
        Passed to :func:`fusionkit.fuse` as ``threads``.
    video_limits
        Caps on uploaded video materials (checked from the container before decoding).
    video_workers
        Threads running video jobs (0-8; 0 runs none: jobs wait for a studio that has workers). On opening, jobs
        left queued are picked up again and an interrupted one is retried once, then marked failed.
    log_personal_fields
        ``False`` (default): the ``"fusionkit.studio.requests"`` Python logger gets each call's request id,
        interface, status and time only. ``True`` also sends the IPs, account ids and URLs there, outside the
        studio's retention and erasure: only for a host whose logging keeps the same duties.
    sweep_every
        Seconds between automatic sweeps on a background thread (default 60: what has expired is deleted within
        a minute); ``None`` runs none (then call :meth:`Studio.sweep`, or run ``fusionkit sweep --every 60``).
        :meth:`Studio.close` stops it.
    encryption
        ``"auto"`` (default): a new store is encrypted at rest under the default master key (see
        :mod:`fusionkit.studio.encryption`: ``FUSIONKIT_MASTER_KEY``, else a 0600 key file under
        ``~/.config/fusionkit/``), an encrypted one opened with it, and one holding plain data from before stays
        plain until ``fusionkit --studio URL encrypt``. A key provider
        (:class:`~fusionkit.storage.crypto.LocalKeyFile`, :class:`~fusionkit.storage.crypto.EnvironmentKey`,
        :class:`~fusionkit.storage.crypto.CallableKeys` for a KMS) chooses the master key. ``None``: plain storage,
        for tests and for hosts that encrypt below the studio (an encrypted store is refused). Deleting a material
        destroys its data key first, so copies beyond reach (backups, object versions) are unreadable at once.
        Result URLs then name encrypted bytes: read results through :meth:`Results.read`.
    keyring
        Where an encrypted studio keeps its wrapped data keys (a path or URL, opened with ``storage_options``):
        by default beside the data (``keyring/``). Give a place the store's backups and object versions do not
        reach, or they keep copies of the keys that deleting a material destroys.
    output_urls
        URL prefixes a video job's ``user_designated_url`` may point into (``["s3://campaign-out/",
        "/srv/results/"]``). ``None`` (default): local paths and URLs of the studio's own fsspec protocol. Never
        inside the studio's store, never a folder or a special file; a protocol whose package is missing is
        refused at submit.
    job_lease
        Seconds a worker's claim on a video job holds without being renewed (default 30; 1-3600). Any number of
        studios and cluster workers may run one store's jobs: each job runs once, under a claim renewed every third
        of this, and a job whose worker died is taken over by another within this period after it is noticed.
        Shorter is faster recovery for more requests to the store (see docs/scaling.md).
    video_cluster
        A ``dask.distributed.Client``: video jobs run on its workers (each opens this studio again from this call's
        arguments, which must pickle: the URL, storage options, key provider, limits and retention) instead of on
        ``video_workers`` threads here (the tracking of video materials uploaded with ``wait=False`` stays on those
        threads). Needs the dask extra.
    runtime
        :class:`~fusionkit.vision.RuntimeOptions` every model of the studio runs with (face detection and meshes
        on upload, fusions, video jobs, learned plug-ins' models), e.g. ``RuntimeOptions(providers=
        ("CUDAExecutionProvider",))``; a caller's :func:`~fusionkit.vision.using_runtime` block still wins. ``None``
        (default): the caller's, else onnxruntime's CPU defaults. Cluster workers open the studio with it too.

    Examples
    --------
    >>> import fusionkit
    >>> studio = fusionkit.open("memory://demo")
    >>> activity = studio.activities.create("spring campaign")
    >>> activity.name
    'spring campaign'
    """
    if consent is not None and not callable(consent):
        raise ParameterValueError("consent must be a callable policy or None")
    if not isinstance(video_limits, VideoLimits):
        raise ParameterValueError(f"video_limits must be a VideoLimits, got {type(video_limits).__name__}")
    if isinstance(fuse_threads, bool) or not isinstance(fuse_threads, int) or not 1 <= fuse_threads <= 6:
        raise ParameterValueError(f"fuse_threads must be a whole number within 1-6, got {fuse_threads!r}")
    if sweep_every is not None and (isinstance(sweep_every, bool) or not isinstance(sweep_every, (int, float))
                                    or not 0.01 <= sweep_every <= 86400):
        raise ParameterValueError(f"sweep_every must be seconds within 0.01-86400, or None, got {sweep_every!r}")
    if not isinstance(log_personal_fields, bool):
        raise ParameterValueError(f"log_personal_fields must be True or False, got {log_personal_fields!r}")
    if isinstance(video_workers, bool) or not isinstance(video_workers, int) or not 0 <= video_workers <= 8:
        raise ParameterValueError(f"video_workers must be a whole number within 0-8, got {video_workers!r}")
    if isinstance(job_lease, bool) or not isinstance(job_lease, (int, float)) or not 1 <= job_lease <= 3600:
        raise ParameterValueError(f"job_lease must be seconds within 1-3600, got {job_lease!r}")
    if runtime is not None:
        from fusionkit.vision._runtime import RuntimeOptions as Runtime
        from fusionkit.vision._runtime import check_providers

        if not isinstance(runtime, Runtime):
            raise ParameterValueError(f"runtime must be a RuntimeOptions or None, got {type(runtime).__name__}")
        check_providers(runtime)  # a provider this machine lacks fails the open, not the first upload
    root = open_store(url, storage_options)
    provider = resolve_encryption(root, encryption)
    ring = None if keyring is None or provider is None else open_store(keyring, storage_options)
    outputs = OutputPolicy.of(output_urls, root).allowed
    retention = retention or RetentionPolicy()
    spec = StudioSpec(url=os.fspath(url), storage_options=storage_options, encryption=provider,
                      keyring=None if keyring is None else os.fspath(keyring), retention=retention, limits=limits,
                      video_limits=video_limits, output_urls=output_urls if output_urls is None else tuple(output_urls),
                      job_lease=float(job_lease), runtime=runtime)
    studio = Studio(store=root, clock=clock or utc_now, encryption=provider, keyring=ring, output_urls=outputs,
                  retention=retention, capacity=capacity or Capacity(), consent=consent,
                  limits=limits, store_results=store_results, fuse_threads=fuse_threads,
                  video_limits=video_limits, video_workers=video_workers,
                  log_personal_fields=log_personal_fields, sweep_every=sweep_every, job_lease=float(job_lease),
                  video_cluster=video_cluster, runtime=runtime, spec=spec)
    return studio
