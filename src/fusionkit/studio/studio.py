"""The studio: activities, materials, fusion into materials, stored results, the request log, retention and
erasure, over one storage root.

Every public call validates its ids before touching storage, appends one line to the request log (and to
Python's :mod:`logging`, logger ``"fusionkit.studio.requests"``), and reads time from the studio's clock.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import contextvars
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain import ids
from fusionkit.domain.options import FuseOptions
from fusionkit.domain.studio import (
    Activity,
    ErasureReceipt,
    FusedResult,
    LogRecord,
    Material,
    MaterialFace,
    RetentionPolicy,
    VideoJob,
)
from fusionkit.errors import (
    ActivityIdNotFoundError,
    CapacityExceededError,
    ConsentRequiredError,
    FusionKitError,
    ImageSizeExceedError,
    JobCancelledError,
    JobInterruptedError,
    JobNotExistError,
    MaterialIdNotFoundError,
    MaterialPreprocessingError,
    NoFaceDetectedError,
    ParameterValueError,
    ResultIdNotFoundError,
    StorageError,
    TemplateFaceIDNotExistError,
    UnsupportedImageFormatError,
)
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits, decode_image, probe_image
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, VideoLimits, probe_video
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound, open_store
from fusionkit.studio.context import Capacity, ConsentPolicy, ConsentRequest, RequestContext

if TYPE_CHECKING:
    from fusionkit.fusion.video import ReferenceFace

__all__ = ["Activities", "MaterialPage", "Materials", "RequestLog", "Results", "Studio", "Videos", "open"]

LOGGER_NAME = "fusionkit.studio.requests"
RESPONSES = ("url", "base64", "bytes", "array")
_MAX_PAGE = 100
_TEMPLATE_CACHE = 8


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _need_activity(value: Any) -> str:
    if not ids.is_id(value, ids.ACTIVITY):
        raise ActivityIdNotFoundError(f"{value!r} is not an activity id (ac_ followed by 10-40 letters or digits)")
    return str(value)


def _need_material(value: Any) -> str:
    if not ids.is_id(value, ids.MATERIAL):
        raise MaterialIdNotFoundError(f"{value!r} is not a material id (mt_ followed by 10-40 letters or digits)")
    return str(value)


def _need_result(value: Any) -> str:
    if not ids.is_id(value, ids.RESULT):
        raise ResultIdNotFoundError(f"{value!r} is not a result id (rs_ followed by 10-40 letters or digits)")
    return str(value)


def _need_job(value: Any) -> str:
    if not ids.is_id(value, ids.JOB):
        raise JobNotExistError(f"{value!r} is not a video job id (jb_ followed by 10-40 letters or digits)")
    return str(value)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _check_output_url(value: Any) -> str:
    """A ``user_designated_url``: one fsspec URL of a known protocol (no chained ``a::b`` URLs, no plain paths)."""
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable() or not _URL.fullmatch(value):
        raise ParameterValueError(f"user_designated_url must be a URL such as s3://bucket/out.mp4, got {value!r}")
    import fsspec

    protocol = value.split("://", 1)[0].lower()
    if protocol not in fsspec.available_protocols():
        raise ParameterValueError(f"user_designated_url has the unknown protocol {protocol!r}")
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())[:1000]


def _need_request(value: Any) -> str:
    if not ids.is_id(value, ids.REQUEST):
        raise ParameterValueError(f"{value!r} is not a request id (rq_ followed by 10-40 letters or digits)")
    return str(value)


def _result_id_of(name: str) -> str | None:
    """``{material_id}.{result_id}.json`` -> result id."""
    parts = name.split(".")
    return parts[1] if len(parts) == 3 and parts[2] == "json" else None


def _day_of(name: str) -> date | None:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def _looks_like_mp4(source: Any) -> bool:
    """An MP4 by its magic bytes (an ISO base media box at the start): bytes, or a path to such a file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:8])
    elif isinstance(source, (str, os.PathLike)):
        try:
            with builtins.open(os.fspath(source), "rb") as fh:
                head = fh.read(8)
        except OSError:
            return False
    else:
        return False
    return len(head) == 8 and head[4:8] in _MP4_BOXES


def _encode_array(image: NDArray[np.uint8]) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ParameterValueError("the array could not be encoded as PNG")
    return bytes(buf.tobytes())


@attrs.frozen(kw_only=True)
class MaterialPage:
    """One page of :meth:`Materials.list`: the materials, and how many there are in all."""

    materials: tuple[Material, ...]
    total: int
    limit: int
    offset: int


@attrs.define(eq=False)
class _Call:
    """What one public call reports to the request log."""

    interface: str
    refs: dict[str, str | None] = attrs.field(factory=dict)


