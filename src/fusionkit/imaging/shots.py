"""Shot-boundary detection while a video decodes: hard cuts, fades through black or white, and dissolves.

:class:`ShotDetector` is fed each frame's luma (the Y plane) in push order and says when a new shot starts. Its
state is bounded (at most ``4 * W + 1`` pairs of 64 x 36 byte thumbnails, ``W`` = 10 frames at 30 fps: about
190 KB, 370 KB at 60 fps), whatever the length of the video.

Method
------
Each frame is reduced once to a 64 x 36 thumbnail (36 x 64 for portrait video): bilinear sampling to 256 x 144,
then an area average. Everything below works on thumbnails.

*Structure distance* ``d(a, b)``: the histogram-equalised centre of ``a`` (56 x 28) is slid over ``b`` by up to
+-4 pixels each way (``cv2.matchTemplate``, ``TM_CCOEFF_NORMED``) and ``d = 1 -`` the best normalised correlation.
Normalised correlation ignores the gain and offset of the brightness, equalisation makes it ignore any monotonic
tone change (exposure drift, gamma, most of a flash), and the search absorbs camera motion up to about 6 % of the
frame width per frame. On the sample photos, two frames of one moving shot score 0.00-0.10 and two different shots
usually 0.4-1.0 (two framings of one photo at different zooms about 0.5); two similar views of the same person in
the same room can score 0.2, and such a cut is missed.

*Cuts.* A frame is a cut when its distance to the previous frame exceeds ``clip(mean + 4 std, 0.22, 0.45)`` of
the distances over the last second of the shot: an adaptive threshold, as in Zhang et al. [1]_ and Zabih et al.
[2]_. A frame over the threshold whose picture still matches the previous one in at least 30 % of its
textured cells (a 3 x 4 grid, after the best shift) is a busy moment of the same shot, a person walking in or an
object crossing part of the picture, not a cut (a cut keeps about none). Two guards handle light that is not a
monotonic tone change (burnt-out highlights, a lamp in the picture):
a frame that matches one of the 2-4 frames before it again closes a *transient* (a flash or a glitch) instead of
opening a shot; and a candidate more than 20 grey levels brighter than the darkest of the last four frames is
compared with that frame on its pixels that are not burnt out (under 250): a match is a flash, not a cut. When
less than 30 % of it is left unburnt the candidate is held for up to three frames and dropped if the picture from
before comes back (a 1-3 frame flash); such a cut is reported three frames late, with :attr:`ShotChange.frame`
pointing back to it. Every other cut is reported by the push of its first frame.

*Fades.* A thumbnail whose standard deviation is under 5 grey levels is too flat to compare: the detector enters a
*dip* and waits for contrast 7.5 again. If the dip got *blank* (under 2.5: black, white or any one colour) and the
picture after it differs (``d > 0.22``) from the last one before it, that is a fade. It is reported when the
picture is back, at the frame after the flattest frame of the dip (the last frame within 0.5 grey levels of the
smallest contrast, so a held black counts to its end): the first frame in which the incoming shot appears. A fade
through black back to the same picture (or a one-frame white-out) is not a change. A dip that never gets blank
(a pan across a dark wall) is a cut only if the frame after it differs from the last frame in it.

*Dissolves.* A cross-fade makes every frame a linear mix of the outgoing and the incoming shot (Alattar [3]_),
which camera motion does not. Over a window of ``W`` frames (a third of a second), when the two ends differ
(``d > 0.25``) although the camera (tracked from the frame-to-frame matches) moved less than the 4-pixel search
between them, the middle frame is fitted as ``a * first + b * last + c`` after aligning each end to it (blurred,
clipped pixels left out).
The window is *mixed* when the fit explains the middle frame (R^2 >= 0.93) much better than either end alone
(best single R^2 <= 0.92 and a residual under 20 % of it), with an incoming weight ``b / (a + b)`` of 0.2-0.8.
A dissolve is 3 to ``2.5 W`` consecutive mixed windows, one of them with a single-end R^2 <= 0.88, then ``W / 2``
frames without one (a fade-out entering a dip cancels it); finally every frame across the run must be a mix of
the run's two ends (R^2 >= 0.85) with a weight that rises (by no more than 0.1 backwards) and stays within
-0.15..1.15, at least 4 of them in transition (weight 0.15-0.85). The change is reported ``W / 2`` frames after
the run, kind ``FADE``, at the middle of the mixed windows' middle frames: where the incoming shot reaches about
half weight. On random synthetic dissolves of 6-20 frames between the sample photos that frame is within +-1 of
the middle in half of the cases and within +-7 in all; about 1 in 15 dissolves is missed, 1 in 10 when both
shots move fast.

References
----------
.. [1] H. J. Zhang, A. Kankanhalli and S. W. Smoliar, "Automatic partitioning of full-motion video",
   Multimedia Systems 1(1):10-28, 1993 (adaptive thresholds; "twin comparison" for gradual transitions).
.. [2] R. Zabih, J. Miller and K. Mai, "A feature-based algorithm for detecting and classifying scene breaks",
   ACM Multimedia 1995 (motion-compensated comparison; fades and dissolves).
.. [3] A. M. Alattar, "Detecting and compressing dissolve regions in video sequences with a DVI multimedia image
   compression algorithm", ISCAS 1993 (a dissolve as a linear mix of two shots).

Examples
--------
>>> import numpy as np
>>> detector = ShotDetector(fps=30)
>>> ramp = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (72, 1))
>>> changes = [detector.push(frame) for frame in [ramp] * 5 + [ramp[:, ::-1]] * 5]
>>> [c for c in changes if c is not None]
[ShotChange(frame=5, kind=<ShotKind.CUT: 'cut'>)]
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import Any, NamedTuple

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import ParameterValueError

__all__ = ["ShotChange", "ShotDetector", "ShotKind"]

Thumb = NDArray[np.uint8]

# Thumbnail size (long x short side): small enough to average compression noise away and to compare in tens of
# microseconds, large enough to tell a face from a curtain. The motion search is +-4 pixels, about 6 % of the
# width per frame (a fast pan); more would let different shots match by chance.
_THUMB_LONG, _THUMB_SHORT = 64, 36
_MARGIN = 4

# Cuts. The floor sits above motion, shake and JPEG noise within a shot (up to about 0.15 on the samples) and below
# the distance between two shots of the same room (0.4 and up); the ceiling keeps a shaky shot from hiding every
# cut. The adaptive part is 4 standard deviations above the mean of the last second's distances (at least 4 of
# them): a shot with steady fast motion raises its own threshold, a still one stays at the floor.
_CUT_FLOOR = 0.22
# A frame over the cut threshold is not a cut when this share of its textured grid cells still match the previous
# frame: something entered or crossed part of the picture (on tests/video/edited.py a person sliding in over a
# third of the frame keeps 0.42-1.0 of its cells, the two cuts 0.0).
_PARTIAL_KEEP = 0.3
_GRID = (3, 4)  # rows, columns of the centre's cells (about 14 x 9 thumbnail pixels each)
_CELL_MATCH = 0.6  # normalised correlation of a cell that still shows what it showed
_CELL_TEXTURE = 4.0  # grey levels (standard deviation, equalised) below which a cell is flat
_CUT_CEIL = 0.45
_CUT_SIGMAS = 4.0
_ADAPT_WINDOW_S = 1.0
_MIN_HISTORY = 4

# Flashes: 20 grey levels of the thumbnail mean is far more than exposure drift makes in one frame and less than a
# flash or stage light adds; a flash lasts up to 3 frames (0.1 s), so a brighter cut is confirmed 3 frames late.
_FLASH_RISE = 20.0
_FLASH_FRAMES = 3
# A brighter candidate is compared on its pixels under 250 (not burnt out) when they are at least 30 % of it;
# with less, too little is left to compare and it waits for the picture from before to come back.
_CLIPPED = 250
_MIN_UNCLIPPED = 0.3

# Dips. Contrast is the standard deviation of the thumbnail in grey levels (pictures have 30-70). Under 5 the
# structure is too faint to compare; 7.5 is "back" (the gap stops flicker at the edge); under 2.5 the frame is
# uniform, the bottom of a fade (sensor noise of 3 grey levels on black, JPEG-compressed, leaves about 0.5 in the
# thumbnail). Frames within 0.5 of the smallest contrast count as equally flat, so a held black (noise and all)
# ends the fade at its last frame.
_LOW_CONTRAST = 5.0
_EXIT_CONTRAST = 7.5
_BLANK_CONTRAST = 2.5
_MIN_TIE = 0.5

# Dissolves (see the module docstring). The window is a third of a second, even, 6-20 frames: dissolves last about
# 0.2-1 s. The gate (0.25) is a little above the cut floor: the ends of a dissolve window are different shots.
# R^2 0.93 with a residual under 20 % of the best single end's: a mix explains the middle frame, one end does not
# (a pan or zoom, whose middle frame is close to one end after alignment, fails here). The run limits and the
# final check reject steady motion that mimics a mix for a while (a rotation, a fast zoom): its runs are long,
# its single-end fits stay above 0.88, and its frames are not mixes of frames up to a second apart.
_DISSOLVE_WINDOW_S = 1 / 3
_DISSOLVE_GATE = 0.25
_MIX_R2 = 0.93
_MIX_R1 = 0.92
_MIX_GAIN = 0.2
_MIX_WEIGHT = (0.2, 0.8)
_RUN_MIN = 3
_RUN_MAX = 2.5
_RUN_R1 = 0.88
_VERIFY_R2 = 0.85
_VERIFY_SLACK = 0.1
_VERIFY_WEIGHT = (-0.15, 1.15)
_VERIFY_BETWEEN = (0.15, 0.85)
_MIN_BETWEEN = 4


def _u8(arr: Any) -> Thumb:
    """OpenCV's results, typed as the uint8 arrays they are."""
    return np.asarray(arr, dtype=np.uint8)


