"""BlazeFace detection on the real photos: counts, geometry, no false faces, small faces."""

from __future__ import annotations

import itertools
import threading

import cv2
import numpy as np
import pytest

import fusionkit
from fusionkit.domain import MIN_FACE_SIZE, Face, FaceKeypoint
from fusionkit.errors import FaceSizeTooSmallError, ParameterValueError
from fusionkit.vision import FaceDetector, RuntimeOptions
from fusionkit.vision.detector import ssd_anchors
from tests.vision.detection_set import detection_set, match
from tests.vision.vision_photos import DATA, EXPECTED_FACES


def test_anchor_layouts_match_the_models() -> None:
    short = ssd_anchors(128, (8, 16, 16, 16), (2, 2, 2, 2))
    full = ssd_anchors(192, (4,), (1,))
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # stride 8: 16 x 16 cells, 2 anchors each, row-major; then stride 16: 8 x 8 cells, 6 anchors each
    np.testing.assert_allclose(short[:4], [[4, 4], [4, 4], [12, 4], [12, 4]])
    np.testing.assert_allclose(short[512:519], [[8, 8]] * 6 + [[24, 8]])
    np.testing.assert_allclose(full[[0, 1, 48]], [[2, 2], [6, 2], [2, 6]])


@pytest.mark.parametrize("model", ["short", "auto"])
@pytest.mark.parametrize("name", sorted(EXPECTED_FACES))
def test_every_face_found_and_no_false_face(photo, name: str, model: str) -> None:
    img = photo(name)
    faces = fusionkit.detect_faces(img, model=model)
    assert len(faces) == EXPECTED_FACES[name]
    h, w = img.shape[:2]
    for face in faces:
        assert face.score > 0.7
        assert not face.too_small
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        k = face.keypoints
        # the subject's right eye is on the image's left; eyes above nose above mouth
        assert k[FaceKeypoint.RIGHT_EYE, 0] < k[FaceKeypoint.LEFT_EYE, 0]
        assert max(k[0, 1], k[1, 1]) < k[FaceKeypoint.NOSE_TIP, 1] < k[FaceKeypoint.MOUTH_CENTER, 1]
        assert np.all((k >= face.box[:2] - 0.2 * face.width) & (k <= face.box[2:] + 0.2 * face.width))
        assert abs(face.roll) < 20
    areas = [f.width * f.height for f in faces]
    assert areas == sorted(areas, reverse=True)


def test_full_range_model_by_name(photo) -> None:
    faces = FaceDetector(model="full").detect(photo("two_people.jpg"))
    assert len(faces) == 2


def test_paths_bytes_and_arrays_agree(photo) -> None:
    path = DATA / "obama.jpg"
    from_path = fusionkit.detect_faces(path)
    from_str = fusionkit.detect_faces(str(path))
    from_bytes = fusionkit.detect_faces(path.read_bytes())
    from_array = fusionkit.detect_faces(photo("obama.jpg"))
    assert from_path == from_str == from_bytes == from_array
    from_bgr = fusionkit.detect_faces(cv2.imread(str(path)), array_order="bgr")
    assert from_bgr == from_array


@pytest.mark.parametrize("model", ["short", "full", "auto"])
def test_nothing_on_blank_or_noise(model: str) -> None:
    rng = np.random.default_rng(0)
    images = [
        np.zeros((480, 640, 3), np.uint8),
        np.full((512, 512, 3), 255, np.uint8),
        np.full((300, 200, 3), 128, np.uint8),
        rng.integers(0, 256, (512, 512, 3), dtype=np.uint8),
        cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 3),
    ]
    for img in images:
        assert fusionkit.detect_faces(img, model=model) == []
        assert fusionkit.analyze(img, model=model) == []