@attrs.define(eq=False)
class Studio:
    """The stateful SDK over one storage root; create it with :func:`fusionkit.open`.

    Attributes
    ----------
    activities, materials, results, videos, logs
        The sub-APIs (:class:`Activities`, :class:`Materials`, :class:`Results`, :class:`Videos`,
        :class:`RequestLog`).
    retention
        The :class:`~fusionkit.domain.RetentionPolicy`.
    """

    store: BlobStore
    clock: Callable[[], datetime] = _utc_now
    retention: RetentionPolicy = attrs.field(factory=RetentionPolicy)
    capacity: Capacity = attrs.field(factory=Capacity)
    consent: ConsentPolicy | None = None
    limits: ImageLimits = DEFAULT_LIMITS
    store_results: str = attrs.field(default="url", validator=attrs.validators.in_(("url", "always")))
    fuse_threads: int = 1
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS
    video_workers: int = 1
    activities: Activities = attrs.field(init=False)
    materials: Materials = attrs.field(init=False)
    results: Results = attrs.field(init=False)
    videos: Videos = attrs.field(init=False)
    logs: RequestLog = attrs.field(init=False)
    _context: contextvars.ContextVar[RequestContext | None] = attrs.field(init=False)
    _cache: OrderedDict[tuple[str, str], NDArray[np.uint8]] = attrs.field(init=False, factory=OrderedDict)
    _cache_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _logger: logging.Logger = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.activities = Activities(self)
        self.materials = Materials(self)
        self.results = Results(self)
        self.videos = Videos(self)
        self.logs = RequestLog(self)
        self._context = contextvars.ContextVar(f"fusionkit_studio_{id(self)}", default=None)
        self._logger = logging.getLogger(LOGGER_NAME)

    # -- plumbing ------------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The studio clock's time (UTC)."""
        value = self.clock()
        if value.tzinfo is None:
            raise ParameterValueError("the studio clock must return timezone-aware datetimes")
        return value.astimezone(timezone.utc)

    @contextlib.contextmanager
    def request_context(self, context: RequestContext) -> Iterator[None]:
        """Use ``context`` for every call made inside the ``with`` block (in this thread or task)."""
        if not isinstance(context, RequestContext):
            raise ParameterValueError("context must be a RequestContext")
        token = self._context.set(context)
        try:
            yield
        finally:
            self._context.reset(token)

    def _resolve_context(self, context: RequestContext | None) -> RequestContext:
        if context is None:
            return self._context.get() or RequestContext()
        if not isinstance(context, RequestContext):
            raise ParameterValueError("context must be a RequestContext or None")
        return context

    @contextlib.contextmanager
    def _call(self, interface: str, context: RequestContext | None) -> Iterator[tuple[_Call, str]]:
        ctx = self._resolve_context(context)
        started = self.now()
        t0 = time.perf_counter()
        request_id = ctx.request_id or ids.new_id(ids.REQUEST, started)
        call = _Call(interface)
        error: str | None = None
        try:
            yield call, request_id
        except FusionKitError as exc:
            error = exc.code
            raise
        except BaseException:
            error = "FailedOperation.InternalError"
            raise
        finally:
            record = LogRecord(
                timestamp=started, request_id=request_id, interface=interface,
                time_cost_ms=(time.perf_counter() - t0) * 1e3, app_id=ctx.app_id, account_id=ctx.account_id,
                sub_account_id=ctx.sub_account_id, client_ip=ctx.client_ip, reporting_ip=ctx.reporting_ip,
                region=ctx.region, error_code=error, **call.refs)
            self.logs._append(record)

    def _write_json(self, key: str, doc: Any) -> None:
        self.store.write(key, doc.to_json().encode())

    def _load_activity(self, activity_id: str) -> Activity:
        try:
            return Activity.from_json(self.store.read(keys.activity_doc(activity_id)))
        except KeyNotFound:
            raise ActivityIdNotFoundError(f"no activity {activity_id} in this studio") from None

    def _load_material(self, material_id: str, activity_id: str | None = None) -> Material:
        try:
            material = Material.from_json(self.store.read(keys.material_doc(material_id)))
        except KeyNotFound:
            raise MaterialIdNotFoundError(f"no material {material_id} in this studio") from None
        if activity_id is not None and material.activity_id != activity_id:
            raise MaterialIdNotFoundError(f"activity {activity_id} has no material {material_id}")
        return material

    def _template(self, material: Material) -> NDArray[np.uint8]:
        key = (material.id, material.source_sha256)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        try:
            data = self.store.read(keys.material_source(material.id, material.source_format))
        except KeyNotFound:
            raise MaterialIdNotFoundError(f"material {material.id} has no stored source (deleted meanwhile)") from None
        image = decode_image(data, limits=self.limits)
        image.setflags(write=False)
        with self._cache_lock:
            self._cache[key] = image
            while len(self._cache) > _TEMPLATE_CACHE:
                self._cache.popitem(last=False)
        return image

    def _forget(self, material_id: str) -> None:
        with self._cache_lock:
            for key in [k for k in self._cache if k[0] == material_id]:
                del self._cache[key]

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
        with self._call("FuseFace", context) as (call, request_id):
            activity_id = _need_activity(activity_id)
            material_id = _need_material(material_id)
            call.refs.update(activity_id=activity_id, material_id=material_id)
            if response not in RESPONSES:
                raise ParameterValueError(f"response must be one of {RESPONSES}, got {response!r}")
            if options is not None and not isinstance(options, FuseOptions):
                raise ParameterValueError(f"options must be a FuseOptions, got {type(options).__name__}")
            self._check_consent(activity_id, material_id, consent, context)
            activity = self._load_activity(activity_id)
            material = self._load_material(material_id, activity_id)
            opts = self._options(options, activity, material, fuse_face_degree, fuse_profile_degree)
            merge_list = self._merges(material, merges)
            template = self._template(material)
            meshes = [f.mesh for f in material.faces]

            from fusionkit.fusion.api import fuse

            fused = fuse(template, merge_list, opts, template_meshes=meshes, limits=self.limits,
                         threads=self.fuse_threads)
            fmt = material.source_format if opts.output_format.value == "auto" else str(opts.output_format.value)
            now = self.now()
            result_id = ids.new_id(ids.RESULT, now)
            call.refs["result_id"] = result_id
            params: dict[str, Any] = {
                "fuse_face_degree": opts.fuse_face_degree, "fuse_profile_degree": opts.fuse_profile_degree,
                "template_faces": [m.template_face_index for m in fused.merges], "blend_mode": opts.blend_mode.value,
            }
            result = FusedResult(id=result_id, activity_id=activity_id, material_id=material_id,
                                 request_id=request_id, created=now, format=fmt, parameters=params, response=response)
            data: bytes | None = None
            if response != "array" or self.store_results == "always":
                data = fused.encode(fmt)
                result = attrs.evolve(result, size=len(data))
            if response == "url" or self.store_results == "always":
                assert data is not None
                result = self.results._store(result, data)
                call.refs["result_url"] = result.url
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

    def _check_consent(self, activity_id: str, material_id: str, consent: Mapping[str, Any] | None,
                       context: RequestContext | None) -> None:
        if self.consent is None:
            return
        request = ConsentRequest(activity_id=activity_id, material_id=material_id,
                                 context=self._resolve_context(context), consent=consent)
        try:
            allowed = self.consent(request)
        except Exception as exc:  # fail closed: a broken policy refuses
            raise ConsentRequiredError(f"the consent policy refused the request ({type(exc).__name__})") from exc
        if allowed is not True:
            raise ConsentRequiredError("the consent policy refused the request: give the consent it asks for")

    @staticmethod
    def _options(options: FuseOptions | None, activity: Activity, material: Material, face: float | None,
                 profile: float | None) -> FuseOptions:
        if options is not None:
            base = options
        else:
            base = FuseOptions()
            if material.fuse_face_degree is not None:
                base = attrs.evolve(base, fuse_face_degree=material.fuse_face_degree)
            elif activity.fuse_face_degree is not None:
                base = attrs.evolve(base, fuse_face_degree=activity.fuse_face_degree)
            if material.fuse_profile_degree is not None:
                base = attrs.evolve(base, fuse_profile_degree=material.fuse_profile_degree)
            elif activity.fuse_profile_degree is not None:
                base = attrs.evolve(base, fuse_profile_degree=activity.fuse_profile_degree)
        if face is not None:
            base = attrs.evolve(base, fuse_face_degree=face)
        if profile is not None:
            base = attrs.evolve(base, fuse_profile_degree=profile)
        return base

    @staticmethod
    def _merges(material: Material, merges: Any) -> list[Any]:
        from fusionkit.fusion.api import Merge

        if isinstance(merges, Merge):
            items = [merges]
        elif isinstance(merges, (list, tuple)):
            items = [m if isinstance(m, Merge) else Merge(image=m) for m in merges]
        else:
            items = [Merge(image=merges)]
        out = []
        for i, m in enumerate(items):
            tf = m.template_face
            if isinstance(tf, str):
                if tf not in material.face_ids:
                    raise TemplateFaceIDNotExistError(
                        f"merge {i} names template face {tf!r}; material {material.id} has faces "
                        f"{list(material.face_ids)}")
                m = attrs.evolve(m, template_face=material.face_ids.index(tf))
            out.append(m)
        return out

    # -- retention and erasure -----------------------------------------------------------------------------------

    def sweep(self, *, context: RequestContext | None = None) -> dict[str, int]:
        """Delete everything that has expired; return how many results, log records and materials went (and how
        many orphaned files an interrupted upload or delete had left)."""
        with self._call("Sweep", context):
            now = self.now()
            counts = {"results": self.results._sweep(now), "log_records": self.logs._sweep(now), "materials": 0,
                      "orphans": self._sweep_orphans(now), "video_results": self.videos._sweep(now)}
            if self.retention.materials is not None:
                cutoff = now - self.retention.materials
                for mid in self.store.list(keys.MATERIALS):
                    if ids.is_id(mid, ids.MATERIAL) and ids.id_time(mid) + timedelta(milliseconds=1) <= cutoff:
                        with contextlib.suppress(MaterialIdNotFoundError):
                            self.materials._erase(mid, {})
                            counts["materials"] += 1
            return counts

    def _sweep_orphans(self, now: datetime) -> int:
        """Remove material folders left without a document by an interrupted upload or delete (a source with
        nothing pointing at it); folders younger than an hour are left alone, their upload may be running."""
        removed = 0
        for mid in self.store.list(keys.MATERIALS):
            if not ids.is_id(mid, ids.MATERIAL) or ids.id_time(mid) + timedelta(hours=1) > now:
                continue
            if not self.store.exists(keys.material_doc(mid)):
                removed += self.store.delete_prefix(keys.material_folder(mid))
        return removed

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
        with self._call("EraseData", context):
            mids = frozenset(_need_material(v) for v in material_ids)
            rids = frozenset(_need_result(v) for v in result_ids)
            qids = frozenset(_need_request(v) for v in request_ids)
            counts: dict[str, int] = {}
            counts["results"] = self.results._erase(mids, rids, qids) + self.videos._erase(mids, qids)
            counts["log_records"] = self.logs._erase(mids | rids | qids)
            return ErasureReceipt(id=ids.new_id(ids.ERASURE, self.now()), completed=self.now(),
                                  subject_ids=sorted(mids | rids | qids), counts=counts)


