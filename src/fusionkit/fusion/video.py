"""Video face fusion: a user face fused into every frame of a template video, streamed.

The pipeline decodes, fuses and encodes frame by frame (memory is flat in the video's length):

1. faces: found on frame 0 (one face id per person, largest first; preprocessing also picks up faces that enter
   later), then tracked: each frame's mesh comes from the landmark model run on a crop placed by the previous
   frame's mesh (no detection per frame; a lost face is looked for again every few frames), smoothed over time
   with a One-Euro filter (Casiez et al. 2012) so the fused face does not shimmer;
2. pixels: decoded YUV 4:2:0 frames are made writable and only each face's region is converted to RGB, fused by
   the image engine (:func:`fusionkit.fusion.engine.fuse_face`, shared with :func:`fusionkit.fuse`) and written
   back; the same frame goes to the encoder (x264, ``veryfast``, CRF 20 by default);
3. the template's audio packets are copied into the output unchanged; the "AI-generated" label is drawn on every
   frame unless turned off; the output is written to a temporary file and renamed (or copied into a file object)
   only when complete.

PyAV is imported inside the functions: importing :mod:`fusionkit.fusion` does not load FFmpeg.

References
----------
G. Casiez, N. Roussel and D. Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import warp_mesh
from fusionkit.domain.faces import MIN_FACE_SIZE, Face, FaceMesh
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import (
    FaceOccludedError,
    FacePoseTooLargeError,
    FaceSizeTooSmallError,
    NoFaceDetectedError,
    ParameterValueError,
    VideoDecodeFailedError,
    VideoEncodeFailedError,
)
from fusionkit.fusion.api import MAX_MERGES, Merge, _template_index, find_faces, user_face
from fusionkit.fusion.engine import fuse_face
from fusionkit.fusion.label import draw_label, draw_logo, label_rect
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits
from fusionkit.imaging.files import temp_path_beside
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, VideoLimits, VideoSource, open_video
from fusionkit.vision import FaceDetector, FaceLandmarker, RuntimeOptions, mesh_topology
from fusionkit.vision.landmarker import LANDMARK_INPUT_SIZE, mesh_roi

__all__ = [
    "OneEuroFilter",
    "ReferenceFace",
    "VideoFusionResult",
    "VideoTracks",
    "face_signature",
    "fuse_video",
    "reference_cost",
    "track_video",
]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: A lost face is looked for again (full detection on the frame) every this many frames.
REDETECT_INTERVAL = 10
#: While preprocessing, faces that entered after frame 0 are looked for every this many seconds.
DISCOVER_INTERVAL_S = 0.5
#: At most this many faces are tracked in one video (frame 0's and those that enter later).
MAX_TRACKED_FACES = 16
#: Below this face-presence score a tracked face counts as lost.
MIN_PRESENCE = 0.5
#: A reference photo's face matches a tracked face when their cost (appearance plus shape, see
#: :func:`reference_cost`) is at most this on some sampled frame. Measured on the samples (a clip of
#: two_people.jpg at 180p and 720p against the sample photos): the same picture costs 0.02-0.05, another photo of
#: the same person 0.19, the other person 0.16-0.25, a face unlike any in the video (the astronaut) 0.86. So the
#: limit turns away faces that are not in the video at all, while the choice among the faces that are is made by
#: the lowest cost.
MAX_REFERENCE_COST = 0.3
#: Faces are compared with the references on every this-many seconds of video (and on frame 0).
REFERENCE_SAMPLE_S = 0.2


class OneEuroFilter:
    """The One-Euro filter over an array of points: smooth when still, little lag when moving.

    Parameters
    ----------
    min_cutoff
        Cutoff frequency (Hz) when still: lower is smoother.
    beta
        How fast the cutoff rises with speed, per face size per second.
    d_cutoff
        Cutoff frequency (Hz) for the speed estimate.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 4.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: F32 | None = None
        self._dx: F32 | None = None

    @staticmethod
    def _alpha(cutoff: NDArray[Any] | float, dt: float) -> Any:
        tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float64))
        return 1.0 / (1.0 + tau / dt)

    def reset(self) -> None:
        """Forget the past (after a cut or a lost face)."""
        self._x = self._dx = None

    def __call__(self, x: F32, dt: float, scale: float) -> F32:
        """Filter ``x`` (points, ``(N, D)``), ``dt`` seconds after the previous call; ``scale`` (pixels) makes the
        speed relative to the face's size."""
        x = np.asarray(x, np.float32)
        if self._x is None or self._dx is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return np.array(x, np.float32)
        dx = (x - self._x) / dt
        self._dx = (self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)).astype(np.float32)
        speed = np.linalg.norm(self._dx[:, :2], axis=1, keepdims=True) / max(scale, 1.0)
        a = self._alpha(self.min_cutoff + self.beta * speed, dt).astype(np.float32)
        self._x = (self._x + a * (x - self._x)).astype(np.float32)
        return np.array(self._x, np.float32)


