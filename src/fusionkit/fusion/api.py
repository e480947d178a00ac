"""``fusionkit.fuse``: the functional face-fusion API (no storage)."""

from __future__ import annotations

import contextvars
import hashlib
import os
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import MIN_FACE_SIZE, FaceMesh
from fusionkit.domain.options import AigcLabel, FuseOptions, OutputFormat
from fusionkit.errors import (
    FaceRectParameterValueError,
    FaceSizeTooSmallError,
    FusionKitError,
    ImageResolutionExceedError,
    ImageResolutionTooSmallError,
    NoFaceDetectedError,
    ParameterValueError,
    TemplateFaceIDNotExistError,
)
from fusionkit.fusion.engine import FaceFusionReport, UserKey, fuse_face
from fusionkit.fusion.engine.preflight import check_user_face
from fusionkit.fusion.label import draw_label, draw_logo
from fusionkit.fusion.photos import current_photos, sharing_photos
from fusionkit.fusion.renderers import enhancer_for, licences, model_metadata, prepare, renderer_for
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits, ImageSource, load_image, probe_image
from fusionkit.imaging.encode import encode_image
from fusionkit.imaging.files import read_image_file, write_bytes_atomic
from fusionkit.vision import analyze, mesh_topology

__all__ = ["MAX_MERGES", "FusionResult", "Merge", "MergeReport", "UserPhoto", "find_faces", "fuse", "template_index",
           "user_face"]

T = TypeVar("T")

#: At most this many faces are fused in one call (as in the cloud API).
MAX_MERGES = 6
#: The smallest image side accepted, in pixels.
MIN_SIDE = 64
#: The smallest ``input_face_rect`` side, in pixels.
MIN_RECT_SIDE = 30


def _rect(value: Any) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    try:
        x, y, w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise FaceRectParameterValueError(
            f"input_face_rect must be (x, y, width, height) in pixels, got {value!r}") from None
    if w < MIN_RECT_SIDE or h < MIN_RECT_SIDE:
        raise FaceRectParameterValueError(
            f"input_face_rect is {w}x{h} pixels; it must be at least {MIN_RECT_SIDE}x{MIN_RECT_SIDE} around the face")
    return x, y, w, h


def _template_face(value: Any) -> int | str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterValueError(f"template_face must be a face index or a face id, got {value!r}")
    return int(value)


@attrs.frozen(kw_only=True)
class Merge:
    """One user face to fuse, and where.

    Attributes
    ----------
    image
        The user image: an RGB uint8 array, encoded JPEG/PNG/WebP bytes, or a path.
    input_face_rect
        ``(x, y, width, height)`` in the user image picking which face to use (the one whose box overlaps the
        rectangle most); default the largest face. At least 30 x 30 pixels.
    template_face
        Which template face to replace: an index into the template's faces (largest first, 0 = largest) or a
        face id ``"<anything>_<index>"`` as the studio gives them; default the largest.
    """

    image: Any
    input_face_rect: tuple[int, int, int, int] | None = attrs.field(default=None, converter=_rect)
    template_face: int | str | None = attrs.field(default=None, converter=_template_face)


@attrs.frozen(kw_only=True)
class MergeReport:
    """What was fused for one merge: the face boxes used, the ROI rewritten and the stage timings (ms)."""

    template_face_index: int
    fusion: FaceFusionReport
    analysis_ms: float


@attrs.define
class FusionResult:
    """The fused picture and how it was made.

    Attributes
    ----------
    image
        (H, W, 3) RGB uint8 array.
    format
        ``"jpeg"`` or ``"png"``: what :meth:`encode` writes by default (the template's format, or the options').
    merges
        One :class:`MergeReport` per merge, in order.
    timings_ms
        Milliseconds per stage for the whole call.
    aigc
        The implicit AI label (GB 45438-2025) every encoding of this result carries: the options' label with its
        producer and produce id filled (:meth:`~fusionkit.domain.options.AigcLabel.resolved`), fixed when the
        result is made, so that every encoding carries the same produce id.
    model_licences
        (model file, licence) of each learned model a renderer or enhancer plug-in ran (empty for the mesh
        renderer); every encoding carries them as ``Model licence`` metadata.
    """

    image: NDArray[np.uint8]
    format: str
    options: FuseOptions
    merges: list[MergeReport]
    timings_ms: dict[str, float]
    aigc: AigcLabel = attrs.field(
        default=attrs.Factory(lambda self: self.options.aigc.resolved(), takes_self=True), kw_only=True)
    model_licences: tuple[tuple[str, str], ...] = attrs.field(
        default=attrs.Factory(lambda self: licences(self.options.renderer, self.options.enhancer), takes_self=True),
        kw_only=True)

    def encode(self, fmt: str | None = None) -> bytes:
        """The picture as JPEG or PNG bytes with the options' metadata, the licences of the learned models that made
        it, and the AI-generated markers (the IPTC digital source type and the GB 45438-2025 label :attr:`aigc`)."""
        return encode_image(self.image, fmt or self.format, jpeg_quality=self.options.jpeg_quality,
                            metadata=self.options.metadata + model_metadata(self.model_licences),
                            aigc=self.aigc.fields())

    def _repr_png_(self) -> bytes:
        return encode_image(self.image, "png", aigc=self.aigc.fields())

    def save(self, path: str) -> None:
        """Write :meth:`encode`'s bytes to ``path``: whole or not at all (a temporary file beside it is renamed
        over it), with the permissions a new file gets under the process's umask."""
        write_bytes_atomic(path, self.encode())


