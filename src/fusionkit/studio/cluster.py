"""Video jobs on a Dask cluster: a studio opened with ``video_cluster=client`` hands each job to the cluster as one
task, and the task opens the same studio in its worker process (once per process) and runs the job there under a
claim (:mod:`.claims`).

Nothing of the studio is pickled but how to open it (:class:`StudioSpec`: the URL, storage options, the key
provider, limits and retention); the job's inputs travel through the store. A task whose worker dies is run again by
Dask on another worker; that run waits until the dead worker's lease lapses, then takes the job over.
"""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any

import attrs

from fusionkit.errors import FusionKitError, ParameterValueError

if TYPE_CHECKING:
    from fusionkit.fusion.batch import BatchItem

__all__ = ["StudioSpec", "VideoCluster", "fuse_on_worker", "fuse_requests", "run_video_job"]


@attrs.frozen
class StudioSpec:
    """How a worker process opens the studio a job belongs to: the arguments of :func:`fusionkit.open` that a job's
    run depends on. Every field must pickle (a key provider that reads a file needs the file on every worker)."""

    url: str
    storage_options: dict[str, Any] | None = None
    encryption: Any = None
    keyring: str | None = None
    retention: Any = None
    limits: Any = None
    video_limits: Any = None
    output_urls: tuple[str, ...] | None = None
    job_lease: float = 30.0
    runtime: Any = None


def _check_client(client: Any) -> Any:
    """The ``dask.distributed.Client`` itself; a typed error naming the extra when it is not one."""
    if type(client).__module__.startswith("distributed") and hasattr(client, "submit"):
        return client
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ParameterValueError("video_cluster needs a dask.distributed.Client: install the dask extra "
                                  "(pip install 'fusionkit[dask]')") from None
    raise ParameterValueError(f"video_cluster must be a dask.distributed.Client, got {type(client).__name__}")


class VideoCluster:
    """The jobs one studio handed to a Dask cluster: one task per job (keyed by the job id, so handing a job over
    twice makes one task), followed until it ends.

    Parameters
    ----------
    client
        A ``dask.distributed.Client``.
    spec
        How the workers open the studio.
    """

    def __init__(self, client: Any, spec: StudioSpec) -> None:
        self._client = _check_client(client)
        try:
            pickle.dumps(spec)
        except Exception as exc:
            raise ParameterValueError(f"a studio whose jobs run on a cluster must be opened with arguments that "
                                      f"pickle ({type(exc).__name__}: {exc}); give a key provider that does") from None
        self._spec = spec
        self._lock = threading.Lock()
        self._futures: dict[str, Any] = {}

    def submit(self, job_id: str, tenant: str | None) -> bool:
        """Hand the job to the cluster unless it is there already from here; whether it was handed over."""
        with self._lock:
            if job_id in self._futures:
                return False
            future = self._client.submit(run_video_job, self._spec, tenant, job_id, pure=False,
                                         key=f"fusionkit-video-{job_id}")
            self._futures[job_id] = future
        future.add_done_callback(lambda _: self._forget(job_id))
        return True

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def holds(self, job_id: str) -> bool:
        """Whether the job was handed to the cluster from here and its task has not ended."""
        with self._lock:
            return job_id in self._futures

    def close(self) -> None:
        """Stop following the tasks (they go on; a job whose task the scheduler drops stays queued in storage)."""
        with self._lock:
            self._futures.clear()


_OPENED: dict[bytes, Any] = {}
_OPENED_LOCK = threading.Lock()


def _studio_for(spec: StudioSpec) -> Any:
    """This worker process's studio for ``spec``: opened on the first job, with no threads of its own."""
    from fusionkit.fusion.batch import tune_worker_memory

    tune_worker_memory()
    token = pickle.dumps(spec)
    with _OPENED_LOCK:
        studio = _OPENED.get(token)
        if studio is None:
            from fusionkit.studio.studio import open as open_studio

            opened = {name: value for name, value in attrs.asdict(spec, recurse=False).items()
                      if value is not None and name not in ("url", "encryption")}
            studio = open_studio(spec.url, encryption=spec.encryption, video_workers=0, sweep_every=None, **opened)
            _OPENED[token] = studio
        return studio


def run_video_job(spec: StudioSpec, tenant: str | None, job_id: str) -> bool:
    """The task a studio hands to the cluster: run the job in this worker (waiting, when another worker holds it,
    for that one's lease to lapse or the job to end). Returns whether it ended."""
    return bool(_studio_for(spec).videos.run(job_id, tenant=tenant, wait=True))


def fuse_requests(studio: Any, items: list[tuple[int, Any]], response: str, context: Any,
                  runtime: Any, photos: Any = None) -> list[BatchItem]:
    """Requests of ``Studio.fuse_many`` in ``studio``, each an ``(activity_id, material_id, merges)`` tuple with its
    index, fused by :meth:`Studio.fuse` (so each logged as one call), a failure kept on its item; the models run
    with ``runtime`` (the caller's, single-threaded, as in every batch worker). User photos are remembered in
    ``photos`` (a :class:`~fusionkit.fusion.photos.PhotoMemo`, the batch's; this task's own when ``None``)."""
    from fusionkit.fusion.batch import BatchItem
    from fusionkit.fusion.photos import task_photos
    from fusionkit.vision._runtime import using_runtime

    out = []
    with task_photos(photos):
        for index, request in items:
            try:
                if not isinstance(request, tuple) or len(request) != 3:
                    raise ParameterValueError("each request must be an (activity_id, material_id, merges) tuple")
                with using_runtime(runtime):
                    out.append(BatchItem(index, studio.fuse(*request, response=response, context=context)))
            except FusionKitError as exc:
                out.append(BatchItem(index, error=exc))
    return out


def fuse_on_worker(spec: StudioSpec, items: list[tuple[int, Any]], response: str, context: Any,
                   runtime: Any) -> list[BatchItem]:
    """A task of ``Studio.fuse_many`` on a cluster: :func:`fuse_requests` in this worker's studio."""
    return fuse_requests(_studio_for(spec), items, response, context, runtime)
