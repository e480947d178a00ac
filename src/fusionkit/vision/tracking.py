"""Following faces through a video: tracklets within shots, smoothed without lag, linked into people across shots.

A *tracklet* is one face followed through part of one shot. :class:`FaceTracker` is fed the decoded frames in
order and told where shots start (:mod:`fusionkit.imaging.shots`):

- at a shot's first frame every face is detected (the pyramid detector, down to a size that scales with the
  frame) and each becomes a tracklet; no tracklet ever crosses a cut;
- on the following frames each face is followed by the landmark model alone, its crop placed by the previous
  frame's mesh (MediaPipe's tracking); a face whose window did not change since the previous frame (a repeated
  frame) keeps its mesh as it was, so identical frames give identical meshes;
- every :data:`DISCOVER_EVERY` frames the detector looks again: a face no tracklet holds is either a lost one
  coming back (near where it was lost, within :data:`KEEP_LOST_S`) or a new one (a person entering is found
  within three frames);
- a few frames of each tracklet are embedded by an identity model (:mod:`fusionkit.vision.identity`).

After the video, :func:`link_people` joins tracklets that show one person (no two tracklets of one person share a
frame) and :func:`smooth_points` smooths each tracklet's points forward and backward (zero lag), over distinct
frames only.

References
----------
G. Casiez, N. Roussel and D. Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import MIN_FACE_SIZE, Face, FaceMesh
from fusionkit.imaging.planes import Box, Planes, even_box, region_rgb
from fusionkit.vision._runtime import RuntimeOptions
from fusionkit.vision.detector import FaceDetector
from fusionkit.vision.identity import IdentityModel
from fusionkit.vision.landmarker import LANDMARK_INPUT_SIZE, FaceLandmarker, mesh_roi

__all__ = ["DISCOVER_EVERY", "MAX_FOLLOWED", "FaceTracker", "OneEuroFilter", "Tracklet", "link_people", "smooth_points",
           "video_min_face"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: Within a shot, the detector looks for new and returning faces every this many frames (a face entering is
#: found within three frames).
DISCOVER_EVERY = 3
#: A lost face is picked up again as the same tracklet when it is found again within this many seconds near
#: where it was lost (within one face width of its last centre, at 0.67-1.5 times its size).
KEEP_LOST_S = 1.0
#: Below this face-presence score a followed face counts as lost.
MIN_PRESENCE = 0.5
#: A face window whose mean absolute grey difference from the previous frame's, both shrunk to a quarter (so that
#: the coding noise averages out and movement does not), is under this many levels is a repeated frame. On the
#: test clip of tests/video/edited.py (H.264, CRF 18): repeats 0.10-0.42 (99th percentile 0.41), frames that moved
#: 0.35 and up (5th percentile 0.47).
REPEAT_LEVEL = 0.45
#: ... and the face keeps its points only while its window differs from where they were measured by under this
#: (a slow movement adds up and is measured again).
DRIFT_LEVEL = 1.0
#: At most this many faces are followed at once (the detector gives the largest first): a crowd costs one landmark
#: run a face a frame and 5.6 KB a face a frame of points, so both stay bounded.
MAX_FOLLOWED = 32
#: Identity samples per tracklet: its first frame, then one more every this many seconds, at most :data:`SAMPLES`
#: (dlib takes 80-150 ms a sample: a minute of edited video with 120 tracklets costs up to 20-35 s of them).
SAMPLE_EVERY_S = 2.0
SAMPLES = 2


def video_min_face(height: int) -> float:
    """Pixels: the smallest face the tracker looks for in frames ``height`` pixels high: 34 px (what the engine
    fuses) or a twelfth of the height, whichever is larger (the detector's cost then stays about the same at
    360p, 720p and 1080p, about 7 ms a look)."""
    return max(float(MIN_FACE_SIZE), height / 12.0)


@attrs.define(eq=False)
class Tracklet:
    """One face followed through part of one shot.

    Attributes
    ----------
    shot
        Index of the shot.
    start
        Frame index of its first frame.
    points
        Per frame from ``start``: the raw (unsmoothed) ``(468, 3)`` mesh points, or None where the face was lost.
    still
        Per frame: True where the face's window had not changed since the previous frame (its points were kept).
    embeddings
        Identity embeddings of a few of its frames.
    """

    shot: int
    start: int
    points: list[F32 | None] = attrs.field(factory=list)
    still: list[bool] = attrs.field(factory=list)
    embeddings: list[F32] = attrs.field(factory=list)
    last: FaceMesh | None = None
    lost_for: int = 0
    next_sample: int = 0
    #: The window around the face (its box), at a quarter size where its points were last measured and in the
    #: previous frame.
    seen: tuple[tuple[int, int, int, int], F32, F32] | None = None

    @property
    def frames_present(self) -> int:
        return sum(p is not None for p in self.points)


def _box(points: NDArray[Any]) -> tuple[float, float, float, float]:
    xy = np.asarray(points)[:468, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _quarter(grey: U8) -> F32:
    """A grey window shrunk to a quarter of its sides by area averaging, as float32."""
    h, w = grey.shape
    return np.asarray(cv2.resize(grey, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA), np.float32)


def _face_window(points: NDArray[Any], w: int, h: int, margin: float) -> Box:
    """The even frame region around a face's points, grown by ``margin`` of its size on each side."""
    x0, y0, x1, y1 = _box(points)
    pad = margin * max(x1 - x0, y1 - y0)
    return even_box((x0 - pad, y0 - pad, x1 + pad, y1 + pad), w, h)