def _check_resolution(image: NDArray[np.uint8], name: str, limits: ImageLimits) -> None:
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageResolutionTooSmallError(f"the {name} is {w}x{h} pixels; each side must be at least {MIN_SIDE}")
    if max(h, w) > limits.max_side or h * w > limits.max_pixels:
        raise ImageResolutionExceedError(
            f"the {name} is {w}x{h} pixels, over the limit of {limits.max_side} a side and {limits.max_pixels} "
            "pixels: downscale it or raise the limits")


def _as_rgb(source: ImageSource, name: str, limits: ImageLimits, reduce: int = 1) -> NDArray[np.uint8]:
    image = load_image(source, limits=limits, reduce=reduce)
    _check_resolution(image, name, limits)
    return image


def _overlap(box: NDArray[np.float32], rect: tuple[float, ...]) -> float:
    x, y, w, h = rect
    ix = max(0.0, min(float(box[2]), x + w) - max(float(box[0]), x))
    iy = max(0.0, min(float(box[3]), y + h) - max(float(box[1]), y))
    return ix * iy


def _pick_user_face(meshes: list[FaceMesh], rect: tuple[float, ...] | None, index: int) -> FaceMesh:
    if not meshes:
        raise NoFaceDetectedError(f"no face was found in the user image of merge {index}: use a photo with a "
                                  "clear, frontal face")
    if rect is None:
        return meshes[0]
    scores = [_overlap(m.face.box, rect) for m in meshes]
    best = int(np.argmax(scores))
    if scores[best] <= 0:
        raise FaceRectParameterValueError(f"input_face_rect {rect} of merge {index} covers no face; the faces are "
                                          f"at {[tuple(round(float(v)) for v in m.face.box) for m in meshes]}")
    return meshes[best]


