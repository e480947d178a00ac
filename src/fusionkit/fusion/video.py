"""Video face fusion: a user face fused into a template video's people, shot by shot, streamed.

:func:`fuse_video` runs two passes over the template video, each streamed (decoded, used and let go frame by frame):

1. **analysis** (:func:`track_video` in :mod:`fusionkit.fusion.video_analysis`, what a studio stores when a video
   material is uploaded): shots are found while decoding (:mod:`fusionkit.imaging.shots`: cuts, fades,
   dissolves); in each shot every face is detected at its first frame and followed by the landmark model, new and
   returning faces are looked for every few frames
   (:mod:`fusionkit.vision.tracking`); the resulting tracklets are joined into people by an identity model
   (:mod:`fusionkit.vision.identity`), across shots, and ordered by time on screen; each tracklet's points are
   smoothed forward and backward (no lag), repeated frames keeping identical points;
2. **fusion**: the chosen people (by default the one on screen longest; or those matching reference photos) are
   fused frame by frame by the image engine (:func:`fusionkit.fusion.engine.fuse_face`), only their regions
   converted from YUV to RGB and back (:mod:`fusionkit.imaging.planes`); a face the engine turns away (turned too
   far, mostly covered) keeps the frame's own face and is reported with its reason; the template's audio packets
   are copied unchanged; the "AI-generated" label is drawn on every frame unless turned off; the output is written
   to a temporary file, given the XMP packet of AI-generated markers (the IPTC digital source type and the
   GB 45438-2025 implicit label ``TC260:AIGC``, in a top-level ``uuid`` box: :mod:`fusionkit.imaging.xmp`), and
   renamed (or copied into a file object) only when complete.

Nothing is written before the analysis has checked the merges (a face that never appears, no face at all).
PyAV is imported inside the functions: importing :mod:`fusionkit.fusion` does not load FFmpeg.
"""

from __future__ import annotations

import contextvars
import math
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import Face, FaceMesh
from fusionkit.domain.options import AigcLabel, FuseOptions
from fusionkit.errors import (
    FaceOccludedError,
    FacePoseTooLargeError,
    ParameterValueError,
    VideoDecodeFailedError,
    VideoEncodeFailedError,
)
from fusionkit.fusion.api import MAX_MERGES, Merge, template_index, user_face
from fusionkit.fusion.engine import FaceEnhancer, FaceRenderer, UserKey, fuse_face
from fusionkit.fusion.label import draw_label, draw_logo, label_rect
from fusionkit.fusion.photos import sharing_photos
from fusionkit.fusion.renderers import enhancer_for, licences, model_metadata, prepare, renderer_for
from fusionkit.fusion.video_analysis import ReferenceFace, VideoTracks, reference_face, track_video
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits
from fusionkit.imaging.files import temp_path_beside
from fusionkit.imaging.planes import (
    Box,
    Planes,
    cropped_frame,
    decoded_frames,
    even_box,
    frame_planes,
    region_rgb,
    write_region,
    yuv420p,
)
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, FrameGuard, VideoLimits, VideoSource, open_video
from fusionkit.imaging.xmp import append_mp4_xmp, read_video_metadata, xmp_packet
from fusionkit.vision import mesh_topology
from fusionkit.vision.identity import face_signature, mesh_distance
from fusionkit.vision.tracking import OneEuroFilter

# The analysis pass's names (and the identity and smoothing helpers) are here too: fusionkit.fusion.video is
# where users and the studio find the whole video API.
__all__ = [
    "OneEuroFilter",
    "ReferenceFace",
    "VideoFaceReport",
    "VideoFusionResult",
    "VideoTracks",
    "default_video_workers",
    "face_signature",
    "fuse_video",
    "mesh_distance",
    "read_video_metadata",
    "reference_face",
    "stored_mesh",
    "track_video",
]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: The most threads :func:`fuse_video` fuses frames on.
MAX_VIDEO_WORKERS = 64


#: Where Linux states a container's CPU quota: cgroup v2's ``cpu.max`` ("quota period" or "max period"), and
#: cgroup v1's pair of files.
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _cgroup_cores(cpu_max: str = CGROUP_CPU_MAX, v1: tuple[str, str] = CGROUP_V1_QUOTA) -> float | None:
    """The CPUs a container's quota allows (``docker run --cpus=2`` gives 2.0), or None without a quota."""
    try:
        with open(cpu_max) as f:
            quota, period = f.read().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(v1[0]) as fq, open(v1[1]) as fp:
            q, p = int(fq.read()), int(fp.read())
        return q / p if q > 0 and p > 0 else None  # -1: no quota
    except (OSError, ValueError):
        return None


