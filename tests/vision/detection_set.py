"""A labelled photo set for face detection, built deterministically from the sample photos.

Each face of the five sample photos (:mod:`fusionkit.samples`) is found once, in the original photo, with
``fusionkit.vision.analyze(rgb, model="auto")``; its reference box is the x/y extent of its 468-point mesh
(forehead to chin, cheek to cheek), not the detector's box, so that the labels do not copy the conventions of the
detector under test. Every image of the set is then made from the photos by crops, resizes, mirroring and
pasting onto backgrounds, and the boxes are carried through the same transforms: no image is labelled by a
detector run on it.

The set (:func:`detection_set`), by kind:

- ``"portrait"``: the four one-face sample photos as they are;
- ``"rescaled"``: one photo shrunk or enlarged so that its face is 34 to 1500 px wide, alone (thumbnails) or
  pasted onto a larger blurred background (1920 x 1080, and one 8000 x 4500 image);
- ``"crop"``: a face at an edge or a corner of a crop, cut off by up to 15 % of its box, or filling the crop;
- ``"group"``: ``two_people.jpg`` and composites of head-and-shoulders crops of the six sample faces (mirrored
  copies too) at different sizes on a blurred background, like group photos: 6 faces of 60-120 px in
  1280 x 886, two faces of 210 px and one of 70 px in 2000 x 1428, 10 faces of 34-200 px in 1920 x 1080,
  12 faces of 40-160 px in 3840 x 2160 and 6 faces of 60-400 px in 8000 x 4500;
- ``"negative"``: no face: background crops of the photos (curtains, flags, windows, a chandelier, a model
  shuttle), suits and ties with crossed arms, textures tiled from them, the backgrounds enlarged to
  1920 x 1080, a colour gradient and noise.

A face is labelled when at least :data:`MIN_INSIDE` (80 %) of its box lies in the image; its box is then clipped
to the image. The crops are chosen so that no face is cut more than that without being cut out entirely (building
the set fails otherwise), so a detection of a visible face is never counted as a false face.

Use :func:`match` to score a detector's boxes against the labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import attrs
import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from tests.photos import meshes as photo_meshes
from tests.photos import photo

__all__ = ["KINDS", "MIN_INSIDE", "LabelledImage", "detection_set", "match", "missed_faces", "reference_faces"]

#: The kinds of image in the set.
KINDS = ("portrait", "rescaled", "crop", "group", "negative")
#: The share of a face's box (0-1) that must lie inside an image for the face to be labelled.
MIN_INSIDE = 0.8
#: Faces per sample photo (see fusionkit/samples/PROVENANCE.md).
_FACES_PER_PHOTO = {"astronaut.png": 1, "obama.jpg": 1, "obama3.jpg": 1, "biden.jpg": 1, "two_people.jpg": 2}
#: A face cut to more than this share of its box but less than MIN_INSIDE is ambiguous: crops must avoid it.
_NEGLIGIBLE = 0.02
#: Around each face, the margin (share of the box's width and height) that a negative crop must keep clear of,
#: for the hair and ears outside the mesh's extent.
_CLEAR = 0.15

_ARRAY_EQ = attrs.cmp_using(eq=np.array_equal)


def _read_only_image(value: ArrayLike) -> NDArray[np.uint8]:
    arr = np.ascontiguousarray(value)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {arr.dtype} {arr.shape}")
    arr.setflags(write=False)
    return arr


def _read_only_boxes(value: ArrayLike) -> NDArray[np.float32]:
    arr = np.array(value, dtype=np.float32).reshape(-1, 4)
    arr.setflags(write=False)
    return arr


@attrs.frozen(kw_only=True)
class LabelledImage:
    """One image of the set and its true face boxes.

    Attributes
    ----------
    name
        A unique, descriptive name (source photo, transform, face width in px, image size).
    image
        RGB uint8 ``(H, W, 3)``, read-only.
    faces
        ``(K, 4)`` float32 true face boxes ``x0, y0, x1, y1`` in pixels (the mesh's extent, clipped to the
        image), left to right; ``K`` is 0 for a negative.
    kind
        One of :data:`KINDS`.
    """

    name: str
    image: NDArray[np.uint8] = attrs.field(converter=_read_only_image, eq=_ARRAY_EQ)
    faces: NDArray[np.float32] = attrs.field(converter=_read_only_boxes, eq=_ARRAY_EQ)
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))

    @faces.validator
    def _check_faces(self, _: attrs.Attribute[NDArray[np.float32]], value: NDArray[np.float32]) -> None:
        h, w = self.image.shape[:2]
        ok = (value[:, 0] >= 0) & (value[:, 1] >= 0) & (value[:, 2] <= w) & (value[:, 3] <= h)
        if not np.all(ok & (value[:, 2] > value[:, 0]) & (value[:, 3] > value[:, 1])):
            raise ValueError(f"{self.name}: face boxes outside the {w} x {h} image: {value.tolist()}")

    @property
    def face_widths(self) -> NDArray[np.float32]:
        """Width of each true face box in pixels, ``(K,)``."""
        return self.faces[:, 2] - self.faces[:, 0]

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the image in pixels."""
        return self.image.shape[1], self.image.shape[0]


