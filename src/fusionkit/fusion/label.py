"""The visible "AI-generated" label and the custom logo that can replace it."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.core import composite
from fusionkit.domain.options import LabelOptions, LogoParam

__all__ = ["draw_label", "draw_logo", "label_rect"]

_FONT = cv2.FONT_HERSHEY_DUPLEX
_THICKNESS_PER_PX = 1 / 14  # stroke width per pixel of cap height: bold enough to read when small


@functools.lru_cache(maxsize=64)
def _layout(text: str, width: int, height: int, fraction: float) -> tuple[float, int, int, int, int]:
    """Font scale, stroke, text width, cap height and padding for a label of ``fraction`` of ``height``.

    The cap height is ``fraction`` of the height, at least 10 pixels, less only where the label would not fit
    the width (never below ``fraction`` of the height). Kept per size: every frame of a video asks again.
    """
    (base_w, base_h), _ = cv2.getTextSize(text, _FONT, 1.0, 1)
    floor = height * fraction
    fit = 0.8 * width * base_h / base_w  # the cap height at which the text fills 80% of the width
    cap = max(floor, min(10.0, fit), 1.0) if fit < 10 else max(floor, 10.0)
    scale = cap / base_h
    thickness = max(1, round(cap * _THICKNESS_PER_PX))
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, round(cap / 3))
    return scale, thickness, tw, th, pad


def label_rect(width: int, height: int, label: LabelOptions) -> tuple[int, int, int, int]:
    """Where :func:`draw_label` draws, as ``(x0, y0, x1, y1)``: the bottom-right corner, a margin inside."""
    _, _, tw, th, pad = _layout(label.text, width, height, label.height_fraction)
    margin = pad
    x1, y1 = width - margin, height - margin
    return max(0, x1 - tw - 2 * pad), max(0, y1 - th - 2 * pad), x1, y1


def draw_label(
    image: NDArray[np.uint8],
    label: LabelOptions,
    *,
    frame_size: tuple[int, int] | None = None,
    offset: tuple[int, int] = (0, 0),
) -> None:
    """Draw the label in place: white text on a translucent dark plate, so it reads on any background.

    The cap height is ``label.height_fraction`` of the image height (at least 10 pixels). ``image`` may be a
    window of a larger picture (a video frame's corner): ``frame_size`` is that picture's ``(width, height)`` and
    ``offset`` the window's top-left corner in it; the label lands where it would on the whole picture.
    """
    w, h = frame_size if frame_size is not None else (image.shape[1], image.shape[0])
    ox, oy = offset
    scale, thickness, _, _, pad = _layout(label.text, w, h, label.height_fraction)
    x0, y0, x1, y1 = label_rect(w, h, label)
    plate = image[max(0, y0 - oy):max(0, y1 - oy), max(0, x0 - ox):max(0, x1 - ox)]
    # Darken the plate to at most 45% of its brightness: white text then has a contrast ratio above 4.5:1.
    plate[...] = (plate.astype(np.uint16) * 115 // 255).astype(np.uint8)
    origin = (x0 + pad - ox, y1 - pad - oy)
    cv2.putText(image, label.text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def draw_logo(
    image: NDArray[np.uint8],
    logo: LogoParam,
    *,
    frame_size: tuple[int, int] | None = None,
    offset: tuple[int, int] = (0, 0),
) -> None:
    """Place the logo in its rectangle in place, scaled to fit (aspect kept) and centred; alpha honoured.

    As for :func:`draw_label`, ``image`` may be a window at ``offset`` of a ``frame_size`` picture that holds the
    logo's rectangle.
    """
    w, h = frame_size if frame_size is not None else (image.shape[1], image.shape[0])
    x0, y0, x1, y1 = logo.placed(w, h)
    lh, lw = logo.image.shape[:2]
    scale = min((x1 - x0) / lw, (y1 - y0) / lh)
    nw, nh = max(1, round(lw * scale)), max(1, round(lh * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = np.asarray(cv2.resize(logo.image, (nw, nh), interpolation=interp), dtype=np.uint8)
    ox, oy = x0 + (x1 - x0 - nw) // 2, y0 + (y1 - y0 - nh) // 2
    if resized.shape[2] == 4:
        alpha = np.ascontiguousarray(resized[:, :, 3])
        rgb = np.ascontiguousarray(resized[:, :, :3])
    else:
        alpha = np.full((nh, nw), 255, np.uint8)
        rgb = resized
    composite(rgb, alpha, image, (ox - offset[0], oy - offset[1]))
