"""The edited test clip (tests/video/edited.py) decodes to what its ground truth says.

These check the builder, not fusionkit: the clip is decoded with PyAV and compared with the ground truth (frame count,
cuts, fades, repeated frames), and a few frames' face boxes are compared with faces that
:func:`fusionkit.vision.analyze` finds in the decoded frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import av
import numpy as np
import pytest
from numpy.typing import NDArray

from fusionkit.vision import analyze
from tests.video.edited import EditedClip, FaceInFrame, make_edited_clip

#: Frames whose decoded RGB the tests keep: one per shot at least, after the entry, and late in the turn.
KEPT = (10, 30, 50, 90, 120, 160, 196)


@attrs.frozen(kw_only=True)
class Decoded:
    """What decoding a clip gave."""

    frame_count: int
    rate: float
    size: tuple[int, int]
    audio: tuple[str, int, int, float] | None  # codec, sample rate, channels, seconds
    mad: NDArray[np.float64] = attrs.field(eq=False)  # mean |frame i - frame i-1| over RGB, grey levels; 0 at i = 0
    brightness: NDArray[np.float64] = attrs.field(eq=False)  # mean RGB level of each frame
    kept: dict[int, NDArray[np.uint8]] = attrs.field(eq=False)


def decode(path: Path, kept: tuple[int, ...] = KEPT) -> Decoded:
    """Decode every frame of ``path`` to RGB once, keeping the differences between neighbours and a few frames."""
    mad: list[float] = [0.0]
    brightness: list[float] = []
    frames: dict[int, NDArray[np.uint8]] = {}
    previous: NDArray[np.int16] | None = None
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0]
            seconds = float(a.duration * a.time_base) if a.duration is not None else 0.0
            audio = (a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels, seconds)
        rate = float(vs.average_rate)
        size = (vs.codec_context.width, vs.codec_context.height)
        for i, frame in enumerate(container.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            current = rgb.astype(np.int16)
            if previous is not None:
                mad.append(float(np.abs(current - previous).mean()))
            brightness.append(float(rgb.mean()))
            if i in kept:
                frames[i] = rgb
            previous = current
    return Decoded(frame_count=len(brightness), rate=rate, size=size, audio=audio, mad=np.array(mad),
                   brightness=np.array(brightness), kept=frames)


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> tuple[EditedClip, Decoded]:
    clip = make_edited_clip(tmp_path_factory.mktemp("edited") / "edited.mp4")
    return clip, decode(clip.path)


@pytest.fixture(scope="module")
def lossless(tmp_path_factory: pytest.TempPathFactory) -> tuple[EditedClip, Decoded]:
    clip = make_edited_clip(tmp_path_factory.mktemp("edited") / "edited_qp0.mp4", audio=False, lossless=True)
    return clip, decode(clip.path, kept=())


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def face_of(clip: EditedClip, frame: int, name: str) -> FaceInFrame:
    """``name``'s face in ``frame``, which must be there."""
    face = clip.face(frame, name)
    assert face is not None, (frame, name)
    return face


