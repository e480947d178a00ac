"""The studio's data duties when things happen at once or nobody comes back: nothing outlives what it was derived
from, and no end user's photo outlives its period. Races are driven deterministically: the real fusion or face
search runs, and the competing delete happens inside it (no sleeps). Real C core, models and stores."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

import fusionkit
import fusionkit.fusion.api as fusion_api
from fusionkit.errors import ActivityIdNotFoundError, JobNotExistError, MaterialIdNotFoundError
from fusionkit.storage import keys
from tests.studio.conftest import photo, stored_keys
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture


def test_a_material_deleted_during_a_fusion_keeps_no_result(studio, monkeypatch) -> None:
    activity = studio.activities.create("race")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    real = fusion_api.fuse

    def fuse_then_delete(*args, **kwargs):  # the delete lands while the fusion runs
        fused = real(*args, **kwargs)
        receipt = studio.materials.delete(material.id)
        assert receipt.counts["results"] == 0  # nothing stored yet when it ran
        return fused

    monkeypatch.setattr(fusion_api, "fuse", fuse_then_delete)
    with pytest.raises(MaterialIdNotFoundError, match="deleted during the fusion"):
        studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert stored_keys(studio, keys.RESULTS_IMAGE) == []


def test_a_result_left_by_a_crash_after_its_material_went_is_swept(studio) -> None:
    activity = studio.activities.create("leftover")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    # What a process killed between a delete's steps leaves: the material gone, a result of it still there.
    studio.store.delete_prefix(keys.material_folder(material.id))
    assert studio.sweep()["results"] == 1
    assert stored_keys(studio, keys.RESULTS_IMAGE) == []
    with pytest.raises(fusionkit.errors.ResultIdNotFoundError):
        studio.results.get(result.id)


def test_an_activity_deleted_during_an_upload_keeps_no_material(studio, monkeypatch) -> None:
    activity = studio.activities.create("race")
    real = fusion_api.find_faces
    receipts = []

    def find_then_delete(image):  # the activity goes while the upload looks for faces
        meshes = real(image)
        receipts.append(studio.activities.delete(activity.id))
        return meshes

    monkeypatch.setattr(fusion_api, "find_faces", find_then_delete)
    with pytest.raises(ActivityIdNotFoundError, match="deleted during the upload"):
        studio.materials.upload(activity.id, photo("obama.jpg"))
    assert receipts[0].counts["activities"] == 1
    assert stored_keys(studio, keys.MATERIALS) == [] and stored_keys(studio, keys.ACTIVITIES) == []


def test_an_upload_stored_between_a_deletes_listing_and_its_end_is_erased_by_it(studio, monkeypatch) -> None:
    activity = studio.activities.create("race")
    store = studio.root
    real_delete = store.delete
    late: list[str] = []

    class Hooked:  # the upload's writes land just before the delete removes the activity's document
        def __getattr__(self, name):
            return getattr(store, name)

        def delete(self, key):
            if key == keys.activity_doc(activity.id) and not late:
                studio.root = store
                late.append(studio.materials.upload(activity.id, photo("obama.jpg")).id)
                studio.root = hooked
            return real_delete(key)

    hooked = Hooked()
    studio.root = hooked
    receipt = studio.activities.delete(activity.id)
    studio.root = store
    assert late and receipt.counts["materials"] == 1
    assert stored_keys(studio, keys.MATERIALS) == [] and stored_keys(studio, keys.ACTIVITIES) == []
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(late[0])


def test_a_material_left_without_its_activity_is_swept(studio, clock) -> None:
    activity = studio.activities.create("leftover")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    studio.store.delete(keys.activity_doc(activity.id))  # a crashed delete: the activity went, not its material
    assert studio.sweep()["materials"] == 0  # within the hour an upload in flight may take: left alone
    clock.advance(hours=1)
    assert studio.sweep()["materials"] == 1
    assert stored_keys(studio, keys.MATERIALS) == []
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(material.id)


def test_a_job_nobody_runs_loses_its_photos_after_the_video_period(tmp_path, clock, studio_clip) -> None:  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0)
    activity = studio.activities.create("idle")
    material = studio.materials.upload(activity.id, studio_clip)
    job = studio.videos.submit(activity.id, material.id, photo("biden.jpg"))
    assert stored_keys(studio, keys.job_folder(job.id))  # the user's photo, waiting for a worker
    clock.advance(hours=23)
    assert studio.sweep()["job_inputs"] == 0 and stored_keys(studio, keys.job_folder(job.id))
    clock.advance(hours=1)
    assert studio.sweep()["job_inputs"] == 1
    assert stored_keys(studio, keys.job_folder(job.id)) == []
    expired = studio.videos.get(job.id)
    assert expired.status == "failed" and expired.error_code == "FailedOperation.JobExpired"
    clock.advance(hours=24)  # and the record of it goes a period later
    studio.sweep()
    with pytest.raises(JobNotExistError):
        studio.videos.get(job.id)


def test_the_submit_log_names_the_video_fused_into(tmp_path, clock, studio_clip) -> None:  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0)
    activity = studio.activities.create("logs")
    material = studio.materials.upload(activity.id, studio_clip)
    job = studio.videos.submit(activity.id, material.id, photo("biden.jpg"))
    since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    (submit,) = studio.logs.query(since, until, interface="SubmitVideoFaceFusionJob")
    assert submit.video_url == studio.store.url(keys.material_source(material.id, "mp4"))
    assert job.id not in (submit.video_url or "")  # not the job's own document


def test_what_killed_processes_leave_is_removed_after_an_hour(tmp_path, clock) -> None:
    import tempfile
    import time

    from fusionkit.studio.workers import SCRATCH_PREFIX

    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    activity = studio.activities.create("crashes")
    root = tmp_path / "s"
    old = time.time() - 2 * 3600
    stale_tmp = root / "activities" / f".{activity.id}.json.0123456789ab.tmp"  # a write killed mid-way
    stale_tmp.write_bytes(b"half a docu")
    os.utime(stale_tmp, (old, old))
    fresh_tmp = root / "activities" / ".x.json.0123456789ac.tmp"  # a write in progress now
    fresh_tmp.write_bytes(b"being written")
    stale_job = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)  # a killed job's scratch: a template copy
    (Path(stale_job) / "template.mp4").write_bytes(b"an end user's face")
    for p in (Path(stale_job) / "template.mp4", Path(stale_job)):
        os.utime(p, (old, old))
    fresh_job = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)  # another process's job, running now
    try:
        assert studio.sweep()["leftovers"] == 2
        assert not stale_tmp.exists() and not Path(stale_job).exists()
        assert fresh_tmp.exists() and Path(fresh_job).exists()
        assert studio.activities.get(activity.id).name == "crashes"
    finally:
        fresh_tmp.unlink()
        os.rmdir(fresh_job)