def _landmark_window(points: NDArray[Any], w: int, h: int) -> Box:
    """The even frame region holding the landmark model's crop placed by ``points`` (MediaPipe's tracking ROI)."""
    m = mesh_roi(np.asarray(points, np.float32))
    size = LANDMARK_INPUT_SIZE
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ m[:, :2].T + m[:, 2]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return even_box((float(x0) - 2, float(y0) - 2, float(x1) + 2, float(y1) + 2), w, h)


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Faces of one video, shot by shot, as tracklets (feed every frame to :meth:`step`, in order).

    Parameters
    ----------
    fps
        Frames per second of the video.
    height
        Frame height in pixels (sets the smallest face looked for, :func:`video_min_face`).
    identity
        The model that embeds a few frames of each tracklet (for :func:`link_people`).
    options
        onnxruntime settings of the detector and the landmark model (default: one thread).
    """

    def __init__(self, fps: float, height: int, identity: IdentityModel,
                 options: RuntimeOptions | None = None) -> None:
        # One thread (the default): FFmpeg's decoding threads share the cores, and onnxruntime's spinning workers
        # would only take turns with them (measured: 2.5 times slower with two on the 2-core machine).
        runtime = options if options is not None else RuntimeOptions()
        self.landmarker = FaceLandmarker(options=runtime)
        self.detector = FaceDetector(model="thorough", min_face_size=video_min_face(height), options=runtime)
        self.identity = identity
        self.fps = fps
        self.keep_lost = max(1, round(KEEP_LOST_S * fps))
        self.sample_every = max(1, round(SAMPLE_EVERY_S * fps))
        self.tracklets: list[Tracklet] = []
        self.live: list[Tracklet] = []
        self.shot = -1
        self.shot_start = 0

    def step(self, index: int, planes: Planes, shot_from: int | None = None) -> None:
        """Frame ``index`` of the video as YUV 4:2:0 planes (only the windows the models read are converted to
        RGB, the whole frame only when the detector looks).

        ``shot_from``: a new shot starts at that frame (``index`` itself, or a few frames back when the shot
        detector held a brighter cut to rule out a flash: the faces followed since are cut off there, and the new
        shot's faces are looked for now). Frame 0 always starts a shot.
        """
        grey = planes[0]
        if index == 0 and shot_from is None:
            shot_from = 0
        new_shot = shot_from is not None
        if shot_from is not None:
            for t in self.live:
                for k in range(max(0, shot_from - t.start), len(t.points)):
                    t.points[k] = None
            self.live = []
            self.shot += 1
            self.shot_start = index
        for t in self.live:
            self._follow(t, planes)
        if new_shot or (index - self.shot_start) % DISCOVER_EVERY == 0:
            h, w = grey.shape
            self._discover(index, region_rgb(planes, (0, 0, w & ~1, h & ~1)), grey)
        self._drop_doubles()
        for t in self.live:
            if t.points and t.points[-1] is not None and len(t.points) - 1 >= t.next_sample \
                    and len(t.embeddings) < SAMPLES and t.last is not None and t.last.face.size >= MIN_FACE_SIZE:
                box = _face_window(t.points[-1], grey.shape[1], grey.shape[0], 0.5)
                shift = np.array([box[0], box[1], 0], np.float32)
                t.embeddings.append(self.identity.embed(region_rgb(planes, box), t.points[-1] - shift))
                t.next_sample = len(t.points) - 1 + self.sample_every
        self.live = [t for t in self.live if t.lost_for <= self.keep_lost]

    @staticmethod
    def _remember(t: Tracklet, grey: U8) -> None:
        """Keep the window around the face just measured, a quarter size (compared with later frames by
        ``_unchanged``)."""
        h, w = grey.shape
        x0, y0, x1, y1 = _box(t.points[-1])  # type: ignore[arg-type]
        pad = 0.2 * max(x1 - x0, y1 - y0)
        xa, ya = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        xb, yb = min(w, int(x1 + pad) + 1), min(h, int(y1 + pad) + 1)
        if xb - xa < 8 or yb - ya < 8:
            t.seen = None
            return
        small = _quarter(grey[ya:yb, xa:xb])
        t.seen = ((xa, ya, xb, yb), small, small)

    @staticmethod
    def _unchanged(t: Tracklet, grey: U8) -> bool:
        """Whether the face's window is as in the previous frame (a repeated frame) and has not drifted from where
        its points were last measured (a slow movement adds up and is measured again)."""
        if t.seen is None or t.lost_for:
            return False
        (xa, ya, xb, yb), measured, previous = t.seen
        now = _quarter(grey[ya:yb, xa:xb])
        t.seen = ((xa, ya, xb, yb), measured, now)
        return (float(np.abs(now - previous).mean()) < REPEAT_LEVEL
                and float(np.abs(now - measured).mean()) < DRIFT_LEVEL)

    def _follow(self, t: Tracklet, planes: Planes) -> None:
        grey = planes[0]
        if t.lost_for or t.last is None:
            t.points.append(None)
            t.still.append(False)
            t.lost_for += 1
            return
        if self._unchanged(t, grey):
            t.points.append(t.points[-1])
            t.still.append(True)
            return
        box = _landmark_window(t.last.points, grey.shape[1], grey.shape[0])
        if box[2] <= box[0] or box[3] <= box[1]:
            mesh = None
        else:
            mesh = self.landmarker.track(region_rgb(planes, box), t.last, offset=(float(box[0]), float(box[1])))
        if mesh is None or mesh.presence < MIN_PRESENCE or mesh.face.size < MIN_FACE_SIZE:
            t.points.append(None)
            t.still.append(False)
            t.lost_for = 1
            return
        t.last = mesh
        t.points.append(mesh.points)
        t.still.append(False)
        self._remember(t, grey)

    def _held(self, face: Face) -> bool:
        """Whether a followed face already lies where ``face`` was detected (its centre inside that face's box)."""
        cx, cy = face.center
        for t in self.live:
            if t.lost_for == 0 and t.last is not None:
                x0, y0, x1, y1 = _box(t.last.points)
                if x0 <= cx <= x1 and y0 <= cy <= y1:
                    return True
        return False

    def _discover(self, index: int, rgb: U8, grey: U8) -> None:
        for face in self.detector.detect(rgb):
            if face.size < MIN_FACE_SIZE or self._held(face):
                continue
            if sum(t.lost_for == 0 for t in self.live) >= MAX_FOLLOWED:
                break
            mesh = self.landmarker.mesh(rgb, face)
            if mesh.presence < MIN_PRESENCE:
                continue
            t = self._returning(mesh)
            if t is not None:
                t.points[-1] = mesh.points
                t.still[-1] = False
                t.last, t.lost_for = mesh, 0
            else:
                t = Tracklet(shot=self.shot, start=index, points=[mesh.points], still=[False], last=mesh)
                self.tracklets.append(t)
                self.live.append(t)
            self._remember(t, grey)

    def _returning(self, mesh: FaceMesh) -> Tracklet | None:
        """A lost tracklet of this shot that ``mesh`` continues: near where it was lost, about its size."""
        cx, cy = mesh.face.center
        best: Tracklet | None = None
        best_d = math.inf
        for t in self.live:
            if not t.lost_for or t.last is None:
                continue
            lx, ly = t.last.face.center
            size = max(t.last.face.size, 1.0)
            d = math.hypot(cx - lx, cy - ly)
            if d < size and 0.67 < mesh.face.size / size < 1.5 and d < best_d:
                best, best_d = t, d
        return best

    def _drop_doubles(self) -> None:
        """Two tracklets that ended up on one face: the younger one is lost."""
        seen = [t for t in self.live if t.lost_for == 0 and t.last is not None]
        for i, a in enumerate(seen):
            for b in seen[i + 1:]:
                if a.lost_for == 0 and b.lost_for == 0 and _iou(_box(a.points[-1]), _box(b.points[-1])) > 0.5:  # type: ignore[arg-type]
                    young = b if b.start >= a.start else a
                    young.points[-1] = None
                    young.lost_for = 1


def link_people(tracklets: Sequence[Tracklet], identity: IdentityModel) -> list[list[int]]:
    """Tracklets grouped by person: lists of tracklet indices, the person on screen longest first.

    Average-linkage clustering of the tracklets' identity embeddings (mean distance between their samples),
    joining the closest pair while it is under the model's ``same_person`` distance and the two groups never share
    a frame (one person is not twice in a picture). A model that cannot tell people apart
    (:class:`~fusionkit.vision.identity.AppearanceIdentity`) only joins tracklets within one shot.

    The distances between tracklets are computed once (a matrix of sums and counts of sample distances, merged as
    groups merge), so a minute of video with a hundred tracklets links in milliseconds.
    """
    n = len(tracklets)
    if n == 0:
        return []
    owners = np.array([i for i, t in enumerate(tracklets) for _ in t.embeddings], np.intp)
    sums = np.zeros((n, n))
    counts = np.zeros((n, n))
    if owners.size:
        e = np.stack([x for t in tracklets for x in t.embeddings]).astype(np.float64)
        sq = (e * e).sum(axis=1)
        d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0.0))
        np.add.at(sums, (owners[:, None], owners[None, :]), d)
        np.add.at(counts, (owners[:, None], owners[None, :]), 1.0)
    frames = [np.array([t.start + k for k, p in enumerate(t.points) if p is not None], np.int64) for t in tracklets]
    clash = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(i + 1, n):
            fi, fj = frames[i], frames[j]
            if fi.size and fj.size and fi[0] <= fj[-1] and fj[0] <= fi[-1] and np.intersect1d(fi, fj).size:
                clash[i, j] = clash[j, i] = True
    shots = [frozenset({t.shot}) for t in tracklets]
    groups: dict[int, list[int]] = {i: [i] for i in range(n)}
    alive = np.ones(n, bool)
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        allowed = alive[:, None] & alive[None, :] & ~clash & (mean < identity.same_person)
        np.fill_diagonal(allowed, False)
        if not identity.tells_people_apart:
            for a in np.flatnonzero(alive):
                for b in np.flatnonzero(allowed[a]):
                    if shots[a] != shots[b]:
                        allowed[a, b] = False
        if not allowed.any():
            break
        i, j = (int(v) for v in np.unravel_index(np.argmin(np.where(allowed, mean, np.inf)), mean.shape))
        i, j = min(i, j), max(i, j)
        # j joins i: the sums, counts and clashes of i become those of the union.
        sums[i, :] += sums[j, :]
        sums[:, i] += sums[:, j]
        counts[i, :] += counts[j, :]
        counts[:, i] += counts[:, j]
        clash[i, :] |= clash[j, :]
        clash[:, i] |= clash[:, j]
        shots[i] = shots[i] | shots[j]
        alive[j] = False
        groups[i] = sorted(groups[i] + groups.pop(j), key=lambda k: tracklets[k].start)
    people = list(groups.values())
    people.sort(key=lambda g: (-sum(tracklets[k].frames_present for k in g), tracklets[g[0]].start))
    return people


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