class ShotKind(enum.Enum):
    """How a shot begins: a hard ``CUT``, or a gradual ``FADE`` (through black or white, or a dissolve)."""

    CUT = "cut"
    FADE = "fade"


@attrs.frozen(kw_only=True)
class ShotChange:
    """The start of a new shot.

    Attributes
    ----------
    frame
        Index (0-based, in push order) of the first frame of the new shot. For a cut this is the frame just
        pushed (3 frames earlier for a cut to a burnt-out picture, which could have been a flash); a fade is
        confirmed when the picture is back and a dissolve ``W / 2`` frames after it ends (5 frames at 30 fps), and
        ``frame`` then points back to where the new shot starts.
    kind
        :attr:`ShotKind.CUT` or :attr:`ShotKind.FADE`.
    """

    frame: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.ge(1)])
    kind: ShotKind = attrs.field(validator=attrs.validators.instance_of(ShotKind))


def _distance(current: Thumb, previous: Thumb, mask: NDArray[np.bool_] | None = None) -> float:
    """``1 -`` the best normalised correlation of ``current``'s centre against ``previous`` within the margin.

    ``mask`` (the size of the centre) limits the correlation to some of the centre's pixels.
    """
    m = _MARGIN
    centre = current[m:-m, m:-m]
    if mask is None:
        scores = cv2.matchTemplate(previous, centre, cv2.TM_CCOEFF_NORMED)
    else:
        scores = cv2.matchTemplate(previous, centre, cv2.TM_CCOEFF_NORMED, mask=mask.astype(np.uint8))
    # A flat window gives NaN or infinite scores (no variance to normalise by): count them as no match.
    return 1.0 - min(1.0, float(np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0).max()))