@attrs.define(eq=False)
class Activities:
    """``studio.activities``: create, get, list, rename, delete."""

    _studio: Studio

    def create(self, name: str, *, fuse_face_degree: float | None = None, fuse_profile_degree: float | None = None,
               context: RequestContext | None = None) -> Activity:
        """Create an activity named ``name`` (any printable text; never part of a storage key)."""
        s = self._studio
        with s._call("CreateActivity", context) as (call, _):
            now = s.now()
            activity = Activity(id=ids.new_id(ids.ACTIVITY, now), name=name, created=now, updated=now,
                                fuse_face_degree=fuse_face_degree, fuse_profile_degree=fuse_profile_degree)
            call.refs["activity_id"] = activity.id
            s._write_json(keys.activity_doc(activity.id), activity)
            return activity

    def get(self, activity_id: str, *, context: RequestContext | None = None) -> Activity:
        """The activity; :class:`~fusionkit.errors.ActivityIdNotFoundError` when there is none."""
        s = self._studio
        with s._call("DescribeActivity", context) as (call, _):
            call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            return s._load_activity(activity_id)

    def list(self, *, context: RequestContext | None = None) -> list[Activity]:
        """Every activity, oldest first."""
        s = self._studio
        with s._call("DescribeActivityList", context):
            out = []
            for name in s.store.list(keys.ACTIVITIES):
                aid = name[:-5] if name.endswith(".json") else ""
                if ids.is_id(aid, ids.ACTIVITY):
                    with contextlib.suppress(ActivityIdNotFoundError):
                        out.append(s._load_activity(aid))
            return out

    def rename(self, activity_id: str, name: str, *, context: RequestContext | None = None) -> Activity:
        """Give the activity a new name."""
        s = self._studio
        with s._call("ModifyActivity", context) as (call, _):
            call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            activity = attrs.evolve(s._load_activity(activity_id), name=name, updated=s.now())
            s._write_json(keys.activity_doc(activity_id), activity)
            return activity

    def delete(self, activity_id: str, *, context: RequestContext | None = None) -> ErasureReceipt:
        """Delete the activity with its materials, their faces and sources, and every result made from them."""
        s = self._studio
        with s._call("DeleteActivity", context) as (call, _):
            call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            s._load_activity(activity_id)
            counts: dict[str, int] = {}
            mids = [m for m in s.store.list(keys.activity_members(activity_id)) if ids.is_id(m, ids.MATERIAL)]
            # Results first (they point at materials), then materials (they point at the activity), then it.
            counts["results"] = s.results._erase(frozenset(mids), frozenset(), frozenset())
            for mid in mids:
                with contextlib.suppress(MaterialIdNotFoundError):
                    s.materials._erase(mid, counts, results_done=True)
            s.store.delete_prefix(f"{keys.ACTIVITIES}/{activity_id}")
            s.store.delete(keys.activity_doc(activity_id))
            counts["activities"] = 1
            return ErasureReceipt(id=ids.new_id(ids.ERASURE, s.now()), completed=s.now(),
                                  subject_ids=(activity_id,), counts=counts)


def _track_material(data: bytes, limits: VideoLimits, progress: Callable[[float], None] | None = None,
                    references: Sequence[ReferenceFace] | None = None,
                    ) -> tuple[str, str | None, list[NDArray[np.float32]], bytes | None]:
    """Preprocess a video material: (status, error, the faces' first points, the tracks as npz bytes or None).

    With ``references`` the faces are those matching the references, in their order. Exceptions raised by
    ``progress`` propagate; any other failure is a status.
    """
    from fusionkit.fusion.video import track_video

    status, error, faces_points = "ready", None, []
    tracks = None
    try:
        tracks = track_video(data, limits=limits, progress=progress, references=references)
    except _Cancelled:
        raise
    except NoFaceDetectedError as exc:
        status, error = "role_not_in_video", f"{exc.code}: {exc}"
    except Exception as exc:  # preprocessing failed; the material is kept with its status
        code = exc.code if isinstance(exc, FusionKitError) else "FailedOperation.InternalError"
        status, error = "preprocessing_failed", f"{code}: {exc}"
    if tracks is not None:
        for i in range(tracks.face_count):
            rows = np.flatnonzero(tracks.present[:, i])
            if rows.size:
                faces_points.append(np.array(tracks.points[rows[0], i], np.float32))
        if not faces_points:
            status, tracks = "role_not_in_video", None
            error = "FailedOperation.NoFaceDetected: no face in the video"
    blob = None
    if tracks is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, points=tracks.points, present=tracks.present, shots=tracks.shots)
        blob = buf.getvalue()
    return status, error, faces_points, blob


def _save_references(buf: IO[bytes], references: Sequence[ReferenceFace]) -> None:
    """The reference faces as npz: ``points`` (n, 468, 3) and ``embeddings`` (n, D), float32, and ``model`` (the
    identity model's name)."""
    np.savez_compressed(buf, points=np.stack([r.points for r in references]),
                        embeddings=np.stack([r.embedding for r in references]),
                        model=np.array(references[0].model if references else ""))


def _load_references(blob: bytes) -> list[ReferenceFace]:
    from fusionkit.fusion.video import ReferenceFace

    with np.load(io.BytesIO(blob)) as npz:
        if "embeddings" not in npz:
            raise ParameterValueError("the reference faces were stored by an older fusionkit without identity "
                                      "embeddings: upload the video again with its reference photos")
        points, embeddings = np.asarray(npz["points"], np.float32), np.asarray(npz["embeddings"], np.float32)
        model = str(npz["model"])
    return [ReferenceFace(points=p, embedding=e, model=model) for p, e in zip(points, embeddings, strict=True)]


