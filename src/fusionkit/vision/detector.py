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
from typing import Any

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.choices import DetectorModel  # defined there: the CLI lists them
from fusionkit.domain.faces import MIN_FACE_SIZE, Face
from fusionkit.vision._runtime import RuntimeOptions, current_runtime, get_session

__all__ = ["DETECTOR_MODELS", "PORTRAIT_FACE_FRACTION", "DetectorModel", "FaceDetector", "grid_anchors",
           "ssd_anchors"]


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
    """Anchor centres ``(N, 2)`` in model pixels of a square ``size`` x ``size`` input, in the order the model's
    outputs use (see :func:`grid_anchors`)."""
    return grid_anchors(size, size, strides, anchors_per_cell)


@functools.lru_cache(maxsize=32)
def grid_anchors(height: int, width: int, strides: tuple[int, ...],
                 anchors_per_cell: tuple[int, ...]) -> NDArray[np.float32]:
    """Anchor centres ``(N, 2)`` in model pixels of a ``height`` x ``width`` input (both multiples of the largest
    stride), row by row, in the order the model's outputs use.

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
        rows, cols = height // strides[i], width // strides[i]
        ys = (np.arange(rows, dtype=np.float32) + 0.5) * (height / rows)
        xs = (np.arange(cols, dtype=np.float32) + 0.5) * (width / cols)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
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
    """Of two boxes one of which holds most of the other and is over three times its area, keep the better-scoring
    one: faces do not nest. A large box around a small face is a coarse pass misreading the small face's
    surroundings; a small box inside a large face is a fine pyramid level seeing a face in part of one (an eye
    and a brow). The weighted NMS keeps both, their IoU being low."""
    out: list[tuple[NDArray[np.float32], float]] = []
    for row, score in kept:  # best score first
        area = float((row[2] - row[0]) * (row[3] - row[1]))
        nested = False
        for other, _ in out:
            o_area = float((other[2] - other[0]) * (other[3] - other[1]))
            ix = max(0.0, float(min(row[2], other[2]) - max(row[0], other[0])))
            iy = max(0.0, float(min(row[3], other[3]) - max(row[1], other[1])))
            if (ix * iy > 0.8 * o_area and area > 3.0 * o_area) or (ix * iy > 0.8 * area and o_area > 3.0 * area):
                nested = True
                break
        if not nested:
            out.append((row, score))
    return out


#: The short-range model run on a whole picture at any size (its input size is free, see
#: ``tools/convert_models.py``) finds faces from about 17 to 96 of its input pixels wide: measured on the sample
#: faces pasted at 12-128 px into a 1024 x 512 canvas, all four were found from 16 px (scores 0.73-0.85; 0.88-0.98
#: from 20 px) and none at 12 px; boxes regressed to within a tenth of the face's size up to 100 px.
PYRAMID_FACE_RANGE = (17.0, 96.0)
#: The pyramid's default score threshold: above the short-range model's 0.5, because it looks at many more places
#: (a 1080p level holds about 40 times the anchors of one 128 x 128 run), where background patterns reach 0.5-0.51;
#: real faces from 16 px scored 0.73 and up in the measurement above.
PYRAMID_MIN_SCORE = 0.6
#: Levels of the pyramid are this factor apart in scale (under 96 / 17, so neighbouring levels' ranges overlap).
PYRAMID_STEP = 4.5
#: A level larger than this many input pixels a side is run in overlapping tiles (memory stays bounded on big
#: pictures); the overlap is the largest face a level looks for.
PYRAMID_TILE = 1024
#: A picture of at most this many pixels is searched down to its own resolution (faces from about 17 px, about
#: 25 ms at most): a face too small to fuse in a small photo is then reported as too small, not as missing.
SMALL_PICTURE_PIXELS = 512 * 512
#: ``auto`` stops after its whole-picture pass when that pass finds a face at least this fraction of the picture's
#: shorter side wide: a portrait or a selfie, where a finer search would only cost time (see :class:`FaceDetector`).
PORTRAIT_FACE_FRACTION = 1 / 6
#: ... and only for a face it is sure of: the letterboxed pass scores the sample portraits' faces 0.86-0.95,
#: while the suits and hands of a blurred background reached 0.61.
PORTRAIT_MIN_SCORE = 0.8
_PAD = 16  # the short-range model's largest stride: its input sides are multiples of it


@attrs.define(kw_only=True)
class FaceDetector:
    """Find faces in RGB images with MediaPipe's BlazeFace models.

    Parameters
    ----------
    model
        ``"auto"`` (default): an image pyramid of the short-range model, run on the whole picture at each scale (no
        square letterbox, no tiles): a first pass with the picture 128 px on its longer side, then finer levels
        down to faces ``min_face_size`` px wide. When the first pass finds a face at least a sixth of the
        picture's shorter side (:data:`PORTRAIT_FACE_FRACTION`: a portrait, a selfie) the search stops there,
        about 1.5 ms; a group photo of 1280 x 886 costs about 30 ms, a 1080p frame searched to 34 px about 60 ms.
        ``"thorough"``: the same pyramid, never stopping early (small faces behind a large one too).
        ``"short"`` (128 x 128 letterbox, about 1.5 ms: faces wider than about a sixth of the picture's longer
        side) and ``"full"`` (192 x 192, about 5 ms: from about a twelfth) run one model once.
    min_score
        Detection confidence threshold (0-1); ``None`` uses each model's default (0.5 short, 0.6 full, 0.6 the
        pyramid of ``auto`` and ``thorough``).
    nms_threshold
        IoU above which boxes are merged.
    min_face_size
        Pixels: the smallest face width the pyramid (``auto``, ``thorough``) looks for.
    options
        onnxruntime providers and threads.

    Detections are not checked here: a pattern on a background can score like a face. :func:`fusionkit.analyze`
    and :func:`fusionkit.detect_faces` drop the ones whose face mesh's presence score is low.

    Examples
    --------
    >>> detector = FaceDetector()                                  # doctest: +SKIP
    >>> faces = detector.detect(rgb)                               # doctest: +SKIP
    >>> faces[0].box, faces[0].keypoints, faces[0].score, faces[0].roll   # doctest: +SKIP
    """

    model: DetectorModel = attrs.field(default="auto",
                                       validator=attrs.validators.in_(("auto", "thorough", "short", "full")))
    min_score: float | None = attrs.field(
        default=None,
        validator=attrs.validators.optional([attrs.validators.ge(0.0), attrs.validators.le(1.0)]),
    )
    nms_threshold: float = attrs.field(default=0.3, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)])
    min_face_size: float = attrs.field(default=float(MIN_FACE_SIZE), validator=attrs.validators.ge(8.0))
    options: RuntimeOptions = attrs.field(factory=current_runtime)

    def _run(self, name: str, canvas: NDArray[np.uint8],
             default_score: float | None = None) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Run one model on a canvas (its own size for the short-range model, any multiple of 16; the model's size
        otherwise); return candidate rows (canvas pixels) and scores at least ``min_score`` (when unset,
        ``default_score`` or the model's own)."""
        spec = DETECTOR_MODELS[name]
        session = get_session(spec.file, self.options)
        ch, cw = canvas.shape[:2]
        x = np.empty((1, 3, ch, cw), np.float32)
        for channel, plane in enumerate(cv2.split(canvas)):  # HWC uint8 -> NCHW float32, plane by plane
            np.multiply(plane, np.float32(1 / 127.5), out=x[0, channel])
        x -= np.float32(1.0)
        raw_boxes, raw_scores = session.run(None, {_input_name(session): x})
        threshold = self.min_score if self.min_score is not None else default_score or spec.min_score
        logits = np.clip(raw_scores.reshape(-1), -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = np.nonzero(scores >= threshold)[0]
        if keep.size == 0:
            return np.zeros((0, 16), np.float32), np.zeros((0,), np.float32)
        anchors = grid_anchors(ch, cw, spec.strides, spec.anchors_per_cell)
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
        if self.model in ("auto", "thorough"):
            found = self._pyramid(image)
        else:
            canvas, sx, sy, px, py = _letterbox(image, DETECTOR_MODELS[self.model].size)
            found = [self._decode(self.model, canvas, sx, sy, px, py)]
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

    def pyramid_scales(self, height: int, width: int) -> list[float]:
        """The pyramid's scales for a ``height`` x ``width`` picture, coarsest (the picture 128 px on its longer
        side, or as it is when smaller) first, finest (faces of ``min_face_size`` at the model's smallest) last."""
        coarse = min(1.0, DETECTOR_MODELS["short"].size / max(height, width))
        finest = min(1.0, PYRAMID_FACE_RANGE[0] / self.min_face_size)
        if height * width <= SMALL_PICTURE_PIXELS:
            finest = 1.0  # cheap: faces under min_face_size are found too, and reported too small
        scales = []
        s = finest
        while s > coarse * 1.1:
            scales.append(s)
            s /= PYRAMID_STEP
        return [coarse, *reversed(scales)]

    def _pyramid(self, image: NDArray[np.uint8]) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
        """Short-range detections at every scale of :meth:`pyramid_scales`, in ``image`` pixels; ``auto`` stops
        after the first level on a portrait.

        The first level is the model's own square letterbox (what it was trained on, and what ``short`` runs:
        a portrait gets the same boxes, so the same meshes); the finer ones run it on the whole level as it is.
        """
        h, w = image.shape[:2]
        canvas, sx, sy, px, py = _letterbox(image, DETECTOR_MODELS["short"].size)
        rows, scores = self._decode("short", canvas, sx, sy, px, py)
        out = [(rows, scores)]
        if self.model == "auto":
            sure = scores >= PORTRAIT_MIN_SCORE
            if sure.any() and float((rows[sure, 2] - rows[sure, 0]).max()) >= PORTRAIT_FACE_FRACTION * min(h, w):
                return out
        out += [self._level(image, scale) for scale in self.pyramid_scales(h, w)[1:]]
        return out

    def _level(self, image: NDArray[np.uint8], scale: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Detections of one finer pyramid level, in ``image`` pixels: faces within the model's range at this
        scale."""
        h, w = image.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        level = image if (nw, nh) == (w, h) else _downscale(image, nw, nh)
        lo, hi = PYRAMID_FACE_RANGE
        overlap = int(hi) + _PAD
        found = []
        for x, y, tw, th in _level_tiles(nh, nw, PYRAMID_TILE, overlap):
            canvas = np.zeros((-(-th // _PAD) * _PAD, -(-tw // _PAD) * _PAD, 3), np.uint8)  # black padding
            canvas[:th, :tw] = level[y:y + th, x:x + tw]
            rows, scores = self._run("short", canvas, PYRAMID_MIN_SCORE)
            size = np.maximum(rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1])
            keep = (size >= 0.8 * lo) & (size <= 1.5 * hi)
            if (tw, th) != (nw, nh):  # tiles: a face cut by an inner edge is seen whole by the neighbouring tile
                keep &= (((rows[:, 0] >= 2) | (x == 0)) & ((rows[:, 1] >= 2) | (y == 0))
                         & ((rows[:, 2] <= tw - 2) | (x + tw >= nw)) & ((rows[:, 3] <= th - 2) | (y + th >= nh)))
            rows = rows[keep]
            rows[:, 0::2] += x
            rows[:, 1::2] += y
            found.append((rows, scores[keep]))
        rows = np.concatenate([r for r, _ in found])
        rows[:, 0::2] *= w / nw
        rows[:, 1::2] *= h / nh
        return rows, np.concatenate([s for _, s in found])


def _level_tiles(h: int, w: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(x, y, width, height)`` of the tiles covering an ``h`` x ``w`` level: the whole level when it fits in
    ``tile`` a side, else tiles of ``tile`` overlapping by ``overlap``."""
    if h <= tile and w <= tile:
        return [(0, 0, w, h)]
    stride = tile - overlap
    return [(x, y, min(tile, w - x), min(tile, h - y)) for y in _positions(h, tile, stride)
            for x in _positions(w, tile, stride)]


def _positions(n: int, t: int, stride: int) -> list[int]:
    if n <= t:
        return [0]
    return [*range(0, n - t, stride), n - t]