def _match(current: Thumb, previous: Thumb) -> tuple[float, float, float]:
    """:func:`_distance` and the motion from ``previous`` to ``current`` (x, y in thumbnail pixels, sub-pixel)."""
    m = _MARGIN
    scores = cv2.matchTemplate(previous, current[m:-m, m:-m], cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)

    def peak(lo: float, mid: float, hi: float) -> float:
        # The vertex of the parabola through three scores around the best one.
        curve = lo - 2 * mid + hi
        return 0.0 if curve >= 0 else max(-0.5, min(0.5, 0.5 * (lo - hi) / curve))

    h, w = scores.shape
    fx = peak(scores[y, x - 1], best, scores[y, x + 1]) if 0 < x < w - 1 else 0.0
    fy = peak(scores[y - 1, x], best, scores[y + 1, x]) if 0 < y < h - 1 else 0.0
    # The centre of ``current`` sits at (m, m) in ``previous`` when nothing moves; content moving right shows up
    # further left in ``previous``.
    return 1.0 - float(best), m - (x + fx), m - (y + fy)


def _kept_share(current: Thumb, previous: Thumb) -> float:
    """The share (0-1) of ``current``'s textured grid cells that still match ``previous`` where they were (after the
    best shift within the margin): a person walking in or an object crossing changes some cells, a cut all of them.

    The centre is cut into :data:`_GRID` cells; a cell with no texture in either frame (a flat wall) says nothing and
    is left out; a cell matches when its normalised correlation is at least :data:`_CELL_MATCH`.
    """
    m = _MARGIN
    centre = current[m:-m, m:-m].astype(np.float32)
    scores = cv2.matchTemplate(previous, current[m:-m, m:-m], cv2.TM_CCOEFF_NORMED)
    _, _, _, (x, y) = cv2.minMaxLoc(np.nan_to_num(scores, nan=-1.0))
    before = previous[y:y + centre.shape[0], x:x + centre.shape[1]].astype(np.float32)
    rows, cols = _GRID
    h, w = centre.shape
    kept = textured = 0
    for r in range(rows):
        for c in range(cols):
            a = centre[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols]
            b = before[r * h // rows:(r + 1) * h // rows, c * w // cols:(c + 1) * w // cols]
            a, b = a - a.mean(), b - b.mean()
            na, nb = float(np.sqrt((a * a).sum())), float(np.sqrt((b * b).sum()))
            if min(na, nb) < _CELL_TEXTURE * math.sqrt(a.size):
                continue
            textured += 1
            kept += float((a * b).sum()) / (na * nb) >= _CELL_MATCH
    return kept / textured if textured else 0.0


def _align(reference: Thumb, image: Thumb) -> Thumb:
    """The crop of ``image`` (the size of ``reference``) that correlates best with ``reference``."""
    scores = cv2.matchTemplate(image, reference, cv2.TM_CCOEFF_NORMED)
    _, _, _, (x, y) = cv2.minMaxLoc(scores)
    h, w = reference.shape
    return image[y : y + h, x : x + w]


def _mix_fit(mid: Thumb, start: Thumb, end: Thumb) -> tuple[float, float, float]:
    """Fit ``mid = a * start + b * end + c`` by least squares.

    Returns the incoming weight ``b / (a + b)``, the fit's R^2 and the better R^2 of ``start`` or ``end`` alone.
    The images are blurred first (sigma 1 pixel) so that sub-pixel motion does not count as a misfit, and pixels
    clipped in any of them (under 5 or over 250) are left out, since clipping is not linear.
    """
    images = np.stack([mid, start, end]).reshape(3, -1)
    valid = ((images > 4) & (images < 251)).all(axis=0)
    if valid.sum() < images.shape[1] // 2:
        return 0.0, 0.0, 1.0
    blurred = [cv2.GaussianBlur(img, (0, 0), 1.0).ravel()[valid].astype(np.float64) for img in (mid, start, end)]
    m, s, e = (v - v.mean() for v in blurred)
    ss, ee, se, sm, em, mm = s @ s, e @ e, s @ e, s @ m, e @ m, m @ m
    det = ss * ee - se * se
    if mm <= 0 or ss <= 0 or ee <= 0 or det <= 1e-6 * ss * ee:
        return 0.0, 0.0, 1.0  # a flat frame, or two ends that are one picture: not a mix
    a = (sm * ee - em * se) / det
    b = (em * ss - sm * se) / det
    r2 = (a * sm + b * em) / mm
    r1 = max(sm * sm / (ss * mm), em * em / (ee * mm))
    weight = b / (a + b) if abs(a + b) > 1e-6 else 0.0
    return float(weight), float(r2), float(r1)


class _Frame(NamedTuple):
    """A frame kept for the dissolve test: its number (push order), thumbnail and equalised thumbnail."""

    number: int
    raw: Thumb
    eq: Thumb
    x: float = 0.0  # where the camera is, in thumbnail pixels, relative to the first frame kept
    y: float = 0.0


class ShotDetector:
    """Detect shot changes (cuts, fades, dissolves) in video frames pushed in order while a video decodes.

    Parameters
    ----------
    fps
        Frame rate of the video in frames per second (any real number, e.g. PyAV's ``stream.average_rate``);
        sets the adaptive window (1 s) and the dissolve window (1/3 s).

    Raises
    ------
    ParameterValueError
        If ``fps`` is not a positive, finite number.

    Notes
    -----
    The method and its constants are described in the module docstring. The cost is one resize of the frame
    (``INTER_LINEAR`` to 256 x 144, then ``INTER_AREA`` to 64 x 36) plus a few operations on thumbnails: about
    0.15-0.3 ms for a 1080p frame on one core. The state is bounded (about ``4/3 * fps`` thumbnails).
    """

    def __init__(self, fps: float) -> None:
        try:
            rate = math.nan if isinstance(fps, (bool, str, bytes)) else float(fps)
        except (TypeError, ValueError):
            rate = math.nan
        if not math.isfinite(rate) or rate <= 0:
            raise ParameterValueError(f"fps must be a positive number of frames per second, got {fps!r}")
        self._fps = rate
        self._window = max(6, min(20, 2 * round(self._fps * _DISSOLVE_WINDOW_S / 2)))
        self._index = 0
        self._size: tuple[int, int] | None = None
        self._last: Thumb | None = None
        # The current shot: recent distances, the last few frames (flash guards), the dissolve buffer.
        self._diffs: deque[float] = deque(maxlen=max(8, round(self._fps * _ADAPT_WINDOW_S)))
        self._tail: deque[tuple[Thumb, float]] = deque(maxlen=_FLASH_FRAMES + 1)
        self._recent: deque[_Frame] = deque(maxlen=4 * self._window + 1)
        self._steps: deque[float] = deque(maxlen=self._window)
        self._run = 0
        self._run_first = 0
        self._run_last = 0
        self._run_r1 = 1.0
        self._quiet = 0
        # A brighter cut candidate waiting for the picture from before it to come back.
        self._pending: int | None = None
        self._pending_refs: list[tuple[Thumb, float]] = []
        # A dip (too flat to compare).
        self._in_dip = False
        self._anchor: Thumb | None = None
        self._dip_min = 0.0
        self._dip_min_frame = 0

    @property
    def fps(self) -> float:
        """The frame rate given to the constructor, in frames per second."""
        return self._fps

    @property
    def frames_seen(self) -> int:
        """How many frames have been pushed."""
        return self._index

    def push(self, luma: NDArray[np.uint8]) -> ShotChange | None:
        """Feed the next frame's luma and say whether a new shot starts.

        Parameters
        ----------
        luma
            The frame's Y plane, ``(height, width)`` uint8 (full-range or video-range); a non-contiguous view,
            such as the Y rows of a padded YUV420 buffer, is accepted. Every frame of a video should have the
            same size.

        Returns
        -------
        ShotChange or None
            The change confirmed by this frame, or ``None``. Frame 0 never starts a new shot. See
            :attr:`ShotChange.frame` for changes that are confirmed a few frames after they start.

        Raises
        ------
        ParameterValueError
            If ``luma`` is not a 2-D uint8 array at least 8 pixels on each side.
        """
        if not isinstance(luma, np.ndarray) or luma.dtype != np.uint8 or luma.ndim != 2:
            raise ParameterValueError("luma must be the frame's Y plane as a (height, width) uint8 array")
        if min(luma.shape) < 8:
            raise ParameterValueError(f"the frame is too small for shot detection: {luma.shape[1]}x{luma.shape[0]}")
        index = self._index
        self._index += 1
        raw = self._thumbnail(luma)
        mean, std = cv2.meanStdDev(raw)
        brightness, contrast = float(mean[0, 0]), float(std[0, 0])
        eq = _u8(cv2.equalizeHist(raw))
        if self._in_dip:
            return self._dip_step(index, raw, eq, contrast)
        if contrast < _LOW_CONTRAST:
            self._anchor = self._pending_refs[-1][0] if self._pending is not None else self._last
            self._new_shot()
            self._last = eq
            self._in_dip, self._dip_min, self._dip_min_frame = True, contrast, index
            return None
        if self._pending is not None:
            return self._flash_step(index, raw, eq, brightness)
        return self._shot_step(index, raw, eq, brightness)

    # -- the steps ----------------------------------------------------------------------------------------------

    def _thumbnail(self, luma: NDArray[np.uint8]) -> Thumb:
        h, w = luma.shape
        if self._size is None:
            self._size = (_THUMB_LONG, _THUMB_SHORT) if w >= h else (_THUMB_SHORT, _THUMB_LONG)
        tw, th = self._size
        if w > 4 * tw and h > 4 * th:
            # INTER_AREA straight from 1080p reads every pixel (0.3-0.6 ms on one core); bilinear sampling to 4x the
            # thumbnail reads about a quarter of the rows, and the area step still averages 16 bilinear samples
            # (64 pixels) into each thumbnail pixel, plenty against compression noise.
            luma = _u8(cv2.resize(luma, (4 * tw, 4 * th), interpolation=cv2.INTER_LINEAR))
        return _u8(cv2.resize(luma, (tw, th), interpolation=cv2.INTER_AREA))

    def _new_shot(self) -> None:
        self._diffs.clear()
        self._tail.clear()
        self._recent.clear()
        self._steps.clear()
        self._run = self._quiet = 0
        self._pending = None
        self._pending_refs = []

    def _start(self, index: int, raw: Thumb, eq: Thumb, brightness: float) -> None:
        """Make this frame the first of the current shot's history."""
        self._new_shot()
        self._last = eq
        self._tail.append((eq, brightness))
        self._recent.append(_Frame(index, raw, eq))

    def _threshold(self) -> float:
        if len(self._diffs) < _MIN_HISTORY:
            return _CUT_FLOOR
        n = len(self._diffs)
        mean = sum(self._diffs) / n
        std = math.sqrt(sum((d - mean) ** 2 for d in self._diffs) / n)
        return min(_CUT_CEIL, max(_CUT_FLOOR, mean + _CUT_SIGMAS * std))

    def _shot_step(self, index: int, raw: Thumb, eq: Thumb, brightness: float) -> ShotChange | None:
        prev, self._last = self._last, eq
        if prev is None:
            self._start(index, raw, eq, brightness)
            return None
        d, dx, dy = _match(eq, prev)
        threshold = self._threshold()
        if d > threshold and _kept_share(eq, prev) >= _PARTIAL_KEEP:
            d = threshold  # part of the picture changed, not all of it: the same shot, a busy moment
        if d > threshold:
            refs = list(self._tail)
            if any(_distance(eq, ref) <= threshold for ref, _ in refs[:-1]):
                self._tail.append((eq, brightness))  # the picture is back: the frames before were a transient
                return None
            before, before_brightness = min(refs, key=lambda ref: ref[1])
            if brightness - before_brightness > _FLASH_RISE:
                # Much brighter: compare the parts the light did not burn out with the picture before it.
                unclipped = raw[_MARGIN:-_MARGIN, _MARGIN:-_MARGIN] < _CLIPPED
                if unclipped.mean() < _MIN_UNCLIPPED:
                    self._new_shot()  # too little left to tell: wait for the picture from before to come back
                    self._pending, self._pending_refs = index, refs
                    return None
                if _distance(eq, before, unclipped) <= threshold:
                    self._tail.append((eq, brightness))  # a flash or a lamp: the same picture, lit
                    return None
            self._start(index, raw, eq, brightness)
            return ShotChange(frame=index, kind=ShotKind.CUT)
        self._diffs.append(d)
        self._tail.append((eq, brightness))
        x, y = self._recent[-1].x + dx, self._recent[-1].y + dy
        self._recent.append(_Frame(index, raw, eq, x, y))
        self._steps.append(math.sqrt(d))
        return self._dissolve_step()

    def _flash_step(self, index: int, raw: Thumb, eq: Thumb, brightness: float) -> ShotChange | None:
        assert self._pending is not None
        self._last = eq
        if any(_distance(eq, ref) <= _CUT_FLOOR for ref, _ in self._pending_refs):
            # A flash: the picture from before is back (perhaps still lit). Keep the frames from before the flash
            # in the tail, so that the rest of the flash and its end are recognised as a transient too.
            refs = self._pending_refs
            self._start(index, raw, eq, brightness)
            self._tail.clear()
            self._tail.extend([*refs, (eq, brightness)])
            return None
        if index - self._pending < _FLASH_FRAMES:
            return None
        change = ShotChange(frame=self._pending, kind=ShotKind.CUT)
        self._start(index, raw, eq, brightness)
        return change

    def _dip_step(self, index: int, raw: Thumb, eq: Thumb, contrast: float) -> ShotChange | None:
        prev, self._last = self._last, eq
        if contrast <= self._dip_min + _MIN_TIE:
            self._dip_min_frame = index
        self._dip_min = min(self._dip_min, contrast)
        if contrast < _EXIT_CONTRAST:
            return None
        self._in_dip = False
        self._start(index, raw, eq, float(raw.mean()))
        if self._dip_min < _BLANK_CONTRAST:
            if self._anchor is not None and _distance(eq, self._anchor) > _CUT_FLOOR:
                return ShotChange(frame=self._dip_min_frame + 1, kind=ShotKind.FADE)
        elif prev is not None and _distance(eq, prev) > _CUT_FLOOR:
            return ShotChange(frame=index, kind=ShotKind.CUT)
        return None

    # -- dissolves ----------------------------------------------------------------------------------------------

    def _fit(self, mid: _Frame, start: _Frame, end: _Frame) -> tuple[float, float, float]:
        m = _MARGIN
        ref = mid.raw[m:-m, m:-m]
        return _mix_fit(ref, _align(ref, start.raw), _align(ref, end.raw))

    def _dissolve_step(self) -> ShotChange | None:
        frames, w = self._recent, self._window
        mixed = False
        r1 = 1.0
        # sqrt(1 - NCC) is proportional to the distance between normalised images, so (for frames that need no
        # realignment) the window's ends can only be further apart than the gate if the steps between them add up
        # to that much: still and slow shots skip the end-to-end comparison.
        if len(frames) > w and sum(self._steps) ** 2 > _DISSOLVE_GATE:
            start, mid, end = frames[-w - 1], frames[-w // 2 - 1], frames[-1]
            # Ends that the camera has moved apart by more than the search margin cannot be aligned: a fast pan
            # over smooth content would look like a mix of them.
            aligned = abs(end.x - start.x) <= _MARGIN and abs(end.y - start.y) <= _MARGIN
            if aligned and _distance(end.eq, start.eq) > _DISSOLVE_GATE:
                weight, r2, r1 = self._fit(mid, start, end)
                mixed = (
                    r2 >= _MIX_R2
                    and r1 <= _MIX_R1
                    and 1 - r2 <= _MIX_GAIN * (1 - r1)
                    and _MIX_WEIGHT[0] <= weight <= _MIX_WEIGHT[1]
                )
        index = frames[-1].number
        if mixed:
            if self._run == 0:
                self._run_first = index
                self._run_r1 = r1
            self._run_r1 = min(self._run_r1, r1)
            self._run += 1
            self._run_last = index
            self._quiet = 0
            return None
        if self._run == 0:
            return None
        if not _RUN_MIN <= self._run <= _RUN_MAX * w or self._run_r1 > _RUN_R1:
            self._run = 0
            return None
        # Wait for the picture to settle: a fade-out would enter a dip now and cancel the candidate.
        self._quiet += 1
        if self._quiet < w // 2:
            return None
        self._run = 0
        if not self._is_dissolve():
            return None
        centre = (self._run_first + self._run_last) // 2 - w // 2
        current = frames[-1]
        self._start(current.number, current.raw, current.eq, float(current.raw.mean()))
        return ShotChange(frame=centre, kind=ShotKind.FADE)

    def _is_dissolve(self) -> bool:
        """Every frame across the run is a mix of its two ends, with a weight that rises from one to the other."""
        by_index = {frame.number: frame for frame in self._recent}
        first = by_index.get(self._run_first - self._window)
        last = by_index.get(self._run_last)
        if first is None or last is None:
            return False
        previous = _VERIFY_WEIGHT[0]
        between = 0
        for j in range(first.number + 1, last.number):
            frame = by_index.get(j)
            if frame is None:
                return False
            weight, r2, _ = self._fit(frame, first, last)
            in_range = _VERIFY_WEIGHT[0] <= weight <= _VERIFY_WEIGHT[1]
            if r2 < _VERIFY_R2 or weight < previous - _VERIFY_SLACK or not in_range:
                return False
            previous = max(previous, weight)
            between += _VERIFY_BETWEEN[0] < weight < _VERIFY_BETWEEN[1]
        return between >= _MIN_BETWEEN
