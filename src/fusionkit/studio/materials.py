"""``studio.materials``: upload (pictures, and MP4 videos whose faces are tracked), get, list and delete
materials; and the preprocessing of a video material (face tracking, reference faces), which the video workers
also run for a material uploaded with ``wait=False``."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import os
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain import ids
from fusionkit.domain.studio import ErasureReceipt, Material, MaterialFace, MaterialStatus, MaterialVideo
from fusionkit.errors import (
    ActivityIdNotFoundError,
    FusionKitError,
    ImageSizeExceedError,
    MaterialIdNotFoundError,
    NoFaceDetectedError,
    ParameterValueError,
    UnsupportedImageFormatError,
)
from fusionkit.imaging.decode import decode_image, probe_image
from fusionkit.imaging.video import VideoLimits, probe_video
from fusionkit.storage import keys
from fusionkit.storage.catalog import write_together
from fusionkit.studio.capacity import CapacityGuard
from fusionkit.studio.common import (
    MAX_PAGE,
    Call,
    Calls,
    Cancelled,
    check_consent,
    encode_array,
    load_activity,
    load_material,
    looks_like_mp4,
    need_activity,
    need_material,
)
from fusionkit.studio.context import RequestContext
from fusionkit.studio.retention import RetentionRules

if TYPE_CHECKING:
    from fusionkit.fusion.video import ReferenceFace
    from fusionkit.studio.studio import Studio

__all__ = ["MaterialPage", "Materials", "load_references", "save_references", "track_material"]


@attrs.frozen(kw_only=True)
class MaterialPage:
    """One page of :meth:`Materials.list`: the materials, and how many there are in all."""

    materials: tuple[Material, ...]
    total: int
    limit: int
    offset: int


def track_material(data: bytes, limits: VideoLimits, progress: Callable[[float], None] | None = None,
                   references: Sequence[ReferenceFace] | None = None,
                   ) -> tuple[str, str | None, list[NDArray[np.float32]], bytes | None]:
    """Preprocess a video material: (status, error, the faces' first points, the tracks as npz bytes or None).

    With ``references`` the faces are those matching the references, in their order. Exceptions raised by
    ``progress`` propagate; any other failure is a status.
    """
    from fusionkit.fusion.video import track_video

    status, error, faces_points = MaterialStatus.READY, None, []
    tracks = None
    try:
        tracks = track_video(data, limits=limits, progress=progress, references=references)
    except Cancelled:
        raise
    except NoFaceDetectedError as exc:
        status, error = MaterialStatus.ROLE_NOT_IN_VIDEO, f"{exc.code}: {exc}"
    except Exception as exc:  # preprocessing failed; the material is kept with its status
        code = exc.code if isinstance(exc, FusionKitError) else "FailedOperation.InternalError"
        status, error = MaterialStatus.PREPROCESSING_FAILED, f"{code}: {exc}"
    if tracks is not None:
        for i in range(tracks.face_count):
            rows = np.flatnonzero(tracks.present[:, i])
            if rows.size:
                faces_points.append(np.array(tracks.points[rows[0], i], np.float32))
        if not faces_points:
            status, tracks = MaterialStatus.ROLE_NOT_IN_VIDEO, None
            error = "FailedOperation.NoFaceDetected: no face in the video"
    blob = None
    if tracks is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, points=tracks.points, present=tracks.present, shots=tracks.shots)
        blob = buf.getvalue()
    return status, error, faces_points, blob


def save_references(buf: IO[bytes], references: Sequence[ReferenceFace]) -> None:
    """The reference faces as npz: ``points`` (n, 468, 3) and ``embeddings`` (n, D), float32, and ``model`` (the
    identity model's name)."""
    np.savez_compressed(buf, points=np.stack([r.points for r in references]),
                        embeddings=np.stack([r.embedding for r in references]),
                        model=np.array(references[0].model if references else ""))


def load_references(blob: bytes) -> list[ReferenceFace]:
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
    _calls: Calls
    _rules: RetentionRules
    _guard: CapacityGuard

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
        consent: Mapping[str, Any] | None = None,
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
            a face raises ``NoFaceDetectedError``. They are people's photos: the studio's consent policy is asked
            first (``purpose="reference_faces"``).
        consent
            What the studio's consent policy checks, for an upload with ``reference_faces``.

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
        with self._calls("UploadMaterial", context) as (call, _):
            call.refs["activity_id"] = activity_id = need_activity(activity_id)
            if reference_faces is not None:
                check_consent(self._studio.consent, activity_id, None, consent, self._calls.resolve(context), call,
                              purpose="reference_faces")
            if looks_like_mp4(source):
                return self._upload_video(activity_id, source, call, name=name, fuse_face_degree=fuse_face_degree,
                                          fuse_profile_degree=fuse_profile_degree, wait=wait,
                                          reference_faces=reference_faces)
            if reference_faces is not None:
                raise ParameterValueError("reference_faces are for video materials only")
            return self._upload_image(activity_id, source, call, name=name, fuse_face_degree=fuse_face_degree,
                                      fuse_profile_degree=fuse_profile_degree)

    def _keep_only_in_live_activity(self, material: Material) -> None:
        """After a material is stored: when its activity was deleted meanwhile, remove it again and say so. A delete
        of the activity removes the doc and then lists its materials again, so a material is either found by that
        listing or sees the activity gone here."""
        if not self._studio.store.exists(keys.activity_doc(material.activity_id)):
            self._rules.materials.erase(material.id, {})
            raise ActivityIdNotFoundError(f"activity {material.activity_id} was deleted during the upload; nothing "
                                          "of the upload was kept")

    def _upload_image(self, activity_id: str, source: Any, call: Call, *, name: str | None,
                      fuse_face_degree: float | None, fuse_profile_degree: float | None) -> Material:
        """A picture material: checked, its faces found, then stored all together or not at all."""
        s = self._studio
        data, default_name = self._source_bytes(source)
        info = probe_image(data)
        if info.format not in ("jpeg", "png"):
            raise UnsupportedImageFormatError(f"{info.format} materials are not supported; send JPEG or PNG")
        load_activity(s.store, activity_id)
        with self._guard.claim(len(data), materials=1, activity_id=activity_id):
            image = decode_image(data, limits=s.limits)
            from fusionkit.fusion.api import find_faces

            with s.model_runtime():
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
            # Source, then the document that points at it, then the activity's marker that points at the
            # document: a failure anywhere leaves no reference to something missing, and is rolled back.
            write_together(s.store, ((keys.material_source(mid, info.format), data),
                                     (keys.material_doc(mid), doc.encode()),
                                     (keys.material_marker(activity_id, mid), b"")),
                           folder=keys.material_folder(mid))
            self._keep_only_in_live_activity(material)
            call.refs["image_url"] = s.store.url(keys.material_source(mid, info.format))
            return material

    def _upload_video(self, activity_id: str, source: Any, call: Call, *, name: str | None,
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
        load_activity(s.store, activity_id)
        with self._guard.claim(len(data), materials=1, activity_id=activity_id):
            from fusionkit.fusion.video import stored_mesh

            references = self._references(reference_faces)
            if wait:
                with s.model_runtime():
                    status, error, faces_points, tracks_blob = track_material(data, limits, references=references)
            else:
                status, error, faces_points, tracks_blob = MaterialStatus.PREPROCESSING, None, [], None
            now = s.now()
            mid = ids.new_id(ids.MATERIAL, now)
            call.refs["material_id"] = mid
            meta = MaterialVideo(**info.to_json(), tracked_faces=len(faces_points), error=error,
                                 progress=1.0 if wait else 0.0, attempts=None if wait else 0,
                                 reference_faces=None if references is None else len(references))
            material = Material(
                id=mid, activity_id=activity_id, name=name if name is not None else default_name, kind="video",
                status=status, source_format="mp4", width=info.width, height=info.height, source_bytes=len(data),
                source_sha256=hashlib.sha256(data).hexdigest(),
                faces=[MaterialFace(id=f"{mid}_{i}", index=i, mesh=stored_mesh(p)) for i, p in enumerate(faces_points)],
                fuse_face_degree=fuse_face_degree, fuse_profile_degree=fuse_profile_degree, created=now, updated=now,
                video=meta)
            doc = material.to_json()
            material = Material.from_json(doc)
            blobs: list[tuple[str, bytes]] = [(keys.material_source(mid, "mp4"), data)]
            if references is not None:
                buf = io.BytesIO()
                save_references(buf, references)
                blobs.append((keys.material_references(mid), buf.getvalue()))
            if tracks_blob is not None:
                blobs.append((keys.material_tracks(mid), tracks_blob))
            blobs += [(keys.material_doc(mid), doc.encode()), (keys.material_marker(activity_id, mid), b"")]
            write_together(s.store, blobs, folder=keys.material_folder(mid))
            self._keep_only_in_live_activity(material)
            call.refs["video_url"] = s.store.url(keys.material_source(mid, "mp4"))
            if not wait:
                s.videos.preprocessing.enqueue(mid)
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

        with self._studio.model_runtime():
            return [reference_face(ref, limits=self._studio.limits, index=i)
                    for i, ref in enumerate(reference_faces)]

    def _source_bytes(self, source: Any) -> tuple[bytes, str]:
        limits = self._studio.limits
        if isinstance(source, np.ndarray):
            from fusionkit.imaging.decode import load_image

            return encode_array(load_image(source, limits=limits)), "material"
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

    def get(self, material_id: str, *, activity_id: str | None = None,
            context: RequestContext | None = None) -> Material:
        """The material (of ``activity_id``, when given)."""
        s = self._studio
        with self._calls("DescribeMaterial", context) as (call, _):
            call.refs["material_id"] = material_id = need_material(material_id)
            if activity_id is not None:
                call.refs["activity_id"] = activity_id = need_activity(activity_id)
            return load_material(s.store, material_id, activity_id)

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
        with self._calls("DescribeMaterialList", context) as (call, _):
            call.refs["activity_id"] = activity_id = need_activity(activity_id)
            wanted = None if material_ids is None else {need_material(m) for m in material_ids}
            for v, what, lo in ((limit, "limit", 1), (offset, "offset", 0)):
                if isinstance(v, bool) or not isinstance(v, int) or v < lo or (what == "limit" and v > MAX_PAGE):
                    raise ParameterValueError(f"{what} must be a whole number within {lo}-"
                                              f"{MAX_PAGE if what == 'limit' else 'any'}, got {v!r}")
            load_activity(s.store, activity_id)
            names = [n for n in s.store.list(keys.activity_members(activity_id)) if ids.is_id(n, ids.MATERIAL)]
            if wanted is not None:
                names = [n for n in names if n in wanted]
            page = []
            for mid in names[offset:offset + limit]:
                with contextlib.suppress(MaterialIdNotFoundError):
                    page.append(load_material(s.store, mid, activity_id))
            return MaterialPage(materials=tuple(page), total=len(names), limit=limit, offset=offset)

    def delete(self, material_id: str, *, context: RequestContext | None = None) -> ErasureReceipt:
        """Delete the material with its faces, its source and every result made from it, at once."""
        with self._calls("DeleteMaterial", context) as (call, request_id):
            call.refs["material_id"] = material_id = need_material(material_id)
            counts: dict[str, int] = {}
            self._rules.materials.erase(material_id, counts)
            return self._rules.audit.receipt("material_deleted", request_id, (material_id,), counts)
