"""BlazeFace face detection (MediaPipe's short- and full-range models) on onnxruntime.

The image is letterboxed (aspect kept, padded) to the model input with one resize, the SSD anchors are decoded
into a box and six keypoints per anchor, low scores are dropped and overlapping boxes are merged by weighted
non-maximum suppression, as MediaPipe's ``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator`` do.

References
----------
V. Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs", CVPR Workshops 2019.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import MIN_FACE_SIZE, Face
from fusionkit.vision._runtime import RuntimeOptions, get_session

__all__ = ["DETECTOR_MODELS", "DetectorModel", "FaceDetector", "ssd_anchors"]

DetectorModel = Literal["short", "full", "auto"]


@attrs.frozen(kw_only=True)
class _DetectorSpec:
    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]
    min_score: float


#: The shipped detection models: input size (square, NCHW, values in [-1, 1]) and SSD anchor layout.
DETECTOR_MODELS = {
    # face_detection_short_range_common.pbtxt: strides 8,16,16,16, interpolated_scale_aspect_ratio 1 -> 2 each
    "short": _DetectorSpec(
        file="face_detection_short_range.onnx",
        size=128,
        strides=(8, 16, 16, 16),
        anchors_per_cell=(2, 2, 2, 2),
        min_score=0.5,
    ),
    # face_detection_full_range_common.pbtxt: one layer at stride 4, 1 anchor per cell
    "full": _DetectorSpec(
        file="face_detection_full_range.onnx", size=192, strides=(4,), anchors_per_cell=(1,), min_score=0.6
    ),
}
_RAW_SCORE_LIMIT = 80.0  # MediaPipe clips at 100; 80 keeps exp() finite in float32


@functools.lru_cache(maxsize=8)
def ssd_anchors(size: int, strides: tuple[int, ...], anchors_per_cell: tuple[int, ...]) -> NDArray[np.float32]:
    """Anchor centres ``(N, 2)`` in model pixels, in the order the model's outputs use.

    Consecutive layers with the same stride share one grid, each cell holding all their anchors (MediaPipe's
    ``SsdAnchorsCalculator`` with ``fixed_anchor_size``).
    """
    out = []
    i = 0
    while i < len(strides):
        j, per_cell = i, 0
        while j < len(strides) and strides[j] == strides[i]:
            per_cell += anchors_per_cell[j]
            j += 1
        cells = size // strides[i]
        centres = (np.arange(cells, dtype=np.float32) + 0.5) * (size / cells)
        yy, xx = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        out.append(np.repeat(grid, per_cell, axis=0))
        i = j
    anchors = np.concatenate(out).astype(np.float32)
    anchors.setflags(write=False)
    return anchors


def _u8(arr: Any) -> NDArray[np.uint8]:
    return np.asarray(arr, dtype=np.uint8)


def _downscale(image: NDArray[np.uint8], nw: int, nh: int) -> NDArray[np.uint8]:
    """Shrink to ``nw`` x ``nh`` with area averaging, fast on big images.

    OpenCV's ``INTER_AREA`` is fast only for integer factors; for a large non-integer factor a bilinear resize
    to twice the target comes first (cheap, streaming), then a 2 x 2 area average. One ``INTER_AREA`` pass
    at a non-integer factor costs about 3 ms on a 1080p frame, this about 0.3 ms; MediaPipe itself samples
    the frame bilinearly, without any averaging.
    """
    h, w = image.shape[:2]
    k = min(2, int(min(w / nw, h / nh)))
    if k >= 2 and (w != k * nw or h != k * nh):
        image = _u8(cv2.resize(image, (k * nw, k * nh), interpolation=cv2.INTER_LINEAR))
    return _u8(cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA))


def _letterbox(image: NDArray[np.uint8], size: int) -> tuple[NDArray[np.uint8], float, float, float, float]:
    """Resize (once) to fit ``size`` x ``size`` keeping the aspect; return image, x/y scales and x/y pads."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if scale < 1:
        resized = _downscale(image, nw, nh)
    else:
        resized = _u8(cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR))
    canvas = np.zeros((size, size, 3), np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = resized
    return canvas, nw / w, nh / h, float(px), float(py)


def _weighted_nms(
    boxes: NDArray[np.float32], scores: NDArray[np.float32], threshold: float
) -> list[tuple[NDArray[np.float32], float]]:
    """Weighted NMS over rows ``[x0, y0, x1, y1, kx0, ky0, ...]``: each kept row is the score-weighted mean of
    the rows overlapping the best remaining one by IoU > ``threshold``; its score is the best one's."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        b = boxes[i]
        ix = np.clip(np.minimum(b[2], boxes[:, 2]) - np.maximum(b[0], boxes[:, 0]), 0, None)
        iy = np.clip(np.minimum(b[3], boxes[:, 3]) - np.maximum(b[1], boxes[:, 1]), 0, None)
        inter = ix * iy
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-9)
        group = remaining & (iou > threshold)
        group[i] = True
        w = scores[group]
        out.append(((boxes[group] * w[:, None]).sum(0) / w.sum(), float(scores[i])))
        remaining &= ~group
    return out


def _input_name(session: Any) -> str:
    name: str = session.get_inputs()[0].name
    return name


def _drop_nested(
    kept: list[tuple[NDArray[np.float32], float]],
) -> list[tuple[NDArray[np.float32], float]]:
    """Drop a box that holds most of a better-scoring, much smaller one: faces do not nest, and such a box is
    the whole-image pass misreading a small face's surroundings (the weighted NMS keeps both, IoU being low)."""
    out: list[tuple[NDArray[np.float32], float]] = []
    for row, score in kept:  # best score first
        area = float((row[2] - row[0]) * (row[3] - row[1]))
        nested = False
        for other, _ in out:
            o_area = float((other[2] - other[0]) * (other[3] - other[1]))
            ix = max(0.0, float(min(row[2], other[2]) - max(row[0], other[0])))
            iy = max(0.0, float(min(row[3], other[3]) - max(row[1], other[1])))
            if ix * iy > 0.8 * o_area and area > 3.0 * o_area:
                nested = True
                break
        if not nested:
            out.append((row, score))
    return out


@attrs.define(kw_only=True)
class FaceDetector:
    """Find faces in RGB images with MediaPipe's BlazeFace models.

    Parameters
    ----------
    model
        ``"short"`` (default; 128 x 128 input, about 2 ms: faces wider than about a sixth of the image's
        longer side, portraits and selfies), ``"full"`` (192 x 192, about 4 ms: faces from about a twelfth
        of the longer side) or ``"auto"`` (group photos: both models on the whole image from one shared
        resize, plus the full-range model on overlapping tiles, so faces down to 34 px are found; about 35
        model runs, 0.1-0.2 s, on a 1080p image). Faces in the sample photos are found by all three.
    min_score
        Detection confidence threshold (0-1); ``None`` uses each model's default (0.5 short, 0.6 full).
    nms_threshold
        IoU above which boxes are merged.
    options
        onnxruntime providers and threads.

    Examples
    --------
    >>> detector = FaceDetector(model="auto")                      # doctest: +SKIP
    >>> faces = detector.detect(rgb)                               # doctest: +SKIP
    >>> faces[0].box, faces[0].keypoints, faces[0].score, faces[0].roll   # doctest: +SKIP
    """

    model: DetectorModel = attrs.field(default="short", validator=attrs.validators.in_(("short", "full", "auto")))
    min_score: float | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.ge(0.0), attrs.validators.le(1.0)]),
    )
    nms_threshold: float = attrs.field(default=0.3, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])
    options: RuntimeOptions = attrs.field(factory=RuntimeOptions)

    def _run(self, name: str, canvas: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Run one model on a letterboxed canvas; return candidate rows (model pixels) and scores."""
        spec = DETECTOR_MODELS[name]
        session = get_session(spec.file, self.options)
        x = np.empty((1, 3, spec.size, spec.size), np.float32)
        for channel, plane in enumerate(cv2.split(canvas)):  # HWC uint8 -> NCHW float32, plane by plane
            np.multiply(plane, np.float32(1 / 127.5), out=x[0, channel])
        x -= np.float32(1.0)
        raw_boxes, raw_scores = session.run(None, {_input_name(session): x})
        threshold = spec.min_score if self.min_score is None else self.min_score
        logits = np.clip(raw_scores.reshape(-1), -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = np.nonzero(scores >= threshold)[0]
        if keep.size == 0:
            return np.zeros((0, 16), np.float32), np.zeros((0,), np.float32)
        anchors = ssd_anchors(spec.size, spec.strides, spec.anchors_per_cell)
        raw = raw_boxes.reshape(-1, 16)[keep]
        a = anchors[keep]
        cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
        hw, hh = raw[:, 2] / 2, raw[:, 3] / 2
        rows = np.empty((len(keep), 16), np.float32)
        rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = cx - hw, cy - hh, cx + hw, cy + hh
        rows[:, 4::2] = raw[:, 4::2] + a[:, :1]
        rows[:, 5::2] = raw[:, 5::2] + a[:, 1:]
        valid = (rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1])
        return rows[valid], scores[keep][valid].astype(np.float32)

    def _candidates(
        self, name: str, image: NDArray[np.uint8], size: int | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Letterbox ``image`` for model ``name`` and return its candidate rows in ``image`` pixels."""
        canvas, sx, sy, px, py = _letterbox(image, size or DETECTOR_MODELS[name].size)
        return self._decode(name, canvas, sx, sy, px, py)

    def _decode(
        self, name: str, canvas: NDArray[np.uint8], sx: float, sy: float, px: float, py: float
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        size = DETECTOR_MODELS[name].size
        c = canvas
        if canvas.shape[0] != size:
            c = _u8(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA))
        rows, scores = self._run(name, c)
        rows *= canvas.shape[0] / size  # back to the canvas's pixels
        pts = (rows.reshape(-1, 8, 2) - (px, py)) / (sx, sy)
        return pts.reshape(-1, 16).astype(np.float32), scores

    def detect(self, image: NDArray[np.uint8]) -> list[Face]:
        """Return the faces in an RGB uint8 image ``(H, W, 3)``, largest first.

        Faces smaller than :data:`fusionkit.domain.MIN_FACE_SIZE` are returned too, with ``too_small`` set.
        """
        names = ["short", "full"] if self.model == "auto" else [self.model]
        big = max(DETECTOR_MODELS[n].size for n in names)
        canvas, sx, sy, px, py = _letterbox(image, big)  # one resize of the whole image, shared by both models
        found = [self._decode(name, canvas, sx, sy, px, py) for name in names]
        if self.model == "auto":
            found += self._tiled(image)
        rows = np.concatenate([r for r, _ in found])
        scores = np.concatenate([s for _, s in found])
        if len(scores) == 0:
            return []
        faces = []
        for row, score in _drop_nested(_weighted_nms(rows, scores, self.nms_threshold)):
            pts = row.reshape(8, 2)
            kp = pts[2:]
            roll = math.degrees(math.atan2(float(kp[1, 1] - kp[0, 1]), float(kp[1, 0] - kp[0, 0])))
            faces.append(Face(box=pts[:2].ravel(), keypoints=kp, score=min(max(score, 0.0), 1.0), roll=roll))
        faces.sort(key=lambda f: -(f.width * f.height))
        return faces

    def _tiled(self, image: NDArray[np.uint8]) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
        """Full-range detections on overlapping tiles, for faces too small for the whole-image pass.

        The full-range model finds faces from about 1/12 of its input's side, so a tile of side ``t`` finds
        faces down to ``t / 12`` pixels; tiles start at ``12 * MIN_FACE_SIZE`` (408) pixels and double while
        smaller than half the image's longer side. Tiles overlap by a third, so every face up to ``t / 3``
        lies wholly inside one; detections touching an inner tile edge, or larger than ``t / 2``, are dropped
        (a coarser pass sees them whole).
        """
        h, w = image.shape[:2]
        out = []
        for x, y, tw, th, t in _tiles(h, w):
            rows, scores = self._candidates("full", image[y : y + th, x : x + tw])
            if len(scores) == 0:
                continue
            rows[:, 0::2] += x
            rows[:, 1::2] += y
            margin = 0.02 * t
            x0, y0, x1, y1 = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
            inside = (
                ((x0 >= x + margin) | (x == 0))
                & ((y0 >= y + margin) | (y == 0))
                & ((x1 <= x + tw - margin) | (x + tw >= w))
                & ((y1 <= y + th - margin) | (y + th >= h))
                & (np.maximum(x1 - x0, y1 - y0) <= t / 2)
            )
            out.append((rows[inside], scores[inside]))
        return out


#: Side of the finest tiles of the ``auto`` detector (the full-range model's reach is about 1/12 of its input).
TILE_MIN_SIDE = 12 * MIN_FACE_SIZE


def _positions(n: int, t: int, stride: int) -> list[int]:
    if n <= t:
        return [0]
    return [*range(0, n - t, stride), n - t]


def _tiles(h: int, w: int) -> list[tuple[int, int, int, int, int]]:
    """``(x, y, width, height, side)`` of the overlapping tiles the ``auto`` detector scans."""
    out = []
    t = TILE_MIN_SIDE
    while t < max(h, w) / 2:
        tw, th, stride = min(t, w), min(t, h), max(1, 2 * t // 3)
        out += [(x, y, tw, th, t) for y in _positions(h, th, stride) for x in _positions(w, tw, stride)]
        t *= 2
    return out
