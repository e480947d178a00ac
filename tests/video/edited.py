"""An edited test video with its ground truth: four shots of the sample photos, cut and faded like a TV programme.

:func:`make_edited_clip` writes an H.264 (yuv420p) MP4 with a 440 Hz AAC tone and returns an :class:`EditedClip`
that says, for every frame, which shot it belongs to, how bright it is (fades), whether it is an exact repeat of the
previous frame, and where each visible person's face is, in frame pixels. The timeline at 25 fps (640x360; sizes
scale with the frame's height, positions with its width and height)::

    frames   0- 37  shot A  wide: obama3.jpg small on a stage (face 44 px), slow pan to the right
    frames  38- 75  shot B  hard cut; close-up of biden.jpg (face 212-237 px), slow zoom in
    frames  76-140  shot C  hard cut; medium shot of obama.jpg (the other photo of the same person; face ~117 px),
                            a slight push in; the astronaut slides in from the right edge over frames 102-121 (face
                            partly in from 111, whole from 115, at rest from 122); frames 133-140 fade out to black
                            (140 is black)
    frames 141-199  shot D  fade in from black (141-148, full brightness from 148); obama3, biden and the astronaut
                            side by side (faces 88, 108 and 76 px), slow pan to the left; biden "turns his head" (his
                            crop is squeezed horizontally about his face's centre, 1.0 -> 0.62) over frames 153-193

Every fifth frame (``i % 5 == 4``, never a shot's first frame) is an exact copy of the previous one, as a cheap
4:5 frame-rate conversion makes (``repeats``). The layout is built from the sample photos by known affine maps (scale
and translate, plus the horizontal squeeze; no rotation), so the face boxes are those found once in each source
photo by :func:`fusionkit.vision.analyze`, mapped through the same maps: nothing is detected on the rendered frames.

H.264 at crf 18 (the default) is lossy: after decoding, a repeated frame is nearly but not exactly its original
(the encoder codes the repeat as a P frame with a small residual), so compare decoded frames with a tolerance of a
grey level or two (mean absolute difference); ``lossless=True`` encodes with ``qp 0`` and the decoded repeats are
bit-exact copies.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import attrs
import av
import cv2
import numpy as np
from numpy.typing import NDArray

from tests import photos
from tests.video.clips import write_tone

__all__ = [
    "PERSON_OF_PHOTO",
    "EditedClip",
    "Entry",
    "FaceInFrame",
    "Fade",
    "FrameTruth",
    "Shot",
    "SourceFace",
    "Turn",
    "make_edited_clip",
    "source_faces",
]

Box = tuple[float, float, float, float]
Affine = NDArray[np.float64]  # 3x3, continuous pixel coordinates (origin at the top-left corner of pixel (0, 0))
ShotKind = Literal["first", "cut", "fade"]

#: Who is in each sample photo used by the clip (the two Obama photos are the same person).
PERSON_OF_PHOTO: dict[str, str] = {
    "obama.jpg": "obama",
    "obama3.jpg": "obama",
    "biden.jpg": "biden",
    "astronaut.png": "astronaut",
}

_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)

#: Frame counts of the timeline at 25 fps (scaled by ``fps / 25`` at other rates).
_SHOT_FRAMES_25 = (38, 38, 65, 59)
_FADE_FRAMES_25 = 8
_ENTRY_AT_25, _ENTRY_FRAMES_25 = 26, 20  # in shot C, frames from the shot's start; the slide's length
_TURN_AT_25, _TURN_FRAMES_25 = 12, 40  # in shot D, frames from the shot's start; the turn's length
_TURN_SQUEEZE = 0.62  # horizontal scale of the turning person's crop at the end of shot D
_REPEAT_EVERY = 5


# --- ground truth values -------------------------------------------------------------------------------------------


def _points_eq(a: dict[str, NDArray[np.float32]], b: dict[str, NDArray[np.float32]]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@attrs.frozen(kw_only=True)
class SourceFace:
    """The face found once in a source photo (the largest), in the photo's pixels.

    Attributes
    ----------
    photo
        Sample file name (``"obama.jpg"``...).
    box
        ``(x0, y0, x1, y1)`` pixels of the photo.
    points
        ``(468, 3)`` float32 mesh points (x, y in photo pixels, z relative depth).
    """

    photo: str
    box: Box
    points: NDArray[np.float32] = attrs.field(eq=_ARRAY_EQ, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class FaceInFrame:
    """One person's face as it appears in one frame.

    Attributes
    ----------
    name
        The person: ``"obama"``, ``"biden"`` or ``"astronaut"``.
    photo
        The sample photo the face comes from (``"obama.jpg"`` and ``"obama3.jpg"`` are both ``"obama"``).
    box
        ``(x0, y0, x1, y1)`` in frame pixels, not clipped to the frame (a face entering from the edge has
        ``x1 > width``): the source photo's detected box mapped by :attr:`matrix`.
    visible
        Fraction of the box's area inside the frame, 0-1 (1.0 for a whole face).
    squeeze
        Horizontal scale applied to the person's crop on top of the uniform scale (1.0, or less while turning).
    matrix
        ``(3, 3)`` float64 affine map from the source photo's pixel coordinates to the frame's (both with the origin
        at the top-left corner of the top-left pixel).
    """

    name: str
    photo: str
    box: Box
    visible: float
    squeeze: float = 1.0
    matrix: Affine = attrs.field(eq=_ARRAY_EQ, hash=False, repr=False)

    @property
    def size(self) -> float:
        """The box's width in frame pixels."""
        return self.box[2] - self.box[0]