@attrs.frozen(kw_only=True)
class _Piece:
    """An image and its face boxes ``(K, 4)`` in pixels, on its way through the transforms."""

    image: NDArray[np.uint8]
    faces: NDArray[np.float32]

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _mesh_box(points: NDArray[np.float32], w: int, h: int) -> NDArray[np.float32]:
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return np.array([max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)], np.float32)


@functools.cache
def _photo(name: str) -> _Piece:
    """A sample photo and its reference face boxes (mesh extents), left to right; decoded and analysed once."""
    rgb = photo(name)
    n = _FACES_PER_PHOTO[name]
    meshes = photo_meshes(name)[:n]  # largest first: a spurious extra detection would be smaller
    if len(meshes) < n:
        raise RuntimeError(f"{name}: expected {n} face(s), analyze(model='auto') found {len(meshes)}")
    h, w = rgb.shape[:2]
    boxes = sorted((_mesh_box(m.points, w, h) for m in meshes), key=lambda b: float(b[0]))
    faces = np.stack(boxes)
    faces.setflags(write=False)
    return _Piece(image=rgb, faces=faces)


def reference_faces() -> dict[str, NDArray[np.float32]]:
    """The reference face boxes of each sample photo, ``{file name: (K, 4) x0, y0, x1, y1}`` in pixels.

    They are the x/y extents of the face meshes found by ``analyze(rgb, model="auto")`` in the original photos,
    left to right; every label of the set derives from them.
    """
    return {name: _photo(name).faces for name in _FACES_PER_PHOTO}


def _crop(piece: _Piece, x0: float, y0: float, x1: float, y1: float) -> _Piece:
    """Cut out ``[x0, x1) x [y0, y1)`` (pixels, rounded, within the image); keep the faces at least
    :data:`MIN_INSIDE` inside, clipped, and refuse a crop that cuts a face less than that but not away."""
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    x1, y1 = min(piece.width, round(x1)), min(piece.height, round(y1))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty crop {x0, y0, x1, y1}")
    boxes = piece.faces - np.array([x0, y0, x0, y0], np.float32)
    clipped = np.clip(boxes, 0, [x1 - x0, y1 - y0, x1 - x0, y1 - y0]).astype(np.float32)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
    share = inside / area
    keep = share >= MIN_INSIDE
    if np.any((share > _NEGLIGIBLE) & ~keep):
        raise ValueError(f"crop {x0, y0, x1, y1} cuts a face to {share.tolist()} of its box")
    return _Piece(image=np.ascontiguousarray(piece.image[y0:y1, x0:x1]), faces=clipped[keep])


def _resize(piece: _Piece, width: int, height: int) -> _Piece:
    """Resize to ``width`` x ``height`` pixels (area averaging down, bilinear up), boxes scaled alike."""
    sx, sy = width / piece.width, height / piece.height
    interp = cv2.INTER_AREA if sx * sy < 1 else cv2.INTER_LINEAR
    image = np.asarray(cv2.resize(piece.image, (width, height), interpolation=interp), dtype=np.uint8)
    return _Piece(image=image, faces=(piece.faces * np.array([sx, sy, sx, sy], np.float32)).astype(np.float32))


def _scale(piece: _Piece, factor: float) -> _Piece:
    """Resize by ``factor`` (the same on both axes, up to rounding to whole pixels)."""
    return _resize(piece, max(1, round(piece.width * factor)), max(1, round(piece.height * factor)))