def test_roll_follows_a_rotation(photo) -> None:
    img = photo("obama.jpg")
    h, w = img.shape[:2]
    upright = fusionkit.detect_faces(img)[0]
    cx, cy = upright.center
    m = cv2.getRotationMatrix2D((cx, cy), -25, 1.0)  # clockwise on screen
    turned = fusionkit.detect_faces(cv2.warpAffine(img, m, (w, h)))[0]
    assert 10 < turned.roll - upright.roll < 40


def test_a_face_under_34_px_is_reported_too_small(photo) -> None:
    small = cv2.resize(photo("astronaut.png"), (128, 128), interpolation=cv2.INTER_AREA)
    faces = fusionkit.detect_faces(small)
    assert len(faces) == 1
    assert faces[0].size < MIN_FACE_SIZE and faces[0].too_small
    with pytest.raises(FaceSizeTooSmallError) as err:
        fusionkit.analyze(small)
    assert err.value.code == "FailedOperation.FaceSizeTooSmall"
    assert isinstance(err.value, ValueError)
    # the same face at 4x is large enough
    assert not fusionkit.detect_faces(photo("astronaut.png"))[0].too_small


def test_face_value_object_round_trips(photo) -> None:
    face = fusionkit.detect_faces(photo("astronaut.png"))[0]
    again = Face.from_dict(face.to_dict())
    assert again == face
    assert not face.box.flags.writeable
    with pytest.raises(ParameterValueError):
        Face(box=[0, 0, 1], keypoints=face.keypoints, score=0.5, roll=0)


def test_sessions_are_shared_across_threads(photo) -> None:
    img = photo("two_people.jpg")
    expected = fusionkit.detect_faces(img)
    results: list[list[Face]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(fusionkit.detect_faces(img))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == expected for r in results) and len(results) == 12


def test_single_thread_options_and_unknown_provider(photo) -> None:
    img = photo("astronaut.png")
    one = fusionkit.detect_faces(img, options=RuntimeOptions(intra_op_threads=1))
    assert one == fusionkit.detect_faces(img)
    with pytest.raises(ParameterValueError, match="not available"):
        fusionkit.detect_faces(img, options=RuntimeOptions(providers=("NoSuchExecutionProvider",)))