@attrs.frozen(kw_only=True)
class FrameTruth:
    """Everything known about one frame.

    Attributes
    ----------
    index
        Frame number, from 0.
    shot
        Index into :attr:`EditedClip.shots`.
    gain
        Brightness factor of the fades (1.0 outside them; 0.0 for the black frame).
    repeat_of
        The previous frame's index when this frame is an exact copy of it (before encoding), else ``None``.
    faces
        The faces at least partly inside the frame (none when ``gain == 0``), in drawing order.
    """

    index: int
    shot: int
    gain: float
    repeat_of: int | None
    faces: tuple[FaceInFrame, ...]


@attrs.frozen(kw_only=True)
class Shot:
    """One shot: frames ``start`` to ``stop - 1``.

    Attributes
    ----------
    start, stop
        First frame and one past the last.
    kind
        How the shot begins: ``"first"``, ``"cut"`` (a hard cut) or ``"fade"`` (a fade in from black after the
        previous shot faded out).
    framing
        ``"wide"``, ``"close-up"``, ``"medium"`` or ``"group"``.
    camera
        The camera move, in words.
    photos
        Person name -> the sample photo their face comes from in this shot.
    """

    start: int
    stop: int
    kind: ShotKind
    framing: str
    camera: str
    photos: dict[str, str] = attrs.field(hash=False)

    @property
    def frames(self) -> range:
        """The shot's frame numbers."""
        return range(self.start, self.stop)


@attrs.frozen(kw_only=True)
class Fade:
    """A fade through black between two shots.

    Attributes
    ----------
    out_frames
        The outgoing shot's last ``n`` frames, darkening: frame ``j`` of them is drawn at gain ``(n-1-j)/n``, so the
        last one is black.
    in_frames
        The incoming shot's first ``n`` frames, brightening: gain ``(j+1)/n``, so the last one is at full brightness.

    A repeated frame keeps its original's gain (the level holds for a frame): :attr:`FrameTruth.gain` has each
    frame's.
    """

    out_frames: range
    in_frames: range


@attrs.frozen(kw_only=True)
class Entry:
    """A person who comes into the frame during a shot (sliding in from an edge).

    Attributes
    ----------
    name, photo
        Who, and from which sample photo.
    shot
        Index into :attr:`EditedClip.shots`.
    edge
        The frame edge they come from (``"right"``).
    starts
        First frame of the slide (the person is still wholly outside the frame).
    first_visible
        First frame where part of the face box is inside the frame.
    fully_visible
        First frame where the whole face box is inside the frame.
    settles
        First frame at the final position (the slide is over).
    """

    name: str
    photo: str
    shot: int
    edge: str
    starts: int
    first_visible: int
    fully_visible: int
    settles: int


@attrs.frozen(kw_only=True)
class Turn:
    """A person "turning their head", approximated by squeezing their crop horizontally about the face's centre.

    Attributes
    ----------
    name, photo
        Who, and from which sample photo.
    shot
        Index into :attr:`EditedClip.shots`.
    start
        The last frame at 1.0 (frontal); the squeeze falls smoothly from the next frame on.
    stop
        The first frame at ``squeeze``, which holds to the end of the shot. Each frame's value is in
        :attr:`FaceInFrame.squeeze`.
    squeeze
        The horizontal scale at the end (about ``cos 52``: a head turned some 50 degrees).
    """

    name: str
    photo: str
    shot: int
    start: int
    stop: int
    squeeze: float