def _mirror(piece: _Piece) -> _Piece:
    """Mirror left to right."""
    w = piece.width
    faces = np.stack([w - piece.faces[:, 2], piece.faces[:, 1], w - piece.faces[:, 0], piece.faces[:, 3]], axis=1)
    return _Piece(image=np.ascontiguousarray(piece.image[:, ::-1]), faces=faces[::-1].astype(np.float32))


def _face_width(name: str, index: int = 0) -> float:
    box = _photo(name).faces[index]
    return float(box[2] - box[0])


def _scaled(name: str, face_width: float, max_w: int | None = None, max_h: int | None = None) -> _Piece:
    """A sample photo scaled so that its (first) face is ``face_width`` px wide, cut first to at most
    ``max_w`` x ``max_h`` output pixels around the face (the face 45 % down the window) so that nothing
    larger than needed is resized."""
    photo = _photo(name)
    factor = face_width / _face_width(name)
    x0, y0, x1, y1 = (float(v) for v in photo.faces[0])
    ww = min(photo.width, int((max_w or 10**9) / factor))  # rounded down: the result fits max_w x max_h
    wh = min(photo.height, int((max_h or 10**9) / factor))
    left = round(min(max(0.0, (x0 + x1) / 2 - ww / 2), photo.width - ww))
    top = round(min(max(0.0, (y0 + y1) / 2 - 0.45 * wh), photo.height - wh))
    window = _crop(photo, left, top, left + ww, top + wh)
    return _scale(window, factor)


def _head(name: str, face_width: float, index: int = 0, mirror: bool = False) -> _Piece:
    """A head-and-shoulders crop of face ``index`` of a sample photo (2.4 face widths wide, from half a face
    width above the forehead to 0.9 below the chin), scaled so that the face is ``face_width`` px wide."""
    photo = _photo(name)
    x0, y0, x1, y1 = (float(v) for v in photo.faces[index])
    fw, cx = x1 - x0, (x0 + x1) / 2
    piece = _scale(_crop(photo, cx - 1.2 * fw, y0 - 0.5 * fw, cx + 1.2 * fw, y1 + 0.9 * fw), face_width / fw)
    return _mirror(piece) if mirror else piece


#: Face-free regions of the photos ``(photo, x0, y0, x1, y1)``, pixels; checked against the faces when used.
_BACKGROUNDS = {
    "obama_curtain_left": ("obama.jpg", 0, 0, 330, 560),
    "obama_window_right": ("obama.jpg", 680, 0, 910, 620),
    "obama_curtain_wide": ("obama.jpg", 0, 0, 330, 186),
    "obama3_chandelier": ("obama3.jpg", 0, 0, 560, 315),
    "obama3_curtain_right": ("obama3.jpg", 1150, 100, 1434, 1300),
    "biden_curtain": ("biden.jpg", 0, 0, 370, 520),
    "biden_curtain_wide": ("biden.jpg", 0, 0, 370, 208),
    "astronaut_flag": ("astronaut.png", 0, 0, 140, 512),
    "astronaut_shuttle": ("astronaut.png", 390, 0, 512, 340),
    "obama_suit": ("obama.jpg", 200, 470, 800, 1100),
    "biden_suit": ("biden.jpg", 100, 640, 960, 1500),
}


def _background(region: str) -> NDArray[np.uint8]:
    """The pixels of a face-free region of :data:`_BACKGROUNDS`, after checking that it is clear of every face
    box grown by :data:`_CLEAR` on each side."""
    name, x0, y0, x1, y1 = _BACKGROUNDS[region]
    photo = _photo(name)
    for bx0, by0, bx1, by1 in photo.faces.tolist():
        mx, my = _CLEAR * (bx1 - bx0), _CLEAR * (by1 - by0)
        if bx0 - mx < x1 and x0 < bx1 + mx and by0 - my < y1 and y0 < by1 + my:
            raise ValueError(f"background {region} {x0, y0, x1, y1} overlaps a face of {name}")
    return np.ascontiguousarray(photo.image[y0:y1, x0:x1])


