"""What the studio's rooms share: id checks, small parsers, the call wrapper, document loaders, what a fusion
into a material asks first (consent, options, merges), and constants.

Every public call of :mod:`fusionkit.studio` validates its ids with the ``need_*`` checks here before touching
storage; the names are public so that each room imports them from here and no room reaches into another's privates.
"""

from __future__ import annotations

import builtins
import contextlib
import contextvars
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timezone
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain import ids
from fusionkit.domain.options import AigcLabel, FuseOptions
from fusionkit.domain.studio import Activity, LogRecord, Material, VideoJob
from fusionkit.errors import (
    ActivityIdNotFoundError,
    ConsentRequiredError,
    FusionKitError,
    JobNotExistError,
    MaterialIdNotFoundError,
    ParameterValueError,
    ResultIdNotFoundError,
    TemplateFaceIDNotExistError,
)
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound
from fusionkit.studio.context import ConsentPolicy, ConsentRequest, RequestContext, policy_label

__all__ = [
    "MAX_PAGE",
    "RESPONSES",
    "Call",
    "Calls",
    "Cancelled",
    "check_consent",
    "day_folders",
    "day_of",
    "encode_array",
    "fuse_options",
    "job_ids",
    "load_activity",
    "load_job",
    "load_material",
    "looks_like_mp4",
    "material_merges",
    "need_activity",
    "need_job",
    "need_material",
    "need_request",
    "need_result",
    "one_line",
    "produced_by",
    "result_id_of",
    "utc_now",
    "write_doc",
]

#: The payloads a fusion can return (``response=``).
RESPONSES = ("url", "base64", "bytes", "array")
#: The most materials one page of ``Materials.list`` holds.
MAX_PAGE = 100


def utc_now() -> datetime:
    """The system clock's time, timezone-aware in UTC (the studio's default clock)."""
    return datetime.now(timezone.utc)


def need_activity(value: Any) -> str:
    """``value`` as an activity id; :class:`~fusionkit.errors.ActivityIdNotFoundError` when it is not one."""
    if not ids.is_id(value, ids.ACTIVITY):
        raise ActivityIdNotFoundError(f"{value!r} is not an activity id (ac_ followed by 10-40 letters or digits)")
    return str(value)


def need_material(value: Any) -> str:
    """``value`` as a material id; :class:`~fusionkit.errors.MaterialIdNotFoundError` when it is not one."""
    if not ids.is_id(value, ids.MATERIAL):
        raise MaterialIdNotFoundError(f"{value!r} is not a material id (mt_ followed by 10-40 letters or digits)")
    return str(value)


def need_result(value: Any) -> str:
    """``value`` as a result id; :class:`~fusionkit.errors.ResultIdNotFoundError` when it is not one."""
    if not ids.is_id(value, ids.RESULT):
        raise ResultIdNotFoundError(f"{value!r} is not a result id (rs_ followed by 10-40 letters or digits)")
    return str(value)


def need_job(value: Any) -> str:
    """``value`` as a video job id; :class:`~fusionkit.errors.JobNotExistError` when it is not one."""
    if not ids.is_id(value, ids.JOB):
        raise JobNotExistError(f"{value!r} is not a video job id (jb_ followed by 10-40 letters or digits)")
    return str(value)


def one_line(text: str) -> str:
    """``text`` on one line (runs of whitespace made one space), at most 1000 characters: for stored messages."""
    return " ".join(text.split())[:1000]


def need_request(value: Any) -> str:
    """``value`` as a request id; :class:`~fusionkit.errors.ParameterValueError` when it is not one."""
    if not ids.is_id(value, ids.REQUEST):
        raise ParameterValueError(f"{value!r} is not a request id (rq_ followed by 10-40 letters or digits)")
    return str(value)


def result_id_of(name: str) -> str | None:
    """``{material_id}.{result_id}.json`` -> result id."""
    parts = name.split(".")
    return parts[1] if len(parts) == 3 and parts[2] == "json" else None