def test_timeline(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, _ = lossy
    assert (clip.frame_count, clip.fps, clip.width, clip.height) == (200, 25, 640, 360)
    assert clip.shot_starts == [0, 38, 76, 141]
    assert clip.shot_kinds == ["cut", "cut", "fade"]
    assert [s.stop for s in clip.shots] == [38, 76, 141, 200]
    assert [clip.shot_of(i).start for i in (0, 37, 38, 75, 76, 140, 141, 199)] == [0, 0, 38, 38, 76, 76, 141, 141]
    (fade,) = clip.fades
    assert (fade.out_frames, fade.in_frames) == (range(133, 141), range(141, 149))
    (entry,) = clip.entries
    assert (entry.name, entry.starts, entry.first_visible, entry.fully_visible, entry.settles) == (
        "astronaut", 102, 111, 115, 122)
    (turn,) = clip.turns
    assert (turn.name, turn.start, turn.stop) == ("biden", 153, 193)


def test_ground_truth_is_consistent(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, _ = lossy
    hash(clip)  # a value: frozen and hashable (arrays and dicts are left out of the hash)
    people = clip.people
    assert sorted(people) == list(range(clip.frame_count))
    shots = clip.shots
    for truth in clip.frames:
        shot = shots[truth.shot]
        assert truth.index in shot.frames
        names = [f.name for f in truth.faces]
        assert len(set(names)) == len(names)
        # Each person comes from the photo the shot says; nobody is in the black frame.
        assert all(shot.photos[f.name] == f.photo for f in truth.faces)
        assert (truth.gain == 0) == (not truth.faces)
    # Repeats: every fifth frame, never a shot's first, a copy of the previous frame's truth.
    assert clip.repeats == [(i, i - 1) for i in range(4, clip.frame_count, 5)]
    for i, j in clip.repeats:
        assert attrs.evolve(clip.frames[i], index=j, repeat_of=None) == clip.frames[j]
    # The entry: absent before its first visible frame, then always there; whole from fully_visible.
    (entry,) = clip.entries
    shot_c = clip.shots[entry.shot]
    present = [i for i in shot_c.frames if clip.face(i, "astronaut") is not None and clip.frames[i].gain > 0]
    assert present == list(range(entry.first_visible, shot_c.stop - 1))  # the last frame of C is black
    assert all((face_of(clip, i, "astronaut").visible == 1.0) == (i >= entry.fully_visible) for i in present)
    # The turn: the squeeze is 1 up to its start, falls to the end value at its stop and holds; only the face's
    # width changes.
    (turn,) = clip.turns
    shot_d = clip.shots[turn.shot]
    squeeze = {i: face_of(clip, i, "biden").squeeze for i in shot_d.frames}
    assert {squeeze[i] for i in range(shot_d.start, turn.start + 1)} == {1.0}
    assert all(squeeze[i] >= squeeze[i + 1] for i in range(shot_d.start, shot_d.stop - 1))
    assert squeeze[turn.stop - 1] > turn.squeeze
    assert {squeeze[i] for i in range(turn.stop, shot_d.stop)} == {turn.squeeze}
    first, last = face_of(clip, turn.start, "biden"), face_of(clip, turn.stop, "biden")
    assert last.size == pytest.approx(first.size * turn.squeeze, rel=1e-6)
    # Mesh points land in the face boxes.
    for i, name in [(10, "obama"), (50, "biden"), (120, "astronaut"), (196, "biden")]:
        points, face = clip.points(i, name), face_of(clip, i, name)
        x0, y0, x1, y1 = face.box
        assert np.all((points[:, 0] > x0 - 0.15 * face.size) & (points[:, 0] < x1 + 0.15 * face.size))
        assert np.all((points[:, 1] > y0 - 0.15 * face.size) & (points[:, 1] < y1 + 0.15 * face.size))


def test_decodes_to_frame_count_at_fps_with_audio(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossy
    assert decoded.frame_count == clip.frame_count
    assert decoded.rate == clip.fps
    assert decoded.size == (clip.width, clip.height)
    assert decoded.audio is not None
    codec, rate, channels, seconds = decoded.audio
    assert (codec, rate, channels) == ("aac", 44100, 2)
    assert seconds == pytest.approx(clip.duration_s, abs=0.1)


def test_cuts_are_where_the_ground_truth_says(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossy
    (fade,) = clip.fades
    within = [i for i in range(1, clip.frame_count)
              if i not in clip.cut_frames and i not in fade.out_frames and i not in fade.in_frames]
    at_cuts = decoded.mad[clip.cut_frames]
    assert at_cuts.min() > 50
    # The largest change inside a shot is the astronaut sliding in (measured: 23 grey levels; the cuts: 72 and 89).
    assert decoded.mad[within].max() < 30
    assert at_cuts.min() > 2 * decoded.mad[within].max()


def test_fade_goes_through_black(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossy
    (fade,) = clip.fades
    level = decoded.brightness
    assert level[fade.out_frames[-1]] < 1.0
    out_levels, in_levels = level[list(fade.out_frames)], level[list(fade.in_frames)]
    assert np.all(np.diff(out_levels) <= 0.5)  # darker, or equal over a repeat
    assert np.all(np.diff(in_levels) >= -0.5)
    # The decoded level follows the gain of the ground truth.
    gains = np.array([clip.frames[i].gain for i in [*fade.out_frames, *fade.in_frames]])
    before, after = level[fade.out_frames[0] - 1], level[fade.in_frames[-1]]  # the shots' levels at full brightness
    full = np.array([before] * len(fade.out_frames) + [after] * len(fade.in_frames))
    assert np.allclose(np.concatenate([out_levels, in_levels]), gains * full, atol=2.5)


def test_repeats_are_near_copies_after_lossy_encoding(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossy
    repeated = [i for i, _ in clip.repeats]
    assert len(repeated) == 40
    # crf 18: a repeat decodes within about a grey level of its original (mean absolute difference), never exactly:
    # x264 codes a residual on the repeat that moves it closer to the source (measured: 0.58 on average, at most
    # 1.02; single pixels by up to ~30).
    assert decoded.mad[repeated].max() <= 1.5
    others = [i for i in range(1, clip.frame_count) if clip.frames[i].repeat_of is None]
    assert np.percentile(decoded.mad[others], 5) > decoded.mad[repeated].max() / 2


def test_repeats_are_exact_copies_after_lossless_encoding(lossless: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossless
    assert decoded.frame_count == clip.frame_count and decoded.audio is None
    # Every frame but the repeats changes (the camera always moves), so the zero differences are exactly the repeats.
    assert [i for i in range(1, clip.frame_count) if decoded.mad[i] == 0] == [i for i, _ in clip.repeats]


def test_ground_truth_does_not_depend_on_the_encoding(lossy: tuple[EditedClip, Decoded],
                                                      lossless: tuple[EditedClip, Decoded]) -> None:
    assert attrs.evolve(lossy[0], path=lossless[0].path, lossless=True, audio=False) == lossless[0]


def test_face_boxes_hold_the_faces_found_in_decoded_frames(lossy: tuple[EditedClip, Decoded]) -> None:
    clip, decoded = lossy
    assert sorted(decoded.kept) == list(KEPT)
    for i, rgb in decoded.kept.items():
        truth = clip.faces(i, min_visible=1.0)
        assert truth and all(f.size >= 40 for f in truth)
        found = [[float(v) for v in m.face.box] for m in analyze(rgb, model="auto")]
        for face in truth:
            best = max((iou(face.box, box) for box in found), default=0.0)
            assert best > 0.4, (i, face.name, face.box, found)
        # ... and every face found is one of the ground truth's.
        assert len(found) == len(truth), (i, found)


def test_720p_scales_the_layout(lossy: tuple[EditedClip, Decoded], tmp_path: Path) -> None:
    small, _ = lossy
    # 10 fps keeps this quick; the first frame of each shot has the same layout at any frame rate.
    big = make_edited_clip(tmp_path / "edited_720p.mp4", width=1280, height=720, fps=10, audio=False)
    decoded = decode(big.path, kept=())
    assert decoded.frame_count == big.frame_count == 80
    assert decoded.size == (1280, 720) and decoded.rate == 10
    assert big.shot_kinds == small.shot_kinds
    assert big.shot_starts == [0, 15, 30, 56]
    for shot_small, shot_big in zip(small.shots, big.shots, strict=True):
        faces_small, faces_big = small.faces(shot_small.start), big.faces(shot_big.start)
        assert [f.name for f in faces_small] == [f.name for f in faces_big]
        for a, b in zip(faces_small, faces_big, strict=True):
            assert np.allclose(np.array(b.box), 2 * np.array(a.box), atol=1.0)