def template_index(value: int | str | None, n_faces: int, index: int) -> int:
    """The template face merge ``index`` names (``value``: an index, a face id ``"<anything>_<index>"`` or None
    for face 0) among ``n_faces``.

    Raises
    ------
    TemplateFaceIDNotExistError
        No such face.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        tail = value.rsplit("_", 1)[-1]
        if not tail.isdigit():
            raise TemplateFaceIDNotExistError(f"template face id {value!r} of merge {index} names no template face")
        value = int(tail)
    if not 0 <= value < n_faces:
        raise TemplateFaceIDNotExistError(
            f"merge {index} asks for template face {value}, but the template has {n_faces} face(s) "
            f"(indices 0-{n_faces - 1}, largest first)")
    return value


def _output_format(template: Any, options: FuseOptions) -> str:
    if options.output_format is not OutputFormat.AUTO:
        return str(options.output_format.value)
    data: bytes | None = None
    if isinstance(template, (bytes, bytearray, memoryview)):
        data = bytes(template[:64])
    elif isinstance(template, str) or hasattr(template, "__fspath__"):
        try:
            with open(template, "rb") as fh:
                data = fh.read(64)
        except OSError:
            data = None
    # JPEG stays JPEG; PNG, WebP and arrays become PNG (lossless, and WebP is not an output format here).
    return "jpeg" if data is not None and data.startswith(b"\xff\xd8\xff") else "png"


#: A user photo that is a JPEG of more than this many pixels is first decoded at half size (libjpeg's scaled DCT:
#: a 12-megapixel photo in about a quarter of the time, 26 ms instead of 106 on the test machine) ...
REDUCED_DECODE_PIXELS = 6_000_000
#: ... and kept at half size when its face still measures, between the outer eye corners, as much as the template
#: face it goes into (the engine shrinks a larger user face to that size anyway), or this many pixels when that face
#: is not known (a video's user). A face smaller than that at half size (a group photo) is decoded whole.
REDUCED_DECODE_MIN_IOD = 256.0


@attrs.frozen(kw_only=True, eq=False)
class UserPhoto:
    """A merge's user photo, decoded, with its chosen face.

    Attributes
    ----------
    image
        RGB uint8, at 1 / ``scale`` of the photo's size.
    mesh
        The face, in ``image``'s pixels.
    scale
        The photo's pixels per pixel of ``image``: 1, or 2 for a large JPEG decoded at half size.
    key
        Stands for this face for the renderers (see :class:`~fusionkit.fusion.engine.UserKey`): every request of a
        batch that takes this photo from the batch's memo shares it.
    """

    image: NDArray[np.uint8]
    mesh: FaceMesh
    scale: float = 1.0
    key: UserKey = attrs.field(factory=UserKey)


def user_face(merge: Merge, index: int, limits: ImageLimits, *,
              needed_iod: float = REDUCED_DECODE_MIN_IOD) -> UserPhoto:
    """Merge ``index``'s user photo decoded and its face found and checked: large enough for the models, and able
    to carry a likeness (turned little, not too small, not too blurred: see the engine's preflight).

    A large JPEG is decoded at half size first (:data:`REDUCED_DECODE_PIXELS`) and kept so when its face still
    measures ``needed_iod`` pixels between the outer eye corners there (the template face's, when known);
    otherwise, or when the face is not found or not good enough at half size, the photo is decoded whole and judged
    there (its errors are the ones raised). Within a batch (:mod:`fusionkit.fusion.photos`), each of these steps is
    taken once for a photo's content, and its result is shared, read-only.

    Raises
    ------
    NoFaceDetectedError, FaceSizeTooSmallError, FacePoseTooLargeError, FaceBlurredError, FaceRectParameterValueError,
    ImageDecodeFailedError
        With a message that says what to change.
    """
    source = merge.image
    if isinstance(source, (str, os.PathLike)):
        source = read_image_file(source, limits.max_bytes)  # read once, whichever size it is decoded at
    remember = _remembered(source, merge, index, limits)
    name = f"user image of merge {index}"
    if isinstance(source, (bytes, bytearray, memoryview)) and _large_jpeg(source):
        encoded = source

        def read_half() -> tuple[NDArray[np.uint8], FaceMesh] | None:
            try:
                half = _as_rgb(encoded, name, limits, reduce=2)
                return half, _pick_in(half, merge, index, scale=2.0)
            except FusionKitError:
                return None  # judged again on the whole photo, whose errors are the ones that count

        found = remember("half", read_half)
        if found is not None and found[1].inter_ocular_distance >= needed_iod:  # before the costlier checks
            half, picked = found
            photo = remember("half checked", lambda: _checked_or_none(half, picked, index, scale=2.0))
            if photo is not None:
                return photo

    def read_whole() -> UserPhoto:
        whole = _as_rgb(source, name, limits)
        return _checked(whole, _pick_in(whole, merge, index), index)

    return remember("whole", read_whole)


def _remembered(source: Any, merge: Merge, index: int, limits: ImageLimits) -> Callable[[str, Callable[[], T]], T]:
    """``remember(step, make)``: ``make()``, or within a batch (:func:`~fusionkit.fusion.photos.remembering_photos`)
    what a request whose photo had the same content made at that step.

    A photo given as an array is not remembered: telling two arrays apart would mean reading every pixel, about as
    long as finding the face again; its decoding, the longest step, is the caller's.
    """
    # Everything the steps' results depend on: the content, the merge's face rectangle, the caps. (Not the merge's
    # index, which only errors name: a step that fails is not kept.)
    return _by_content(source, merge.input_face_rect, limits)


def _by_content(source: Any, *context: Hashable, kind: str = "user") -> Callable[[str, Callable[[], T]], T]:
    """``remember(step, make)`` for encoded ``source`` within a batch, keyed by its content and ``context``, on the
    memo's shelf for ``kind`` (``"user"`` or ``"template"``); plain ``make()`` outside one, or for an array."""
    memo = current_photos()
    if memo is None or not isinstance(source, (bytes, bytearray, memoryview)):
        return lambda step, make: make()
    content = source if isinstance(source, bytes) else bytes(source)  # a strided memoryview too
    base = (hashlib.blake2b(content, digest_size=24).digest(), *context)

    return lambda step, make: memo.get_or_make((base, step), make, kind=kind)


def _checked_or_none(user: NDArray[np.uint8], picked: FaceMesh, index: int, scale: float) -> UserPhoto | None:
    try:
        return _checked(user, picked, index, scale)
    except FusionKitError:
        return None


def _large_jpeg(data: bytes | bytearray | memoryview) -> bool:
    try:
        info = probe_image(data)
    except FusionKitError:
        return False  # decoding says what is wrong
    return info.format == "jpeg" and info.width * info.height > REDUCED_DECODE_PIXELS


def _pick_in(user: NDArray[np.uint8], merge: Merge, index: int, scale: float = 1.0) -> FaceMesh:
    """The merge's face in its photo decoded at 1 / ``scale`` (``input_face_rect`` is in the photo's pixels)."""
    rect: tuple[float, ...] | None = merge.input_face_rect
    if rect is not None and scale != 1.0:
        rect = tuple(v / scale for v in rect)
    return _pick_user_face(find_faces(user), rect, index)


def _checked(user: NDArray[np.uint8], picked: FaceMesh, index: int, scale: float = 1.0) -> UserPhoto:
    """``picked`` in ``user`` if it is large and clear enough to carry a likeness (see the engine's preflight)."""
    if picked.face.size < MIN_FACE_SIZE:
        raise FaceSizeTooSmallError(f"the user face of merge {index} is {picked.face.size:.0f} px; faces must be "
                                    f"at least {MIN_FACE_SIZE} px: use a larger or closer photo")
    check_user_face(user, picked, mesh_topology(), f"the user face of merge {index}")
    return UserPhoto(image=user, mesh=picked, scale=scale)


def _plan_merge(merge: Merge, index: int, tmeshes: Sequence[FaceMesh], limits: ImageLimits
                ) -> tuple[int, UserPhoto, float]:
    """Merge ``index`` resolved: its template face's index, its user photo, and the milliseconds that took."""
    t0 = time.perf_counter()
    try:  # the template face's size, for the user photo's decoding; a bad index is reported after the photo
        t_index: int | None = template_index(merge.template_face, len(tmeshes), index)
    except FusionKitError:
        t_index = None
    photo = user_face(merge, index, limits, needed_iod=REDUCED_DECODE_MIN_IOD if t_index is None
                      else tmeshes[t_index].inter_ocular_distance)
    if t_index is None:
        t_index = template_index(merge.template_face, len(tmeshes), index)  # raises, now that the photo is read
    return t_index, photo, (time.perf_counter() - t0) * 1e3


def fuse(
    template: ImageSource,
    merges: Any,
    options: FuseOptions | None = None,
    *,
    template_meshes: Sequence[FaceMesh] | None = None,
    limits: ImageLimits = DEFAULT_LIMITS,
    threads: int = 1,
) -> FusionResult:
    """Fuse one to six user faces into a template picture.

    Parameters
    ----------
    template
        The template: an RGB uint8 array, encoded JPEG/PNG/WebP bytes, or a path. Within a batch
        (:func:`fusionkit.fuse_many`), requests that give the same template as bytes or a path share its decoding
        and faces.
    merges
        A :class:`Merge`, a sequence of up to six, or a plain user image (array, bytes or path) for one face.
        Merges that give the same photo as bytes or a path share its decoding and face (one user into several
        faces is analysed once).
    options
        :class:`~fusionkit.domain.options.FuseOptions`; the defaults when omitted.
    template_meshes
        The template's face meshes, largest first, when already known (the studio caches them per material);
        found here otherwise.
    limits
        Decoding caps for every input.
    threads
        Fuse up to this many faces at once (faces whose regions overlap are always fused one after the other).

    Returns
    -------
    FusionResult

    Raises
    ------
    NoFaceDetectedError, FaceSizeTooSmallError, FaceRectParameterValueError, TemplateFaceIDNotExistError,
    ParameterValueError, ImageResolutionTooSmallError, ImageResolutionExceedError, ImageDecodeFailedError
        With a message that says what to change. Nothing is written anywhere.
    FacePoseTooLargeError, FaceBlurredError, FaceOccludedError
        A face turned beyond 50 degrees, a user face too blurred to carry a likeness, a face mostly covered: no
        half-fused picture is returned.
    """
    t_start = time.perf_counter()
    opts = options if options is not None else FuseOptions()
    if not isinstance(opts, FuseOptions):
        raise ParameterValueError(f"options must be a FuseOptions, got {type(opts).__name__}")
    if isinstance(merges, Merge):
        merge_list = [merges]
    elif isinstance(merges, (list, tuple)):
        merge_list = [m if isinstance(m, Merge) else Merge(image=m) for m in merges]
    else:
        merge_list = [Merge(image=merges)]
    if not 1 <= len(merge_list) <= MAX_MERGES:
        raise ParameterValueError(f"give 1 to {MAX_MERGES} merges, got {len(merge_list)}")
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_MERGES:
        raise ParameterValueError(f"threads must be a whole number within 1-{MAX_MERGES}, got {threads!r}")

    renderer, enhancer = renderer_for(opts.renderer), enhancer_for(opts.enhancer)
    prepare(renderer, enhancer)  # an unknown renderer, a model with the wrong hash or contract: before any work

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    # Within a batch, a template given encoded is known by its content: the requests that give it share its
    # decoding and its faces (many users into one template is how an activity runs), read-only.
    source = template
    if current_photos() is not None and isinstance(template, (str, os.PathLike)):
        source = read_image_file(template, limits.max_bytes)
    remember = _by_content(source, "template", limits, kind="template")
    tmpl = remember("decoded", lambda: _as_rgb(source, "template", limits))
    fmt = _output_format(source, opts)  # the file's bytes when already read
    if opts.logo is not None:
        opts.logo.placed(tmpl.shape[1], tmpl.shape[0])  # a rectangle outside the picture fails before any work
    timings["decode"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    tmeshes = list(template_meshes if template_meshes is not None
                   else remember("faces", lambda: tuple(find_faces(tmpl))))
    if not tmeshes:
        raise NoFaceDetectedError("no face was found in the template: use a template with a clear, frontal face")
    timings["template_analysis"] = (time.perf_counter() - t0) * 1e3

    # Resolve every merge (decode, find the user face, pick the template face) before touching any pixel. Merges
    # that give the same photo (one user into several faces) share its decoding and face, as a batch's requests do.
    with sharing_photos(len(merge_list)):  # the plans hold what they use
        plans = [_plan_merge(merge, i, tmeshes, limits) for i, merge in enumerate(merge_list)]
    used = [p[0] for p in plans]
    if len(set(used)) != len(used):
        raise ParameterValueError(f"two merges target the same template face ({used}): give each a different "
                                  "template_face")

    topo = mesh_topology()
    canvas = tmpl.copy()
    t0 = time.perf_counter()

    def run(plan: tuple[int, UserPhoto, float]) -> MergeReport:
        t_index, photo, analysis_ms = plan
        rep = fuse_face(canvas, tmeshes[t_index], photo.image, photo.mesh, opts, topo, renderer, enhancer, photo.key)
        if photo.scale != 1.0:  # the user's face box in the photo's own pixels
            x0, y0, x1, y1 = (v * photo.scale for v in rep.user_box)
            rep = attrs.evolve(rep, user_box=(x0, y0, x1, y1))
        return MergeReport(template_face_index=t_index, fusion=rep, analysis_ms=analysis_ms)

    if threads > 1 and len(plans) > 1 and _disjoint([tmeshes[p[0]] for p in plans]):
        # Each face runs in a copy of this thread's context: the caller's using_runtime (its execution providers)
        # reaches the models on the pool's threads too.
        contexts = [contextvars.copy_context() for _ in plans]
        with ThreadPoolExecutor(min(threads, len(plans))) as pool:
            reports = list(pool.map(lambda context, plan: context.run(run, plan), contexts, plans))
    else:
        reports = [run(p) for p in plans]
    timings["fuse"] = (time.perf_counter() - t0) * 1e3
    timings["user_analysis"] = sum(p[2] for p in plans)

    t0 = time.perf_counter()
    if opts.logo is not None:
        draw_logo(canvas, opts.logo)
    elif opts.label.enabled:
        draw_label(canvas, opts.label)
    timings["label"] = (time.perf_counter() - t0) * 1e3
    timings["total"] = (time.perf_counter() - t_start) * 1e3
    return FusionResult(image=canvas, format=fmt, options=opts, merges=reports, timings_ms=timings)


def find_faces(image: NDArray[np.uint8]) -> list[FaceMesh]:
    """Face meshes of an image, largest first (:func:`fusionkit.analyze` with its defaults: every face from 34 px,
    false detections dropped by the mesh's presence score)."""
    return analyze(image)


def _disjoint(meshes: list[FaceMesh]) -> bool:
    """True when the faces' regions (boxes grown to cover the warp's margin) do not overlap."""
    boxes = []
    for m in meshes:
        x0, y0, x1, y1 = (float(v) for v in m.face.box)
        gx, gy = (x1 - x0) * 0.8, (y1 - y0) * 0.8
        boxes.append((x0 - gx, y0 - gy, x1 + gx, y1 + gy))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                return False
    return True