@attrs.define(eq=False)
class Materials:
    """``studio.materials``: upload, get, list, delete."""

    _studio: Studio

    def upload(
        self,
        activity_id: str,
        source: Any,
        *,
        name: str | None = None,
        fuse_face_degree: float | None = None,
        fuse_profile_degree: float | None = None,
        wait: bool = True,
        reference_faces: Sequence[Any] | None = None,
        context: RequestContext | None = None,
    ) -> Material:
        """Store a template picture in an activity, finding and indexing its faces once.

        Parameters
        ----------
        activity_id
            The activity.
        source
            A path (``str`` or :class:`os.PathLike`) to a JPEG or PNG file, its bytes, or an RGB uint8 array
            (stored as PNG). An MP4 (a path or its bytes, recognised by its first bytes) makes a video material:
            checked against the studio's ``video_limits`` from its container, its faces tracked now and stored
            per frame; its status is ``"ready"``, ``"role_not_in_video"`` or ``"preprocessing_failed"``.
        name
            For people (default: the file name, or ``"material"``).
        fuse_face_degree, fuse_profile_degree
            0-100 defaults for fusions into this material.
        wait
            For a video: ``True`` (default) tracks its faces before returning; ``False`` stores it with status
            ``"preprocessing"`` and returns at once, the tracking running on the studio's worker pool
            (``video["progress"]`` 0-1 in :meth:`get`) and ending in the same statuses. Like a video job it
            survives a restart (picked up again; one interrupted twice ends ``"preprocessing_failed"``).
            Ignored for pictures.
        reference_faces
            For a video: 1-6 reference photos (path, bytes or RGB array), one face each (the largest). The
            material's faces are then the tracked faces matching them, in their order (face ``i`` is reference
            ``i``'s; others are left out), matched by appearance and mesh shape over the video (see
            :func:`fusionkit.fusion.video.track_video`; not face recognition: a still of the role from the video
            works best); one that matches no face makes the material ``"role_not_in_video"``. A reference without
            a face raises ``NoFaceDetectedError``.

        Raises
        ------
        ActivityIdNotFoundError
            Unknown activity.
        ImageDecodeFailedError, UnsupportedImageFormatError, ImageSizeExceedError, ImageResolutionExceedError
            Not a JPEG/PNG image (judged by its magic bytes), or over the studio's caps.
        NoFaceDetectedError, FaceSizeTooSmallError
            No usable face.
        CapacityExceededError
            The studio is full.

        Nothing is stored when any of these is raised.
        """
        s = self._studio
        with s._call("UploadMaterial", context) as (call, _):
            call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            if _looks_like_mp4(source):
                material = self._upload_video(activity_id, source, call, name=name,
                                              fuse_face_degree=fuse_face_degree,
                                              fuse_profile_degree=fuse_profile_degree, wait=wait,
                                              reference_faces=reference_faces)
                return material
            if reference_faces is not None:
                raise ParameterValueError("reference_faces are for video materials only")
            data, default_name = self._source_bytes(source)
            info = probe_image(data)
            if info.format not in ("jpeg", "png"):
                raise UnsupportedImageFormatError(f"{info.format} materials are not supported; send JPEG or PNG")
            s._load_activity(activity_id)
            self._check_capacity(len(data))
            image = decode_image(data, limits=s.limits)
            from fusionkit.fusion.api import find_faces

            meshes = find_faces(image)
            if not meshes:
                raise NoFaceDetectedError("no face was found in the material: use a picture with a clear face")
            now = s.now()
            mid = ids.new_id(ids.MATERIAL, now)
            call.refs["material_id"] = mid
            material = Material(
                id=mid, activity_id=activity_id, name=name if name is not None else default_name,
                source_format=info.format, width=int(image.shape[1]), height=int(image.shape[0]),
                source_bytes=len(data), source_sha256=hashlib.sha256(data).hexdigest(),
                faces=[MaterialFace(id=f"{mid}_{i}", index=i, mesh=m) for i, m in enumerate(meshes)],
                fuse_face_degree=fuse_face_degree, fuse_profile_degree=fuse_profile_degree, created=now, updated=now)
            doc = material.to_json()
            material = Material.from_json(doc)  # exactly what every later read sees
            written: list[str] = []
            try:
                # Source, then the document that points at it, then the activity's marker that points at the
                # document: a failure anywhere leaves no reference to something missing, and is rolled back.
                for key, blob in ((keys.material_source(mid, info.format), data),
                                  (keys.material_doc(mid), doc.encode()),
                                  (keys.material_marker(activity_id, mid), b"")):
                    written.append(key)
                    s.store.write(key, blob)
            except BaseException:
                for key in reversed(written):
                    with contextlib.suppress(Exception):
                        s.store.delete(key)
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.material_folder(mid))
                raise
            call.refs["image_url"] = s.store.url(keys.material_source(mid, info.format))
            return material

    def _upload_video(self, activity_id: str, source: Any, call: _Call, *, name: str | None,
                      fuse_face_degree: float | None, fuse_profile_degree: float | None,
                      wait: bool = True, reference_faces: Sequence[Any] | None = None) -> Material:
        """An MP4 template: caps checked from the container, then faces tracked once and stored per frame."""
        s = self._studio
        limits = s.video_limits
        if isinstance(source, (str, os.PathLike)):
            info = probe_video(source, limits=limits)  # caps from the headers, before anything is read whole
            with builtins.open(os.fspath(source), "rb") as fh:
                data = fh.read(limits.max_bytes + 1)
            default_name = os.path.basename(os.fspath(source))[:200] or "material"
            if not default_name.isprintable():
                default_name = "material"
        else:
            data = bytes(source)
            default_name = "material"
        info = probe_video(data, limits=limits)
        s._load_activity(activity_id)
        self._check_capacity(len(data))
        from fusionkit.fusion.video import _stored_mesh

        references = self._references(reference_faces)
        if wait:
            status, error, faces_points, tracks_blob = _track_material(data, limits, references=references)
        else:
            status, error, faces_points, tracks_blob = "preprocessing", None, [], None
        now = s.now()
        mid = ids.new_id(ids.MATERIAL, now)
        call.refs["material_id"] = mid
        meta: dict[str, Any] = dict(info.to_json())
        meta["tracked_faces"] = len(faces_points)
        meta["error"] = error
        meta["progress"] = 1.0 if wait else 0.0
        if not wait:
            meta["attempts"] = 0
        if references is not None:
            meta["reference_faces"] = len(references)
        material = Material(
            id=mid, activity_id=activity_id, name=name if name is not None else default_name, kind="video",
            status=status, source_format="mp4", width=info.width, height=info.height, source_bytes=len(data),
            source_sha256=hashlib.sha256(data).hexdigest(),
            faces=[MaterialFace(id=f"{mid}_{i}", index=i, mesh=_stored_mesh(p)) for i, p in enumerate(faces_points)],
            fuse_face_degree=fuse_face_degree, fuse_profile_degree=fuse_profile_degree, created=now, updated=now,
            video=meta)
        doc = material.to_json()
        material = Material.from_json(doc)
        blobs: list[tuple[str, bytes]] = [(keys.material_source(mid, "mp4"), data)]
        if references is not None:
            buf = io.BytesIO()
            _save_references(buf, references)
            blobs.append((keys.material_references(mid), buf.getvalue()))
        if tracks_blob is not None:
            blobs.append((keys.material_tracks(mid), tracks_blob))
        blobs += [(keys.material_doc(mid), doc.encode()), (keys.material_marker(activity_id, mid), b"")]
        written: list[str] = []
        try:
            for key, blob in blobs:
                written.append(key)
                s.store.write(key, blob)
        except BaseException:
            for key in reversed(written):
                with contextlib.suppress(Exception):
                    s.store.delete(key)
            with contextlib.suppress(Exception):
                s.store.delete_prefix(keys.material_folder(mid))
            raise
        call.refs["video_url"] = s.store.url(keys.material_source(mid, "mp4"))
        if not wait:
            s.videos._enqueue_preprocess(mid)
        return material

    def _references(self, reference_faces: Sequence[Any] | None) -> list[ReferenceFace] | None:
        """The reference photos' faces (one person each)."""
        if reference_faces is None:
            return None
        if isinstance(reference_faces, (str, bytes, np.ndarray)) or not isinstance(reference_faces, Sequence):
            raise ParameterValueError("reference_faces is a list of reference photos")
        if not 1 <= len(reference_faces) <= 6:
            raise ParameterValueError(f"give 1 to 6 reference faces, got {len(reference_faces)}")
        from fusionkit.fusion.video import reference_face

        return [reference_face(ref, limits=self._studio.limits, index=i) for i, ref in enumerate(reference_faces)]

    def _source_bytes(self, source: Any) -> tuple[bytes, str]:
        limits = self._studio.limits
        if isinstance(source, np.ndarray):
            from fusionkit.imaging.decode import load_image

            return _encode_array(load_image(source, limits=limits)), "material"
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            name = "material"
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            try:
                size = os.stat(path).st_size
                if size > limits.max_bytes:
                    raise ImageSizeExceedError(f"the file has {size} bytes; the maximum is {limits.max_bytes}")
                with builtins.open(path, "rb") as fh:
                    data = fh.read(limits.max_bytes + 1)
            except OSError as exc:
                from fusionkit.errors import ImageDecodeFailedError

                raise ImageDecodeFailedError(f"cannot read the material file: {exc.strerror}") from None
            name = os.path.basename(path)[:200] or "material"
        else:
            raise ParameterValueError(f"a material is a path, bytes or an RGB uint8 array, got {type(source).__name__}")
        if len(data) > limits.max_bytes:
            raise ImageSizeExceedError(f"the material has {len(data)} bytes; the maximum is {limits.max_bytes}")
        return data, name if name.isprintable() else "material"

    def _check_capacity(self, new_bytes: int) -> None:
        s = self._studio
        cap = s.capacity
        if cap.max_materials is not None:
            n = len(s.store.list(keys.MATERIALS))
            if n + 1 > cap.max_materials:
                raise CapacityExceededError(f"the studio holds {n} materials, its limit is {cap.max_materials}: "
                                            "delete some or raise Capacity.max_materials")
        if cap.max_bytes is not None:
            used = s.store.size(keys.MATERIALS)
            if used + new_bytes > cap.max_bytes:
                raise CapacityExceededError(f"the studio stores {used} bytes of materials; {new_bytes} more would "
                                            f"pass its limit of {cap.max_bytes}")

    def get(self, material_id: str, *, activity_id: str | None = None,
            context: RequestContext | None = None) -> Material:
        """The material (of ``activity_id``, when given)."""
        s = self._studio
        with s._call("DescribeMaterial", context) as (call, _):
            call.refs["material_id"] = material_id = _need_material(material_id)
            if activity_id is not None:
                call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            return s._load_material(material_id, activity_id)

    def list(self, activity_id: str, *, limit: int = 20, offset: int = 0, material_ids: Sequence[str] | None = None,
             context: RequestContext | None = None) -> MaterialPage:
        """A page of an activity's materials, oldest first (like the cloud API's DescribeMaterialList).

        Parameters
        ----------
        limit
            1-100 materials per page.
        offset
            How many to skip.
        material_ids
            Only these materials (those of them that belong to the activity).
        """
        s = self._studio
        with s._call("DescribeMaterialList", context) as (call, _):
            call.refs["activity_id"] = activity_id = _need_activity(activity_id)
            wanted = None if material_ids is None else {_need_material(m) for m in material_ids}
            for v, what, lo in ((limit, "limit", 1), (offset, "offset", 0)):
                if isinstance(v, bool) or not isinstance(v, int) or v < lo or (what == "limit" and v > _MAX_PAGE):
                    raise ParameterValueError(f"{what} must be a whole number within {lo}-"
                                              f"{_MAX_PAGE if what == 'limit' else 'any'}, got {v!r}")
            s._load_activity(activity_id)
            names = [n for n in s.store.list(keys.activity_members(activity_id)) if ids.is_id(n, ids.MATERIAL)]
            if wanted is not None:
                names = [n for n in names if n in wanted]
            page = []
            for mid in names[offset:offset + limit]:
                with contextlib.suppress(MaterialIdNotFoundError):
                    page.append(s._load_material(mid, activity_id))
            return MaterialPage(materials=tuple(page), total=len(names), limit=limit, offset=offset)

    def delete(self, material_id: str, *, context: RequestContext | None = None) -> ErasureReceipt:
        """Delete the material with its faces, its source and every result made from it, at once."""
        s = self._studio
        with s._call("DeleteMaterial", context) as (call, _):
            call.refs["material_id"] = material_id = _need_material(material_id)
            counts: dict[str, int] = {}
            self._erase(material_id, counts)
            return ErasureReceipt(id=ids.new_id(ids.ERASURE, s.now()), completed=s.now(),
                                  subject_ids=(material_id,), counts=counts)

    def _erase(self, material_id: str, counts: dict[str, int], *, results_done: bool = False) -> None:
        s = self._studio
        material = s._load_material(material_id)
        # The marker goes first (the listing stops showing it), then results, then the document and the source.
        s.store.delete(keys.material_marker(material.activity_id, material_id))
        if not results_done:
            counts["results"] = counts.get("results", 0) + s.results._erase(
                frozenset({material_id}), frozenset(), frozenset())
        counts["results"] = counts.get("results", 0) + s.videos._erase_material(material_id)
        s.store.delete(keys.material_doc(material_id))
        sources = int(s.store.delete(keys.material_source(material_id, material.source_format)))
        if material.kind == "video":
            counts["tracks"] = counts.get("tracks", 0) + int(s.store.delete(keys.material_tracks(material_id)))
        s.store.delete_prefix(keys.material_folder(material_id))
        s._forget(material_id)
        counts["materials"] = counts.get("materials", 0) + 1
        counts["faces"] = counts.get("faces", 0) + len(material.faces)
        counts["sources"] = counts.get("sources", 0) + sources