@attrs.frozen(kw_only=True)
class VideoTracks:
    """The faces of a video, frame by frame: what preprocessing stores and what fusion replays.

    Attributes
    ----------
    points
        ``(frames, faces, 468, 3)`` float32 smoothed mesh points in frame pixels (NaN where a face is absent).
    present
        ``(frames, faces)`` bool: whether each face was found in each frame.
    """

    points: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    present: NDArray[np.bool_] = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))

    @property
    def frame_count(self) -> int:
        return int(self.points.shape[0])

    @property
    def face_count(self) -> int:
        return int(self.points.shape[1])


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
    timings_ms
        Milliseconds per stage over the whole video (decode, track, convert, fuse, label, encode, total).
    """

    frame_count: int
    fps: float
    duration_s: float
    width: int
    height: int
    has_audio: bool
    frames_fused: int
    timings_ms: dict[str, float]


# --- YUV 4:2:0 regions --------------------------------------------------------------------------------------------

def _planes(frame: Any) -> tuple[U8, U8, U8]:
    w, h = frame.width, frame.height
    out = []
    for i, (pw, ph) in enumerate(((w, h), ((w + 1) // 2, (h + 1) // 2), ((w + 1) // 2, (h + 1) // 2))):
        plane = frame.planes[i]
        arr = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:ph, :pw]
        out.append(arr)
    return out[0], out[1], out[2]


def _even_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    x0 = max(0, math.floor(box[0]) & ~1)
    y0 = max(0, math.floor(box[1]) & ~1)
    x1 = min(w & ~1, (math.ceil(box[2]) + 1) & ~1)
    y1 = min(h & ~1, (math.ceil(box[3]) + 1) & ~1)
    return x0, y0, max(x0, x1), max(y0, y1)


def _region_rgb(planes: tuple[U8, U8, U8], box: tuple[int, int, int, int]) -> U8:
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    buf = np.empty(rh * rw * 3 // 2, np.uint8)
    q = rh * rw // 4
    buf[: rh * rw].reshape(rh, rw)[...] = planes[0][y0:y1, x0:x1]
    buf[rh * rw: rh * rw + q].reshape(rh // 2, rw // 2)[...] = planes[1][y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    buf[rh * rw + q:].reshape(rh // 2, rw // 2)[...] = planes[2][y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    return np.asarray(cv2.cvtColor(buf.reshape(rh * 3 // 2, rw), cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)


def _write_region(planes: tuple[U8, U8, U8], box: tuple[int, int, int, int], rgb: U8) -> None:
    x0, y0, x1, y1 = box
    rh, rw = y1 - y0, x1 - x0
    if rh <= 0 or rw <= 0:
        return
    buf = np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420), np.uint8).reshape(-1)
    q = rh * rw // 4
    planes[0][y0:y1, x0:x1] = buf[: rh * rw].reshape(rh, rw)
    planes[1][y0 // 2:y1 // 2, x0 // 2:x1 // 2] = buf[rh * rw: rh * rw + q].reshape(rh // 2, rw // 2)
    planes[2][y0 // 2:y1 // 2, x0 // 2:x1 // 2] = buf[rh * rw + q:].reshape(rh // 2, rw // 2)


def _cropped(frame: Any, planes: tuple[U8, U8, U8], width: int, height: int) -> Any:
    """A new yuv420p frame holding the top-left ``width`` x ``height`` (both even) of ``frame``."""
    import av

    out = av.VideoFrame(width, height, "yuv420p")
    dst = _planes(out)
    dst[0][...] = planes[0][:height, :width]
    dst[1][...] = planes[1][: height // 2, : width // 2]
    dst[2][...] = planes[2][: height // 2, : width // 2]
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def _shifted(mesh: FaceMesh, dx: float, dy: float) -> FaceMesh:
    """The mesh in a window whose top-left corner lies at (dx, dy)."""
    face = attrs.evolve(mesh.face, box=mesh.face.box - np.array([dx, dy, dx, dy], np.float32),
                        keypoints=mesh.face.keypoints - np.array([dx, dy], np.float32))
    return FaceMesh(face=face, points=mesh.points - np.array([dx, dy, 0], np.float32), presence=mesh.presence)


def _floats(box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def _stored_mesh(points: F32) -> FaceMesh:
    """A mesh from stored track points (the detection fields are derived from the points)."""
    xy = points[:, :2]
    face = Face(box=np.concatenate([xy.min(axis=0), xy.max(axis=0)]), keypoints=np.zeros((6, 2), np.float32),
                score=1.0, roll=0.0)
    return FaceMesh(face=face, points=points, presence=1.0)


@attrs.define
class _Prepared:
    frame: Any
    planes: tuple[U8, U8, U8]
    jobs: list[tuple[tuple[int, int, int, int], U8, FaceMesh, U8, FaceMesh]]
    track_ms: float
    convert_ms: float


def _with_points(mesh: FaceMesh, points: F32) -> FaceMesh:
    return FaceMesh(face=mesh.face, points=points, presence=mesh.presence)


# --- tracking -----------------------------------------------------------------------------------------------------

class _Tracker:
    """Faces from frame 0, followed from frame to frame by the landmark model and smoothed."""

    def __init__(self, fps: float, smoothing: bool) -> None:
        # One thread: the decoder's and x264's threads already fill the cores, and onnxruntime's spinning worker
        # threads would only take turns with them.
        self.landmarker = FaceLandmarker(options=RuntimeOptions(intra_op_threads=1))
        self.topo = mesh_topology()
        self.dt = 1.0 / fps
        self.smoothing = smoothing
        self.meshes: list[FaceMesh | None] = []
        self.last: list[FaceMesh] = []
        self.filters: list[OneEuroFilter] = []
        self.lost_for: list[int] = []
        self.detector: FaceDetector | None = None
        self._detected: tuple[U8, list[Face]] | None = None  # the last frame detected on, and its faces

    def start(self, rgb: U8, *, required: bool = True) -> None:
        """The faces of frame 0, largest first; with ``required``, none is an error."""
        try:
            meshes = [m for m in find_faces(rgb) if m.face.size >= MIN_FACE_SIZE]
        except FaceSizeTooSmallError:
            meshes = []
        if not meshes and required:
            raise NoFaceDetectedError("no face was found in the template video's first frame: use a video that "
                                      "opens on a clear, frontal face")
        self.meshes = list(meshes)
        self.last = list(meshes)
        self.filters = [OneEuroFilter() for _ in meshes]
        self.lost_for = [0] * len(meshes)
        for i, m in enumerate(meshes):
            self.meshes[i] = self._smooth(i, m)

    def _smooth(self, i: int, mesh: FaceMesh) -> FaceMesh:
        self.last[i] = mesh
        if not self.smoothing:
            return mesh
        return _with_points(mesh, self.filters[i](mesh.points, self.dt, mesh.inter_ocular_distance * 2.2))

    def window(self, i: int, w: int, h: int) -> tuple[int, int, int, int]:
        """The frame region (even-aligned) that holds face ``i``'s landmark crop and its fusion region, from its
        last mesh."""
        prev = self.last[i]
        size = LANDMARK_INPUT_SIZE
        m = mesh_roi(prev.points)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ m[:, :2].T + m[:, 2]
        ext = self.topo.extend(prev.points)[:, :2]
        pad = 0.1 * prev.inter_ocular_distance + 4
        x0 = min(corners[:, 0].min(), ext[:, 0].min() - pad)
        y0 = min(corners[:, 1].min(), ext[:, 1].min() - pad)
        x1 = max(corners[:, 0].max(), ext[:, 0].max() + pad)
        y1 = max(corners[:, 1].max(), ext[:, 1].max() + pad)
        return _even_box((x0, y0, x1, y1), w, h)

    def follow(self, i: int, rgb: U8, offset: tuple[int, int]) -> FaceMesh | None:
        """Face ``i`` in this frame (``rgb`` is the window at ``offset``), or None when it is lost."""
        mesh = self.landmarker.track(rgb, self.last[i], offset=(float(offset[0]), float(offset[1])))
        if mesh.presence < MIN_PRESENCE or mesh.face.size < MIN_FACE_SIZE:
            self._lose(i)
            return None
        self.meshes[i] = self._smooth(i, mesh)
        return self.meshes[i]

    def _lose(self, i: int) -> None:
        self.meshes[i] = None
        self.lost_for[i] = 0
        self.filters[i].reset()

    def _detect(self, rgb: U8) -> list[Face]:
        """Faces of a frame from the short-range detector, large enough to mesh (never raises for small ones);
        run once per frame though both a redetection and a discovery may ask."""
        if self._detected is not None and self._detected[0] is rgb:
            return list(self._detected[1])
        if self.detector is None:
            self.detector = FaceDetector(model="short", options=RuntimeOptions(intra_op_threads=1))
        faces = [f for f in self.detector.detect(rgb) if f.size >= MIN_FACE_SIZE]
        self._detected = (rgb, faces)
        return list(faces)

    def _mesh(self, rgb: U8, face: Face) -> FaceMesh | None:
        mesh = self.landmarker.mesh(rgb, face)
        return mesh if mesh.presence >= MIN_PRESENCE else None

    def redetect(self, frame_rgb: Callable[[], U8]) -> None:
        """Look again for lost faces (every :data:`REDETECT_INTERVAL` frames), matched by the nearest centre."""
        lost = [i for i, m in enumerate(self.meshes) if m is None]
        due = []
        for i in lost:
            self.lost_for[i] += 1
            if self.lost_for[i] % REDETECT_INTERVAL == 0:
                due.append(i)
        if not due:
            return
        rgb = frame_rgb()
        found = [f for f in self._detect(rgb) if not self._held(f)]
        for i in due:
            cx, cy = self.last[i].face.center
            best = min(found, key=lambda f: math.hypot(f.center[0] - cx, f.center[1] - cy), default=None)
            if best is not None and math.hypot(best.center[0] - cx, best.center[1] - cy) < \
                    3 * max(self.last[i].face.width, 1.0):
                mesh = self._mesh(rgb, best)
                if mesh is not None:
                    found.remove(best)
                    self.meshes[i] = self._smooth(i, mesh)

    def _held(self, face: Face) -> bool:
        """Whether a followed face already lies where ``face`` was detected (its centre inside that box)."""
        cx, cy = face.center
        for m in self.meshes:
            if m is not None:
                x0, y0, x1, y1 = (float(v) for v in m.face.box)
                if x0 <= cx <= x1 and y0 <= cy <= y1:
                    return True
        return False

    def discover(self, rgb: U8) -> None:
        """New faces (a person entering after frame 0) become new tracks, up to :data:`MAX_TRACKED_FACES`."""
        for face in self._detect(rgb):
            if len(self.meshes) >= MAX_TRACKED_FACES:
                return
            if self._held(face):
                continue
            mesh = self._mesh(rgb, face)
            if mesh is None:
                continue
            self.meshes.append(None)
            self.last.append(mesh)
            self.filters.append(OneEuroFilter())
            self.lost_for.append(0)
            self.meshes[-1] = self._smooth(len(self.meshes) - 1, mesh)


def _frame_rgb(frame: Any) -> U8:
    return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def _decoded_frames(container: Any, audio_out: Any, out: Any) -> Iterator[Any]:
    """Video frames in order; audio packets are re-muxed into ``out`` as they come (when ``audio_out`` is set)."""
    v = container.streams.video[0]
    streams = [v]
    a = container.streams.audio[0] if container.streams.audio else None
    if a is not None and audio_out is not None:
        streams.append(a)
    for packet in container.demux(*streams):
        if packet.stream is v:
            yield from packet.decode()
        elif packet.dts is not None:
            packet.stream = audio_out
            out.mux(packet)


def track_video(source: VideoSource, *, limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
                smoothing: bool = True, progress: Callable[[float], None] | None = None,
                references: Sequence[ReferenceFace] | None = None,
                max_reference_cost: float = MAX_REFERENCE_COST) -> VideoTracks:
    """Find the faces and follow them through the video (what preprocessing stores).

    Frame 0's faces come first (largest first); a face that enters later (none of the followed faces lies where
    the detector finds it, looked for every :data:`DISCOVER_INTERVAL_S` seconds) becomes the next face, absent
    (NaN, ``present`` False) before it entered; at most :data:`MAX_TRACKED_FACES`. A person who leaves and comes
    back near where they left keeps their face; one who comes back elsewhere becomes a new face.

    ``progress``, when given, is called after each frame with the fraction done (0-1, from the container's frame
    count); an exception it raises stops the tracking and propagates.

    With ``references`` (one :class:`ReferenceFace` per role, as the cloud API's template infos give them) the
    result holds only the faces matching them, in their order: every face is compared with every reference on
    frame 0 and every :data:`REFERENCE_SAMPLE_S` seconds, each pair keeps its lowest :func:`reference_cost`, and
    pairs are taken cheapest first (each face at most once, none over ``max_reference_cost``). This compares
    appearance and shape, not identity: a still of the role from the video matches best; another photo of the
    same person matched on the samples, but a similar-looking other person can cost as little.

    Raises
    ------
    NoFaceDetectedError
        No face anywhere in the video, or a reference matches no face.
    VideoDecodeFailedError, VideoFormatNotSupportError, Video*ExceedError
        See :func:`fusionkit.imaging.probe_video`.
    """
    refs = list(references) if references is not None else []
    with open_video(source, limits=limits) as (container, info):
        container.streams.video[0].thread_type = "AUTO"
        tracker = _Tracker(info.fps, smoothing)
        points: list[F32] = []
        present: list[list[bool]] = []
        sample_every = max(1, round(info.fps * REFERENCE_SAMPLE_S))
        discover_every = max(1, round(info.fps * DISCOVER_INTERVAL_S))
        costs: dict[tuple[int, int], float] = {}  # (face, reference): lowest cost so far
        compared: set[int] = set()
        for index, frame in enumerate(_decoded_frames(container, None, None)):
            rgb = _frame_rgb(frame)
            if index == 0:
                tracker.start(rgb, required=False)
            else:
                for i in range(len(tracker.meshes)):
                    if tracker.meshes[i] is not None:
                        tracker.follow(i, rgb, (0, 0))
                tracker.redetect(lambda rgb=rgb: rgb)  # type: ignore[misc]
                if index % discover_every == 0:
                    tracker.discover(rgb)
            row = np.full((len(tracker.meshes), 468, 3), np.nan, np.float32)
            for i, m in enumerate(tracker.meshes):
                if m is not None:
                    row[i] = m.points
                    if refs and (index % sample_every == 0 or i not in compared):  # a new face: at once
                        compared.add(i)
                        for r, cost in enumerate(_reference_costs(refs, rgb, m.points)):
                            costs[i, r] = min(costs.get((i, r), math.inf), cost)
            points.append(row)
            present.append([m is not None for m in tracker.meshes])
            if progress is not None:
                progress(min(1.0, (index + 1) / max(1, info.frame_count)))
    if not points:
        raise VideoDecodeFailedError("the video has no decodable frame")
    faces = len(tracker.meshes)
    if faces == 0:
        raise NoFaceDetectedError("no face was found in the video: use a video with a clear, frontal face")
    # Faces that entered later have no row before they did: absent there.
    all_points = np.full((len(points), faces, 468, 3), np.nan, np.float32)
    all_present = np.zeros((len(points), faces), bool)
    for k, (row_points, row_present) in enumerate(zip(points, present, strict=True)):
        all_points[k, :len(row_points)] = row_points
        all_present[k, :len(row_present)] = row_present
    tracks = VideoTracks(points=all_points, present=all_present)
    if not refs:
        return tracks
    matrix = np.array([[costs.get((i, r), math.inf) for i in range(faces)] for r in range(len(refs))])
    order = _assign(matrix, max_reference_cost)
    return VideoTracks(points=np.ascontiguousarray(tracks.points[:, order]),
                       present=np.ascontiguousarray(tracks.present[:, order]))


def _shape(points: F32) -> NDArray[np.float64]:
    xy = np.asarray(points[:, :2], np.float64)
    xy = xy - xy.mean(axis=0)
    unit: NDArray[np.float64] = xy / max(float(np.sqrt((xy**2).sum())), 1e-12)
    return unit


def mesh_distance(a: F32, b: F32) -> float:
    """How far apart two face meshes' shapes are, after aligning them by a similarity (0 = the same shape)."""
    x, y = _shape(a), _shape(b)
    singular = np.linalg.svd(x.T @ y, compute_uv=False)
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * float(singular.sum()))))


