"""Video materials uploaded with wait=False: preprocessing runs on the worker pool with progress, survives a restart."""

from __future__ import annotations

import io
import time

import attrs
import numpy as np
import pytest

import fusionkit
from fusionkit.errors import MaterialPreprocessingError
from fusionkit.samples import sample_path
from fusionkit.storage import keys
from tests.photos import photo
from tests.studio.conftest import stored_keys
from tests.studio.test_safety import patch_store
from tests.studio.test_video_materials import faceless_clip, studio_clip  # noqa: F401 - session fixtures
from tests.video.clips import make_clip


def settled(studio, material_id: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        mat = studio.materials.get(material_id)
        if mat.status != "preprocessing" or time.monotonic() > deadline:
            return mat
        time.sleep(0.05)


def test_wait_false_returns_at_once_and_submit_says_to_wait(studio_url, clock, studio_clip):  # noqa: F811
    idle = fusionkit.open(studio_url, clock=clock, video_workers=0)
    act = idle.activities.create("video")
    mat = idle.materials.upload(act.id, studio_clip, wait=False)
    assert mat.kind == "video" and mat.status == "preprocessing" and mat.faces == ()
    assert mat.video is not None and mat.video["progress"] == 0.0 and mat.video["frame_count"] == 10
    assert idle.materials.get(mat.id) == mat
    assert idle.store.exists(keys.material_source(mat.id, "mp4"))
    assert not idle.store.exists(keys.material_tracks(mat.id))
    with pytest.raises(MaterialPreprocessingError, match="wait"):
        idle.videos.submit(act.id, mat.id, photo("biden.jpg"))
    worker = fusionkit.open(studio_url, clock=clock)  # picks it up
    done = settled(worker, mat.id)
    assert done.status == "ready" and len(done.faces) >= 1 and done.video is not None
    assert done.video["progress"] == 1.0 and done.video["tracked_faces"] == len(done.faces)
    assert worker.store.exists(keys.material_tracks(mat.id))
    job = worker.videos.wait(worker.videos.submit(act.id, mat.id, photo("biden.jpg")).id, timeout=120)
    assert job.status == "completed"
    worker.videos.close()


def test_progress_is_visible_and_matches_the_synchronous_path(studio, studio_clip, monkeypatch):  # noqa: F811
    import fusionkit.fusion.video as fv

    real = fv.track_video
    seen: list[float] = []

    def watched(*args, **kwargs):
        inner = kwargs["progress"]

        def progress(fraction: float) -> None:
            inner(fraction)
            (name,) = studio.store.list(keys.MATERIALS)
            mid = name.rstrip("/").rsplit("/", 1)[-1]
            seen.append(studio.materials.get(mid).video["progress"])

        kwargs["progress"] = progress
        return real(*args, **kwargs)

    act = studio.activities.create("video")
    sync = studio.materials.upload(act.id, studio_clip)
    studio.materials.delete(sync.id)
    monkeypatch.setattr(fv, "track_video", watched)
    mat = studio.materials.upload(act.id, studio_clip, wait=False)
    done = settled(studio, mat.id)
    assert done.status == "ready" and done.video is not None and done.video["progress"] == 1.0
    assert seen == sorted(seen) and 0.0 < max(seen) < 1.0 and len(set(seen)) >= 3
    assert len(done.faces) == len(sync.faces) and done.video["attempts"] == 1
    studio.videos.close()


def test_no_face_and_failure_end_as_statuses(studio, faceless_clip, studio_clip, monkeypatch):  # noqa: F811
    act = studio.activities.create("video")
    none = settled(studio, studio.materials.upload(act.id, faceless_clip, wait=False).id)
    assert none.status == "role_not_in_video" and none.faces == () and "NoFaceDetected" in none.video["error"]
    assert not studio.store.exists(keys.material_tracks(none.id))
    import fusionkit.fusion.video as fv

    def broken(*args, **kwargs):
        raise RuntimeError("tracker broke")

    monkeypatch.setattr(fv, "track_video", broken)
    bad = settled(studio, studio.materials.upload(act.id, studio_clip, wait=False).id)
    assert bad.status == "preprocessing_failed" and "tracker broke" in bad.video["error"]
    studio.videos.close()


def test_restart_picks_up_queued_and_retries_or_fails_interrupted(tmp_path, clock, studio_clip):  # noqa: F811
    root = str(tmp_path / "studio")
    first = fusionkit.open(root, clock=clock, video_workers=0)
    act = first.activities.create("video")
    queued, once, twice = (first.materials.upload(act.id, studio_clip, wait=False) for _ in range(3))
    for mat, attempts in ((once, 1), (twice, 2)):  # as if a process had died while tracking them
        video = dict(mat.video, attempts=attempts, progress=0.4)
        first.store.write(keys.material_doc(mat.id), attrs.evolve(mat, video=video).to_json().encode())
    second = fusionkit.open(root, clock=clock)
    assert settled(second, queued.id).status == "ready"
    retried = settled(second, once.id)
    assert retried.status == "ready" and retried.video["attempts"] == 2
    gave_up = settled(second, twice.id)
    assert gave_up.status == "preprocessing_failed" and "JobInterrupted" in gave_up.video["error"]
    second.videos.close()


def test_deleting_a_preprocessing_material_leaves_nothing(studio_url, clock, studio_clip):  # noqa: F811
    idle = fusionkit.open(studio_url, clock=clock, video_workers=0)
    act = idle.activities.create("video")
    mat = idle.materials.upload(act.id, studio_clip, wait=False)
    idle.materials.delete(mat.id)
    worker = fusionkit.open(studio_url, clock=clock)
    worker.videos.close()
    assert stored_keys(worker, "materials") == []


def test_deleting_a_material_as_its_preprocessing_finishes_leaves_nothing(studio, studio_clip,  # noqa: F811
                                                                        monkeypatch):
    act = studio.activities.create("video")
    real = studio.root.write

    def write(key, data):
        real(key, data)
        if key.endswith("/tracks.npz"):  # the caller's delete lands between the worker's tracks and its document
            studio.materials.delete(key.split("/")[1])

    patch_store(studio, monkeypatch, write=write)
    mid = studio.materials.upload(act.id, studio_clip, wait=False).id
    deadline = time.monotonic() + 120
    while studio.videos._workers.keys() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not studio.videos._workers.keys()
    monkeypatch.undo()
    with pytest.raises(fusionkit.errors.MaterialIdNotFoundError):
        studio.materials.get(mid)
    assert stored_keys(studio, "materials") == [] and not studio.materials.list(act.id).materials
    studio.videos.close()


@pytest.fixture(scope="session")
def two_people_clip(tmp_path_factory: pytest.TempPathFactory):
    """1 s, 320x180, 10 fps of two_people.jpg (obama3.jpg on the left, biden.jpg on the right)."""
    return make_clip(tmp_path_factory.mktemp("studio_clips") / "two_180p.mp4", sample="two_people.jpg", width=320,
                     height=180, fps=10, seconds=1.0, audio=False)


def _centre_x(face) -> float:
    return float(np.mean(face.mesh.points[:, 0]))


@pytest.mark.parametrize("wait", [True, False])
def test_reference_faces_order_the_faces(studio, two_people_clip, wait):
    act = studio.activities.create("video")
    plain = studio.materials.upload(act.id, two_people_clip)
    assert len(plain.faces) == 2
    # obama.jpg is another photo of the person on the left (obama3.jpg).
    for refs in (["obama3.jpg", "biden.jpg"], ["biden.jpg", "obama3.jpg"], ["biden.jpg"], ["biden.jpg", "obama.jpg"]):
        mat = studio.materials.upload(act.id, two_people_clip, wait=wait,
                                      reference_faces=[sample_path(n) for n in refs])
        mat = settled(studio, mat.id)
        assert mat.status == "ready" and len(mat.faces) == len(refs) and mat.video["reference_faces"] == len(refs)
        xs = [_centre_x(f) for f in mat.faces]
        assert [x < 160 for x in xs] == [n.startswith("obama") for n in refs]
        with np.load(io.BytesIO(studio.store.read(keys.material_references(mat.id)))) as npz:
            assert npz["points"].shape == (len(refs), 468, 3) and npz["embeddings"].shape[0] == len(refs)
        with np.load(io.BytesIO(studio.store.read(keys.material_tracks(mat.id)))) as npz:
            assert npz["points"].shape[1] == len(refs)
    studio.videos.close()


def test_reference_matching_no_face_is_role_not_in_video(studio, two_people_clip):
    act = studio.activities.create("video")
    refs = [sample_path("obama3.jpg"), sample_path("astronaut.png")]
    mat = studio.materials.upload(act.id, two_people_clip, reference_faces=refs)
    assert mat.status == "role_not_in_video" and mat.faces == () and "reference face 1" in mat.video["error"]
    assert not studio.store.exists(keys.material_tracks(mat.id))
    late = settled(studio, studio.materials.upload(act.id, two_people_clip, wait=False, reference_faces=refs).id)
    assert late.status == "role_not_in_video"
    with pytest.raises(fusionkit.errors.NoFaceDetectedError):  # a reference without a face: nothing stored
        studio.materials.upload(act.id, two_people_clip, reference_faces=[np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(fusionkit.errors.ParameterValueError):
        studio.materials.upload(act.id, sample_path("obama.jpg"), reference_faces=[sample_path("obama.jpg")])
    assert len(studio.materials.list(act.id).materials) == 2
    studio.videos.close()


def test_references_stored_by_an_older_version_fail_with_a_way_out(studio_url, clock, two_people_clip):
    idle = fusionkit.open(studio_url, clock=clock, video_workers=0)
    act = idle.activities.create("video")
    mat = idle.materials.upload(act.id, two_people_clip, wait=False, reference_faces=[sample_path("biden.jpg")])
    with np.load(io.BytesIO(idle.store.read(keys.material_references(mat.id)))) as npz:
        points = npz["points"]
    buf = io.BytesIO()
    np.savez_compressed(buf, points=points)  # as fusionkit stored references before identity embeddings
    idle.store.write(keys.material_references(mat.id), buf.getvalue())
    worker = fusionkit.open(studio_url, clock=clock)
    done = settled(worker, mat.id)
    assert done.status == "preprocessing_failed" and "upload the video again" in done.video["error"]
    worker.videos.close()