@attrs.define(eq=False)
class Results:
    """``studio.results``: stored fused results; an expired one reads as not found."""

    _studio: Studio

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
        s = self._studio
        with s._call("DescribeResult", context) as (call, _):
            call.refs["result_id"] = result_id = _need_result(result_id)
            return self._find(result_id)[1]

    def read(self, result_id: str, *, context: RequestContext | None = None) -> bytes:
        """The stored result's encoded bytes."""
        s = self._studio
        with s._call("DownloadResult", context) as (call, _):
            call.refs["result_id"] = result_id = _need_result(result_id)
            key, result = self._find(result_id)
            try:
                return s.store.read(key[: -len("json")] + ("jpg" if result.format == "jpeg" else "png"))
            except KeyNotFound:
                raise ResultIdNotFoundError(f"no stored result {result_id} (deleted meanwhile)") from None

    def _folders(self) -> list[tuple[date, str]]:
        out = []
        for name in self._studio.store.list(keys.RESULTS_IMAGE):
            day = _day_of(name)
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
                rid = _result_id_of(name)
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
                rid = _result_id_of(name)
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


def _estimated_seconds(frames: int, width: int, height: int, faces: int, ahead: int) -> float:
    """A job's expected wait and run time: per frame 6 ms plus 11 ms per megapixel plus 6 ms per face after the
    first (benchmarks/bench_video.py on 2 cores: 720p about 16 ms, 1080p about 28 ms a frame), a third more for
    a busy machine, times the jobs ahead of it plus itself (each taken as long as this one)."""
    per_frame = 0.006 + 0.011 * width * height / 1e6 + 0.006 * max(0, faces - 1)
    return round(1.3 * frames * per_frame * (ahead + 1), 1)


