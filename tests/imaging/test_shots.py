"""Shot boundaries on synthetic edits of the sample photos, filmed by a moving virtual camera.

Cuts, fades and a dissolve are found at the documented frame; camera motion, repeated frames, flashes, a moving
occluder, exposure drift and JPEG noise are not changes.
"""

from __future__ import annotations

import math
import tracemalloc
from fractions import Fraction
from typing import NamedTuple

import cv2
import numpy as np
import pytest

from fusionkit.errors import ParameterValueError
from fusionkit.imaging import shots
from fusionkit.imaging.shots import ShotChange, ShotDetector, ShotKind
from tests.photos import luma

SMALL, LARGE = (640, 360), (1280, 720)
Frames = list[np.ndarray]


class Camera(NamedTuple):
    """Where the virtual camera looks: centre (fractions of the photo), zoom (1 = widest view), roll in degrees."""

    cx: float
    cy: float
    zoom: float = 1.0
    roll: float = 0.0


def film(name: str, n: int, size: tuple[int, int], start: Camera, end: Camera | None = None) -> Frames:
    """``n`` frames of the photo while the camera moves linearly from ``start`` to ``end`` (inside the photo)."""
    img = luma(name)
    h, w = img.shape
    out_w, out_h = size
    end = end or start
    frames = []
    for i in range(n):
        t = i / max(1, n - 1)
        cx, cy, zoom, roll = (a + (b - a) * t for a, b in zip(start, end, strict=True))
        view_w = min(w, h * out_w / out_h) / zoom
        scale = view_w / out_w
        x0 = min(max(cx * w, view_w / 2), w - view_w / 2)
        y0 = min(max(cy * h, view_w * out_h / out_w / 2), h - view_w * out_h / out_w / 2)
        c, s = math.cos(math.radians(roll)) * scale, math.sin(math.radians(roll)) * scale
        m = np.array([[c, -s, x0 - c * out_w / 2 + s * out_h / 2], [s, c, y0 - s * out_w / 2 - c * out_h / 2]])
        frames.append(cv2.warpAffine(img, m, size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def blend(a: np.ndarray, b: np.ndarray | float, alpha: float) -> np.ndarray:
    """``(1 - alpha) * a + alpha * b``, rounded to uint8."""
    return np.clip(a * (1.0 - alpha) + np.asarray(b, np.float64) * alpha + 0.5, 0, 255).astype(np.uint8)


def fade_through(a: Frames, b: Frames, level: int, n_out: int, n_hold: int, n_in: int) -> tuple[Frames, int]:
    """``a`` fades to a uniform ``level`` over its last ``n_out`` frames, ``n_hold`` uniform frames, then ``b``
    fades in over its first ``n_in``. Returns the frames and the index of ``b``'s first frame."""
    out = a[:-n_out] + [blend(f, level, k / n_out) for k, f in enumerate(a[-n_out:], 1)]
    out += [np.full_like(a[0], level)] * n_hold
    first = len(out)
    out += [blend(f, level, 1 - k / n_in) for k, f in enumerate(b[:n_in], 1)] + b[n_in:]
    return out, first


def dissolve(a: Frames, b: Frames, n: int) -> tuple[Frames, int]:
    """A cross-fade over ``n`` frames (``a``'s last and ``b``'s first). Returns the frames and the first frame in
    which ``b`` has at least half the weight."""
    alphas = [k / (n + 1) for k in range(1, n + 1)]
    out = a[:-n] + [blend(fa, fb, t) for fa, fb, t in zip(a[-n:], b[:n], alphas, strict=True)] + b[n:]
    return out, len(a) - n + next(i for i, t in enumerate(alphas) if t >= 0.5)


def jpeg(frames: Frames, quality: int = 60) -> Frames:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    return [cv2.imdecode(cv2.imencode(".jpg", f, params)[1], cv2.IMREAD_GRAYSCALE) for f in frames]


def detect(frames: Frames, fps: float = 30.0) -> list[ShotChange]:
    detector = ShotDetector(fps)
    return [change for change in map(detector.push, frames) if change is not None]


def cuts(*frames: int) -> list[ShotChange]:
    return [ShotChange(frame=f, kind=ShotKind.CUT) for f in frames]


def four_shots(size: tuple[int, int]) -> Frames:
    """Obama in the Oval Office; Obama in a gold room; Biden in a similar gold room (same palette, curtains and
    light); Biden again, zoomed in on another part of the same photo. 24 frames each, camera moving."""
    return (
        film("obama.jpg", 24, size, Camera(0.45, 0.3, 1.1), Camera(0.55, 0.3, 1.2, 1))
        + film("obama3.jpg", 24, size, Camera(0.5, 0.22), Camera(0.55, 0.25, 1.05, -1))
        + film("biden.jpg", 24, size, Camera(0.5, 0.2), Camera(0.45, 0.22, 1.05, 1))
        + film("biden.jpg", 24, size, Camera(0.6, 0.35, 2.2), Camera(0.55, 0.3, 2.1))
    )


def pan_zoom(size: tuple[int, int], n: int = 100) -> Frames:
    """A slow pan across two people with a zoom from 1.2x to 1.8x and a roll of 5 degrees."""
    return film("two_people.jpg", n, size, Camera(0.2, 0.4, 1.2, -2), Camera(0.8, 0.5, 1.8, 3))


# -- changes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["360p", "720p"])
def test_cuts_between_four_shots_are_found_on_their_first_frame(size):
    assert detect(four_shots(size)) == cuts(24, 48, 72)


def test_a_cut_is_reported_by_the_push_of_its_first_frame():
    detector = ShotDetector(fps=25)
    results = [detector.push(f) for f in four_shots(SMALL)]
    assert [i for i, r in enumerate(results) if r is not None] == [24, 48, 72]
    assert detector.frames_seen == 96


@pytest.mark.parametrize(
    ("gain", "delay"), [(1.0, 0), (4.0, 3)], ids=["brighter", "burnt-out"]
)
def test_a_cut_to_a_much_brighter_shot(gain, delay):
    """A brighter cut is told from a flash on its pixels that are not burnt out, at once; when over 70 % of the
    frame is burnt out it is confirmed three frames later, once the picture from before has not come back."""
    dark = [(f * 0.35).astype(np.uint8) for f in film("biden.jpg", 20, SMALL, Camera(0.5, 0.3))]
    bright = [np.clip(f * gain + 60.0, 0, 255).astype(np.uint8)
              for f in film("astronaut.png", 20, SMALL, Camera(0.5, 0.5), Camera(0.5, 0.5, 1.1))]
    detector = ShotDetector(fps=30)
    results = [detector.push(f) for f in dark + bright]
    assert [(i, r) for i, r in enumerate(results) if r is not None] == [(20 + delay, *cuts(20))]


@pytest.mark.parametrize(
    ("level", "n_out", "n_hold", "n_in"),
    [(0, 8, 2, 10), (0, 4, 0, 4), (0, 15, 3, 15), (255, 12, 0, 15), (255, 6, 1, 6)],
    ids=["black", "black-fast", "black-slow-held", "white", "white-fast"],
)
def test_a_fade_is_one_change_on_the_first_frame_of_the_incoming_shot(level, n_out, n_hold, n_in):
    a = film("obama.jpg", 30, SMALL, Camera(0.45, 0.3, 1.1), Camera(0.55, 0.3, 1.2, 1))
    b = film("biden.jpg", 30, SMALL, Camera(0.5, 0.2), Camera(0.45, 0.22, 1.05, 1))
    frames, first = fade_through(a, b, level, n_out, n_hold, n_in)
    assert detect(frames) == [ShotChange(frame=first, kind=ShotKind.FADE)]


def test_a_fade_survives_jpeg_noise_at_720p():
    a = film("obama3.jpg", 30, LARGE, Camera(0.5, 0.22), Camera(0.55, 0.25, 1.05))
    b = film("two_people.jpg", 30, LARGE, Camera(0.3, 0.4), Camera(0.35, 0.4, 1.1))
    frames, first = fade_through(a, b, 0, 10, 2, 10)
    assert detect(jpeg(frames)) == [ShotChange(frame=first, kind=ShotKind.FADE)]


def test_fading_out_and_back_in_on_the_same_picture_is_not_a_change():
    a = pan_zoom(SMALL, 60)
    frames, _ = fade_through(a[:30], a[30:], 0, 8, 2, 8)
    assert detect(frames) == []


@pytest.mark.parametrize(
    ("n", "pair"),
    [(8, ("obama.jpg", "biden.jpg")), (10, ("obama.jpg", "biden.jpg")), (16, ("obama.jpg", "biden.jpg")),
     (10, ("astronaut.png", "two_people.jpg")), (12, ("obama3.jpg", "biden.jpg"))],
    ids=["8", "10", "16", "10-astronaut", "12-same-room"],
)
def test_a_dissolve_is_one_fade_near_its_middle(n, pair):
    """Reported at the middle of the windows that look like mixes: within 2 frames of the first frame in which the
    incoming shot has half the weight (the documented precision), never outside the dissolve."""
    a = film(pair[0], 30, SMALL, Camera(0.45, 0.3, 1.1), Camera(0.55, 0.3, 1.2, 1))
    b = film(pair[1], 30, SMALL, Camera(0.5, 0.2), Camera(0.45, 0.22, 1.05, 1))
    frames, middle = dissolve(a, b, n)
    (change,) = detect(frames)
    assert change.kind is ShotKind.FADE
    assert abs(change.frame - middle) <= 2
    assert 30 - n < change.frame < 30


# -- not changes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["360p", "720p"])
def test_a_slow_pan_with_zoom_and_roll_is_one_shot(size):
    assert detect(pan_zoom(size)) == []


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("two_people.jpg", Camera(0.0, 0.5, 1.8), Camera(1.0, 0.5, 1.8)),  # 45 frames across: 1.8 % of the width
        ("obama3.jpg", Camera(0.5, 0.0), Camera(0.5, 1.0)),  # fast tilt down the whole body
        ("astronaut.png", Camera(0.5, 0.5, 1.0), Camera(0.5, 0.45, 3.0)),  # 3x zoom in 45 frames
        ("astronaut.png", Camera(0.5, 0.5, 1.3, -20), Camera(0.5, 0.5, 1.3, 20)),  # roll of 40 degrees
    ],
    ids=["fast-pan", "fast-tilt", "fast-zoom", "roll"],
)
def test_fast_camera_motion_is_one_shot(name, start, end):
    assert detect(film(name, 45, SMALL, start, end)) == []