def default_video_workers() -> int:
    """Threads :func:`fuse_video` fuses frames on when not told: one per two cores this process may use (its
    affinity, and a container's CPU quota where there is one; x264's threads and the decoder want the others), at
    least 1 and at most 4.

    On the 2-core test machine one fusion thread beside the decoding and encoding thread beat two: a 720p job's
    ratio to a plain transcode was 0.48-0.55 with one and 0.46-0.49 with two (interleaved runs), the fusion
    threads and x264's then competing for the same two cores.
    """
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform, or not readable
        cores = float(os.cpu_count() or 1)
    quota = _cgroup_cores()
    if quota is not None:
        cores = min(cores, quota)
    return max(1, min(4, int(cores) // 2))


#: The skip reasons a :class:`VideoFaceReport` gives, by the engine's error.
SKIP_REASONS = {FacePoseTooLargeError: "pose_too_large", FaceOccludedError: "occluded"}


Ranges = tuple[tuple[int, int], ...]


def _ranges(frames: Sequence[int]) -> Ranges:
    """Sorted frame indices as ``(first, last + 1)`` runs."""
    out: list[tuple[int, int]] = []
    for f in frames:
        if out and out[-1][1] == f:
            out[-1] = (out[-1][0], f + 1)
        else:
            out.append((f, f + 1))
    return tuple(out)


@attrs.frozen(kw_only=True)
class VideoFaceReport:
    """What happened to one fused face of the video.

    Attributes
    ----------
    template_face
        The face (person) index in the video's tracks.
    frames_present
        Frames where the face is on screen.
    fused
        Frames where it was fused, as ``(first, last + 1)`` runs.
    skipped
        Frames where it was on screen but kept as it was, by reason (``"pose_too_large"``: turned beyond what the
        engine fuses; ``"occluded"``: mostly covered), as runs.
    """

    template_face: int
    frames_present: int
    fused: Ranges
    skipped: dict[str, Ranges]

    @property
    def frames_fused(self) -> int:
        return sum(b - a for a, b in self.fused)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: runs as ``[first, last + 1]`` lists."""
        return {"template_face": self.template_face, "frames_present": self.frames_present,
                "frames_fused": self.frames_fused, "fused": [list(r) for r in self.fused],
                "skipped": {reason: [list(r) for r in runs] for reason, runs in self.skipped.items()}}


@attrs.frozen(kw_only=True)
class VideoFusionResult:
    """What :func:`fuse_video` wrote.

    Attributes
    ----------
    frame_count, fps, duration_s, width, height
        Of the output video.
    has_audio
        Whether the template's audio was copied.
    frames_fused
        Frames where at least one face was fused.
    faces
        Per merge, in order: the face fused and its frames (:class:`VideoFaceReport`).
    shots
        First frame of each shot of the template.
    timings_ms
        Milliseconds per stage over the whole video (analysis, decode, convert, fuse, label, encode, total).
    aigc
        The implicit AI label (GB 45438-2025) written into the file: the options' label with its producer and
        produce id filled (:meth:`~fusionkit.domain.options.AigcLabel.resolved`).
    model_licences
        (model file, licence) of each learned model a renderer or enhancer plug-in ran, also in the file's XMP.
    """

    frame_count: int
    fps: float
    duration_s: float
    width: int
    height: int
    has_audio: bool
    frames_fused: int
    faces: tuple[VideoFaceReport, ...]
    shots: tuple[int, ...]
    timings_ms: dict[str, float]
    aigc: AigcLabel = attrs.field(factory=AigcLabel)
    model_licences: tuple[tuple[str, str], ...] = ()


# --- fusion -------------------------------------------------------------------------------------------------------

def stored_mesh(points: F32) -> FaceMesh:
    """A :class:`FaceMesh` from stored track points (468, 3): the detection fields are derived from the points."""
    xy = points[:, :2]
    face = Face(box=np.concatenate([xy.min(axis=0), xy.max(axis=0)]), keypoints=np.zeros((6, 2), np.float32),
                score=1.0, roll=0.0)
    return FaceMesh(face=face, points=points, presence=1.0)


def _shifted(mesh: FaceMesh, dx: float, dy: float) -> FaceMesh:
    """The mesh in a window whose top-left corner lies at (dx, dy)."""
    face = attrs.evolve(mesh.face, box=mesh.face.box - np.array([dx, dy, dx, dy], np.float32),
                        keypoints=mesh.face.keypoints - np.array([dx, dy], np.float32))
    return FaceMesh(face=face, points=mesh.points - np.array([dx, dy, 0], np.float32), presence=mesh.presence)


def _window(points: F32, w: int, h: int) -> Box:
    """The frame region (even-aligned) a face's fusion reads and writes: its extended mesh and a margin."""
    ext = mesh_topology().extend(points)[:, :2]
    iod = float(np.linalg.norm(points[33, :2] - points[263, :2]))
    pad = 0.1 * iod + 4
    (x0, y0), (x1, y1) = ext.min(axis=0) - pad, ext.max(axis=0) + pad
    return even_box((float(x0), float(y0), float(x1), float(y1)), w, h)


def _floats(box: Box) -> tuple[float, float, float, float]:
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


@attrs.define
class _Fused:
    """One frame as a pool thread leaves it: fused and labelled, with what happened to each face."""

    frame: Any
    planes: Planes
    index: int
    fused: list[int] = attrs.Factory(list)  # merges fused on this frame
    skipped: list[tuple[int, str]] = attrs.Factory(list)  # (merge, reason)
    fused_any: bool = False
    timings: dict[str, float] = attrs.Factory(lambda: dict.fromkeys(("convert", "fuse", "label"), 0.0))


# --- merges and output -------------------------------------------------------------------------------------------

def _merges(user: Any) -> list[Merge]:
    if isinstance(user, Merge):
        return [user]
    if isinstance(user, (list, tuple)):
        return [m if isinstance(m, Merge) else Merge(image=m) for m in user]
    return [Merge(image=user)]


def _open_output(output: str | os.PathLike[str] | IO[bytes]) -> tuple[str, str | None]:
    """(temporary path to write, final path or None for a file object)."""
    if isinstance(output, (str, os.PathLike)):
        target = os.path.abspath(os.fspath(output))
        if not os.path.isdir(os.path.dirname(target)):
            raise ParameterValueError(f"the output folder {os.path.dirname(target)!r} does not exist")
        return temp_path_beside(target), target
    if not hasattr(output, "write"):
        raise ParameterValueError(f"output must be a path or a binary file object, got {type(output).__name__}")
    fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix="fusionkit-")
    os.close(fd)
    return tmp, None


def fuse_video(
    template: VideoSource,
    user: Any,
    output: str | os.PathLike[str] | IO[bytes],
    options: FuseOptions | None = None,
    *,
    tracks: VideoTracks | None = None,
    references: Sequence[ReferenceFace] | None = None,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    image_limits: ImageLimits = DEFAULT_LIMITS,
    crf: int = 20,
    preset: str = "veryfast",
    smoothing: bool = True,
    progress: Callable[[float], None] | None = None,
    workers: int | None = None,
) -> VideoFusionResult:
    """Fuse one to six user faces into a template video's people and write an MP4.

    Parameters
    ----------
    template
        The template video (MP4 with H.264/H.265 video, AAC or no audio): a path, bytes or a binary file object.
    user
        A user image (array, bytes or path), a :class:`~fusionkit.fusion.Merge`, or a sequence of merges; a
        merge's ``template_face`` picks a person of the video (0, the default, is the person on screen longest; with
        ``references``, the person matching reference ``template_face``).
    output
        A path (written atomically: a temporary file beside it, renamed when complete) or a binary file object.
    options
        :class:`~fusionkit.domain.options.FuseOptions`; the label is on by default. Its ``aigc`` label (GB
        45438-2025) and ``metadata`` go into the file's XMP packet (read back by :func:`read_video_metadata`).
    tracks
        The video's tracks from :func:`track_video` (the studio stores them): replayed instead of analysing the
        video (one pass instead of two).
    references
        Photos' faces (:class:`ReferenceFace`) naming whom to replace: passed to :func:`track_video`.
    limits, image_limits
        Caps for the video and for the user images.
    crf, preset
        x264's quality (0-51, lower is better) and speed preset.
    smoothing
        Smooth the tracked landmarks over time (forward and backward, no lag).
    progress
        Called with the fraction done (0-1) after each frame (the analysis is the first half without ``tracks``).
    workers
        Threads fusing frames at once (1-64; by default :func:`default_video_workers`: 1 on two cores), beside the
        thread that decodes and encodes: the output is the same whatever the count. Stage timings are summed over
        the threads.

    Returns
    -------
    VideoFusionResult
        With, per merge, the frames fused and the frames skipped with their reason.

    Raises
    ------
    VideoDecodeFailedError, VideoFormatNotSupportError, Video*ExceedError
        Bad template video, before any frame is written.
    NoFaceDetectedError, FaceSizeTooSmallError, TemplateFaceIDNotExistError, ParameterValueError
        Bad user images or merges, no face in the video, a reference matching no one: before any frame is written.
    VideoEncodeFailedError
        Writing failed; nothing is left at ``output``.
    """
    t_start = time.perf_counter()
    opts = options if options is not None else FuseOptions()
    if not isinstance(opts, FuseOptions):
        raise ParameterValueError(f"options must be a FuseOptions, got {type(opts).__name__}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ParameterValueError(f"crf must be a whole number within 0-51, got {crf!r}")
    if workers is None:
        workers = default_video_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_VIDEO_WORKERS:
        raise ParameterValueError(f"workers must be a whole number within 1-{MAX_VIDEO_WORKERS}, got {workers!r}")
    merge_list = _merges(user)
    if not 1 <= len(merge_list) <= MAX_MERGES:
        raise ParameterValueError(f"give 1 to {MAX_MERGES} merges, got {len(merge_list)}")
    renderer, enhancer = renderer_for(opts.renderer), enhancer_for(opts.enhancer)
    prepare(renderer, enhancer)  # unknown names, bad models: before any frame is read
    if tracks is not None and references is not None:
        raise ParameterValueError("give tracks or references, not both (tracks already hold the chosen people)")
    if tracks is not None and tracks.frame_count < 1:
        raise ParameterValueError("tracks hold no frame")
    # Whole photos: the template's faces are not known yet (a job decodes each photo once; a large one at half size
    # could be smaller than a close-up's face).
    with sharing_photos(len(merge_list)):  # one photo given for several people is analysed once
        users = [(p.image, p.mesh) for p in (user_face(merge, i, image_limits, needed_iod=math.inf)
                                             for i, merge in enumerate(merge_list))]
    timings = dict.fromkeys(("analysis", "decode", "convert", "fuse", "label", "encode"), 0.0)
    # 1. Analysis: shots, tracklets, people (unless a studio stored them).
    report = progress
    if tracks is None:
        ta = time.perf_counter()
        tracks = track_video(template, limits=limits, smoothing=smoothing, references=references,
                             progress=(lambda f: progress(0.5 * f)) if progress is not None else None)
        timings["analysis"] = (time.perf_counter() - ta) * 1e3
        report = (lambda f: progress(0.5 + 0.5 * f)) if progress is not None else None
    # 2. Whom to replace.
    faces = [template_index(merge.template_face, tracks.face_count, i) for i, merge in enumerate(merge_list)]
    if len(set(faces)) != len(faces):
        raise ParameterValueError(f"two merges target the same template face ({faces})")
    # 3. Fusion, written to a temporary file and moved into place when complete.
    fusion = _FusionPass(tracks=tracks, faces=faces, users=users, options=opts, timings=timings,
                         renderer=renderer, enhancer=enhancer, workers=workers)
    aigc = opts.aigc.resolved()
    model_licences = licences(opts.renderer, opts.enhancer)
    tmp, target = _open_output(output)
    try:
        info, has_audio = fusion.run(template, tmp, limits=limits, crf=crf, preset=preset, progress=report)
        try:
            append_mp4_xmp(tmp, xmp_packet(opts.metadata + model_metadata(model_licences), aigc.fields()))
        except OSError as exc:
            raise VideoEncodeFailedError(f"the AI-generated markers could not be written into the video: {exc}") \
                from None
        if target is not None:
            os.replace(tmp, target)
        else:
            with open(tmp, "rb") as fh:
                shutil.copyfileobj(fh, output)  # type: ignore[arg-type]
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    timings["total"] = (time.perf_counter() - t_start) * 1e3
    frames = fusion.frames
    return VideoFusionResult(frame_count=frames, fps=info.fps, duration_s=frames / info.fps, width=info.width & ~1,
                             height=info.height & ~1, has_audio=has_audio, frames_fused=fusion.frames_fused,
                             faces=fusion.reports(), shots=tuple(int(s) for s in tracks.shots), timings_ms=timings,
                             aigc=aigc, model_licences=model_licences)


class _FusionPass:
    """The fusion pass over a template video: the chosen faces fused frame by frame, the label drawn, the frames
    encoded by x264 and the audio packets copied. ``workers`` pool threads fuse successive frames at once (the
    engine releases the GIL in its kernels) while this thread decodes and encodes, in frame order; at most
    ``workers + 1`` frames are in flight, which keeps memory flat."""

    def __init__(self, *, tracks: VideoTracks, faces: Sequence[int], users: Sequence[tuple[U8, FaceMesh]],
                 options: FuseOptions, timings: dict[str, float], renderer: FaceRenderer,
                 enhancer: FaceEnhancer | None, workers: int) -> None:
        self.tracks, self.faces, self.users, self.options, self.timings = tracks, list(faces), users, options, timings
        self.workers = workers
        self.renderer, self.enhancer = renderer, enhancer
        self.user_keys = [UserKey() for _ in users]  # one per user face, for every frame of the video
        self.topo = mesh_topology()
        self.fused: list[list[int]] = [[] for _ in faces]
        self.skipped: list[dict[str, list[int]]] = [{} for _ in faces]
        self.frames = 0
        self.frames_fused = 0

    def run(self, template: VideoSource, path: str, *, limits: VideoLimits, crf: int, preset: str,
            progress: Callable[[float], None] | None) -> tuple[Any, bool]:
        """Write the fused video to ``path``; return the template's :class:`~fusionkit.imaging.VideoInfo` and
        whether it had audio.

        Raises
        ------
        VideoDecodeFailedError, VideoEncodeFailedError
            The template has no decodable frame, or FFmpeg failed.
        """
        import av

        try:
            with open_video(template, limits=limits) as (container, info), \
                    av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
                in_v = container.streams.video[0]
                in_v.thread_type = "AUTO"
                in_a = container.streams.audio[0] if container.streams.audio else None
                ov = out.add_stream("libx264", rate=in_v.average_rate or in_v.guessed_rate)
                # x264's 4:2:0 needs even sides: an odd-sized video loses its last column or row (not rescaled).
                ov.width, ov.height, ov.pix_fmt = info.width & ~1, info.height & ~1, "yuv420p"
                ov.options = {"preset": preset, "crf": str(crf)}
                ov.thread_type = "AUTO"
                oa = out.add_stream_from_template(in_a) if in_a is not None else None
                self._size = (info.width, info.height)
                # The logo, when given, replaces the label (as on pictures); a rectangle outside the frame fails
                # here, before any frame is decoded.
                w, h = self._size
                opts = self.options
                self._mark = even_box(_floats(opts.logo.placed(w, h) if opts.logo is not None
                                              else label_rect(w, h, opts.label)), w, h)
                self._marked = opts.logo is not None or opts.label.enabled
                with ThreadPoolExecutor(self.workers, thread_name_prefix="fusionkit-video") as pool:
                    # Frames go to the pool in order and come back in order: with `workers` threads fusing, one
                    # more frame waits decoded, so no thread idles while this one encodes.
                    pending: deque[Future[_Fused]] = deque()
                    t0 = time.perf_counter()
                    guard = FrameGuard(limits, fps=info.fps, header_s=info.duration_s)
                    try:
                        for frame in decoded_frames(container, oa, out, guard=guard):
                            self.timings["decode"] += (time.perf_counter() - t0) * 1e3
                            # The caller's context (its using_runtime block) goes with each frame to the pool.
                            pending.append(pool.submit(contextvars.copy_context().run, self._fuse_frame, frame,
                                                       self.frames))
                            self.frames += 1
                            while len(pending) > self.workers:
                                self._encode(pending.popleft().result(), out, ov, info, progress)
                            t0 = time.perf_counter()
                        while pending:
                            self._encode(pending.popleft().result(), out, ov, info, progress)
                    except BaseException:
                        # A cancelled job (its progress callback raised) or a failure stops at once: the frames
                        # not yet started are dropped, not fused for nothing.
                        pool.shutdown(wait=True, cancel_futures=True)
                        raise
                ta = time.perf_counter()
                for packet in ov.encode():
                    out.mux(packet)
                self.timings["encode"] += (time.perf_counter() - ta) * 1e3
        except av.FFmpegError as exc:
            raise VideoEncodeFailedError(f"the video could not be decoded or encoded to its end: {exc}") from None
        if self.frames == 0:
            raise VideoDecodeFailedError("the template video has no decodable frame")
        return info, in_a is not None

    def _fuse_frame(self, frame: Any, index: int) -> _Fused:
        """A pool thread's part: the frame made writable, each chosen face fused into its window (converted from
        YUV and back), the label drawn; nothing shared is written here (the reports are kept by :meth:`_encode`,
        in frame order)."""
        ta = time.perf_counter()
        w, h = self._size
        frame = yuv420p(frame, w, h)
        planes = frame_planes(frame)
        done = _Fused(frame=frame, planes=planes, index=index)
        row = min(index, self.tracks.frame_count - 1)
        jobs = []
        for m, face in enumerate(self.faces):
            if not self.tracks.present[row, face]:
                continue
            points = self.tracks.points[row, face]
            box = _window(points, w, h)
            if box[2] > box[0] and box[3] > box[1]:
                jobs.append((m, box, region_rgb(planes, box), stored_mesh(points)))
        tb = time.perf_counter()
        done.timings["convert"] += (tb - ta) * 1e3
        for m, box, rgb, mesh in jobs:
            ta = time.perf_counter()
            image, user_mesh = self.users[m]
            try:
                report = fuse_face(rgb, _shifted(mesh, box[0], box[1]), image, user_mesh, self.options, self.topo,
                                   self.renderer, self.enhancer, self.user_keys[m])
            except (FacePoseTooLargeError, FaceOccludedError) as exc:
                # A head turned to profile or a face hidden on this frame keeps the frame's own face (the engine
                # wrote nothing); the face is fused again when it comes back.
                done.skipped.append((m, SKIP_REASONS[type(exc)]))
                done.timings["fuse"] += (time.perf_counter() - ta) * 1e3
                continue
            tb = time.perf_counter()
            done.timings["fuse"] += (tb - ta) * 1e3
            rx0, ry0, rx1, ry1 = even_box(_floats(report.roi), rgb.shape[1], rgb.shape[0])
            if rx1 > rx0 and ry1 > ry0:
                write_region(planes, (box[0] + rx0, box[1] + ry0, box[0] + rx1, box[1] + ry1),
                             rgb[ry0:ry1, rx0:rx1])
                done.fused_any = True
            done.fused.append(m)
            done.timings["convert"] += (time.perf_counter() - tb) * 1e3
        t3 = time.perf_counter()
        opts, mark = self.options, self._mark
        if self._marked and mark[2] > mark[0] and mark[3] > mark[1]:
            corner = region_rgb(planes, mark)
            if opts.logo is not None:
                draw_logo(corner, opts.logo, frame_size=(w, h), offset=(mark[0], mark[1]))
            else:
                draw_label(corner, opts.label, frame_size=(w, h), offset=(mark[0], mark[1]))
            write_region(planes, mark, corner)
        done.timings["label"] += (time.perf_counter() - t3) * 1e3
        return done

    def _encode(self, done: _Fused, out: Any, ov: Any, info: Any, progress: Callable[[float], None] | None) -> None:
        """This thread's part, in frame order: the reports and timings kept, the frame encoded."""
        import av

        index = done.index
        for key, ms in done.timings.items():
            self.timings[key] += ms
        for m in done.fused:
            self.fused[m].append(index)
        for m, reason in done.skipped:
            self.skipped[m].setdefault(reason, []).append(index)
        self.frames_fused += done.fused_any
        t4 = time.perf_counter()
        w, h = self._size
        ow, oh = w & ~1, h & ~1
        frame_out = done.frame if (ow, oh) == (w, h) else cropped_frame(done.frame, done.planes, ow, oh)
        frame_out.pict_type = av.video.frame.PictureType.NONE  # let x264 choose the frame types
        for packet in ov.encode(frame_out):
            out.mux(packet)
        self.timings["encode"] += (time.perf_counter() - t4) * 1e3
        if progress is not None:
            progress(min(1.0, (index + 1) / max(info.frame_count, 1)))

    def reports(self) -> tuple[VideoFaceReport, ...]:
        """Per merge, the face fused and its frames."""
        return tuple(
            VideoFaceReport(template_face=face, frames_present=int(self.tracks.present[:self.frames, face].sum()),
                            fused=_ranges(self.fused[m]),
                            skipped={reason: _ranges(frames) for reason, frames in self.skipped[m].items()})
            for m, face in enumerate(self.faces))