def day_of(name: str) -> date | None:
    """A date-partitioned folder's name (``YYYY-MM-DD``) -> its date; ``None`` for any other name."""
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def day_folders(store: BlobStore, prefix: str, folder: Callable[[date], str]) -> list[tuple[date, str]]:
    """The date-partitioned folders under ``prefix`` (``YYYY-MM-DD`` names), as ``(day, folder(day))``."""
    out = []
    for name in store.list(prefix):
        day = day_of(name)
        if day is not None:
            out.append((day, folder(day)))
    return out


_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")


def looks_like_mp4(source: Any) -> bool:
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


def encode_array(image: NDArray[np.uint8]) -> bytes:
    """An RGB uint8 array as PNG bytes (compression level 3)."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ParameterValueError("the array could not be encoded as PNG")
    return bytes(buf.tobytes())


@attrs.define(eq=False)
class Call:
    """What one public call reports to the request log."""

    interface: str
    refs: dict[str, str | None] = attrs.field(factory=dict)


class Cancelled(Exception):
    """Raised from the progress callback of a cancelled job: fuse_video stops and leaves nothing."""


# -- documents: what every room reads and writes through the store ---------------------------------------------

def write_doc(store: BlobStore, key: str, doc: Any) -> None:
    """Write a domain value (``to_json()``) at ``key``."""
    store.write(key, doc.to_json().encode())


def load_activity(store: BlobStore, activity_id: str) -> Activity:
    """The stored activity; :class:`~fusionkit.errors.ActivityIdNotFoundError` when there is none."""
    try:
        return Activity.from_json(store.read(keys.activity_doc(activity_id)))
    except KeyNotFound:
        raise ActivityIdNotFoundError(f"no activity {activity_id} in this studio") from None


def load_material(store: BlobStore, material_id: str, activity_id: str | None = None) -> Material:
    """The stored material (of ``activity_id`` when given); :class:`~fusionkit.errors.MaterialIdNotFoundError`
    when there is none."""
    try:
        material = Material.from_json(store.read(keys.material_doc(material_id)))
    except KeyNotFound:
        raise MaterialIdNotFoundError(f"no material {material_id} in this studio") from None
    if activity_id is not None and material.activity_id != activity_id:
        raise MaterialIdNotFoundError(f"activity {activity_id} has no material {material_id}")
    return material


def job_ids(store: BlobStore) -> list[str]:
    """The ids of the video jobs stored (``jobs/{job_id}.json``), in listing order."""
    return [name[:-5] for name in store.list(keys.JOBS) if name.endswith(".json") and ids.is_id(name[:-5], ids.JOB)]


def load_job(store: BlobStore, job_id: str) -> VideoJob:
    """The stored video job; :class:`~fusionkit.errors.JobNotExistError` when there is none."""
    try:
        return VideoJob.from_json(store.read(keys.job_doc(job_id)))
    except KeyNotFound:
        raise JobNotExistError(f"no video job {job_id} in this studio") from None


# -- the call wrapper ------------------------------------------------------------------------------------------

class Calls:
    """The wrapper every public studio call runs in (``with calls("Interface", context) as (call, request_id)``):
    it resolves the request context (the one given, else the one :meth:`Studio.request_context` set in this thread
    or task, else an empty one), times the call and hands one :class:`~fusionkit.domain.LogRecord` to ``log`` at
    the end, with the references the call noted in ``call.refs`` and its error code if it raised.

    Parameters
    ----------
    now
        The studio's clock.
    log
        Where each call's record goes (the request log).
    enter
        The scope a call runs in, given its context (the studio's tenant of the context's app id); the record is
        written inside it.
    subject
        The end user a context is for (the studio's hash of its ``user_id``), for the record.
    """

    def __init__(self, now: Callable[[], datetime], log: Callable[[LogRecord], None],
                 enter: Callable[[RequestContext], contextlib.AbstractContextManager[None]] | None = None,
                 subject: Callable[[RequestContext], str | None] | None = None) -> None:
        self._now = now
        self._log = log
        self._enter = enter or (lambda context: contextlib.nullcontext())
        self._subject = subject or (lambda context: None)
        self.context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
            f"fusionkit_studio_{id(self)}", default=None)

    def subject_of(self, context: RequestContext | None) -> str | None:
        """The end user (``us_...``) a call with ``context`` (resolved as :meth:`resolve` does) is for, if any."""
        ctx = self.resolve(context)
        return self._subject(ctx) if ctx.user_id else None

    def resolve(self, context: RequestContext | None) -> RequestContext:
        """The context a call runs with."""
        if context is None:
            return self.context.get() or RequestContext()
        if not isinstance(context, RequestContext):
            raise ParameterValueError("context must be a RequestContext or None")
        return context

    @contextlib.contextmanager
    def __call__(self, interface: str, context: RequestContext | None) -> Iterator[tuple[Call, str]]:
        ctx = self.resolve(context)
        with self._enter(ctx):
            yield from self._run(interface, ctx)

    def _run(self, interface: str, ctx: RequestContext) -> Iterator[tuple[Call, str]]:
        started = self._now()
        t0 = time.perf_counter()
        request_id = ctx.request_id or ids.new_id(ids.REQUEST, started)
        call = Call(interface)
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
            self._log(LogRecord(
                timestamp=started, request_id=request_id, interface=interface,
                time_cost_ms=(time.perf_counter() - t0) * 1e3, app_id=ctx.app_id, account_id=ctx.account_id,
                sub_account_id=ctx.sub_account_id, client_ip=ctx.client_ip, reporting_ip=ctx.reporting_ip,
                region=ctx.region, error_code=error, subject=self._subject(ctx) if ctx.user_id else None,
                **call.refs))


# -- what a fusion into a material asks first (Studio.fuse and Videos.submit) --------------------------------------

def check_consent(policy: ConsentPolicy | None, activity_id: str, material_id: str | None,
                  consent: Mapping[str, Any] | None, context: RequestContext, call: Call,
                  purpose: str = "fuse") -> None:
    """Ask the studio's consent policy (when it has one) about a call that receives people's photos, and note in
    the call's log record which policy decided and how (``"AgeAttestation@1-min18:allowed"``), or
    ``"not_checked"``; a policy that raises refuses (fail closed).

    Raises
    ------
    ConsentRequiredError
        The policy refused, or failed.
    """
    if policy is None:
        call.refs["consent"] = "not_checked"
        return
    label = policy_label(policy)
    request = ConsentRequest(activity_id=activity_id, material_id=material_id, context=context, consent=consent,
                             purpose=purpose)
    try:
        allowed = policy(request)
    except Exception as exc:  # fail closed: a broken policy refuses
        call.refs["consent"] = f"{label}:failed"
        raise ConsentRequiredError(f"the consent policy refused the request ({type(exc).__name__})") from exc
    call.refs["consent"] = f"{label}:{'allowed' if allowed is True else 'refused'}"
    if allowed is not True:
        raise ConsentRequiredError("the consent policy refused the request: give the consent it asks for")


def fuse_options(options: FuseOptions | None, activity: Activity, material: Material, face: float | None,
                 profile: float | None) -> FuseOptions:
    """The options of a fusion into ``material``: the ones given, else the defaults with the material's (else the
    activity's) degrees; ``face`` and ``profile`` (0-100) override the degrees."""
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


def produced_by(label: AigcLabel, context: RequestContext, produce_id: str) -> AigcLabel:
    """The GB 45438-2025 label of a result the studio makes: produced by the calling app (its app id; the
    options' producer without one), under the result's (or job's) id."""
    return attrs.evolve(label, content_producer=context.app_id or label.content_producer, produce_id=produce_id)


def material_merges(material: Material, merges: Any) -> list[Any]:
    """``merges`` (a user image, a :class:`~fusionkit.fusion.Merge` or a list of them) as merges whose
    ``template_face`` is an index into ``material``'s faces (a face id is looked up).

    Raises
    ------
    TemplateFaceIDNotExistError
        A merge names a face id the material does not have.
    """
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