def smooth_points(points: Sequence[F32 | None], still: Sequence[bool], fps: float) -> list[F32 | None]:
    """A tracklet's points smoothed without lag: the One-Euro filter run forward and backward over each run of
    frames where the face was seen, averaged (a causal filter lags a moving face by its time constant; the
    backward pass leads by as much).

    Frames whose points were kept from the previous frame (``still``: a repeated frame) are one sample, not
    several, and get exactly the smoothed points of the frame they repeat: identical frames, identical meshes.
    """
    out: list[F32 | None] = [None] * len(points)
    k = 0
    while k < len(points):
        if points[k] is None:
            k += 1
            continue
        run_end = k
        while run_end < len(points) and points[run_end] is not None:
            run_end += 1
        # Distinct samples of this run: (first frame, frames it covers).
        samples: list[tuple[int, int]] = []
        for f in range(k, run_end):
            if samples and still[f]:
                samples[-1] = (samples[-1][0], samples[-1][1] + 1)
            else:
                samples.append((f, 1))
        xs = [np.asarray(points[f], np.float32) for f, _ in samples]
        scale = float(np.ptp(xs[0][:, 0])) if len(xs[0]) else 1.0
        forward, backward = OneEuroFilter(), OneEuroFilter()
        fwd = [forward(x, 1.0 / fps, scale) for x in xs]
        bwd = [backward(x, 1.0 / fps, scale) for x in reversed(xs)][::-1]
        for (f, n), a, b in zip(samples, fwd, bwd, strict=True):
            value = ((a + b) * np.float32(0.5)).astype(np.float32)
            for g in range(f, f + n):
                out[g] = value
        k = run_end
    return out
