"""A batch decodes and analyses a shared user photo once (fusionkit.fusion.photos), with the real models and the real
C core: the same results as fusing each request alone, nothing kept past the batch or the memo's limits."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

import fusionkit
from fusionkit.errors import ImageDecodeFailedError, NoFaceDetectedError
from fusionkit.fusion import api, batch
from fusionkit.fusion.api import Merge, user_face
from fusionkit.fusion.photos import PhotoMemo, current_photos, remembering_photos, sharing_photos
from fusionkit.samples import sample_path
from tests.photos import photo


@pytest.fixture
def analyses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of the pictures faces were looked for in (templates and users), by the real function."""
    seen: list[tuple[int, ...]] = []
    real = api.find_faces

    def counting(image: np.ndarray) -> list[fusionkit.FaceMesh]:
        seen.append(image.shape)
        return real(image)

    monkeypatch.setattr(api, "find_faces", counting)
    return seen


def _encoded(name: str) -> bytes:
    return Path(sample_path(name)).read_bytes()


class Recorded(PhotoMemo):
    """A real memo that the test can find afterwards."""

    made: ClassVar[list[PhotoMemo]] = []

    def __init__(self) -> None:
        super().__init__()
        Recorded.made.append(self)


def test_a_batch_analyses_a_shared_user_photo_once_and_gives_each_request_its_own_result(
        analyses: list[tuple[int, ...]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "PhotoMemo", Recorded)
    Recorded.made.clear()
    templates = [photo("obama.jpg"), photo("two_people.jpg"), photo("astronaut.png")]
    user_path = sample_path("biden.jpg")
    user_shape = photo("biden.jpg").shape
    requests = [(t, user_path) for t in templates] + [(t, _encoded("biden.jpg")) for t in templates]
    items = sorted(fusionkit.fuse_many([*requests, (templates[0], _blank_png())], workers=2),
                   key=lambda item: item.index)
    assert all(item.ok for item in items[:-1]) and isinstance(items[-1].error, NoFaceDetectedError)
    assert analyses.count(user_shape) == 1  # the path and the bytes are one content
    assert len(analyses) == 1 + len(requests) + 2  # every template its own, and the blank user photo
    # The batch has ended: its memo holds nothing, though the failed item's traceback still refers to it.
    (memo,) = Recorded.made
    assert len(memo) == 0 and memo.pixel_bytes == 0 and current_photos() is None
    for item, (template, user) in zip(items, requests, strict=False):
        assert np.array_equal(item.result.image, fusionkit.fuse(template, user).image)


def test_a_batch_decodes_and_analyses_a_shared_template_once(analyses: list[tuple[int, ...]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Many users into one template: the template given as a path or as bytes (one content) is decoded and its faces
    found once for the batch; a template given as an array is the caller's, analysed each time."""
    monkeypatch.setattr(batch, "PhotoMemo", Recorded)
    Recorded.made.clear()
    decoded: list[str] = []
    real_decode = api._as_rgb

    def counting_decode(source: object, name: str, *args: object, **kwargs: object) -> np.ndarray:
        decoded.append(name)
        return real_decode(source, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "_as_rgb", counting_decode)
    shared = sample_path("obama.jpg")
    users = [photo("biden.jpg"), photo("obama3.jpg"), photo("biden.jpg")]  # arrays: each request's own
    requests = [(shared, u) for u in users] + [(_encoded("obama.jpg"), users[1]), (photo("two_people.jpg"), users[0])]
    items = sorted(fusionkit.fuse_many(requests, workers=2), key=lambda item: item.index)
    assert all(item.ok for item in items)
    assert analyses.count(photo("obama.jpg").shape) == 1
    assert len(analyses) == 1 + 1 + len(requests)  # the shared template, the array one, every user array
    assert decoded.count("template") == 2  # the shared one once, the array (checked, not decoded) once
    (memo,) = Recorded.made
    assert len(memo) == 0 and memo.pixel_bytes == 0
    monkeypatch.undo()
    for item, (template, user) in zip(items, requests, strict=True):
        assert np.array_equal(item.result.image, fusionkit.fuse(template, user).image)


def test_different_users_are_kept_apart_and_arrays_are_not_remembered(analyses: list[tuple[int, ...]]) -> None:
    template = photo("obama.jpg")
    users = [sample_path("biden.jpg"), sample_path("obama3.jpg"), sample_path("biden.jpg"), sample_path("obama3.jpg")]
    memo = PhotoMemo()
    with remembering_photos(memo):
        results = [fusionkit.fuse(template, u) for u in users]
        fusionkit.fuse(template, photo("biden.jpg"))  # an array: analysed again, nothing kept
    assert len(analyses) == 5 + 2 + 1  # five templates, each user photo once, the array
    assert len(memo) == 2  # a checked face for each of the two photos
    assert np.array_equal(results[0].image, results[2].image)
    assert np.array_equal(results[1].image, results[3].image)
    assert not np.array_equal(results[0].image, results[1].image)
    assert np.array_equal(results[1].image, fusionkit.fuse(template, sample_path("obama3.jpg")).image)


def test_remembered_photos_are_shared_read_only_with_one_user_key() -> None:
    data = _encoded("biden.jpg")
    with remembering_photos(PhotoMemo()):
        first = user_face(Merge(image=data), 0, api.DEFAULT_LIMITS)
        again = user_face(Merge(image=bytearray(data)), 0, api.DEFAULT_LIMITS)
        other_index = user_face(Merge(image=data), 1, api.DEFAULT_LIMITS)  # only its errors would differ
        other_rect = user_face(Merge(image=data, input_face_rect=(0, 0, 900, 900)), 0, api.DEFAULT_LIMITS)
    assert again is first and other_index is first and not first.image.flags.writeable
    assert other_rect is not first and other_rect.key is not first.key
    assert user_face(Merge(image=data), 0, api.DEFAULT_LIMITS).key is not first.key  # outside a batch: its own


def _blank_png() -> bytes:
    return cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()


def test_a_failing_photo_is_not_remembered_and_each_request_raises_its_own_error() -> None:
    blank_jpeg = cv2.imencode(".jpg", np.full((2600, 2600, 3), 128, np.uint8))[1].tobytes()  # tried at half size too
    memo = PhotoMemo()
    with remembering_photos(memo):
        for blank in (_blank_png(), blank_jpeg):
            for index in (0, 1, 0):
                with pytest.raises(NoFaceDetectedError, match=f"merge {index}"):
                    user_face(Merge(image=blank), index, api.DEFAULT_LIMITS)
    assert len(memo) == 1  # only the large JPEG's failed half-size attempt, which is no error


def test_a_large_jpeg_is_remembered_at_the_size_each_template_face_needs(analyses: list[tuple[int, ...]]) -> None:
    img = photo("obama3.jpg")  # enlarged past REDUCED_DECODE_PIXELS: its face 354 px at half size
    big = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    memo = PhotoMemo()
    with remembering_photos(memo):
        small_need = [user_face(Merge(image=data), 0, api.DEFAULT_LIMITS, needed_iod=150.0) for _ in range(2)]
        large_need = [user_face(Merge(image=data), 0, api.DEFAULT_LIMITS, needed_iod=500.0) for _ in range(2)]
    assert small_need[0] is small_need[1] and small_need[0].scale == 2.0
    assert large_need[0] is large_need[1] and large_need[0].scale == 1.0
    assert sorted(s[0] for s in analyses) == [big.shape[0] // 2, big.shape[0]]  # each size analysed once
    alone = user_face(Merge(image=data), 0, api.DEFAULT_LIMITS, needed_iod=500.0)
    assert np.array_equal(alone.image, large_need[0].image)
    assert np.array_equal(alone.mesh.points, large_need[0].mesh.points)


def test_the_memo_keeps_at_most_its_entries_and_bytes() -> None:
    memo = PhotoMemo(limit=2, max_bytes=3000)
    made: list[str] = []

    def image(name: str, nbytes: int) -> object:
        def make() -> np.ndarray:
            made.append(name)
            return np.zeros(nbytes, np.uint8)

        return memo.get_or_make(name, make)

    image("a", 1000)
    image("b", 1000)
    image("a", 1000)  # kept: a is now the most recently used
    image("c", 1000)  # a third entry: the least recently used (b) goes
    assert made == ["a", "b", "c"] and len(memo) == 2 and memo.pixel_bytes == 2000
    image("a", 1000)
    assert made == ["a", "b", "c"]  # a stayed
    image("d", 2500)  # over the bytes: c, then a go
    assert len(memo) == 1 and memo.pixel_bytes == 2500
    big = image("e", 4000)  # larger than the memo allows: made, not kept
    assert isinstance(big, np.ndarray) and big.nbytes == 4000 and memo.pixel_bytes == 2500
    image("d", 2500)
    image("b", 1000)
    assert made == ["a", "b", "c", "d", "e", "b"]
    memo.clear()
    assert len(memo) == 0 and memo.pixel_bytes == 0


def test_templates_keep_to_a_shelf_of_their_own() -> None:
    """One user into many template files: however many templates pass, the user's photo stays."""
    memo = PhotoMemo(limit=2, max_bytes=3000, templates=2, template_bytes=3000)
    user = memo.get_or_make("user", lambda: np.zeros(1000, np.uint8))
    for i in range(5):
        memo.get_or_make(("template", i), lambda: np.zeros(1000, np.uint8), kind="template")
    assert memo.get_or_make("user", lambda: pytest.fail("the user photo was pushed out by templates")) is user
    assert len(memo) == 3 and memo.pixel_bytes == 3000  # the user's, and the last two templates'
    with pytest.raises(KeyError):
        memo.get_or_make("other", lambda: 1, kind="logo")


def test_one_user_file_into_many_template_files_is_analysed_once(analyses: list[tuple[int, ...]],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Six distinct template files (each analysed once) on three threads keep the shared user photo, even in a memo
    with room for only two user entries."""
    monkeypatch.setattr(batch, "PhotoMemo", lambda: PhotoMemo(limit=2))
    names = ("obama.jpg", "two_people.jpg", "astronaut.png")
    templates = [_encoded(n) for n in names] + [
        cv2.imencode(".png", np.ascontiguousarray(photo(n)[:, ::-1, ::-1]))[1].tobytes() for n in names]
    user = sample_path("biden.jpg")
    items = list(fusionkit.fuse_many([(t, user) for t in templates], workers=3))
    assert all(item.ok for item in items)
    assert analyses.count(photo("biden.jpg").shape) == 1
    assert len(analyses) == len(templates) + 1


def test_a_failing_shared_template_fails_every_request_with_its_own_error() -> None:
    broken = b"\x89PNG\r\n\x1a\n" + bytes(200)  # a PNG signature and nothing decodable
    items = sorted(fusionkit.fuse_many([(broken, photo("biden.jpg"))] * 3, workers=2), key=lambda item: item.index)
    errors = [item.error for item in items]
    assert all(isinstance(e, ImageDecodeFailedError) for e in errors)
    assert len({id(e) for e in errors}) == 3  # each request decoded it and raised its own


def test_threads_asking_for_what_another_is_making_wait_for_it() -> None:
    memo = PhotoMemo()
    started, release = threading.Event(), threading.Event()
    made: list[str] = []
    got: list[object] = []

    def make() -> np.ndarray:
        made.append(threading.current_thread().name)
        started.set()
        assert release.wait(10)
        return np.zeros(10, np.uint8)

    def ask() -> None:
        got.append(memo.get_or_make("photo", make))

    threads = [threading.Thread(target=ask, name=f"t{i}") for i in range(4)]
    threads[0].start()
    assert started.wait(10)  # the first is making it; the others ask meanwhile
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert made == ["t0"] and len(got) == 4 and all(g is got[0] for g in got)


def test_when_the_maker_fails_each_waiter_makes_its_own() -> None:
    memo = PhotoMemo()
    started, release = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def failing() -> np.ndarray:
        started.set()
        assert release.wait(10)
        raise NoFaceDetectedError("no face")

    def first() -> None:
        try:
            memo.get_or_make("photo", failing)
        except NoFaceDetectedError:
            outcomes.append("first failed")

    def second() -> None:
        memo.get_or_make("photo", lambda: np.zeros(10, np.uint8))
        outcomes.append("second made its own")

    a, b = threading.Thread(target=first), threading.Thread(target=second)
    a.start()
    assert started.wait(10)
    b.start()
    release.set()
    a.join(10)
    b.join(10)
    assert not a.is_alive() and not b.is_alive()
    assert sorted(outcomes) == ["first failed", "second made its own"] and len(memo) == 1


def test_a_studio_batch_analyses_a_shared_user_photo_once(analyses: list[tuple[int, ...]]) -> None:
    studio = fusionkit.open("memory://photo-memo-studio", video_workers=0, sweep_every=None)
    activity = studio.activities.create("campaign")
    materials = [studio.materials.upload(activity.id, photo(name)) for name in ("obama.jpg", "two_people.jpg")]
    before = len(analyses)  # the uploads index their faces
    user = _encoded("biden.jpg")
    asks = [(activity.id, m.id, user) for m in materials] * 2
    items = sorted(studio.fuse_many(asks, response="array", workers=2), key=lambda item: item.index)
    assert len(items) == 4 and all(item.ok for item in items)
    assert analyses[before:] == [photo("biden.jpg").shape]  # the materials' faces are stored; the user's, once
    for item, ask in zip(items, asks, strict=True):
        assert np.array_equal(item.result.payload, studio.fuse(*ask, response="array").payload)


def test_a_call_fusing_one_photo_into_several_faces_analyses_it_once(analyses: list[tuple[int, ...]]) -> None:
    template = photo("two_people.jpg")
    path = sample_path("biden.jpg")
    shared = fusionkit.fuse(template, [Merge(image=path, template_face=0), Merge(image=path, template_face=1)])
    assert analyses.count(photo("biden.jpg").shape) == 1
    arrays = fusionkit.fuse(template, [Merge(image=photo("biden.jpg"), template_face=i) for i in (0, 1)])
    assert np.array_equal(shared.image, arrays.image)  # arrays are analysed each time: the same result
    assert current_photos() is None


def test_sharing_photos_lends_a_memo_of_the_call_s_own_only_when_it_helps() -> None:
    seen: list[PhotoMemo | None] = []
    with sharing_photos(1):
        seen.append(current_photos())  # one merge: nothing to share
    with pytest.raises(NoFaceDetectedError), sharing_photos(2):
        memo = current_photos()
        assert memo is not None
        memo.get_or_make("photo", lambda: np.zeros(10, np.uint8))
        raise NoFaceDetectedError("no face")
    assert seen == [None] and current_photos() is None and len(memo) == 0  # emptied on the way out
    batch_memo = PhotoMemo()
    with remembering_photos(batch_memo), sharing_photos(3):
        assert current_photos() is batch_memo  # a batch's memo is used as it is