@attrs.frozen(kw_only=True)
class EditedClip:
    """Ground truth of a clip written by :func:`make_edited_clip`.

    Attributes
    ----------
    path
        The MP4 file.
    width, height, fps
        Frame size in pixels and frame rate (frames per second).
    lossless
        Whether the video was encoded losslessly (``qp 0``) rather than at crf 18.
    audio
        Whether the file has the 440 Hz AAC stereo tone.
    shots
        The shots in order.
    fades
        The fades through black.
    frames
        One :class:`FrameTruth` per frame.
    entries
        People coming into the frame mid-shot.
    turns
        People turning their heads.
    sources
        Sample photo -> the face found in it, which every :class:`FaceInFrame` box is mapped from.
    """

    path: Path
    width: int
    height: int
    fps: int
    lossless: bool
    audio: bool
    shots: tuple[Shot, ...]
    fades: tuple[Fade, ...]
    frames: tuple[FrameTruth, ...]
    entries: tuple[Entry, ...]
    turns: tuple[Turn, ...]
    sources: dict[str, SourceFace] = attrs.field(hash=False, repr=False)

    @property
    def frame_count(self) -> int:
        """Number of frames."""
        return len(self.frames)

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds."""
        return self.frame_count / self.fps

    @property
    def shot_starts(self) -> list[int]:
        """First frame of each shot (0 first)."""
        return [s.start for s in self.shots]

    @property
    def shot_kinds(self) -> list[str]:
        """``"cut"`` or ``"fade"`` for each shot start after the first."""
        return [s.kind for s in self.shots[1:]]

    @property
    def cut_frames(self) -> list[int]:
        """First frames of the shots that begin with a hard cut."""
        return [s.start for s in self.shots if s.kind == "cut"]

    @property
    def repeats(self) -> list[tuple[int, int]]:
        """``(frame, earlier identical frame)`` for each frame that is an exact copy of the previous one."""
        return [(f.index, f.repeat_of) for f in self.frames if f.repeat_of is not None]

    @property
    def people(self) -> dict[int, list[tuple[str, Box]]]:
        """Frame -> ``[(name, box), ...]`` of every face at least partly inside it (boxes unclipped)."""
        return {f.index: [(face.name, face.box) for face in f.faces] for f in self.frames}

    def faces(self, frame: int, *, min_visible: float = 0.0) -> tuple[FaceInFrame, ...]:
        """The faces in ``frame`` whose visible fraction is at least ``min_visible`` (and above 0)."""
        return tuple(f for f in self.frames[frame].faces if f.visible >= min_visible)

    def face(self, frame: int, name: str) -> FaceInFrame | None:
        """``name``'s face in ``frame``, or ``None`` when they are not in it."""
        return next((f for f in self.frames[frame].faces if f.name == name), None)

    def points(self, frame: int, name: str) -> NDArray[np.float64]:
        """``(468, 2)`` mesh points of ``name``'s face in ``frame``, in frame pixels (the source mesh, mapped).

        Raises
        ------
        KeyError
            ``name`` is not in ``frame``.
        """
        face = self.face(frame, name)
        if face is None:
            raise KeyError(f"{name!r} is not in frame {frame}")
        return _apply(face.matrix, self.sources[face.photo].points[:, :2].astype(np.float64))

    def shot_of(self, frame: int) -> Shot:
        """The shot ``frame`` belongs to."""
        return self.shots[self.frames[frame].shot]


# --- geometry ------------------------------------------------------------------------------------------------------


def _affine(sx: float = 1.0, sy: float | None = None, tx: float = 0.0, ty: float = 0.0) -> Affine:
    """``(x, y) -> (sx * x + tx, sy * y + ty)`` as a 3x3 matrix."""
    return np.array([[sx, 0.0, tx], [0.0, sx if sy is None else sy, ty], [0.0, 0.0, 1.0]])


