"""Preprocessing of video materials uploaded with ``wait=False``: their faces tracked in the background, on the
studio's video workers, with progress in the material's metadata; a studio opened on the store picks up what an
earlier one left preprocessing (an upload interrupted twice ends ``preprocessing_failed``)."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain import ids
from fusionkit.domain.studio import Material, MaterialFace, MaterialStatus
from fusionkit.errors import FusionKitError, JobInterruptedError, MaterialIdNotFoundError
from fusionkit.storage import keys
from fusionkit.storage.backends import KeyNotFound
from fusionkit.studio.common import Cancelled, load_material, one_line, write_doc
from fusionkit.studio.logs import LOGGER_NAME
from fusionkit.studio.materials import load_references, track_material
from fusionkit.studio.workers import Workers

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["Preprocessing"]

_log = logging.getLogger(LOGGER_NAME)


class Preprocessing:
    """``studio.videos.preprocessing``: the background tracking of video materials.

    Parameters
    ----------
    studio
        The studio (its store, clock and video limits).
    workers, lock
        The video workers it runs on, and the lock their books and the materials' documents are changed under.
    """

    def __init__(self, studio: Studio, workers: Workers, lock: threading.RLock) -> None:
        self._studio = studio
        self._workers = workers
        self._lock = lock

    def enqueue(self, material_id: str) -> None:
        """Queue the preprocessing (face tracking) of a video material uploaded with ``wait=False``."""
        tenant = self._studio.tenant()  # the tracking runs in the tenant that uploaded the video

        def run() -> None:
            with self._studio.tenant_scope(tenant):
                self._run(material_id)

        self._workers.submit(f"preprocess:{material_id}", run)

    def _update(self, material_id: str, **video: Any) -> Material | None:
        """Under the lock: merge ``video`` into a preprocessing material's metadata and save it; ``None`` when the
        material is gone or no longer preprocessing."""
        s = self._studio
        try:
            material = load_material(s.store, material_id)
        except MaterialIdNotFoundError:
            return None
        if material.status != MaterialStatus.PREPROCESSING or material.video is None:
            return None
        material = attrs.evolve(material, video=attrs.evolve(material.video, **video), updated=s.now())
        write_doc(s.store, keys.material_doc(material_id), material)
        return material

    def _run(self, material_id: str) -> None:
        s = self._studio
        try:
            with self._lock:
                material = load_material(s.store, material_id)
                if material.status != MaterialStatus.PREPROCESSING:
                    return
                attempts = (material.video.attempts if material.video is not None else None) or 0
                attempts += 1
                self._update(material_id, attempts=attempts, progress=0.0)
            try:
                data = s.store.read(keys.material_source(material_id, "mp4"))
            except KeyNotFound:
                return  # deleted meanwhile
            references = None
            if material.video is not None and material.video.reference_faces:
                references = load_references(s.store.read(keys.material_references(material_id)))
            last = [0.0]

            def progress(fraction: float) -> None:
                if fraction - last[0] >= 0.1 and fraction < 1.0:
                    last[0] = fraction
                    with self._lock:
                        if self._update(material_id, progress=round(fraction, 3)) is None:
                            raise Cancelled

            try:
                with s.model_runtime():
                    status, error, faces_points, blob = track_material(data, s.video_limits, progress, references)
            except Cancelled:
                return
            self._finish(material_id, status, error, faces_points, blob)
        except MaterialIdNotFoundError:
            return
        except Exception as exc:  # the material ends preprocessing_failed; the worker thread carries on
            _log.error("fusionkit: preprocessing of %s failed: %r", material_id, exc)
            with contextlib.suppress(Exception):
                self._finish(material_id, MaterialStatus.PREPROCESSING_FAILED,
                                        f"FailedOperation.InternalError: {type(exc).__name__}: {exc}", [], None)
        finally:
            self._workers.finished(f"preprocess:{material_id}")

    def _finish(self, material_id: str, status: str, error: str | None,
                           faces_points: list[NDArray[np.float32]], blob: bytes | None) -> None:
        s = self._studio
        from fusionkit.fusion.video import stored_mesh

        with self._lock:
            try:
                material = load_material(s.store, material_id)
            except MaterialIdNotFoundError:
                return
            if material.status != MaterialStatus.PREPROCESSING:
                return
            if blob is not None:
                s.store.write(keys.material_tracks(material_id), blob)  # the tracks, then the document
            meta = None if material.video is None else attrs.evolve(
                material.video, tracked_faces=len(faces_points), error=None if error is None else one_line(error),
                progress=1.0)
            done = attrs.evolve(
                material, status=status, updated=s.now(), video=meta,
                faces=[MaterialFace(id=f"{material_id}_{i}", index=i, mesh=stored_mesh(p))
                       for i, p in enumerate(faces_points)])
            write_doc(s.store, keys.material_doc(material_id), done)
        # Deleted while the tracks or the document were written (a delete takes the activity's marker first, so a
        # missing marker means the document just written may have come after the delete's): leave nothing behind.
        try:
            load_material(s.store, material_id)
            gone = not s.store.exists(keys.material_marker(material.activity_id, material_id))
        except MaterialIdNotFoundError:
            gone = True
        if gone:
            with contextlib.suppress(Exception):
                s.store.delete_prefix(keys.material_folder(material_id))

    def recover(self) -> None:
        """On open: pick up video materials still preprocessing; one interrupted twice ends preprocessing_failed."""
        s = self._studio
        for name in sorted(s.store.list(keys.MATERIALS)):
            mid = name.rstrip("/").rsplit("/", 1)[-1]
            if not ids.is_id(mid, ids.MATERIAL):
                continue
            try:
                material = load_material(s.store, mid)
            except FusionKitError:
                continue
            if material.status != MaterialStatus.PREPROCESSING:
                continue
            attempts = (material.video.attempts if material.video is not None else None) or 0
            if attempts >= 2:
                self._finish(mid, MaterialStatus.PREPROCESSING_FAILED,
                                        f"{JobInterruptedError.code}: preprocessing was interrupted {attempts} "
                                        "times; upload the video again", [], None)
                continue
            self.enqueue(mid)

