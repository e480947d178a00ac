"""Video jobs: submit returns at once, a worker pool runs them, get / cancel / expiry / sweep, restart recovery."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import attrs
import av
import numpy as np
import pytest

import fusionkit
from fusionkit.domain import VideoJob
from fusionkit.domain.options import FuseOptions, LabelOptions, LogoParam
from fusionkit.errors import (
    JobNotExistError,
    MaterialIdNotFoundError,
    ParameterValueError,
)
from fusionkit.storage import keys
from tests.studio.conftest import photo, stored_keys
from tests.studio.test_video_materials import faceless_clip, studio_clip  # noqa: F401 - session fixtures


def studio_on_disk(tmp_path, clock, clip, *, workers):  # type: ignore[no-untyped-def]
    """(root, a studio on local disk with ``workers`` video workers, an activity, a ready video material): for the
    restart tests, where a second studio opens the same folder."""
    root = str(tmp_path / "studio")
    studio = fusionkit.open(root, clock=clock, video_workers=workers)
    act = studio.activities.create("video")
    return root, studio, act, studio.materials.upload(act.id, clip)


@pytest.fixture
def video_material(studio, studio_clip):  # noqa: F811
    act = studio.activities.create("video")
    return act, studio.materials.upload(act.id, studio_clip)


def test_submit_runs_and_completes(studio, video_material):
    act, mat = video_material
    job = studio.videos.submit(act.id, mat.id, photo("biden.jpg"))
    assert job.status in ("queued", "processing") and job.queue_length >= 0 and job.estimated_seconds > 0
    assert job.status_code in (1, 3)
    done = studio.videos.wait(job.id, timeout=120)
    assert done.status == "completed" and done.status_code == 7 and done.progress == 1.0, done.error_message
    assert (done.width, done.height, done.frame_count) == (320, 180, 10)
    assert done.fps == pytest.approx(10.0) and done.duration_s == pytest.approx(1.0, abs=0.15)
    # The frames the person on screen longest was fused on, from the stored tracks.
    assert len(done.faces) == 1 and done.faces[0]["template_face"] == 0
    assert done.faces[0]["frames_fused"] == 10 and done.faces[0]["fused"] == [[0, 10]]
    key = keys.video_result(done.updated.date(), job.id)
    data = studio.store.read(key)
    assert hashlib.md5(data).hexdigest() == done.md5 and done.url == studio.store.url(key)
    with av.open(io.BytesIO(data)) as c:
        assert c.streams.video[0].frames == 10 and c.streams.audio
    assert studio.videos.get(job.id) == done
    deadline = time.monotonic() + 60
    while studio.videos._workers.keys() and time.monotonic() < deadline:  # completed first, then the inputs go
        time.sleep(0.01)
    assert stored_keys(studio, "jobs") == [keys.job_doc(job.id)]  # the user images went with the job
    hour = timedelta(hours=1)
    names = {r.interface for r in studio.logs.query(done.created - hour, done.created + hour)}
    assert {"SubmitVideoFaceFusionJob", "DescribeVideoFaceFusionJob", "WaitVideoFaceFusionJob"} <= names


def test_result_expires_after_a_day_and_sweep_deletes_it(studio, clock, video_material):
    act, mat = video_material
    done = studio.videos.wait(studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id, timeout=120)
    assert done.expires == done.updated + timedelta(days=1)
    clock.advance(days=1, seconds=1)
    with pytest.raises(JobNotExistError):
        studio.videos.get(done.id)
    assert studio.sweep()["video_results"] == 1
    assert stored_keys(studio, "results") == [] and stored_keys(studio, "jobs") == []


def test_user_designated_url(studio, video_material, tmp_path):
    act, mat = video_material
    studio.output_urls = ("memory://fk-out-",)  # what the host allows (a local studio allows local paths only)
    target = f"memory://fk-out-{id(tmp_path)}/out.mp4"
    done = studio.videos.wait(studio.videos.submit(act.id, mat.id, photo("biden.jpg"),
                                                   user_designated_url=target).id, timeout=120)
    assert done.status == "completed" and done.url == target and done.expires == done.updated + timedelta(days=1)
    import fsspec

    with fsspec.open(target, "rb") as fh:
        assert hashlib.md5(fh.read()).hexdigest() == done.md5
    assert stored_keys(studio, "results") == []
    for junk in ("not a url", "/etc/passwd", "simplecache::file:///x", "nosuchproto://x/y", "file://a b", 7):
        with pytest.raises(ParameterValueError):
            studio.videos.submit(act.id, mat.id, photo("biden.jpg"), user_designated_url=junk)


def test_unknown_and_malformed_job_ids(studio):
    for bad in ("jb_0000000000000000", "../x", "rs_0123456789abc", None):
        with pytest.raises(JobNotExistError) as err:
            studio.videos.get(bad)
        assert err.value.code == "FailedOperation.JobNotExist"
        with pytest.raises(JobNotExistError):
            studio.videos.cancel(bad)


def test_submit_refuses_image_materials_and_unknown_materials(studio, video_material):
    act, _ = video_material
    img = studio.materials.upload(act.id, photo("obama.jpg"))
    with pytest.raises(ParameterValueError):
        studio.videos.submit(act.id, img.id, photo("biden.jpg"))
    with pytest.raises(MaterialIdNotFoundError):
        studio.videos.submit(act.id, "mt_0000000000000000", photo("biden.jpg"))


def test_cancel_a_queued_job_and_input_disappearing(studio_url, clock, studio_clip):  # noqa: F811
    idle = fusionkit.open(studio_url, clock=clock, video_workers=0)
    act = idle.activities.create("video")
    mat = idle.materials.upload(act.id, studio_clip)
    a = idle.videos.submit(act.id, mat.id, photo("biden.jpg"))
    b = idle.videos.submit(act.id, mat.id, photo("biden.jpg"))
    assert idle.videos.get(a.id).status == "queued"
    cancelled = idle.videos.cancel(a.id)
    assert cancelled.status == "failed" and cancelled.error_code == "FailedOperation.JobCancelled"
    assert idle.videos.cancel(a.id) == cancelled
    idle.store.delete(keys.material_source(mat.id, "mp4"))  # b's input disappears under it
    worker = fusionkit.open(studio_url, clock=clock)
    failed = worker.videos.wait(b.id, timeout=60)
    assert failed.status == "failed" and failed.status_code == 5
    assert failed.error_code == "InvalidParameterValue.MaterialIdNotFound"
    assert worker.videos.get(a.id).status == "failed"
    worker.videos.close()


def test_restart_picks_up_queued_and_retries_or_fails_interrupted(tmp_path, clock, studio_clip):  # noqa: F811
    root, first, act, mat = studio_on_disk(tmp_path, clock, studio_clip, workers=0)
    queued = first.videos.submit(act.id, mat.id, photo("biden.jpg"))
    once = first.videos.submit(act.id, mat.id, photo("biden.jpg"))
    twice = first.videos.submit(act.id, mat.id, photo("biden.jpg"))
    # as if a process had died while running them
    for job, attempts in ((once, 1), (twice, 2)):
        first.store.write(keys.job_doc(job.id), attrs.evolve(job, status="processing", attempts=attempts,
                                                             progress=0.4).to_json().encode())
    second = fusionkit.open(root, clock=clock)
    assert second.videos.wait(queued.id, timeout=120).status == "completed"
    retried = second.videos.wait(once.id, timeout=120)
    assert retried.status == "completed" and retried.attempts == 2
    gave_up = second.videos.wait(twice.id, timeout=60)  # failed by the worker that claims it, not at open
    assert gave_up.status == "failed" and gave_up.error_code == "FailedOperation.JobInterrupted"
    second.videos.close()


def test_options_label_and_logo_survive_a_restart(tmp_path, clock, studio_clip):  # noqa: F811
    root, first, act, mat = studio_on_disk(tmp_path, clock, studio_clip, workers=0)
    green = np.zeros((10, 20, 3), np.uint8)
    green[..., 1] = 255
    opts = FuseOptions(fuse_face_degree=40, label=LabelOptions(enabled=False), blend_mode="alpha",
                       logo=LogoParam(image=green, rect=(4, -4, 60, 30)))
    with pytest.raises(ParameterValueError, match="logo rect"):  # outside the 320x180 frame: refused at submit
        first.videos.submit(act.id, mat.id, photo("biden.jpg"),
                            options=attrs.evolve(opts, logo=LogoParam(image=green, rect=(300, 0, 60, 30))))
    job = first.videos.submit(act.id, mat.id, photo("biden.jpg"), options=opts)
    stored = FuseOptions.from_dict(json.loads(first.store.read(keys.job_options(job.id))))
    assert stored == attrs.evolve(opts, aigc=attrs.evolve(opts.aigc, produce_id=job.id))  # the AI label names it
    first.videos.close()
    second = fusionkit.open(root, clock=clock)  # a new process: only the store remembers the options
    done = second.videos.wait(job.id, timeout=120)
    assert done.status == "completed", done.error_message
    # The worker saves the completed document first, then deletes the job's inputs (crash-safe order): a waiter
    # may read the document in between.
    deadline = time.monotonic() + 30
    while second.store.exists(keys.job_options(job.id)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not second.store.exists(keys.job_options(job.id))
    with av.open(io.BytesIO(second.store.read(keys.video_result(done.updated.date(), job.id)))) as c:
        frame = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    logo_box = frame[148:174, 6:62].astype(int)  # the logo fills the rect's width: x 4-64, y 146-176
    assert logo_box[..., 1].mean() > 200 and logo_box[..., 0].mean() < 60
    second.videos.close()


def test_a_job_stored_before_options_json_runs_with_its_scalar_options(tmp_path, clock, studio_clip):  # noqa: F811
    root, first, act, mat = studio_on_disk(tmp_path, clock, studio_clip, workers=0)
    job = first.videos.submit(act.id, mat.id, photo("biden.jpg"), fuse_face_degree=60)
    first.store.delete(keys.job_options(job.id))  # as an earlier fusionkit stored its jobs
    second = fusionkit.open(root, clock=clock)
    done = second.videos.wait(job.id, timeout=120)
    assert done.status == "completed" and done.parameters["fuse_face_degree"] == 60
    second.videos.close()


def test_close_leaves_queued_jobs_to_the_next_studio(tmp_path, clock, studio_clip, monkeypatch):  # noqa: F811
    import fusionkit.fusion.video as fv

    root, first, act, mat = studio_on_disk(tmp_path, clock, studio_clip, workers=1)
    entered, release = threading.Event(), threading.Event()
    real = fv.fuse_video

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", held)
    jobs = [first.videos.submit(act.id, mat.id, photo("biden.jpg")) for _ in range(3)]
    assert entered.wait(60)  # the first job is running, the other two wait in the pool
    assert first.videos.cancel(jobs[2].id).status == "failed"
    first.videos.close(wait=False)
    release.set()
    assert first.videos.wait(jobs[0].id, timeout=120).status == "completed"
    assert first.videos.get(jobs[1].id).status == "queued"
    deadline = time.monotonic() + 60
    while first.videos._workers.keys() and time.monotonic() < deadline:  # the first job's worker finishes its cleanup
        time.sleep(0.01)
    assert not first.videos._workers.keys() and not first.videos._workers._cancelled  # nothing of them held here
    monkeypatch.setattr(fv, "fuse_video", real)
    later = first.videos.submit(act.id, mat.id, photo("biden.jpg"))  # a new pool: nothing counted ahead of it
    assert later.queue_length == 0
    assert first.videos.wait(later.id, timeout=120).status == "completed"
    assert first.videos.get(jobs[1].id).status == "queued"  # stored, not run by this studio
    first.videos.close()
    second = fusionkit.open(root, clock=clock)
    assert second.videos.wait(jobs[1].id, timeout=120).status == "completed"
    assert second.videos.get(jobs[2].id).error_code == "FailedOperation.JobCancelled"
    second.videos.close()


def test_estimated_time_follows_size_faces_and_queue():
    from fusionkit.studio.videos import _estimated_seconds

    one = _estimated_seconds(1500, 1280, 720, 1, 0)  # a minute of 720p at 25 fps: about half a minute
    assert 20 < one < 40
    assert _estimated_seconds(1500, 1920, 1080, 1, 0) > one * 1.5
    assert _estimated_seconds(1500, 1280, 720, 3, 0) > one
    assert _estimated_seconds(1500, 1280, 720, 1, 2) == pytest.approx(3 * one, rel=0.01)


def test_job_document_round_trips():
    now = datetime(2026, 3, 10, tzinfo=timezone.utc)
    job = VideoJob(id="jb_0123456789ab", activity_id="ac_0123456789ab", material_id="mt_0123456789ab",
                   request_id="rq_0123456789ab", created=now, updated=now, parameters={"users": 1})
    assert VideoJob.from_json(job.to_json()) == job and job.status_code == 1
    with pytest.raises(ParameterValueError):
        VideoJob(id="jb_0123456789ab", activity_id="ac_0123456789ab", material_id="mt_0123456789ab",
                 request_id="rq_0123456789ab", created=now, updated=now, status="lost")


def test_deleting_the_material_deletes_its_jobs_and_results(studio, video_material):
    act, mat = video_material
    done = studio.videos.wait(studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id, timeout=120)
    assert done.status == "completed"
    receipt = studio.materials.delete(mat.id)
    assert receipt.counts["results"] == 1 and receipt.counts["tracks"] == 1
    with pytest.raises(JobNotExistError):
        studio.videos.get(done.id)
    assert stored_keys(studio, "results") == [] and stored_keys(studio, "jobs") == []


def test_cancel_a_running_job_leaves_nothing(studio, video_material, monkeypatch):
    import fusionkit.fusion.video as fv

    act, mat = video_material
    real = fv.fuse_video
    seen: list[float] = []

    def fuse_then_cancel(*args, progress, **kwargs):
        def hook(fraction: float) -> None:
            seen.append(fraction)
            if fraction >= 0.3:
                studio.videos.cancel(studio.videos._workers.keys()[0])  # the one job running
            progress(fraction)

        return real(*args, progress=hook, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", fuse_then_cancel)
    job_id = studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    done = studio.videos.wait(job_id, timeout=120)
    assert done.status == "failed" and done.error_code == "FailedOperation.JobCancelled"
    assert max(seen) < 1.0
    deadline = time.monotonic() + 60
    while studio.videos._workers.keys() and time.monotonic() < deadline:  # the worker cleans up after the cancel
        time.sleep(0.01)
    assert stored_keys(studio, "results") == [] and stored_keys(studio, "jobs") == [keys.job_doc(job_id)]


@pytest.mark.parametrize("to_url", [False, True])
def test_cancel_after_the_last_frame_writes_nothing(studio, video_material, monkeypatch, to_url):
    import fsspec

    import fusionkit.fusion.video as fv

    act, mat = video_material
    real = fv.fuse_video

    def fuse_then_cancel(*args, **kwargs):
        result = real(*args, **kwargs)
        studio.videos.cancel(studio.videos._workers.keys()[0])  # the caller's cancel lands after the last frame
        return result

    monkeypatch.setattr(fv, "fuse_video", fuse_then_cancel)
    studio.output_urls = ("memory://fk-out-",)
    target = f"memory://fk-out-{uuid.uuid4().hex}/out.mp4" if to_url else None
    job_id = studio.videos.submit(act.id, mat.id, photo("biden.jpg"), user_designated_url=target).id
    done = studio.videos.wait(job_id, timeout=120)
    assert done.status == "failed" and done.error_code == "FailedOperation.JobCancelled"
    deadline = time.monotonic() + 60
    while studio.videos._workers.keys() and time.monotonic() < deadline:  # the worker cleans up after the cancel
        time.sleep(0.01)
    assert not studio.videos._workers.keys()
    assert stored_keys(studio, "results") == [] and stored_keys(studio, "jobs") == [keys.job_doc(job_id)]
    if target is not None:
        assert not fsspec.filesystem("memory").exists(target)


def test_a_cancel_during_the_write_keeps_the_users_file(studio, video_material, monkeypatch):
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    act, mat = video_material
    folder = f"memory://fk-out-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{folder}/out.mp4", b"the user's own file")
    real = MemoryFileSystem.pipe_file

    def write_then_cancel(self, path, value, *args, **kwargs):  # type: ignore[no-untyped-def]
        real(self, path, value, *args, **kwargs)
        if "fk-out-" in str(path):
            studio.videos.cancel(studio.videos._workers.keys()[0])  # lands while the output is being written

    monkeypatch.setattr(MemoryFileSystem, "pipe_file", write_then_cancel)
    studio.output_urls = ("memory://fk-out-",)
    job_id = studio.videos.submit(act.id, mat.id, photo("biden.jpg"), user_designated_url=f"{folder}/out.mp4").id
    done = studio.videos.wait(job_id, timeout=120)
    assert done.status == "failed" and done.error_code == "FailedOperation.JobCancelled"
    deadline = time.monotonic() + 60
    while studio.videos._workers.keys() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fs.cat_file(f"{folder}/out.mp4") == b"the user's own file"
    assert [p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)] == ["out.mp4"]  # no temporary file left


def test_erase_by_material_or_request_reaches_video_jobs(studio, clock, video_material):
    act, mat = video_material
    done = studio.videos.wait(studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id, timeout=120)
    cancelled = studio.videos.cancel(studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id)
    assert cancelled.expires == cancelled.updated + timedelta(days=1)
    assert studio.erase(request_ids=[done.request_id]).counts["results"] == 1
    with pytest.raises(JobNotExistError):
        studio.videos.get(done.id)
    assert studio.videos.get(cancelled.id).status == "failed"
    studio.erase(material_ids=[mat.id])
    with pytest.raises(JobNotExistError):
        studio.videos.get(cancelled.id)
    assert stored_keys(studio, "results") == [] and stored_keys(studio, "jobs") == []
