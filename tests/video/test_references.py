"""Reference faces: identity embeddings and the matching of a video's people to references (track_video)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusionkit import errors
from fusionkit.domain.options import FuseOptions, LabelOptions
from fusionkit.fusion.api import Merge, find_faces
from fusionkit.fusion.video import ReferenceFace, face_signature, fuse_video, reference_face, track_video
from fusionkit.samples import sample_path
from fusionkit.vision.identity import AppearanceIdentity, identity_model
from fusionkit.vision.tracking import DISCOVER_EVERY
from tests.photos import photo
from tests.video.clips import make_clip, make_entering_clip


@pytest.fixture(scope="module")
def references() -> dict[str, ReferenceFace]:
    out = {}
    for name in ("obama.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"):
        image = photo(name)
        out[name] = ReferenceFace.from_image(image, find_faces(image)[0])
    return out


@pytest.fixture(scope="module")
def two_people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s, 320x180, 10 fps of two_people.jpg (obama3.jpg left, biden.jpg right; faces about 40 px wide)."""
    return make_clip(tmp_path_factory.mktemp("refs") / "two.mp4", sample="two_people.jpg", width=320, height=180,
                     fps=10, seconds=1.0, audio=False)


def test_signature_is_a_unit_vector_stable_under_scale() -> None:
    image = photo("biden.jpg")
    small = np.ascontiguousarray(image[::6, ::6])  # the same picture at a sixth of the size, faces about 50 px
    mesh = find_faces(small)[0]
    sig = face_signature(small, mesh.points)
    assert sig.dtype == np.float32 and abs(float(np.linalg.norm(sig)) - 1) < 1e-4
    assert float(sig @ face_signature(image, find_faces(image)[0].points)) > 0.95


def test_the_identity_model_tells_people_apart_on_the_samples(references: dict[str, ReferenceFace]) -> None:
    model = identity_model()
    assert model.name == "dlib" and model.tells_people_apart  # the test extra installs the identity extra
    two = photo("two_people.jpg")
    left, right = sorted(find_faces(two), key=lambda m: float(m.points[:, 0].mean()))  # obama3, biden
    embedded = {"left": model.embed(two, left.points), "right": model.embed(two, right.points)}
    d = {(name, side): float(np.linalg.norm(ref.embedding - e))
         for name, ref in references.items() for side, e in embedded.items()}
    # Another photo of the same person is one person; the other person and a stranger are not.
    assert d["obama.jpg", "left"] < model.same_person < d["obama.jpg", "right"]
    assert d["obama3.jpg", "left"] < 0.3 and d["biden.jpg", "right"] < 0.3
    assert min(d["astronaut.png", "left"], d["astronaut.png", "right"]) > model.same_person


def test_a_reference_photo_names_one_person(tmp_path: Path) -> None:
    ref = reference_face(sample_path("biden.jpg"))
    assert ref.model == identity_model().name and ref.points.shape == (468, 3)
    with pytest.raises(errors.ReferenceFaceAmbiguousError, match="reference photo 2 shows 2 faces") as err:
        reference_face(sample_path("two_people.jpg"), index=2)
    assert err.value.code == "FailedOperation.ReferenceFaceAmbiguous"
    with pytest.raises(errors.NoFaceDetectedError, match="reference photo 0"):
        reference_face(np.full((200, 200, 3), 127, np.uint8))


@pytest.mark.parametrize(("names", "left"), [
    (["biden.jpg", "obama3.jpg"], [False, True]),
    (["obama.jpg"], [True]),  # a different photo of the person on the left
    (["biden.jpg", "obama.jpg"], [False, True]),
])
def test_track_video_keeps_the_referenced_faces_in_order(two_people: Path, references: dict[str, ReferenceFace],
                                                         names: list[str], left: list[bool]) -> None:
    tracks = track_video(two_people, references=[references[n] for n in names])
    assert tracks.face_count == len(names)
    assert [float(np.nanmean(tracks.points[0, i, :, 0])) < 160 for i in range(len(names))] == left
    plain = track_video(two_people)
    assert plain.face_count == 2 and tracks.frame_count == plain.frame_count