def test_camera_shake_is_one_shot():
    rng = np.random.default_rng(7)
    frames = [film("obama3.jpg", 1, SMALL, Camera(0.5 + rng.normal(0, 0.01), 0.3 + rng.normal(0, 0.01), 1.1,
                                                  rng.normal(0, 1.0)))[0] for _ in range(60)]
    assert detect(frames) == []


def test_repeated_frames_are_one_shot():
    frames = [f for i, f in enumerate(pan_zoom(SMALL)) for _ in range(2 if i % 5 == 0 else 1)]
    assert detect(frames) == []


@pytest.mark.parametrize("gains", [[1.6], [1.4, 2.0, 1.4], [2.2, 2.2]], ids=["1-frame", "3-frame", "2-frame-burnt"])
def test_a_flash_is_not_a_change(gains):
    frames = pan_zoom(SMALL, 50)
    for k, gain in enumerate(gains, 30):
        frames[k] = np.clip(frames[k] * gain + 50, 0, 255).astype(np.uint8)
    assert detect(frames) == []


def test_a_white_out_frame_is_not_a_change():
    frames = pan_zoom(SMALL, 50)
    frames[25] = np.full_like(frames[25], 255)
    assert detect(frames) == []


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["360p", "720p"])
def test_an_object_crossing_a_third_of_the_frame_is_not_a_change(size):
    w, h = size
    frames = []
    for i, f in enumerate(pan_zoom(size, 60)):
        f = f.copy()
        x = -w // 3 + i * w // 60  # a third of the width wide, crossing at 1.7 % of the width per frame
        f[h // 8 : h - h // 8, max(0, x) : max(0, x + w // 3)] = 128
        frames.append(f)
    assert detect(frames) == []


@pytest.mark.parametrize("speed", [0.04, 0.08])
def test_a_person_walking_in_fast_is_not_a_change(speed):
    # Another photo (a person, textured) slides in from the right over a third of the frame at 4-8 % of the width
    # per frame: most of the picture still shows what it showed, so it is the same shot.
    w, h = SMALL
    person = cv2.resize(luma("astronaut.png"), (w - 2 * w // 3, h))
    frames = []
    for i, f in enumerate(pan_zoom(SMALL, 40)):
        f = f.copy()
        x = max(w - round(i * speed * w), 2 * w // 3)
        f[:, x:] = person[:, : w - x]
        frames.append(f)
    assert detect(frames) == []


@pytest.mark.parametrize("final_gain", [0.4, 1.8], ids=["darker", "brighter-clipped"])
def test_gradual_exposure_drift_is_not_a_change(final_gain):
    frames = [np.clip(f * (1 + (final_gain - 1) * i / 99), 0, 255).astype(np.uint8)
              for i, f in enumerate(pan_zoom(SMALL))]
    assert detect(frames) == []


def test_jpeg_noise_is_not_a_change():
    assert detect(jpeg(pan_zoom(SMALL))) == []


def test_jpeg_noise_keeps_the_cuts():
    assert detect(jpeg(four_shots(SMALL))) == cuts(24, 48, 72)


# -- input --------------------------------------------------------------------------------------------------------


def test_a_non_contiguous_view_gives_the_same_changes():
    frames = four_shots(SMALL)
    padded = [np.pad(f, ((0, 8), (16, 48)))[:-8, 16:-48] for f in frames]  # Y rows of a wider, padded buffer
    flipped = [np.ascontiguousarray(f[:, ::-1])[:, ::-1] for f in frames]  # negative strides
    assert not padded[0].flags.c_contiguous and not flipped[0].flags.c_contiguous
    assert detect(padded) == detect(flipped) == detect(frames) == cuts(24, 48, 72)


def test_portrait_video_and_fractional_frame_rates():
    frames = [np.ascontiguousarray(f.T) for f in four_shots(SMALL)]
    assert detect(frames, fps=Fraction(30000, 1001)) == cuts(24, 48, 72)


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), True, "30", None])
def test_bad_frame_rates_are_refused(fps):
    with pytest.raises(ParameterValueError, match="fps"):
        ShotDetector(fps)


@pytest.mark.parametrize(
    "luma",
    [np.zeros((360, 640), np.float32), np.zeros((360, 640, 3), np.uint8), np.zeros((4, 640), np.uint8), [[0] * 64]],
    ids=["float", "colour", "tiny", "list"],
)
def test_bad_frames_are_refused(luma):
    with pytest.raises(ParameterValueError):
        ShotDetector(30).push(luma)


def test_frame_zero_never_starts_a_shot_and_changes_are_values():
    assert ShotDetector(30).push(np.zeros((360, 640), np.uint8)) is None
    with pytest.raises(ValueError):
        ShotChange(frame=0, kind=ShotKind.CUT)
    assert ShotKind("fade") is ShotKind.FADE and ShotKind.CUT.value == "cut"


def test_memory_stays_flat_over_a_long_video():
    """The detector keeps a bounded number of thumbnails: three times more frames of one shot cost no more memory."""
    forth = pan_zoom((128, 72), 50)
    frames = forth + forth[::-1]  # the camera pans back and forth: one long shot
    detector = ShotDetector(fps=30)

    def held_after(n: int) -> int:
        for i in range(n):
            assert detector.push(frames[i % len(frames)]) is None
        # What the detector's module holds: other threads of the test run (a studio's sweeper, a lease) allocate
        # meanwhile, and the process's total moved with them.
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, shots.__file__)])
        return sum(stat.size for stat in snapshot.statistics("filename"))

    tracemalloc.start()
    try:
        short, long = held_after(300), held_after(900)
    finally:
        tracemalloc.stop()
    assert short > 100_000 and long - short < 16_000, (short, long)  # it holds thumbnails; no more over time