def _apply(m: Affine, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(N, 2)`` points mapped by ``m``."""
    return np.asarray(xy @ m[:2, :2].T + m[:2, 2], dtype=np.float64)


def _map_box(m: Affine, box: Box) -> Box:
    """The bounding box of ``box`` mapped by ``m`` (exact for the maps used here: no rotation)."""
    x0, y0, x1, y1 = box
    corners = _apply(m, np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], dtype=np.float64))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _visible(box: Box, width: int, height: int) -> float:
    """Fraction of ``box``'s area inside a ``width`` x ``height`` frame."""
    x0, y0, x1, y1 = box
    inside = max(0.0, min(x1, width) - max(x0, 0.0)) * max(0.0, min(y1, height) - max(y0, 0.0))
    return inside / max((x1 - x0) * (y1 - y0), 1e-9)


def _warp_matrix(m: Affine) -> NDArray[np.float64]:
    """The 2x3 matrix for ``cv2.warpAffine`` (whose pixel centres sit at integer coordinates) of ``m``."""
    half = _affine(tx=0.5, ty=0.5)
    return np.asarray((np.linalg.inv(half) @ m @ half)[:2], dtype=np.float64)


def _ease(v: float) -> float:
    """Smoothstep on [0, 1] (clamped)."""
    v = min(max(v, 0.0), 1.0)
    return v * v * (3.0 - 2.0 * v)


# --- sources -------------------------------------------------------------------------------------------------------


@functools.cache
def _source_face(name: str) -> SourceFace:
    """The face in a sample photo, found once per process (the only face detection the builder does)."""
    meshes = photos.meshes(name)
    if not meshes:
        raise RuntimeError(f"no face found in the sample {name}")
    mesh = meshes[0]  # largest first; each photo used here holds one face
    box = tuple(float(v) for v in mesh.face.box)
    points = np.array(mesh.points, dtype=np.float32)
    points.setflags(write=False)
    return SourceFace(photo=name, box=(box[0], box[1], box[2], box[3]), points=points)


def source_faces() -> dict[str, SourceFace]:
    """The face of each sample photo the clip uses, found once per process with ``analyze(model="auto")``."""
    return {name: _source_face(name) for name in PERSON_OF_PHOTO}


def _centre(box: Box) -> tuple[float, float]:
    """``(x, y)`` centre of a box."""
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


# --- layers and rendering ------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Layer:
    """An image drawn into the frames (a resized crop of a photo, or a backdrop) and its photo -> image map.

    ``image`` is uint8 RGB for an opaque layer (drawn first, covering the frame; its edges reflect), else
    premultiplied float32 RGBA.
    """

    image: NDArray[np.uint8] | NDArray[np.float32] = attrs.field(eq=_ARRAY_EQ)
    from_photo: Affine = attrs.field(eq=_ARRAY_EQ)
    photo: str | None

    @property
    def opaque(self) -> bool:
        """Whether the layer covers the frame (uint8 RGB) rather than blending (RGBA)."""
        return bool(self.image.shape[2] == 3)


def _feathered_alpha(h: int, w: int, feather: float) -> NDArray[np.float32]:
    """An ``(h, w)`` alpha mask rising from 0 at the edges to 1 over ``feather`` pixels."""
    ys = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / max(feather, 1e-6)
    xs = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / max(feather, 1e-6)
    return np.asarray(np.clip(np.minimum.outer(ys, xs), 0.0, 1.0), dtype=np.float32)


def _photo_layer(photo: str, crop: Box | None, scale: float, feather: float) -> _Layer:
    """A crop (``(x0, y0, x1, y1)`` photo pixels, ``None`` for all) resized by ``scale`` (at most 1; the warp
    enlarges), with its edges faded over ``feather`` pixels (0 for none)."""
    img = photos.photo(photo)
    ph, pw = img.shape[:2]
    x0, y0, x1, y1 = (0, 0, pw, ph) if crop is None else (int(crop[0]), int(crop[1]), int(crop[2]), int(crop[3]))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, pw), min(y1, ph)
    part = img[y0:y1, x0:x1]
    s = min(scale, 1.0)
    w, h = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    small = part
    if (w, h) != (x1 - x0, y1 - y0):
        small = np.asarray(cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    from_photo = _affine(w / (x1 - x0), h / (y1 - y0)) @ _affine(tx=-x0, ty=-y0)
    if feather <= 0:
        return _Layer(image=np.ascontiguousarray(small), from_photo=from_photo, photo=photo)
    alpha = _feathered_alpha(h, w, feather)
    rgba = np.empty((h, w, 4), dtype=np.float32)
    rgba[..., :3] = small.astype(np.float32) * alpha[..., None]
    rgba[..., 3] = alpha
    return _Layer(image=rgba, from_photo=from_photo, photo=photo)


def _backdrop(width: int, height: int, s: float, tint: tuple[float, float, float], *, floor: bool) -> _Layer:
    """A stage backdrop covering world x from ``-0.25 * width`` to ``1.25 * width``: curtain folds (vertical
    stripes with uneven shading), a warm spotlight, optionally a wooden floor."""
    x0 = -0.25 * width
    w, h = round(1.5 * width), height
    x = (np.arange(w) + 0.5 + x0)[None, :]
    y = (np.arange(h) + 0.5)[:, None]
    period = 34.0 * s
    folds = 0.5 + 0.5 * np.sin(2 * np.pi * x / period + 0.8 * np.sin(2 * np.pi * x / (5.3 * period)))
    shade = 0.35 + 0.65 * folds**0.6
    light = 0.55 + 0.45 * np.exp(-(((x - 0.5 * width) / (0.45 * width)) ** 2) - ((y - 0.3 * height) / height) ** 2)
    rgb = np.stack([shade * light * c for c in tint], axis=-1) * np.ones((h, 1, 1))
    if floor:
        top = 0.86 * height
        board = 0.8 + 0.2 * np.sin(2 * np.pi * x / (9.0 * s)) ** 8
        wood = np.stack([c * board * np.ones_like(y) for c in (118.0, 84.0, 52.0)], axis=-1)
        depth = np.clip((y - top) / (height - top), 0.0, 1.0)[..., None]
        wood = wood * (0.6 + 0.4 * depth)
        rgb = np.where((y >= top)[..., None], wood, rgb)
    blurred = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.2 * s)
    image = np.asarray(np.clip(blurred + 0.5, 0, 255), dtype=np.uint8)
    return _Layer(image=image, from_photo=_affine(tx=-x0), photo=None)


