"""Smoothing a tracklet's points: still faces stay still, moving faces are not lagged, repeats stay identical."""

from __future__ import annotations

import itertools

import numpy as np

from fusionkit.vision.tracking import OneEuroFilter, smooth_points


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