# --- reference faces ----------------------------------------------------------------------------------------------

_SIGNATURE_SIDE = 40  # pixels of the canonical face the signature is read from


@functools.lru_cache(maxsize=1)
def _signature_frame() -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.bool_]]:
    """(canonical points, mesh triangles, the pixels read): the mean face drawn in a 40x40 square, and its upper
    half (eyes, brows, nose: what changes least with expression) as the region compared."""
    topo = mesh_topology()
    mean = np.asarray(topo.mean_shape, np.float64)
    lo, hi = mean.min(axis=0), mean.max(axis=0)
    scale = (_SIGNATURE_SIDE - 4) / float((hi - lo).max())
    canonical = (mean - lo) * scale + 2
    triangles = np.ascontiguousarray(topo.triangles[(topo.triangles < 468).all(axis=1)])
    cover = warp_mesh(np.full((1, 1), 255, np.uint8), np.zeros((468, 2)), canonical, triangles,
                      np.zeros((_SIGNATURE_SIDE, _SIGNATURE_SIDE), np.uint8))
    region = cover == 255
    region[int(canonical[1, 1]):] = False  # below the nose tip (landmark 1): mouth and jaw move with speech
    return canonical, triangles, region


def face_signature(image: U8, points: F32) -> F32:
    """A face's appearance, comparable across pictures: unit-length float32 vector.

    The face is warped by its mesh onto the mean face (40 px square, grey, after shrinking the photo to about
    twice that so that a large photo does not alias), its lighting gradients are removed (the difference of two
    Gaussian blurs, 0.7 and 4 px) and the upper half is kept, centred and normalised: the dot product of two
    signatures is their normalised cross-correlation (1 = the same picture).
    """
    canonical, triangles, region = _signature_frame()
    pts = np.asarray(points, np.float64)[:, :2]
    h, w = image.shape[:2]
    x0, y0 = (max(0, int(v) - 2) for v in np.floor(pts.min(axis=0)))
    x1, y1 = (int(v) + 2 for v in np.ceil(pts.max(axis=0)))
    x0, y0 = min(x0, w - 1), min(y0, h - 1)  # a face wholly past the right or bottom edge: its last pixels
    x1, y1 = min(w, max(x1, x0 + 1)), min(h, max(y1, y0 + 1))
    grey = np.asarray(cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY), np.uint8)
    shrink = max(1.0, (x1 - x0) / (2 * _SIGNATURE_SIDE))
    if shrink > 1.0:
        size = (max(1, round(grey.shape[1] / shrink)), max(1, round(grey.shape[0] / shrink)))
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    # Mesh points put pixel centres at half-integers, the core at integers.
    local = (pts - np.array([x0, y0], np.float64)) / shrink - 0.5
    canvas = np.zeros((_SIGNATURE_SIDE, _SIGNATURE_SIDE), np.uint8)
    warp_mesh(grey, local, canonical, triangles, canvas)
    face = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 0.7)
    detail = (face - cv2.GaussianBlur(face, (0, 0), 4.0))[region]
    detail -= detail.mean()
    signature: F32 = (detail / max(float(np.linalg.norm(detail)), 1e-6)).astype(np.float32)
    return signature