def test_a_reference_not_in_the_video_is_refused(two_people: Path, references: dict[str, ReferenceFace]) -> None:
    with pytest.raises(errors.NoFaceDetectedError, match=r"reference face 1 matches no person .*distance 0\.\d\d"):
        track_video(two_people, references=[references["obama3.jpg"], references["astronaut.png"]])
    with pytest.raises(errors.NoFaceDetectedError, match="reference face 1"):  # one face cannot play two roles
        track_video(two_people, references=[references["biden.jpg"], references["biden.jpg"], references["obama3.jpg"]])


@pytest.fixture(scope="module")
def entering(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.2 s at 10 fps, 640x360: obama3 from the start, biden entering at 0.5 s."""
    return make_entering_clip(tmp_path_factory.mktemp("refs") / "enter.mp4")


def test_a_face_entering_later_is_tracked_from_its_entry(entering: Path,
                                                        references: dict[str, ReferenceFace]) -> None:
    tracks = track_video(entering)
    assert tracks.face_count == 2
    assert tracks.present[:, 0].all()  # frame 0's face first
    entry = int(np.argmax(tracks.present[:, 1]))
    assert 5 <= entry < 5 + DISCOVER_EVERY  # found within three frames of entering
    assert not tracks.present[:entry, 1].any() and tracks.present[entry:, 1].all()
    assert np.isnan(tracks.points[:entry, 1]).all() and float(np.nanmean(tracks.points[entry:, 1, :, 0])) > 320
    # The role that enters later can be the one a reference asks for (before, it was "not in the video").
    late = track_video(entering, references=[references["biden.jpg"]])
    assert late.face_count == 1 and np.array_equal(late.present[:, 0], tracks.present[:, 1])


def test_a_video_opening_without_a_face(tmp_path: Path) -> None:
    clip = make_entering_clip(tmp_path / "late.mp4", first_face=False)
    tracks = track_video(clip)
    assert tracks.face_count == 1 and not tracks.present[0, 0] and tracks.present[-1, 0]
    grey = make_entering_clip(tmp_path / "grey.mp4", first_face=False, enter_s=99)
    with pytest.raises(errors.NoFaceDetectedError, match="no face was found in the video"):
        track_video(grey)


def test_fusing_into_a_face_that_enters_later(entering: Path, tmp_path: Path) -> None:
    tracks = track_video(entering)
    merge = Merge(image=sample_path("obama.jpg"), template_face=1)
    result = fuse_video(entering, merge, tmp_path / "out.mp4", tracks=tracks,
                        options=FuseOptions(label=LabelOptions(enabled=False)))
    assert result.frame_count == tracks.frame_count and result.frames_fused == int(tracks.present[:, 1].sum())


def test_signature_of_a_face_outside_the_frame(references: dict[str, ReferenceFace]) -> None:
    image = np.full((100, 100, 3), 120, np.uint8)
    points = references["biden.jpg"].points.copy()
    inside = face_signature(photo("biden.jpg"), points)
    for shift in (1000.0, -1000.0):  # wholly past the bottom-right, then the top-left corner
        moved = points + np.array([shift, shift, 0], np.float32)
        sig = face_signature(image, moved)
        assert sig.shape == inside.shape and np.isfinite(sig).all()


def test_without_an_identity_model_people_are_joined_within_a_shot_only(two_people: Path) -> None:
    appearance = AppearanceIdentity()
    assert not appearance.tells_people_apart
    tracks = track_video(two_people, identity=appearance)
    assert tracks.face_count == 2 and tracks.present.all()
    with pytest.raises(errors.ParameterValueError, match="identity model"):
        track_video(two_people, identity=appearance, references=[reference_face(sample_path("biden.jpg"))])


def test_a_crowd_is_followed_only_up_to_the_cap(two_people: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fusionkit.vision import tracking

    monkeypatch.setattr(tracking, "MAX_FOLLOWED", 1)  # two people in the clip, room to follow one
    tracks = track_video(two_people)
    assert tracks.face_count == 1 and tracks.present.all()
