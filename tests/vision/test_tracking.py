"""Smoothing a tracklet's points: still faces stay still, moving faces are not lagged, repeats stay identical."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np

from fusionkit.vision.identity import AppearanceIdentity, DlibIdentity
from fusionkit.vision.tracking import OneEuroFilter, Tracklet, link_people, smooth_points


def _track(n: int, speed: float, noise: float, seed: int = 0) -> list[np.ndarray]:
    """A 468-point face 100 px wide moving right at ``speed`` px a frame, each point jittered by ``noise`` px."""
    rng = np.random.default_rng(seed)
    base = np.zeros((468, 3), np.float32)
    base[:, 0] = np.linspace(0, 100, 468)
    base[:, 1] = np.linspace(0, 120, 468)[::-1]
    return [base + np.array([speed * k, 0, 0], np.float32) + rng.normal(0, noise, (468, 3)).astype(np.float32)
            for k in range(n)]


def _jitter(points: list) -> float:
    """Mean point movement from frame to frame, pixels."""
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(points)]))


def test_a_still_face_is_steadied() -> None:
    raw = _track(60, 0.0, 1.0)
    smooth = smooth_points(raw, [False] * 60, 25.0)
    assert _jitter(smooth) < 0.3 * _jitter(raw)


def test_a_moving_face_is_not_lagged() -> None:
    # 8 px a frame (200 px a second at 25 fps): a causal One-Euro filter trails the face; forward and backward
    # averaged, the smoothed points sit on it.
    raw = _track(50, 8.0, 0.5)
    smooth = smooth_points(raw, [False] * 50, 25.0)
    truth = _track(50, 8.0, 0.0)
    lag = [float((s[:, 0] - t[:, 0]).mean()) for s, t in zip(smooth[5:-5], truth[5:-5], strict=True)]
    assert abs(float(np.mean(lag))) < 0.2 and max(abs(v) for v in lag) < 0.6
    causal, f = [], OneEuroFilter()
    for x in raw:
        causal.append(f(x, 1 / 25, 100.0))
    trail = float(np.mean([(c[:, 0] - t[:, 0]).mean() for c, t in zip(causal[5:-5], truth[5:-5], strict=True)]))
    assert trail < -1.0, "the causal filter alone lags (what the backward pass removes)"


def test_repeated_frames_get_identical_points_and_gaps_split_runs() -> None:
    raw: list[np.ndarray | None] = list(_track(20, 3.0, 0.5))
    still = [False] * 20
    for k in (4, 9, 14):  # frame k repeats frame k - 1
        raw[k] = raw[k - 1]
        still[k] = True
    raw[17] = None  # the face lost for a frame
    smooth = smooth_points(raw, still, 25.0)
    for k in (4, 9, 14):
        np.testing.assert_array_equal(smooth[k], smooth[k - 1])
    assert smooth[17] is None and smooth[16] is not None and smooth[18] is not None


def _tracklet(shot: int, start: int, frames: int, embedding: np.ndarray) -> Tracklet:
    points = np.zeros((468, 3), np.float32)
    return Tracklet(shot=shot, start=start, points=[points] * frames, still=[False] * frames,
                    embeddings=[embedding.astype(np.float32)])


def test_people_are_joined_across_shots_never_on_one_frame_and_ordered_by_screen_time() -> None:
    rng = np.random.default_rng(1)
    people = [rng.normal(size=128) for _ in range(3)]
    people = [p / np.linalg.norm(p) for p in people]
    near = lambda p: p + rng.normal(scale=0.01, size=128)  # noqa: E731 - another shot of the same person
    tracklets = [
        _tracklet(0, 0, 30, near(people[0])),    # A: person 0
        _tracklet(1, 30, 20, near(people[1])),   # B: person 1
        _tracklet(2, 50, 40, near(people[0])),   # C: person 0 again
        _tracklet(2, 50, 40, people[0] + rng.normal(scale=0.03, size=128)),  # C: a look-alike on the same frames
        _tracklet(2, 60, 10, near(people[2])),   # C: person 2
    ]
    model = DlibIdentity.__new__(DlibIdentity)  # only its distances matter here: no model is loaded
    groups = link_people(tracklets, model)
    assert sorted(map(sorted, groups)) == [[0, 2], [1], [3], [4]]  # the look-alike is never joined: it shares frames
    assert groups[0] == [0, 2]  # 70 frames on screen
    # Without a model that tells people apart, shots are never joined.
    assert sorted(map(sorted, link_people(tracklets, AppearanceIdentity()))) == [[0], [1], [2], [3], [4]]


def test_linking_a_minute_of_edited_video_is_fast() -> None:
    # 40 shots of 3 people out of 10: 120 tracklets, 3 samples each.
    rng = np.random.default_rng(2)
    people = [p / np.linalg.norm(p) for p in rng.normal(size=(10, 128))]
    tracklets = []
    for shot in range(40):
        for who in rng.choice(10, 3, replace=False):
            t = _tracklet(shot, shot * 45, 45, people[who])
            t.embeddings = [(people[who] + rng.normal(scale=0.02, size=128)).astype(np.float32) for _ in range(3)]
            tracklets.append(t)
    model = DlibIdentity.__new__(DlibIdentity)
    t0 = time.perf_counter()
    groups = link_people(tracklets, model)
    assert time.perf_counter() - t0 < 2.0
    assert len(groups) == 10


def _planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    q = (h // 2) * (w // 2)
    return (yuv[: h * w].reshape(h, w), yuv[h * w: h * w + q].reshape(h // 2, w // 2),
            yuv[h * w + q:].reshape(h // 2, w // 2))


def test_a_face_hidden_for_a_few_frames_is_picked_up_as_the_same_tracklet() -> None:
    from fusionkit.vision.tracking import FaceTracker
    from tests.photos import photo

    base = cv2.resize(photo("two_people.jpg"), (640, 360), interpolation=cv2.INTER_AREA)
    tracker = FaceTracker(25.0, 360, AppearanceIdentity())
    for index in range(30):
        frame = base.copy()
        if 10 <= index < 15:  # the right-hand person walks behind something for five frames
            frame[:, 320:] = 128
        tracker.step(index, _planes(frame))
    right = [t for t in tracker.tracklets if any(p is not None and p[:, 0].mean() > 320 for p in t.points)]
    assert len(right) == 1  # picked up again, not a second tracklet
    t = right[0]
    seen = [p is not None for p in t.points]
    assert not any(seen[10:15]) and all(seen[:10]) and all(seen[18:])  # back within three frames