_OPTION_FIELDS = ("fuse_face_degree", "fuse_profile_degree", "skin_smoothing", "sharpening", "colour_match")


class _Cancelled(Exception):
    """Raised from the progress callback of a cancelled job: fuse_video stops and leaves nothing."""


@attrs.define(eq=False)
class Videos:
    """``studio.videos``: asynchronous video fusion jobs into video materials, run by a bounded pool of threads.

    A job is the document ``jobs/{job_id}.json`` (written atomically at every change) and its user images
    ``jobs/{job_id}/user_{n}.png`` (deleted when it ends). The result goes to ``results/video/{date}/{job_id}.mp4``
    and expires after the retention policy's video-result period, or to the job's ``user_designated_url``.
    One process runs the jobs of a store: opening a studio picks up queued and interrupted jobs.
    """

    _studio: Studio
    _lock: threading.RLock = attrs.field(init=False, factory=threading.RLock)
    _pool: ThreadPoolExecutor | None = attrs.field(init=False, default=None)
    # Queued or running here: job ids and "preprocess:{material_id}", with their futures in the pool.
    _pending: dict[str, Future[None]] = attrs.field(init=False, factory=dict)
    _cancelled: set[str] = attrs.field(init=False, factory=set)

    # -- documents -----------------------------------------------------------------------------------------------

    def _load(self, job_id: str) -> VideoJob:
        try:
            return VideoJob.from_json(self._studio.store.read(keys.job_doc(job_id)))
        except KeyNotFound:
            raise JobNotExistError(f"no video job {job_id} in this studio") from None

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
            self._save(attrs.evolve(job, status="failed", error_code=code, error_message=_one_line(message),
                                    updated=now, expires=now + self._studio.retention.video_results))

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
        with s._call("SubmitVideoFaceFusionJob", context) as (call, request_id):
            activity_id = _need_activity(activity_id)
            material_id = _need_material(material_id)
            call.refs.update(activity_id=activity_id, material_id=material_id)
            url = None if user_designated_url is None else _check_output_url(user_designated_url)
            if options is not None and not isinstance(options, FuseOptions):
                raise ParameterValueError(f"options must be a FuseOptions, got {type(options).__name__}")
            s._check_consent(activity_id, material_id, consent, context)
            activity = s._load_activity(activity_id)
            material = s._load_material(material_id, activity_id)
            if material.kind == "video" and material.status == "preprocessing":
                raise MaterialPreprocessingError(f"material {material_id} is still being preprocessed "
                                                 f"({float((material.video or {}).get('progress') or 0):.0%}): "
                                                 "wait until its status is ready, then submit")
            if material.kind != "video" or material.status != "ready":
                raise ParameterValueError(f"material {material_id} is not a ready video material "
                                          f"(kind {material.kind}, status {material.status})")
            opts = s._options(options, activity, material, fuse_face_degree, fuse_profile_degree)
            if opts.logo is not None:
                opts.logo.placed(material.width, material.height)  # a logo outside the frame fails now, not later
            merge_list = s._merges(material, merges)
            if not 1 <= len(merge_list) <= 6:
                raise ParameterValueError(f"give 1 to 6 merges, got {len(merge_list)}")
            from fusionkit.imaging.decode import load_image

            images = [_encode_array(load_image(m.image, limits=s.limits)) for m in merge_list]
            now = s.now()
            job_id = ids.new_id(ids.JOB, now)
            with self._lock:
                ahead = len(self._pending)
            frames = int((material.video or {}).get("frame_count") or 0)
            params: dict[str, Any] = {k: getattr(opts, k) for k in _OPTION_FIELDS}
            params.update(blend_mode=opts.blend_mode.value, users=len(images),
                          template_faces=[m.template_face for m in merge_list],
                          input_face_rects=[list(m.input_face_rect) if m.input_face_rect else None
                                            for m in merge_list])
            job = VideoJob(id=job_id, activity_id=activity_id, material_id=material_id, request_id=request_id,
                           parameters=params, user_designated_url=url, queue_length=ahead,
                           estimated_seconds=_estimated_seconds(frames, material.width, material.height,
                                                                len(merge_list), ahead),
                           created=now, updated=now)
            try:
                for i, data in enumerate(images):
                    s.store.write(keys.job_user(job_id, i), data)
                s.store.write(keys.job_options(job_id), opts.to_json().encode())
                self._save(job)
            except BaseException:
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.job_folder(job_id))
                raise
            call.refs["video_url"] = s.store.url(keys.job_doc(job_id))
            self._enqueue(job_id)
            return job

    def get(self, job_id: str, *, context: RequestContext | None = None) -> VideoJob:
        """The job: status (and ``status_code``), progress, error, and when completed the output.

        Raises
        ------
        JobNotExistError
            Unknown id, or a completed job whose result has expired.
        """
        s = self._studio
        with s._call("DescribeVideoFaceFusionJob", context) as (call, _):
            job_id = _need_job(job_id)
            return self._current(job_id, call)

    def _current(self, job_id: str, call: _Call | None = None) -> VideoJob:
        job = self._load(job_id)
        if call is not None:
            call.refs.update(activity_id=job.activity_id, material_id=job.material_id, result_url=job.url)
        if job.is_expired(self._studio.now()):
            raise JobNotExistError(f"video job {job_id} has expired with its result")
        return job

    def cancel(self, job_id: str, *, context: RequestContext | None = None) -> VideoJob:
        """Cancel a queued or running job (it ends failed with ``FailedOperation.JobCancelled``, and nothing is
        written); a finished job is returned as it is."""
        s = self._studio
        with s._call("CancelVideoFaceFusionJob", context) as (call, _):
            job_id = _need_job(job_id)
            with self._lock:
                job = self._current(job_id, call)
                if job.done:
                    return job
                self._cancelled.add(job_id)
                now = s.now()
                job = attrs.evolve(job, status="failed", error_code=JobCancelledError.code,
                                   error_message="cancelled by the caller", updated=now,
                                   expires=now + s.retention.video_results)
                self._save(job)
                # The user images go now; a worker reading them meanwhile stops (the job is already failed).
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.job_folder(job_id))
            return job

    def wait(self, job_id: str, *, timeout: float | None = None, poll: float = 0.05,
             context: RequestContext | None = None) -> VideoJob:
        """Block until the job has failed or completed (or ``timeout`` seconds passed) and return it."""
        s = self._studio
        with s._call("WaitVideoFaceFusionJob", context) as (call, _):
            job_id = _need_job(job_id)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                job = self._current(job_id, call)
                if job.done or (deadline is not None and time.monotonic() >= deadline):
                    return job
                time.sleep(poll)

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker threads (queued jobs stay queued in storage, for the next studio opened)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
        with self._lock:  # what never started is no longer queued here (it is, in storage)
            for task in [t for t, future in self._pending.items() if future.cancelled()]:
                del self._pending[task]
                self._cancelled.discard(task)

    # -- workers -------------------------------------------------------------------------------------------------

    def _enqueue(self, job_id: str) -> None:
        s = self._studio
        if s.video_workers < 1:
            return
        with self._lock:
            if job_id in self._pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=s.video_workers, thread_name_prefix="fusionkit-video")
            self._pending[job_id] = self._pool.submit(self._run, job_id)

    def _enqueue_preprocess(self, material_id: str) -> None:
        """Queue the preprocessing (face tracking) of a video material uploaded with ``wait=False``."""
        s = self._studio
        if s.video_workers < 1:
            return
        task = f"preprocess:{material_id}"
        with self._lock:
            if task in self._pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=s.video_workers, thread_name_prefix="fusionkit-video")
            self._pending[task] = self._pool.submit(self._run_preprocess, material_id)

    def _update_material(self, material_id: str, **video: Any) -> Material | None:
        """Under the lock: merge ``video`` into a preprocessing material's metadata and save it; ``None`` when the
        material is gone or no longer preprocessing."""
        s = self._studio
        try:
            material = s._load_material(material_id)
        except MaterialIdNotFoundError:
            return None
        if material.status != "preprocessing":
            return None
        meta = dict(material.video or {})
        meta.update(video)
        material = attrs.evolve(material, video=meta, updated=s.now())
        s._write_json(keys.material_doc(material_id), material)
        return material

    def _run_preprocess(self, material_id: str) -> None:
        s = self._studio
        try:
            with self._lock:
                material = s._load_material(material_id)
                if material.status != "preprocessing":
                    return
                attempts = int((material.video or {}).get("attempts") or 0) + 1
                self._update_material(material_id, attempts=attempts, progress=0.0)
            try:
                data = s.store.read(keys.material_source(material_id, "mp4"))
            except KeyNotFound:
                return  # deleted meanwhile
            references = None
            if (material.video or {}).get("reference_faces"):
                references = _load_references(s.store.read(keys.material_references(material_id)))
            last = [0.0]

            def progress(fraction: float) -> None:
                if fraction - last[0] >= 0.1 and fraction < 1.0:
                    last[0] = fraction
                    with self._lock:
                        if self._update_material(material_id, progress=round(fraction, 3)) is None:
                            raise _Cancelled

            try:
                status, error, faces_points, blob = _track_material(data, s.video_limits, progress, references)
            except _Cancelled:
                return
            self._finish_preprocess(material_id, status, error, faces_points, blob)
        except MaterialIdNotFoundError:
            return
        except Exception as exc:  # the material ends preprocessing_failed; the worker thread carries on
            s._logger.error("fusionkit: preprocessing of %s failed: %r", material_id, exc)
            with contextlib.suppress(Exception):
                self._finish_preprocess(material_id, "preprocessing_failed",
                                        f"FailedOperation.InternalError: {type(exc).__name__}: {exc}", [], None)
        finally:
            with self._lock:
                self._pending.pop(f"preprocess:{material_id}", None)

    def _finish_preprocess(self, material_id: str, status: str, error: str | None,
                           faces_points: list[NDArray[np.float32]], blob: bytes | None) -> None:
        s = self._studio
        from fusionkit.fusion.video import _stored_mesh

        with self._lock:
            try:
                material = s._load_material(material_id)
            except MaterialIdNotFoundError:
                return
            if material.status != "preprocessing":
                return
            if blob is not None:
                s.store.write(keys.material_tracks(material_id), blob)  # the tracks, then the document
            meta = dict(material.video or {})
            meta.update(tracked_faces=len(faces_points), error=None if error is None else _one_line(error),
                        progress=1.0)
            done = attrs.evolve(
                material, status=status, updated=s.now(), video=meta,
                faces=[MaterialFace(id=f"{material_id}_{i}", index=i, mesh=_stored_mesh(p))
                       for i, p in enumerate(faces_points)])
            s._write_json(keys.material_doc(material_id), done)
        # Deleted while the tracks or the document were written (a delete takes the activity's marker first, so a
        # missing marker means the document just written may have come after the delete's): leave nothing behind.
        try:
            s._load_material(material_id)
            gone = not s.store.exists(keys.material_marker(material.activity_id, material_id))
        except MaterialIdNotFoundError:
            gone = True
        if gone:
            with contextlib.suppress(Exception):
                s.store.delete_prefix(keys.material_folder(material_id))

    def _recover_preprocessing(self) -> None:
        """On open: pick up video materials still preprocessing; one interrupted twice ends preprocessing_failed."""
        s = self._studio
        for name in sorted(s.store.list(keys.MATERIALS)):
            mid = name.rstrip("/").rsplit("/", 1)[-1]
            if not ids.is_id(mid, ids.MATERIAL):
                continue
            try:
                material = s._load_material(mid)
            except FusionKitError:
                continue
            if material.status != "preprocessing":
                continue
            attempts = int((material.video or {}).get("attempts") or 0)
            if attempts >= 2:
                self._finish_preprocess(mid, "preprocessing_failed",
                                        f"{JobInterruptedError.code}: preprocessing was interrupted {attempts} "
                                        "times; upload the video again", [], None)
                continue
            self._enqueue_preprocess(mid)

    def _recover(self) -> None:
        """On open: requeue queued jobs; retry an interrupted (processing) job once, else mark it failed; the
        same for video materials still preprocessing."""
        s = self._studio
        if s.video_workers < 1:
            return
        self._recover_preprocessing()
        for name in sorted(s.store.list(keys.JOBS)):
            job_id = name[:-5] if name.endswith(".json") else ""
            if not ids.is_id(job_id, ids.JOB):
                continue
            try:
                job = self._load(job_id)
            except (JobNotExistError, FusionKitError):
                continue
            if job.status == "processing":
                if job.attempts >= 2:
                    self._fail(job_id, JobInterruptedError.code,
                               f"the job was interrupted {job.attempts} times while it ran; submit it again")
                    with contextlib.suppress(Exception):
                        s.store.delete_prefix(keys.job_folder(job_id))
                    continue
                self._save(attrs.evolve(job, status="queued", progress=0.0, updated=s.now()))
            elif job.status != "queued":
                continue
            self._enqueue(job_id)

    def _run(self, job_id: str) -> None:
        try:
            self._process(job_id)
        except Exception as exc:  # the job is marked failed; the worker thread carries on
            self._studio._logger.error("fusionkit: video job %s failed: %r", job_id, exc)
            with contextlib.suppress(Exception):
                self._fail(job_id, "FailedOperation.InternalError", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._pending.pop(job_id, None)
                self._cancelled.discard(job_id)

    def _process(self, job_id: str) -> None:
        s = self._studio
        with self._lock:
            try:
                job: VideoJob | None = self._load(job_id)
            except JobNotExistError:
                job = None  # erased before it ran
            if job is None or job.done:  # erased or cancelled while queued: its user images go
                with contextlib.suppress(Exception):
                    s.store.delete_prefix(keys.job_folder(job_id))
                return
            if job.status != "queued" or job_id in self._cancelled:
                return
            job = attrs.evolve(job, status="processing", attempts=job.attempts + 1, progress=0.0, updated=s.now())
            self._save(job)
        tmp = tempfile.mkdtemp(prefix="fusionkit-job-")
        failure: tuple[str, str] | None = None
        try:
            self._fuse(job, tmp)
        except _Cancelled:
            pass
        except FusionKitError as exc:
            failure = (exc.code, str(exc))
        except Exception as exc:
            failure = ("FailedOperation.InternalError", f"{type(exc).__name__}: {exc}")
        # BaseException (the process going down) leaves the job processing: it is retried on the next open.
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # The user images go before the job's final document is written: a finished job holds none.
        with contextlib.suppress(Exception):
            s.store.delete_prefix(keys.job_folder(job_id))
        if failure is not None:
            self._fail(job_id, *failure)

    def _fuse(self, job: VideoJob, tmp: str) -> None:
        s = self._studio
        from fusionkit.fusion.api import Merge
        from fusionkit.fusion.video import VideoTracks, fuse_video

        try:
            material = s._load_material(job.material_id)
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
        src = os.path.join(tmp, "template.mp4")
        with builtins.open(src, "wb") as fh:
            fh.write(source)
        del source
        out = os.path.join(tmp, "out.mp4")
        last = [0.0]

        def progress(fraction: float) -> None:
            if job.id in self._cancelled:
                raise _Cancelled
            if fraction - last[0] >= 0.1 and fraction < 1.0:
                last[0] = fraction
                with self._lock:
                    current = self._load(job.id)
                    if current.status == "processing":
                        self._save(attrs.evolve(current, progress=round(fraction, 3), updated=s.now()))

        result = fuse_video(src, merges, out, opts, tracks=tracks, limits=s.video_limits, image_limits=s.limits,
                            progress=progress)
        if job.id in self._cancelled:  # cancelled after the last frame: write nothing
            raise _Cancelled
        with builtins.open(out, "rb") as rfh:
            data = rfh.read()
        md5 = hashlib.md5(data).hexdigest()
        now = s.now()
        key: str | None = None
        staged: tuple[Any, str, str] | None = None  # (filesystem, temporary path, final path) at the user's URL
        if job.user_designated_url is not None:
            import fsspec

            # Staged beside the target and renamed only once the job is known not cancelled: a cancel never
            # touches a file the user already had there.
            fs, final = fsspec.core.url_to_fs(job.user_designated_url)
            staged = (fs, f"{final}.fusionkit-{secrets.token_hex(6)}.tmp", final)
            fs.pipe_file(staged[1], data)
            url, expires = job.user_designated_url, now + s.retention.video_results  # the record; not the file
        else:
            key = keys.video_result(now.date(), job.id)
            s.store.write(key, data)
            url, expires = s.store.url(key), now + s.retention.video_results
        with self._lock:
            try:
                current: VideoJob | None = self._load(job.id)
            except JobNotExistError:
                current = None  # its material was deleted meanwhile
            try:
                if current is None or current.status != "processing":  # cancelled or erased meanwhile
                    if key is not None:
                        s.store.delete(key)
                    return
                if staged is not None:
                    staged[0].mv(staged[1], staged[2])
                    staged = None
            finally:
                if staged is not None:  # not renamed: the temporary file goes, the user's file stays as it was
                    with contextlib.suppress(OSError):
                        staged[0].rm_file(staged[1])
            s.store.delete_prefix(keys.job_folder(job.id))
            self._save(attrs.evolve(
                current, status="completed", progress=1.0, url=url, md5=md5, width=result.width,
                height=result.height, fps=result.fps, duration_s=result.duration_s, frame_count=result.frame_count,
                faces=[face.to_dict() for face in result.faces], updated=now, expires=expires))

    # -- retention -----------------------------------------------------------------------------------------------

    def _erase_material(self, material_id: str) -> int:
        return self._erase(frozenset({material_id}), frozenset())

    def _erase(self, material_ids: frozenset[str], request_ids: frozenset[str]) -> int:
        """Delete every job of these materials or submitted by these requests, with its result (a running one
        stops and leaves nothing); return how many stored results went."""
        s = self._studio
        if not material_ids and not request_ids:
            return 0
        removed = 0
        for name in s.store.list(keys.JOBS):
            job_id = name[:-5] if name.endswith(".json") else ""
            if not ids.is_id(job_id, ids.JOB):
                continue
            with self._lock:
                try:
                    job = self._load(job_id)
                except FusionKitError:
                    continue
                if job.material_id not in material_ids and job.request_id not in request_ids:
                    continue
                self._cancelled.add(job_id)
                s.store.delete(keys.job_doc(job_id))
                if job.status == "completed" and job.user_designated_url is None:
                    removed += int(s.store.delete(keys.video_result(job.updated.date(), job_id)))
                if job_id not in self._pending:
                    self._cancelled.discard(job_id)
                s.store.delete_prefix(keys.job_folder(job_id))
        return removed

    def _sweep(self, now: datetime) -> int:
        """Delete expired results with their job documents; return how many results went."""
        s = self._studio
        removed = 0
        for name in s.store.list(keys.JOBS):
            job_id = name[:-5] if name.endswith(".json") else ""
            if not ids.is_id(job_id, ids.JOB):
                continue
            try:
                job = self._load(job_id)
            except FusionKitError:
                continue
            if job.is_expired(now):
                s.store.delete(keys.job_doc(job_id))  # the document first: the job stops being readable at once
                s.store.delete(keys.video_result(job.updated.date(), job_id))
                removed += 1
        for name in s.store.list(keys.RESULTS_VIDEO):
            day = _day_of(name)
            if day is not None and not s.store.list(keys.video_result_folder(day)):
                s.store.delete_prefix(keys.video_result_folder(day))
        return removed


@attrs.define(eq=False)
class RequestLog:
    """``studio.logs``: one JSON line per public call under ``logs/{date}/{hour}.jsonl``, also sent to the
    ``"fusionkit.studio.requests"`` logger; lines older than the retention policy's log period read as gone."""

    _studio: Studio

    def _append(self, record: LogRecord) -> None:
        line = record.to_json()
        try:
            self._studio.store.append(keys.log_file(record.timestamp), line.encode() + b"\n")
        except Exception as exc:  # the request log must not turn a good call into a failed one
            self._studio._logger.error("fusionkit: could not write the request log: %r", exc)
        self._studio._logger.info(line, extra={"fusionkit_request": record.to_dict()})

    def _hour_keys(self, since: datetime, until: datetime) -> Iterator[str]:
        store = self._studio.store
        for name in store.list(keys.LOGS):
            day = _day_of(name)
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
        with self._studio._call("QueryLogs", context):
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
            day = _day_of(name)
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
            day = _day_of(name)
            if day is None:
                continue
            for hour_name in store.list(keys.log_folder(day)):
                if hour_name.endswith(".jsonl"):
                    removed += store.rewrite_lines(f"{keys.log_folder(day)}/{hour_name}", keep)
        return removed


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
    if isinstance(video_workers, bool) or not isinstance(video_workers, int) or not 0 <= video_workers <= 8:
        raise ParameterValueError(f"video_workers must be a whole number within 0-8, got {video_workers!r}")
    studio = Studio(store=open_store(url, storage_options), clock=clock or _utc_now,
                  retention=retention or RetentionPolicy(), capacity=capacity or Capacity(), consent=consent,
                  limits=limits, store_results=store_results, fuse_threads=fuse_threads,
                  video_limits=video_limits, video_workers=video_workers)
    studio.videos._recover()
    return studio
