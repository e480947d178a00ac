"""Finding and following people through an edited video (tests/video/edited.py): shots, tracks, re-identification,
whom to replace, frames fused per face, identical output on repeated frames, smoothing without lag."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from fusionkit import errors
from fusionkit.domain.options import FuseOptions, LabelOptions
from fusionkit.fusion.api import Merge
from fusionkit.fusion.video import VideoTracks, fuse_video, reference_face, track_video
from fusionkit.samples import sample_path
from fusionkit.vision.tracking import DISCOVER_EVERY
from tests.video.edited import EditedClip, make_edited_clip

NO_LABEL = FuseOptions(label=LabelOptions(enabled=False))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> EditedClip:
    return make_edited_clip(tmp_path_factory.mktemp("edited") / "edited.mp4")


@pytest.fixture(scope="module")
def tracks(clip: EditedClip) -> VideoTracks:
    return track_video(clip.path)


def _who(clip: EditedClip, tracks: VideoTracks, face: int, frame: int) -> str:
    """The ground-truth person nearest to a tracked face on a frame."""
    cx, cy = np.mean(tracks.points[frame, face, :, :2], axis=0)
    nearest = min(clip.faces(frame), key=lambda f: np.hypot((f.box[0] + f.box[2]) / 2 - cx,
                                                            (f.box[1] + f.box[3]) / 2 - cy))
    return nearest.name


def _people(clip: EditedClip, tracks: VideoTracks) -> list[set[str]]:
    """Per tracked face, the ground-truth people it lies on (over every frame it is present on)."""
    return [{_who(clip, tracks, f, int(k)) for k in np.flatnonzero(tracks.present[:, f])}
            for f in range(tracks.face_count)]


def test_shots_follow_the_cuts_and_the_fade(clip: EditedClip, tracks: VideoTracks) -> None:
    assert clip.shot_starts[:3] == [0, 38, 76] and clip.shot_kinds == ["cut", "cut", "fade"]
    starts = tracks.shots.tolist()
    assert starts[:3] == [0, 38, 76] and len(starts) == 4
    assert 141 <= starts[3] <= 143  # the first frames of the fade-in (141 shows the new picture at a few percent)
    # No face runs across a shot boundary on one track... unless the same person is on both sides (re-identified).
    for f in range(tracks.face_count):
        for start in starts[1:]:
            if tracks.present[start - 1, f] and tracks.present[start, f]:
                assert _who(clip, tracks, f, start - 1) == _who(clip, tracks, f, start)


def test_each_person_is_one_face_across_shots_longest_on_screen_first(clip: EditedClip,
                                                                     tracks: VideoTracks) -> None:
    # obama (obama3.jpg in shots A and D, obama.jpg in C), biden (B, D), the astronaut (enters C, D).
    assert tracks.face_count == 3
    assert _people(clip, tracks) == [{"obama"}, {"biden"}, {"astronaut"}]
    on_screen = tracks.present.sum(axis=0)
    assert list(on_screen) == sorted(on_screen, reverse=True)
    shots_of = [{tracks.shot_of(int(k)) for k in np.flatnonzero(tracks.present[:, f])} for f in range(3)]
    assert shots_of == [{0, 2, 3}, {1, 3}, {2, 3}]
    # Each person is on (nearly) every frame the ground truth shows their whole face on.
    for f, name in enumerate(("obama", "biden", "astronaut")):
        shown = [k for k in range(clip.frame_count) if any(
            p.name == name and p.visible == 1.0 and p.size >= 40 for p in clip.faces(k)) and clip.frames[k].gain > 0.5]
        assert tracks.present[shown, f].mean() > 0.95, name


def test_a_person_entering_is_found_within_three_frames(clip: EditedClip, tracks: VideoTracks) -> None:
    entry = clip.entries[0]
    assert entry.name == "astronaut"
    first = int(np.argmax(tracks.present[:, 2]))
    # Found once enough of the face is in the picture for the mesh model, at the latest three frames after it is
    # wholly in.
    assert entry.first_visible <= first < entry.fully_visible + DISCOVER_EVERY


def test_repeated_frames_keep_identical_points(clip: EditedClip, tracks: VideoTracks) -> None:
    checked = 0
    for frame, original in clip.repeats:
        for f in range(tracks.face_count):
            if tracks.present[frame, f] and tracks.present[original, f]:
                np.testing.assert_array_equal(tracks.points[frame, f], tracks.points[original, f])
                checked += 1
    assert checked > 40


def test_references_pick_people_across_pose_light_and_scale(clip: EditedClip) -> None:
    # obama.jpg is shown in shot C only, obama3.jpg in A and D: either photo names the same person everywhere.
    refs = [reference_face(sample_path("obama.jpg")), reference_face(sample_path("biden.jpg"))]
    picked = track_video(clip.path, references=refs)
    assert picked.face_count == 2 and _people(clip, picked) == [{"obama"}, {"biden"}]
    assert picked.present[:, 0].sum() > 120  # shots A, C and D
    swapped = track_video(clip.path, references=refs[::-1])
    np.testing.assert_array_equal(swapped.present, picked.present[:, ::-1])


def test_two_users_land_on_two_people_and_the_result_says_what_was_fused(clip: EditedClip, tracks: VideoTracks,
                                                                        tmp_path: Path) -> None:
    merges = [Merge(image=sample_path("astronaut.png"), template_face=0),
              Merge(image=sample_path("obama3.jpg"), template_face=1)]
    result = fuse_video(clip.path, merges, tmp_path / "two.mp4", NO_LABEL, tracks=tracks)
    assert result.shots == tuple(tracks.shots.tolist())
    for report, face in zip(result.faces, (0, 1), strict=True):
        assert report.template_face == face
        assert report.frames_present == int(tracks.present[:, face].sum())
        assert report.frames_fused + sum(b - a for runs in report.skipped.values() for a, b in runs) \
            == report.frames_present
    assert result.faces[0].frames_fused > 0.9 * result.faces[0].frames_present
    with pytest.raises(errors.TemplateFaceIDNotExistError):
        fuse_video(clip.path, Merge(image=sample_path("obama3.jpg"), template_face=3), tmp_path / "x.mp4",
                   tracks=tracks)
    assert not (tmp_path / "x.mp4").exists()


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray") for f in c.decode(video=0)]


def test_identical_frames_give_identical_fused_frames(tmp_path: Path) -> None:
    clip = make_edited_clip(tmp_path / "lossless.mp4", lossless=True)
    out = tmp_path / "fused.mp4"
    tracks = track_video(clip.path)
    fuse_video(clip.path, sample_path("astronaut.png"), out, NO_LABEL, tracks=tracks, crf=0)
    frames = _frames(out)
    worst = 0.0
    for frame, original in clip.repeats:
        if tracks.present[frame, 0]:
            x0, y0 = np.floor(np.min(tracks.points[frame, 0, :, :2], axis=0)).astype(int)
            x1, y1 = np.ceil(np.max(tracks.points[frame, 0, :, :2], axis=0)).astype(int)
            a = frames[frame][max(0, y0):y1, max(0, x0):x1].astype(int)
            b = frames[original][max(0, y0):y1, max(0, x0):x1].astype(int)
            worst = max(worst, float(np.abs(a - b).mean()))
    assert worst <= 1.0


def test_only_the_people_longest_on_screen_are_kept(clip: EditedClip, tracks: VideoTracks) -> None:
    kept = track_video(clip.path, max_people=2)
    assert kept.face_count == 2
    np.testing.assert_array_equal(kept.present, tracks.present[:, :2])