@attrs.frozen(kw_only=True)
class ReferenceFace:
    """A reference photo's face, as matched against a video's faces.

    Attributes
    ----------
    points
        ``(468, 3)`` float32 mesh points in the photo.
    signature
        :func:`face_signature` of the face in the photo.
    """

    points: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    signature: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))

    @classmethod
    def from_image(cls, image: U8, mesh: FaceMesh) -> ReferenceFace:
        """The reference of ``mesh``'s face in ``image`` (RGB)."""
        return cls(points=np.asarray(mesh.points, np.float32), signature=face_signature(image, mesh.points))


def reference_cost(reference: ReferenceFace, image: U8, points: F32) -> float:
    """How unlike ``reference`` the face at ``points`` in ``image`` is: one minus the correlation of their
    signatures plus :func:`mesh_distance` (0 = the same picture; see :data:`MAX_REFERENCE_COST`)."""
    return _reference_costs([reference], image, points)[0]


def _reference_costs(references: Sequence[ReferenceFace], image: U8, points: F32) -> list[float]:
    """:func:`reference_cost` of one face against each reference, its signature computed once."""
    signature = face_signature(image, points)
    return [1.0 - float(ref.signature @ signature) + mesh_distance(ref.points, points) for ref in references]


def _assign(costs: NDArray[np.float64], max_cost: float) -> list[int]:
    """Face index per reference from a (references, faces) cost matrix: pairs taken cheapest first, each face
    at most once, none costing over ``max_cost``.

    Raises
    ------
    NoFaceDetectedError
        A reference is left without a face.
    """
    pairs = sorted((float(costs[r, f]), r, f) for r in range(costs.shape[0]) for f in range(costs.shape[1]))
    chosen: dict[int, int] = {}
    for cost, r, f in pairs:
        if cost <= max_cost and r not in chosen and f not in chosen.values():
            chosen[r] = f
    missing = [r for r in range(costs.shape[0]) if r not in chosen]
    if missing:
        raise NoFaceDetectedError(f"reference face {missing[0]} matches no face of the video: use a reference "
                                  "photo showing that person's face clearly (a still from the video works best)")
    return [chosen[r] for r in range(costs.shape[0])]


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
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    image_limits: ImageLimits = DEFAULT_LIMITS,
    crf: int = 20,
    preset: str = "veryfast",
    smoothing: bool = True,
    progress: Callable[[float], None] | None = None,
) -> VideoFusionResult:
    """Fuse one to six user faces into every frame of a template video and write an MP4.

    Parameters
    ----------
    template
        The template video (MP4 with H.264/H.265 video, AAC or no audio): a path, bytes or a binary file object.
    user
        A user image (array, bytes or path), a :class:`~fusionkit.fusion.Merge`, or a sequence of merges; a
        merge's ``template_face`` picks a face of frame 0 (largest first).
    output
        A path (written atomically: a temporary file beside it, renamed when complete) or a binary file object.
    options
        :class:`~fusionkit.domain.options.FuseOptions`; the label is on by default.
    tracks
        The video's face tracks from :func:`track_video` (the studio stores them): replayed instead of tracking.
    limits, image_limits
        Caps for the video and for the user images.
    crf, preset
        x264's quality (0-51, lower is better) and speed preset.
    smoothing
        Smooth the tracked landmarks over time (One-Euro filter).
    progress
        Called with the fraction done (0-1) after each frame.

    Returns
    -------
    VideoFusionResult

    Raises
    ------
    VideoDecodeFailedError, VideoFormatNotSupportError, Video*ExceedError
        Bad template video, before any decoding.
    NoFaceDetectedError, FaceSizeTooSmallError, TemplateFaceIDNotExistError, ParameterValueError
        Bad user images or merges, before any decoding.
    VideoEncodeFailedError
        Writing failed; nothing is left at ``output``.
    """
    import av

    t_start = time.perf_counter()
    opts = options if options is not None else FuseOptions()
    if not isinstance(opts, FuseOptions):
        raise ParameterValueError(f"options must be a FuseOptions, got {type(opts).__name__}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ParameterValueError(f"crf must be a whole number within 0-51, got {crf!r}")
    merge_list = _merges(user)
    if not 1 <= len(merge_list) <= MAX_MERGES:
        raise ParameterValueError(f"give 1 to {MAX_MERGES} merges, got {len(merge_list)}")
    users = []
    for i, merge in enumerate(merge_list):
        image, umesh = user_face(merge, i, image_limits)
        users.append((merge.template_face, image, umesh))
    topo = mesh_topology()
    timings = dict.fromkeys(("decode", "track", "convert", "fuse", "label", "encode"), 0.0)

    tmp, target = _open_output(output)
    frames_fused = 0
    index = 0
    try:
        with open_video(template, limits=limits) as (container, info):
            if tracks is not None and tracks.frame_count < 1:
                raise ParameterValueError("tracks hold no frame")
            in_v = container.streams.video[0]
            in_v.thread_type = "AUTO"
            in_a = container.streams.audio[0] if container.streams.audio else None
            with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as out:
                ov = out.add_stream("libx264", rate=in_v.average_rate or in_v.guessed_rate)
                # x264's 4:2:0 needs even sides: an odd-sized video loses its last column or row (not rescaled).
                ow, oh = info.width & ~1, info.height & ~1
                ov.width, ov.height, ov.pix_fmt = ow, oh, "yuv420p"
                ov.options = {"preset": preset, "crf": str(crf)}
                ov.thread_type = "AUTO"
                oa = out.add_stream_from_template(in_a) if in_a is not None else None
                tracker = _Tracker(info.fps, smoothing)
                w, h = info.width, info.height
                # The logo, when given, replaces the label (as on pictures); a rectangle outside the frame fails here,
                # before any frame is decoded.
                mark_box = _even_box(_floats(opts.logo.placed(w, h) if opts.logo is not None
                                             else label_rect(w, h, opts.label)), w, h)
                marked = opts.logo is not None or opts.label.enabled
                plan: list[tuple[int, U8, FaceMesh]] = []

                def prepare(frame: Any, index: int) -> _Prepared:
                    """Stage 1 (a worker thread, one frame ahead): writable frame, faces tracked, windows in RGB."""
                    ta = time.perf_counter()
                    if frame.format.name != "yuv420p" or frame.width != w or frame.height != h:
                        frame = frame.reformat(width=w, height=h, format="yuv420p")
                    else:
                        frame.make_writable()  # the decoder may still reference this frame's buffers
                    planes = _planes(frame)
                    if index == 0:
                        if tracks is None:
                            tracker.start(_frame_rgb(frame))
                        n_faces = tracks.face_count if tracks is not None else len(tracker.meshes)
                        plan[:] = [(_template_index(ref, n_faces, i), image, umesh)
                                   for i, (ref, image, umesh) in enumerate(users)]
                        used = [p[0] for p in plan]
                        if len(set(used)) != len(used):
                            raise ParameterValueError(f"two merges target the same template face ({used})")
                    jobs: list[tuple[tuple[int, int, int, int], U8, FaceMesh, U8, FaceMesh]] = []
                    convert = 0.0
                    for face_index, image, user_mesh in plan:
                        mesh: FaceMesh | None
                        if tracks is not None:
                            row = min(index, tracks.frame_count - 1)
                            if not tracks.present[row, face_index]:
                                continue
                            mesh = _stored_mesh(tracks.points[row, face_index])
                            if not tracker.last:
                                tracker.last = [mesh] * tracks.face_count
                            tracker.last[face_index] = mesh
                            box = tracker.window(face_index, w, h)
                            tb = time.perf_counter()
                            rgb = _region_rgb(planes, box)
                            convert += time.perf_counter() - tb
                        else:
                            if face_index >= len(tracker.meshes) or tracker.meshes[face_index] is None:
                                continue
                            box = tracker.window(face_index, w, h)
                            tb = time.perf_counter()
                            rgb = _region_rgb(planes, box)
                            convert += time.perf_counter() - tb
                            mesh = tracker.meshes[face_index] if index == 0 else \
                                tracker.follow(face_index, rgb, (box[0], box[1]))
                            if mesh is None:
                                continue
                        jobs.append((box, rgb, mesh, image, user_mesh))
                    if tracks is None and index > 0 and any(m is None for m in tracker.meshes):
                        tracker.redetect(lambda: _frame_rgb(frame))
                    total = time.perf_counter() - ta
                    return _Prepared(frame=frame, planes=planes, jobs=jobs, track_ms=(total - convert) * 1e3,
                                     convert_ms=convert * 1e3)

                def finish(prep: _Prepared, index: int) -> None:
                    """Stage 2 (this thread): fuse each face into its window, write it back, label, encode."""
                    nonlocal frames_fused
                    timings["track"] += prep.track_ms
                    timings["convert"] += prep.convert_ms
                    fused_any = False
                    for box, rgb, mesh, image, user_mesh in prep.jobs:
                        ta = time.perf_counter()
                        try:
                            report = fuse_face(rgb, _shifted(mesh, box[0], box[1]), image, user_mesh, opts, topo)
                        except (FacePoseTooLargeError, FaceOccludedError):
                            # A head turned to profile or a face hidden on this frame keeps the frame's own face
                            # (the engine wrote nothing); the face is fused again when it comes back.
                            timings["fuse"] += (time.perf_counter() - ta) * 1e3
                            continue
                        tb = time.perf_counter()
                        timings["fuse"] += (tb - ta) * 1e3
                        rx0, ry0, rx1, ry1 = _even_box(_floats(report.roi), rgb.shape[1], rgb.shape[0])
                        if rx1 > rx0 and ry1 > ry0:
                            _write_region(prep.planes, (box[0] + rx0, box[1] + ry0, box[0] + rx1, box[1] + ry1),
                                          rgb[ry0:ry1, rx0:rx1])
                            fused_any = True
                        timings["convert"] += (time.perf_counter() - tb) * 1e3
                    frames_fused += fused_any
                    t3 = time.perf_counter()
                    if marked and mark_box[2] > mark_box[0] and mark_box[3] > mark_box[1]:
                        corner = _region_rgb(prep.planes, mark_box)
                        if opts.logo is not None:
                            draw_logo(corner, opts.logo, frame_size=(w, h), offset=(mark_box[0], mark_box[1]))
                        else:
                            draw_label(corner, opts.label, frame_size=(w, h), offset=(mark_box[0], mark_box[1]))
                        _write_region(prep.planes, mark_box, corner)
                    t4 = time.perf_counter()
                    timings["label"] += (t4 - t3) * 1e3
                    frame_out = prep.frame if (ow, oh) == (w, h) else _cropped(prep.frame, prep.planes, ow, oh)
                    frame_out.pict_type = av.video.frame.PictureType.NONE  # let x264 choose the frame types
                    for packet in ov.encode(frame_out):
                        out.mux(packet)
                    timings["encode"] += (time.perf_counter() - t4) * 1e3
                    if progress is not None:
                        progress(min(1.0, (index + 1) / max(info.frame_count, 1)))

                # Tracking frame n+1 (onnxruntime) overlaps fusing frame n (the C core, OpenCV): both release the
                # GIL. One frame in flight keeps memory flat.
                with ThreadPoolExecutor(1, thread_name_prefix="fusionkit-track") as pool:
                    pending: Future[_Prepared] | None = None
                    t0 = time.perf_counter()
                    for frame in _decoded_frames(container, oa, out):
                        timings["decode"] += (time.perf_counter() - t0) * 1e3
                        ahead = pool.submit(prepare, frame, index)
                        if pending is not None:
                            finish(pending.result(), index - 1)
                        pending = ahead
                        index += 1
                        t0 = time.perf_counter()
                    if pending is not None:
                        finish(pending.result(), index - 1)
                ta = time.perf_counter()
                for packet in ov.encode():
                    out.mux(packet)
                timings["encode"] += (time.perf_counter() - ta) * 1e3
        if index == 0:
            raise VideoDecodeFailedError("the template video has no decodable frame")
        if target is not None:
            os.replace(tmp, target)
        else:
            with open(tmp, "rb") as fh:
                shutil.copyfileobj(fh, output)  # type: ignore[arg-type]
    except av.FFmpegError as exc:
        raise VideoEncodeFailedError(f"the video could not be decoded or encoded to its end: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    timings["total"] = (time.perf_counter() - t_start) * 1e3
    duration = index / info.fps
    return VideoFusionResult(frame_count=index, fps=info.fps, duration_s=duration, width=info.width & ~1,
                             height=info.height & ~1, has_audio=in_a is not None, frames_fused=frames_fused,
                             timings_ms=timings)