def _group_photo(photo) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A 1920 x 1080 collage: eight real faces of 40-180 px pasted on a blurred, faceless background."""
    crops = []
    for name in ("astronaut.png", "obama.jpg", "biden.jpg", "obama3.jpg"):
        img = photo(name)
        face = FaceDetector().detect(img)[0]
        cx, cy = face.center
        r = int(face.width * 1.1)
        crops.append(img[max(0, int(cy - r)) : int(cy + r), max(0, int(cx - r)) : int(cx + r)])
    background = cv2.resize(photo("two_people.jpg")[400:], (1920, 1080))  # suits and hands, no faces
    canvas = cv2.GaussianBlur(background, (0, 0), 8)
    placed = []
    x = 20
    for i, size in enumerate((40, 50, 60, 70, 90, 110, 140, 180)):
        tile = cv2.resize(crops[i % 4], (int(size * 2.2),) * 2, interpolation=cv2.INTER_AREA)
        y = 300 + (i % 2) * 250
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        placed.append((x + tile.shape[1] // 2, y + tile.shape[0] // 2, size))
        x += tile.shape[1] + 10
    return canvas, placed


def test_auto_finds_the_small_faces_of_a_group_photo(photo) -> None:
    canvas, placed = _group_photo(photo)
    assert len(FaceDetector(model="short").detect(canvas)) < 3  # 1080p letterboxed to 128 px loses them
    faces = FaceDetector(model="auto").detect(canvas)
    assert len(faces) == len(placed)
    for cx, cy, size in placed:
        match = [f for f in faces if abs(f.center[0] - cx) < size / 2 and abs(f.center[1] - cy) < size / 2]
        assert len(match) == 1, (cx, cy, size)
        assert 0.6 * size < match[0].size < 1.6 * size


def test_the_default_search_stops_on_a_portrait_and_matches_the_short_range_pass(photo) -> None:
    # A portrait's face is found by the first, letterboxed level: the same box as the short-range model alone
    # (the same mesh), at its cost.
    for name in ("obama.jpg", "biden.jpg", "astronaut.png"):
        auto, short = FaceDetector().detect(photo(name)), FaceDetector(model="short").detect(photo(name))
        assert len(auto) == len(short) == 1
        np.testing.assert_array_equal(auto[0].box, short[0].box)
    # "thorough" searches on behind the portrait's face (to 34 px): more candidates, the same true face first.
    thorough = FaceDetector(model="thorough").detect(photo("obama3.jpg"))
    assert len(thorough) > 1 and thorough[0].score > 0.8


def test_the_mesh_presence_score_drops_false_faces(photo) -> None:
    # A black-and-white portrait: the letterboxed pass finds nothing sure, so the pyramid searches on, and patterns
    # of the suit and the background fool the detector (scores about 0.6); the mesh model disagrees.
    grey = cv2.cvtColor(cv2.cvtColor(photo("biden.jpg"), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    raw = FaceDetector().detect(grey)
    checked = fusionkit.detect_faces(grey)
    assert len(raw) > len(checked) == 1
    assert checked[0].score > 0.8 and checked[0].box[1] < 600  # the face, near the top of the photo
    assert len(fusionkit.detect_faces(grey, min_presence=None)) == len(raw)
    canvas, placed = _group_photo(photo)
    assert len(fusionkit.detect_faces(canvas)) == len(placed)


def test_a_big_picture_is_searched_in_tiles_without_losing_or_doubling_faces(photo) -> None:
    # 4000 x 2400: the finest level (faces of 34 px at 17) is 2000 x 1200, run as overlapping 1024 px tiles.
    # A row of 40-60 px faces crosses the tile seams; each is found once.
    face = FaceDetector().detect(photo("astronaut.png"))[0]
    cx, cy = (int(v) for v in face.center)
    r = int(face.width * 1.1)
    crop = photo("astronaut.png")[cy - r:cy + r, cx - r:cx + r]
    canvas = np.full((2400, 4000, 3), 110, np.uint8)
    placed = []
    for i, x in enumerate(range(60, 3900, 170)):
        size = 40 + 10 * (i % 3)
        tile = cv2.resize(crop, (int(size * 2.2),) * 2, interpolation=cv2.INTER_AREA)
        y = 1000 + 90 * (i % 4)
        canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
        placed.append((x + tile.shape[1] / 2, y + tile.shape[0] / 2, size))
    faces = FaceDetector().detect(canvas)
    assert len(faces) == len(placed)
    for px, py, size in placed:
        assert sum(abs(f.center[0] - px) < size / 2 and abs(f.center[1] - py) < size / 2 for f in faces) == 1


def test_pyramid_scales_reach_the_smallest_face() -> None:
    detector = FaceDetector()
    scales = detector.pyramid_scales(1080, 1920)
    assert scales[0] == pytest.approx(128 / 1920) and scales[-1] == pytest.approx(17 / 34)
    assert all(b / a < 96 / 17 for a, b in itertools.pairwise(scales))  # neighbouring ranges overlap
    assert FaceDetector(min_face_size=68).pyramid_scales(1080, 1920)[-1] == pytest.approx(0.25)
    assert detector.pyramid_scales(400, 400)[-1] == 1.0  # small pictures: to their own resolution


def test_the_default_finds_every_labelled_face_and_no_false_one() -> None:
    # The quick part of the labelled set (benchmarks/bench_vision.py runs all of it): portraits, faces rescaled to
    # 34 px, faces cut by the edge, group photos and faceless backgrounds.
    found = missed = false = 0
    for item in detection_set(quick=True):
        boxes = np.array([f.box for f in fusionkit.detect_faces(item.image)], np.float32).reshape(-1, 4)
        tp, miss, fp = match(boxes, item.faces)
        found, missed, false = found + tp, missed + miss, false + fp
        assert (miss, fp) == (0, 0), item.name
    assert found >= 10 and missed == false == 0