def _backdrop(region: str, width: int, height: int) -> NDArray[np.uint8]:
    """A blurred background region enlarged to ``width`` x ``height`` px (blurred small, then enlarged: cheap
    even for 8000 px)."""
    small = cv2.resize(_background(region), (64, max(1, round(64 * height / width))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 2.0)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


@attrs.define
class _Canvas:
    """A background that pieces are pasted onto without overlapping."""

    image: NDArray[np.uint8]
    faces: list[NDArray[np.float32]] = attrs.field(factory=list)
    taken: list[tuple[int, int, int, int]] = attrs.field(factory=list)

    @classmethod
    def blurred(cls, region: str, width: int, height: int) -> _Canvas:
        return cls(image=_backdrop(region, width, height))

    def free(self, x: int, y: int, w: int, h: int, gap: int = 0) -> bool:
        """Whether ``[x, x + w) x [y, y + h)`` lies in the canvas, ``gap`` px clear of every pasted piece."""
        ch, cw = self.image.shape[:2]
        if x < 0 or y < 0 or x + w > cw or y + h > ch:
            return False
        return all(
            x + w + gap <= tx0 or tx1 + gap <= x or y + h + gap <= ty0 or ty1 + gap <= y
            for tx0, ty0, tx1, ty1 in self.taken
        )

    def paste(self, piece: _Piece, x: int, y: int) -> None:
        """Paste ``piece`` with its top-left corner at ``(x, y)`` px."""
        if not self.free(x, y, piece.width, piece.height):
            raise ValueError(f"a {piece.width} x {piece.height} piece does not fit at {x, y}")
        self.image[y : y + piece.height, x : x + piece.width] = piece.image
        self.taken.append((x, y, x + piece.width, y + piece.height))
        self.faces.append(piece.faces + np.array([x, y, x, y], np.float32))

    def scatter(self, pieces: Sequence[_Piece], seed: int, gap: int = 12) -> None:
        """Paste the pieces at random (seeded) free places, largest first."""
        rng = np.random.default_rng(seed)
        ch, cw = self.image.shape[:2]
        for piece in sorted(pieces, key=lambda p: -p.width * p.height):
            for _ in range(5000):
                x = int(rng.integers(0, cw - piece.width + 1))
                y = int(rng.integers(0, ch - piece.height + 1))
                if self.free(x, y, piece.width, piece.height, gap):
                    self.paste(piece, x, y)
                    break
            else:
                raise RuntimeError(f"no room for a {piece.width} x {piece.height} piece")

    def labelled(self, name: str, kind: str) -> LabelledImage:
        faces = np.concatenate([*self.faces, np.zeros((0, 4), np.float32)])
        faces = faces[np.argsort(faces[:, 0], kind="stable")]
        return LabelledImage(name=name, image=self.image, faces=faces, kind=kind)


def _image(name: str, piece: _Piece, kind: str) -> LabelledImage:
    return LabelledImage(name=name, image=piece.image, faces=piece.faces, kind=kind)


def _negative(name: str, image: NDArray[np.uint8]) -> LabelledImage:
    return LabelledImage(name=name, image=image, faces=np.zeros((0, 4), np.float32), kind="negative")


# The builders: one per image, each making its image from scratch (the photos' analysis is cached).


def _portrait(name: str) -> Callable[[], LabelledImage]:
    return lambda: _image(name.rsplit(".", 1)[0], _photo(name), "portrait")


def _alone(name: str, face_width: int) -> Callable[[], LabelledImage]:
    """The whole photo shrunk or enlarged so that its face is ``face_width`` px wide."""

    def build() -> LabelledImage:
        piece = _scaled(name, face_width)
        return _image(f"{name.rsplit('.', 1)[0]}_face{face_width}_{piece.width}x{piece.height}", piece, "rescaled")

    return build


def _on_canvas(
    name: str, face_width: int, x: int, y: int, size: tuple[int, int] = (1920, 1080), region: str = "obama3_chandelier"
) -> Callable[[], LabelledImage]:
    """The photo scaled to a ``face_width`` px face (cut to fit), pasted at ``(x, y)`` on a blurred background."""

    def build() -> LabelledImage:
        w, h = size
        canvas = _Canvas.blurred(region, w, h)
        canvas.paste(_scaled(name, face_width, w - x, h - y), x, y)
        return canvas.labelled(f"{name.rsplit('.', 1)[0]}_face{face_width}_on_{w}x{h}", "rescaled")

    return build


def _closeup() -> LabelledImage:
    """A 1920 x 1080 frame filled by an 800 px face (obama.jpg enlarged, cut around the face)."""
    piece = _scaled("obama.jpg", 800, 1920, 1080)
    return _image("obama_face800_1920x1080", _resize(piece, 1920, 1080), "rescaled")


def _huge() -> LabelledImage:
    """An 8000 x 4500 image with one 1500 px face (obama3.jpg enlarged 5.4 times, cut, on a background)."""
    canvas = _Canvas.blurred("obama3_curtain_right", 8000, 4500)
    piece = _scaled("obama3.jpg", 1500, 8000, 4500)
    canvas.paste(piece, (8000 - piece.width) // 2, 0)
    return canvas.labelled("obama3_face1500_on_8000x4500", "rescaled")


_Rect = tuple[float, float, float, float]

#: The crops: ``{label: (photo, rect)}``, ``rect(x0, y0, x1, y1, w, h)`` giving the crop's ``(x0, y0, x1, y1)``
#: in pixels from the box of the photo's first face and its width and height.
_CROPS: dict[str, tuple[str, Callable[[float, float, float, float, float, float], _Rect]]] = {
    # 15 % of the face cut off on the left
    "left_edge": ("obama.jpg", lambda x0, y0, x1, y1, w, h: (x0 + 0.15 * w, 0, 910, 700)),
    # 12 % cut off at the top
    "top_edge": ("biden.jpg", lambda x0, y0, x1, y1, w, h: (150, y0 + 0.12 * h, 970, 1100)),
    # 8 % cut off on the right and at the bottom (85 % inside)
    "corner": ("obama3.jpg", lambda x0, y0, x1, y1, w, h: (300, 0, x1 - 0.08 * w, y1 - 0.08 * h)),
    # whole, touching the right edge
    "right_edge": ("astronaut.png", lambda x0, y0, x1, y1, w, h: (0, 40, x1 + 1, 512)),
    # the left half of two_people.jpg: one face, the other cut away entirely
    "left_half": ("two_people.jpg", lambda x0, y0, x1, y1, w, h: (0, 0, 560, 661)),
    # the face fills the picture (6 % margins)
    "tight": ("obama.jpg", lambda x0, y0, x1, y1, w, h: (x0 - 0.06 * w, y0 - 0.06 * h, x1 + 0.06 * w, y1 + 0.06 * h)),
}


def _cropped(label: str) -> LabelledImage:
    """The crop ``label`` of :data:`_CROPS`."""
    name, rect = _CROPS[label]
    photo = _photo(name)
    x0, y0, x1, y1 = (float(v) for v in photo.faces[0])
    piece = _crop(photo, *rect(x0, y0, x1, y1, x1 - x0, y1 - y0))
    return _image(f"{name.rsplit('.', 1)[0]}_{label}_{piece.width}x{piece.height}", piece, "crop")


#: The six sample faces ``(photo, face index)``.
_FACES = [
    ("obama.jpg", 0),
    ("obama3.jpg", 0),
    ("biden.jpg", 0),
    ("astronaut.png", 0),
    ("two_people.jpg", 0),
    ("two_people.jpg", 1),
]


def _group6() -> LabelledImage:
    """Six faces of 60-120 px in 1280 x 886, in two rows of three like a group photo."""
    canvas = _Canvas.blurred("obama3_chandelier", 1280, 886)
    widths = (96, 60, 120, 72, 108, 84)
    for i, ((name, index), width) in enumerate(zip(_FACES, widths, strict=True)):
        piece = _head(name, width, index, mirror=i % 2 == 1)
        col, row = i % 3, i // 3
        x = col * 426 + (426 - piece.width) // 2
        y = (420 if row == 0 else 876) - piece.height  # each row's pieces stand on one line
        canvas.paste(piece, x, y)
    return canvas.labelled("group6_60-120px_1280x886", "group")


def _group3() -> LabelledImage:
    """two_people.jpg with 210 px faces at the bottom of 2000 x 1428, and a 70 px face above it."""
    canvas = _Canvas.blurred("biden_curtain", 2000, 1428)
    pair = _scale(_photo("two_people.jpg"), 210 / _face_width("two_people.jpg"))
    canvas.paste(pair, 232, 1428 - pair.height)
    canvas.paste(_head("astronaut.png", 70), 1700, 120)
    return canvas.labelled("group3_210+70px_2000x1428", "group")


def _crowd(width: int, height: int, widths: NDArray[np.float64], seed: int, region: str) -> LabelledImage:
    """Faces of the given widths (px), the six sample faces in turn, every other one mirrored, scattered."""
    pieces = [
        _head(_FACES[i % 6][0], float(w), _FACES[i % 6][1], mirror=(i // 6) % 2 == 1) for i, w in enumerate(widths)
    ]
    canvas = _Canvas.blurred(region, width, height)
    canvas.scatter(pieces, seed)
    return canvas.labelled(f"crowd{len(widths)}_{widths.min():.0f}-{widths.max():.0f}px_{width}x{height}", "group")


def _group_huge() -> LabelledImage:
    """An 8000 x 4500 group: two_people.jpg with 150 px faces and four heads of 60-400 px, far apart."""
    canvas = _Canvas.blurred("obama_curtain_left", 8000, 4500)
    canvas.paste(_scale(_photo("two_people.jpg"), 150 / _face_width("two_people.jpg")), 600, 3500)
    canvas.paste(_head("obama.jpg", 400), 5200, 600)
    canvas.paste(_head("astronaut.png", 60), 3000, 1000)
    canvas.paste(_head("biden.jpg", 100, mirror=True), 7000, 3000)
    canvas.paste(_head("obama3.jpg", 250), 3800, 2800)
    return canvas.labelled("group6_60-400px_8000x4500", "group")


def _texture(region: str, tiles: tuple[int, int], size: tuple[int, int]) -> LabelledImage:
    tiled = np.tile(_background(region), (tiles[1], tiles[0], 1))
    image = np.asarray(cv2.resize(tiled, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return _negative(f"texture_{region}_{size[0]}x{size[1]}", image)


def _enlarged(region: str, size: tuple[int, int] = (1920, 1080)) -> LabelledImage:
    image = np.asarray(cv2.resize(_background(region), size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    return _negative(f"bg_{region}_{size[0]}x{size[1]}", image)


def _gradient() -> LabelledImage:
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    image = np.stack([x / 640 * 255, y / 480 * 255, (1 - x / 640) * 200 + 30], axis=-1)
    return _negative("gradient_640x480", np.round(image).astype(np.uint8))


def _noise() -> LabelledImage:
    image = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return _negative("noise_640x480", image)


def _builders() -> list[tuple[str, bool, Callable[[], LabelledImage]]]:
    """``(key, in the quick subset, builder)`` for every image, in the set's order."""
    out: list[tuple[str, bool, Callable[[], LabelledImage]]] = [
        ("astronaut", True, _portrait("astronaut.png")),
        ("obama", True, _portrait("obama.jpg")),
        ("obama3", False, _portrait("obama3.jpg")),
        ("biden", False, _portrait("biden.jpg")),
        # rescaled, alone: thumbnails to large photos
        ("thumb34", False, _alone("obama.jpg", 34)),
        ("thumb50", False, _alone("astronaut.png", 50)),
        ("pair70", False, _alone("two_people.jpg", 70)),
        ("small100", False, _alone("biden.jpg", 100)),
        ("alone200", False, _alone("obama3.jpg", 200)),
        ("alone400", False, _alone("obama.jpg", 400)),
        # rescaled, on a 1920 x 1080 background
        ("canvas34", False, _on_canvas("obama3.jpg", 34, 1500, 600)),
        ("canvas40", False, _on_canvas("biden.jpg", 40, 200, 700, region="biden_curtain")),
        ("canvas50", True, _on_canvas("obama.jpg", 50, 860, 420)),
        ("canvas70", False, _on_canvas("astronaut.png", 70, 1400, 100, region="obama_window_right")),
        ("canvas100", False, _on_canvas("two_people.jpg", 100, 100, 120)),
        ("canvas200", False, _on_canvas("biden.jpg", 200, 1100, 0, region="obama3_curtain_right")),
        ("closeup800", False, _closeup),
        ("huge1500", False, _huge),
        # crops
        *((f"crop_{label}", label == "left_edge", functools.partial(_cropped, label)) for label in _CROPS),
        # groups
        ("two_people", True, lambda: _image("two_people", _photo("two_people.jpg"), "group")),
        ("group6", True, _group6),
        ("group3", False, _group3),
        (
            "crowd10",
            False,
            lambda: _crowd(1920, 1080, np.round(np.geomspace(34, 200, 10)), 10, "obama3_curtain_right"),
        ),
        ("crowd12", False, lambda: _crowd(3840, 2160, np.round(np.geomspace(40, 160, 12)), 12, "biden_curtain")),
        ("group_huge", False, _group_huge),
        # negatives
        *(
            (f"bg_{region}", region in ("obama_curtain_left", "obama_suit"), functools.partial(_bg_crop, region))
            for region in _BACKGROUNDS
            if not region.endswith("_wide")
        ),
        ("texture_curtain", False, lambda: _texture("obama_curtain_left", (3, 2), (1024, 768))),
        ("texture_flag", False, lambda: _texture("astronaut_flag", (6, 1), (840, 512))),
        ("texture_shuttle", False, lambda: _texture("astronaut_shuttle", (4, 2), (640, 800))),
        ("bg_chandelier_1080p", False, lambda: _enlarged("obama3_chandelier")),
        ("bg_biden_1080p", False, lambda: _enlarged("biden_curtain_wide")),
        ("bg_obama_1080p", False, lambda: _enlarged("obama_curtain_wide")),
        ("gradient", True, _gradient),
        ("noise", True, _noise),
    ]
    return out


def _bg_crop(region: str) -> LabelledImage:
    image = _background(region)
    return _negative(f"bg_{region}_{image.shape[1]}x{image.shape[0]}", image)


def detection_set(*, quick: bool = False) -> list[LabelledImage]:
    """The labelled images, built from the sample photos (deterministic).

    Parameters
    ----------
    quick
        Only a subset of 10 images, none over 1920 px (two portraits, one rescaled, one crop, two groups, four
        negatives), for tests: under 1 s to build, against about 2 s for the whole set (most of either is the
        analysis of the five photos, done once per process).

    Returns
    -------
    list of LabelledImage
        Portraits, rescaled photos, crops, groups and negatives, in that order (see the module docstring);
        the full set has 47 images (17 negatives) and 65 faces 34-1500 px wide, in images of up to 8000 px.

    Examples
    --------
    >>> images = detection_set(quick=True)
    >>> sum(len(i.faces) for i in images), sum(i.kind == "negative" for i in images)
    (12, 4)
    """
    images = [build() for _, in_quick, build in _builders() if in_quick or not quick]
    names = [i.name for i in images]
    if len(set(names)) != len(names):
        raise RuntimeError(f"duplicate names in the detection set: {sorted(names)}")
    return images


def _boxes(value: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(value, dtype=np.float64).reshape(-1, 4)


def _iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)``: ``(N, M)``."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.asarray(inter / np.maximum(union, 1e-9), dtype=np.float64)


def _pairs(found: NDArray[np.float64], true: NDArray[np.float64], iou: float) -> list[tuple[int, int]]:
    """Greedy matching: the pair with the highest IoU first, each box used once, pairs under ``iou`` left out."""
    if len(found) == 0 or len(true) == 0:
        return []
    m = _iou(found, true)
    out: list[tuple[int, int]] = []
    while True:
        i, j = np.unravel_index(int(np.argmax(m)), m.shape)
        if m[i, j] < iou:
            return out
        out.append((int(i), int(j)))
        m[i, :] = -1.0
        m[:, j] = -1.0


def match(found_boxes: ArrayLike, true_boxes: ArrayLike, iou: float = 0.3) -> tuple[int, int, int]:
    """Score detected face boxes against the true ones.

    Parameters
    ----------
    found_boxes, true_boxes
        ``(N, 4)`` and ``(K, 4)`` boxes ``x0, y0, x1, y1`` in pixels (anything NumPy turns into that, an empty
        list too).
    iou
        Least intersection-over-union (0-1) for a found box to count as a true face. Pairs are taken greedily,
        the highest IoU first, each box at most once; a second box on one face is a false face.

    Returns
    -------
    tuple of int
        ``(true positives, missed faces, false faces)``.

    Examples
    --------
    >>> match([[0, 0, 10, 10], [50, 50, 60, 60]], [[1, 1, 11, 11], [100, 100, 120, 120]])
    (1, 1, 1)
    """
    found, true = _boxes(found_boxes), _boxes(true_boxes)
    tp = len(_pairs(found, true, iou))
    return tp, len(true) - tp, len(found) - tp


def missed_faces(found_boxes: ArrayLike, true_boxes: ArrayLike, iou: float = 0.3) -> NDArray[np.intp]:
    """Indices of the true boxes that :func:`match` leaves unmatched (same arguments), ascending."""
    found, true = _boxes(found_boxes), _boxes(true_boxes)
    hit = {j for _, j in _pairs(found, true, iou)}
    return np.array([j for j in range(len(true)) if j not in hit], dtype=np.intp)
