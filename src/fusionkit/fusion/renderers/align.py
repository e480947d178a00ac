"""Five-point face alignment for learned models: the crop a model sees, and its output laid back.

Learned swappers and recognisers are trained on faces aligned by a similarity transform that takes five points
(the eye centres, the nose tip, the mouth corners) onto a fixed template: ArcFace's for recognisers and swappers
(112 px, and the same scaled and shifted for 128, 256 and 512 px crops, as insightface does), FFHQ's for restorers.
The five points come from the 468-point mesh; crops and paste-backs are one ``cv2.warpAffine`` each over the face's
region only.
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.fusion.engine._common import F64, U8
from fusionkit.fusion.engine.geometry import fit_similarity
from fusionkit.vision.topology import MeshTopology

__all__ = ["ARCFACE_112", "FFHQ_512", "Alignment", "align", "arcface_112_from", "arcface_template", "five_points",
           "lay_back", "paste_back", "planar_blob"]

#: ArcFace's five points in a 112 x 112 crop: the image-left eye, the image-right eye, the nose tip, the image-left
#: and the image-right mouth corner (insightface's ``arcface_dst``).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                        [70.7299, 92.2041]], np.float64)
#: The same five points in the 512 x 512 crop face restorers (GFPGAN, CodeFormer, GPEN) are trained on (FFHQ's
#: alignment, as their face helpers give it).
FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                     [201.26117, 371.41043], [313.08905, 371.15118]], np.float64)

#: Mesh indices: the nose tip and the mouth corners (image-left first in an unmirrored photo).
_NOSE_TIP = 1
_MOUTH_CORNERS = (61, 291)


def arcface_template(size: int) -> F64:
    """ArcFace's five points in a ``size`` px crop: scaled from 112 when ``size`` is a multiple of it, else from
    128 with the 8 px shift insightface's 128 px crops have (so 128, 256, 512 match its swappers' training)."""
    if size % 112 == 0:
        out: F64 = ARCFACE_112 * (size / 112.0)
        return out
    ratio = size / 128.0
    shifted: F64 = ARCFACE_112 * ratio + np.array([8.0 * ratio, 0.0])
    return shifted


def arcface_112_from(crop: U8, size: int) -> U8:
    """The 112 px ArcFace crop inside a ``size`` px one aligned to :func:`arcface_template` (the same alignment,
    scaled by ``r`` and shifted): 112 px pixel ``i`` lies on the larger crop's ``shift + r i``. A slice from
    ``shift``, halved ``log2 r`` times by ``pyrDown`` (which centres output pixel ``i`` on input pixel ``2 i``,
    where averaging blocks would centre it half a pixel off)."""
    if size % 112 == 0:
        ratio, shift = size // 112, 0
    else:
        ratio, shift = size // 128, 8 * (size // 128)
    square = np.ascontiguousarray(crop[:112 * ratio, shift:shift + 112 * ratio])
    while ratio > 1:
        square = np.asarray(cv2.pyrDown(square), np.uint8)
        ratio //= 2
    return square


def five_points(points: NDArray[np.float64], topo: MeshTopology) -> F64:
    """The five alignment points of a mesh (``points``: (N >= 468, 2), any pixel convention, kept): each eye's
    centre (the mean of its contour), the nose tip and the mouth corners, image-left first."""
    right_eye = points[topo.region("right_eye")].mean(axis=0)  # the subject's right: the image's left
    left_eye = points[topo.region("left_eye")].mean(axis=0)
    out: F64 = np.stack([right_eye, left_eye, points[_NOSE_TIP], points[_MOUTH_CORNERS[0]],
                         points[_MOUTH_CORNERS[1]]]).astype(np.float64)
    return out


class Alignment:
    """The similarity from an image (pixel centres at integers) into a ``size`` px crop, and its crop."""

    def __init__(self, matrix: F64, size: int) -> None:
        self.matrix = matrix
        self.size = size

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return float(np.hypot(self.matrix[0, 0], self.matrix[1, 0]))


def align(image: U8, points: F64, template: F64, size: int) -> tuple[U8, Alignment]:
    """The ``size`` x ``size`` crop of ``image`` that puts ``points`` (five, pixel centres at integers) on
    ``template``; borders repeat the edge pixels (a face at the frame's edge). A face shrunk more than 2x is
    averaged first (pyramid halvings of its region), so the model does not see an aliased face."""
    matrix = fit_similarity(points, template)
    alignment = Alignment(matrix, size)
    source, offset, factor = image, np.zeros(2), 1.0
    if alignment.scale < 0.5:
        # Only the region the crop reads, halved until the crop shrinks it by less than 2x.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
        h, w = image.shape[:2]
        x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 2, 0, [w, h])
        x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 2, 0, [w, h])
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            source, offset = np.ascontiguousarray(image[y0:y1, x0:x1]), np.array([x0, y0], np.float64)
            while alignment.scale / factor < 0.5 and min(source.shape[:2]) >= 8:
                source = np.asarray(cv2.pyrDown(source))
                factor *= 0.5
    local = matrix.copy()
    # Crop = M (p_image); p_image = offset + p_source / factor: pyrDown centres output pixel i on input pixel 2i.
    local[:, :2] = matrix[:, :2] / factor
    local[:, 2] = matrix[:, :2] @ offset + matrix[:, 2]
    if size >= 256:
        # OpenCV's 4-channel warp is faster than its 3-channel one by more than the two conversions cost.
        rgba = cv2.warpAffine(cv2.cvtColor(source, cv2.COLOR_RGB2RGBA), local, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        return np.asarray(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), np.uint8), alignment
    crop = cv2.warpAffine(source, local, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(crop, np.uint8), alignment


def planar_blob(crop: U8, scale: float, offset: float) -> NDArray[np.float32]:
    """A model's image input from an (S, S, 3) RGB crop: ``[1, 3, S, S]`` float32, each value ``v * scale +
    offset``, written plane by plane (a transpose-copy to float and a multiply took 60% longer)."""
    size = crop.shape[0]
    blob = np.empty((1, 3, size, crop.shape[1]), np.float32)
    for c, plane in enumerate(cv2.split(crop)):
        np.multiply(plane, np.float32(scale), out=blob[0, c], casting="unsafe")
        if offset:
            blob[0, c] += np.float32(offset)
    return blob


@functools.lru_cache(maxsize=8)
def _feathered_square(size: int, feather: float) -> U8:
    """A ``size`` px square of 255 fading to 0 over ``feather`` of its side at its edges (read-only, cached)."""
    edge = max(1.0, feather * size)
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / edge, 0.0, 1.0)
    square = (np.minimum.outer(ramp, ramp) * 255.0 + 0.5).astype(np.uint8)
    square.setflags(write=False)
    return square


Box = tuple[int, int, int, int]


def lay_back(face: NDArray[np.floating[Any]], alignment: Alignment, shape: tuple[int, int],
             value_range: tuple[float, float] = (0.0, 1.0), feather: float = 0.04) -> tuple[U8, Box]:
    """A model's output face warped back onto the part of an image of ``shape`` = (h, w) it reaches: (that part
    as RGBA uint8, the alpha its coverage fading to 0 over ``feather`` of the crop's side at its edges; the part's
    box ``(x0, y0, x1, y1)``, empty when the crop reaches none of the image).

    ``face`` is the model's (3, S, S) planar RGB with values in ``value_range`` (clipped to it). The planes become
    bytes and the coverage rides along as a fourth channel, so the crop is read once, by one ``warpAffine``.
    """
    h, w = shape
    size = alignment.size
    lo, hi = value_range
    scale = 255.0 / (hi - lo)
    # Above ``hi`` saturates at 255; below ``lo`` would come back as its absolute value, so it is raised to ``lo``.
    planes = [cv2.convertScaleAbs(cv2.max(plane, lo), alpha=scale, beta=-lo * scale) for plane in face]
    rgba = cv2.merge([*planes, _feathered_square(size, feather)])
    inverse = cv2.invertAffineTransform(alignment.matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
    x0, y0 = (int(v) for v in np.clip(np.floor(corners.min(axis=0)) - 1, 0, [w, h]))
    x1, y1 = (int(v) for v in np.clip(np.ceil(corners.max(axis=0)) + 1, 0, [w, h]))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 4), np.uint8), (x0, y0, x0, y0)
    local = alignment.matrix.copy()
    local[:, 2] += alignment.matrix[:, :2] @ np.array([x0, y0], np.float64)  # output pixel (0, 0) is (x0, y0)
    laid = cv2.warpAffine(rgba, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT)
    return np.asarray(laid, np.uint8), (x0, y0, x1, y1)


def paste_back(face: NDArray[np.floating[Any]], alignment: Alignment, shape: tuple[int, int],
               value_range: tuple[float, float] = (0.0, 1.0), feather: float = 0.04) -> tuple[U8, U8]:
    """:func:`lay_back` onto a whole (h, w) image: the texture (RGB uint8, 0 where the crop does not reach) and
    its coverage (0-255)."""
    h, w = shape
    laid, (x0, y0, x1, y1) = lay_back(face, alignment, shape, value_range, feather)
    texture = np.zeros((h, w, 3), np.uint8)
    coverage = np.zeros((h, w), np.uint8)
    if x1 > x0 and y1 > y0:
        # OpenCV writes into the two views in one pass each (NumPy's strided copy of 3 of 4 channels took 0.4 ms).
        cv2.cvtColor(laid, cv2.COLOR_RGBA2RGB, dst=texture[y0:y1, x0:x1])
        cv2.extractChannel(laid, 3, dst=coverage[y0:y1, x0:x1])
    return texture, coverage