@attrs.frozen(kw_only=True)
class _Placed:
    """A layer in one frame: its photo -> frame map, the horizontal squeeze in it, and whether to draw it (a person
    already drawn into a flattened layer is placed again, undrawn, for the ground truth)."""

    layer: _Layer
    to_frame: Affine = attrs.field(eq=_ARRAY_EQ)
    squeeze: float = 1.0
    draw: bool = True


def _draw(out: NDArray[np.uint8], layer: _Layer, m: Affine) -> NDArray[np.uint8]:
    """``out`` with ``layer`` drawn on it through the image -> frame map ``m`` (an opaque layer replaces it)."""
    height, width = out.shape[:2]
    if layer.opaque:
        return np.asarray(cv2.warpAffine(layer.image, _warp_matrix(m), (width, height), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT), dtype=np.uint8)
    # Only the layer's bounding rectangle in the frame is warped and blended.
    h, w = layer.image.shape[:2]
    bx0, by0, bx1, by1 = _map_box(m, (0.0, 0.0, float(w), float(h)))
    x0, y0 = max(0, math.floor(bx0)), max(0, math.floor(by0))
    x1, y1 = min(width, math.ceil(bx1)), min(height, math.ceil(by1))
    if x1 > x0 and y1 > y0:
        warped = cv2.warpAffine(layer.image, _warp_matrix(_affine(tx=-x0, ty=-y0) @ m), (x1 - x0, y1 - y0),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        roi = out[y0:y1, x0:x1].astype(np.float32)
        roi *= 1.0 - warped[..., 3:4]
        roi += warped[..., :3]
        out[y0:y1, x0:x1] = cv2.convertScaleAbs(roi)  # rounds and saturates to uint8
    return out


def _render(placed: list[_Placed], width: int, height: int, gain: float) -> tuple[NDArray[np.uint8], list[FaceInFrame]]:
    """Draw the layers in order (the first one opaque) and list the faces they bring into the frame."""
    out = np.zeros((height, width, 3), dtype=np.uint8)
    faces: list[FaceInFrame] = []
    for p in placed:
        if p.draw:
            out = _draw(out, p.layer, p.to_frame @ np.linalg.inv(p.layer.from_photo))
        if p.layer.photo is not None and gain > 0:
            box = _map_box(p.to_frame, _source_face(p.layer.photo).box)
            visible = _visible(box, width, height)
            if visible > 0:
                faces.append(FaceInFrame(name=PERSON_OF_PHOTO[p.layer.photo], photo=p.layer.photo, box=box,
                                         visible=visible, squeeze=p.squeeze, matrix=p.to_frame))
    if gain != 1.0:
        out = np.asarray(cv2.convertScaleAbs(out, alpha=gain), dtype=np.uint8)
    return out, faces


def _flatten(placed: list[_Placed], width: int, height: int) -> _Layer:
    """The layers (placed in world coordinates, the first one a backdrop) drawn once into one opaque layer covering
    world x from ``-0.25 * width`` to ``1.25 * width``, for shots where they keep still relative to each other."""
    to_canvas = _affine(tx=0.25 * width)
    image, _ = _render([attrs.evolve(p, to_frame=to_canvas @ p.to_frame) for p in placed], round(1.5 * width),
                       height, 1.0)
    return _Layer(image=image, from_photo=to_canvas, photo=None)


# --- the four shots ------------------------------------------------------------------------------------------------

ShotRenderer = Callable[[int], list[_Placed]]


def _place(face: SourceFace, size: float, centre: tuple[float, float]) -> Affine:
    """Photo -> world map that makes the face box ``size`` pixels wide, centred on ``centre``."""
    k = size / (face.box[2] - face.box[0])
    cx, cy = _centre(face.box)
    return _affine(k, k, centre[0] - k * cx, centre[1] - k * cy)


def _shot_a(width: int, height: int, n: int) -> ShotRenderer:
    """Wide: obama3.jpg small on a stage, standing on the floor; the camera pans right."""
    s = height / 360
    face = _source_face("obama3.jpg")
    size = 44.0 * s
    k = size / (face.box[2] - face.box[0])
    ph = photos.photo("obama3.jpg").shape[0]
    cx, _ = _centre(face.box)
    place = _affine(k, k, 0.42 * width - k * cx, 0.975 * height - k * ph)
    stage = _backdrop(width, height, s, (150.0, 28.0, 34.0), floor=True)
    person = _photo_layer("obama3.jpg", None, k, 2.5 * s)
    scene = _flatten([_Placed(layer=stage, to_frame=_affine()), _Placed(layer=person, to_frame=place)], width, height)

    def frame(j: int) -> list[_Placed]:
        pan = (-0.05 + 0.10 * j / max(n - 1, 1)) * width
        camera = _affine(tx=-pan)
        return [_Placed(layer=scene, to_frame=camera), _Placed(layer=person, to_frame=camera @ place, draw=False)]

    return frame


def _shot_b(width: int, height: int, n: int) -> ShotRenderer:
    """Close-up: biden.jpg filling the frame, the camera zooms in slowly (x1.12) on the face."""
    face = _source_face("biden.jpg")
    ph, pw = photos.photo("biden.jpg").shape[:2]
    k0 = max(width / pw, height / ph) * 1.001
    fx, fy = _centre(face.box)
    layer = _photo_layer("biden.jpg", None, k0 * 1.12, 0.0)

    def frame(j: int) -> list[_Placed]:
        k = k0 * (1.0 + 0.12 * j / max(n - 1, 1))
        half_w, half_h = width / (2 * k), height / (2 * k)
        cx = min(max(fx, half_w), pw - half_w)
        cy = min(max(fy + 0.05 * (face.box[3] - face.box[1]), half_h), ph - half_h)
        return [_Placed(layer=layer, to_frame=_affine(k, k, width / 2 - k * cx, height / 2 - k * cy))]

    return frame


def _shot_c(width: int, height: int, n: int, entry_at: int, entry_frames: int) -> ShotRenderer:
    """Medium: obama.jpg on the left of a stage, the camera pushes in slightly; the astronaut slides in from the
    right edge over ``entry_frames`` frames from frame ``entry_at`` of the shot."""
    s = height / 360
    obama, astro = _source_face("obama.jpg"), _source_face("astronaut.png")
    stage = _backdrop(width, height, s, (120.0, 30.0, 40.0), floor=True)
    place_obama = _place(obama, 116.0 * s, (0.30 * width, 0.30 * height))
    place_astro = _place(astro, 90.0 * s, (0.76 * width, 0.31 * height))
    obama_layer = _photo_layer("obama.jpg", None, place_obama[0, 0], 4.0 * s)
    astro_layer = _photo_layer("astronaut.png", (60, 0, 420, 512), place_astro[0, 0], 4.0 * s)
    crop_left = place_astro[0, 0] * 60 + place_astro[0, 2]
    offstage = width - crop_left + 2.0 * s  # the slide starts with the crop's left edge just past the frame's right
    scene = _flatten([_Placed(layer=stage, to_frame=_affine()), _Placed(layer=obama_layer, to_frame=place_obama)],
                     width, height)

    def frame(j: int) -> list[_Placed]:
        zoom = 1.0 + 0.04 * j / max(n - 1, 1)
        camera = _affine(zoom, zoom, (1 - zoom) * width / 2, (1 - zoom) * height / 2)
        v = (j - entry_at) / entry_frames
        slide = _affine(tx=offstage * (1.0 - _ease(v)))
        return [
            _Placed(layer=scene, to_frame=camera),
            _Placed(layer=obama_layer, to_frame=camera @ place_obama, draw=False),
            _Placed(layer=astro_layer, to_frame=camera @ slide @ place_astro),
        ]

    return frame


def _shot_d(width: int, height: int, n: int, turn_at: int, turn_frames: int) -> ShotRenderer:
    """Group: obama3, biden and the astronaut side by side on a studio backdrop at different sizes, the camera
    pans left; biden's crop is squeezed horizontally over ``turn_frames`` frames from frame ``turn_at`` of the shot."""
    s = height / 360
    o3, bi, astro = _source_face("obama3.jpg"), _source_face("biden.jpg"), _source_face("astronaut.png")
    backdrop = _backdrop(width, height, s, (40.0, 70.0, 125.0), floor=False)
    place_o3 = _place(o3, 88.0 * s, (0.20 * width, 0.37 * height))
    place_bi = _place(bi, 108.0 * s, (0.50 * width, 0.36 * height))
    place_as = _place(astro, 76.0 * s, (0.79 * width, 0.39 * height))
    layers = {
        "obama3.jpg": _photo_layer("obama3.jpg", (470, 140, 1100, 1500), place_o3[0, 0], 3.0 * s),
        "astronaut.png": _photo_layer("astronaut.png", (90, 0, 380, 512), place_as[0, 0], 3.0 * s),
        "biden.jpg": _photo_layer("biden.jpg", (280, 80, 900, 1400), place_bi[0, 0], 3.0 * s),
    }
    scene = _flatten([
        _Placed(layer=backdrop, to_frame=_affine()),
        _Placed(layer=layers["obama3.jpg"], to_frame=place_o3),
        _Placed(layer=layers["astronaut.png"], to_frame=place_as),
    ], width, height)
    axis = 0.50 * width  # biden's face centre in the world: the squeeze keeps it in place

    def frame(j: int) -> list[_Placed]:
        pan = (0.04 - 0.08 * j / max(n - 1, 1)) * width
        camera = _affine(tx=-pan)
        e = _ease((j - turn_at) / turn_frames)
        squeeze = _TURN_SQUEEZE if e >= 1.0 else 1.0 - (1.0 - _TURN_SQUEEZE) * e
        turn = _affine(squeeze, 1.0, axis * (1.0 - squeeze), 0.0)
        return [
            _Placed(layer=scene, to_frame=camera),
            _Placed(layer=layers["obama3.jpg"], to_frame=camera @ place_o3, draw=False),
            _Placed(layer=layers["astronaut.png"], to_frame=camera @ place_as, draw=False),
            _Placed(layer=layers["biden.jpg"], to_frame=camera @ turn @ place_bi, squeeze=squeeze),
        ]

    return frame


# --- writing -------------------------------------------------------------------------------------------------------


def _scaled(frames_25: int, fps: int) -> int:
    """A frame count given at 25 fps, at ``fps`` (at least 1)."""
    return max(1, round(frames_25 * fps / 25))


def _timeline(fps: int) -> tuple[list[int], int, int, int, int, int]:
    """Shot lengths, fade length, entry start and length (in shot C), turn start and length (in shot D), at
    ``fps``."""
    lengths = [_scaled(n, fps) for n in _SHOT_FRAMES_25]
    return (lengths, _scaled(_FADE_FRAMES_25, fps), _scaled(_ENTRY_AT_25, fps), _scaled(_ENTRY_FRAMES_25, fps),
            _scaled(_TURN_AT_25, fps), _scaled(_TURN_FRAMES_25, fps))


def make_edited_clip(
    path: Path,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    audio: bool = True,
    lossless: bool = False,
) -> EditedClip:
    """Write the edited test clip (8 s at 25 fps) and return its ground truth.

    Parameters
    ----------
    path
        The MP4 file to write (overwritten).
    width, height
        Frame size in pixels, both even (yuv420p); at least 320x180. Sizes in the layout scale with ``height``
        (the numbers in the module docstring are for 360), positions with both; 16:9 looks as designed.
    fps
        Frame rate; the timeline's frame counts (given at 25 fps in the module docstring) scale by ``fps / 25``.
    audio
        Add a 440 Hz sine tone in AAC (44.1 kHz stereo) for the clip's length.
    lossless
        Encode with ``qp 0`` (yuv420p, so the only loss is the RGB -> YUV 4:2:0 conversion): decoded repeats are then
        bit-exact copies of their originals. The default, crf 18, leaves them within about a grey level.

    Returns
    -------
    EditedClip
        The ground truth: shots, fades, repeats, the entering and the turning person, and every face box per frame.

    Raises
    ------
    ValueError
        An odd or too small frame size, or ``fps`` under 5.

    Examples
    --------
    >>> clip = make_edited_clip(tmp_path / "edited.mp4")                          # doctest: +SKIP
    >>> clip.shot_starts, clip.shot_kinds                                         # doctest: +SKIP
    ([0, 38, 76, 141], ['cut', 'cut', 'fade'])
    """
    if width % 2 or height % 2 or width < 320 or height < 180:
        raise ValueError(f"the frame size must be even and at least 320x180, got {width}x{height}")
    if fps < 5:
        raise ValueError(f"fps must be at least 5, got {fps}")
    lengths, fade_n, entry_at, entry_n, turn_at, turn_n = _timeline(fps)
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    total = sum(lengths)
    renderers = [
        _shot_a(width, height, lengths[0]),
        _shot_b(width, height, lengths[1]),
        _shot_c(width, height, lengths[2], entry_at, entry_n),
        _shot_d(width, height, lengths[3], turn_at, turn_n),
    ]
    shots = (
        Shot(start=starts[0], stop=starts[1], kind="first", framing="wide", camera="slow pan right",
             photos={"obama": "obama3.jpg"}),
        Shot(start=starts[1], stop=starts[2], kind="cut", framing="close-up", camera="slow zoom in",
             photos={"biden": "biden.jpg"}),
        Shot(start=starts[2], stop=starts[3], kind="cut", framing="medium", camera="slight push in",
             photos={"obama": "obama.jpg", "astronaut": "astronaut.png"}),
        Shot(start=starts[3], stop=total, kind="fade", framing="group", camera="slow pan left",
             photos={"obama": "obama3.jpg", "biden": "biden.jpg", "astronaut": "astronaut.png"}),
    )
    fade = Fade(out_frames=range(starts[3] - fade_n, starts[3]), in_frames=range(starts[3], starts[3] + fade_n))

    def gain(i: int) -> float:
        if i in fade.out_frames:
            return (fade.out_frames.stop - 1 - i) / fade_n
        if i in fade.in_frames:
            return (i - fade.in_frames.start + 1) / fade_n
        return 1.0

    def frames() -> Iterator[tuple[NDArray[np.uint8], FrameTruth]]:
        image: NDArray[np.uint8] | None = None
        truth: FrameTruth | None = None
        for i in range(total):
            shot = max(k for k, st in enumerate(starts) if st <= i)
            if image is not None and truth is not None and i % _REPEAT_EVERY == _REPEAT_EVERY - 1 and i != starts[shot]:
                truth = attrs.evolve(truth, index=i, repeat_of=i - 1)
            else:
                g = gain(i)
                image, faces = _render(renderers[shot](i - starts[shot]), width, height, g)
                truth = FrameTruth(index=i, shot=shot, gain=g, repeat_of=None, faces=tuple(faces))
            yield image, truth

    truths: list[FrameTruth] = []
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "qp": "0"} if lossless else {"preset": "ultrafast", "crf": "18"}
        as_ = None
        if audio:
            as_ = out.add_stream("aac", rate=44100)
            as_.layout = "stereo"
        for image, truth in frames():
            truths.append(truth)
            for packet in vs.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if as_ is not None:
            write_tone(out, as_, total / fps)

    astro = [t for t in truths if t.shot == 2 and any(f.name == "astronaut" for f in t.faces)]
    entry = Entry(
        name="astronaut", photo="astronaut.png", shot=2, edge="right", starts=starts[2] + entry_at,
        settles=next(t.index for t in truths[starts[2] + entry_at + entry_n:] if t.repeat_of is None),
        first_visible=astro[0].index,
        fully_visible=next(t.index for t in astro if any(f.name == "astronaut" and f.visible >= 1.0 for f in t.faces)),
    )
    turned = (t.index for t in truths[starts[3]:] if any(f.name == "biden" and f.squeeze <= _TURN_SQUEEZE
                                                          for f in t.faces))
    turn = Turn(name="biden", photo="biden.jpg", shot=3, start=starts[3] + turn_at, stop=next(turned),
                squeeze=_TURN_SQUEEZE)
    return EditedClip(
        path=path, width=width, height=height, fps=fps, lossless=lossless, audio=audio, shots=shots, fades=(fade,),
        frames=tuple(truths), entries=(entry,), turns=(turn,), sources=source_faces(),
    )
