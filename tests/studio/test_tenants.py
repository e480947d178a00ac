"""Tenants: each app id's data in its own folder of the store; a call for one app id cannot read, list or erase
another's (a typed not-found), while sweeps, video jobs and their recovery work in every tenant. Real stores,
models and C core."""

from __future__ import annotations

from datetime import timedelta

import pytest

import fusionkit
from fusionkit.errors import ActivityIdNotFoundError, MaterialIdNotFoundError, ResultIdNotFoundError
from fusionkit.imaging.encode import read_metadata
from fusionkit.imaging.xmp import read_video_metadata
from fusionkit.storage import keys
from fusionkit.studio import RequestContext
from tests.studio.conftest import photo
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

A = RequestContext(app_id="app-a")
B = RequestContext(app_id="app-b")


def test_one_app_cannot_reach_anothers_data(studio, clock) -> None:
    with studio.request_context(A):
        activity = studio.activities.create("a's")
        material = studio.materials.upload(activity.id, photo("obama.jpg"))
        result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    with studio.request_context(B):
        with pytest.raises(ResultIdNotFoundError):
            studio.results.get(result.id)
        with pytest.raises(ResultIdNotFoundError):
            studio.results.read(result.id)
        with pytest.raises(MaterialIdNotFoundError):
            studio.materials.get(material.id)
        with pytest.raises(ActivityIdNotFoundError):
            studio.materials.list(activity.id)
        with pytest.raises(ActivityIdNotFoundError):
            studio.fuse(activity.id, material.id, photo("biden.jpg"))
        assert studio.activities.list() == []
        receipt = studio.erase(material_ids=[material.id], result_ids=[result.id])
        assert receipt.counts["results"] == 0  # (the log lines it erased are B's own calls naming those ids)
        with pytest.raises(MaterialIdNotFoundError):
            studio.materials.delete(material.id)
    with pytest.raises(ResultIdNotFoundError):  # nor without an app id: the root is a tenant of its own
        studio.results.get(result.id)
    with studio.request_context(A):
        assert studio.results.get(result.id).id == result.id and studio.results.read(result.id)
        since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
        assert [r.interface for r in studio.logs.query(since, until, interface="FuseFace")] == ["FuseFace"]
    # Physically apart: everything of A's is under its folder, nothing in the root.
    assert studio.store.list(keys.MATERIALS) == [] and studio.store.list(keys.ACTIVITIES) == []
    folder = keys.tenant_folder("app-a")
    assert studio.root.exists(f"{folder}/{keys.material_doc(material.id)}")
    assert set(studio.tenants()) == {None, keys.tenant_id("app-a"), keys.tenant_id("app-b")}


def test_results_carry_the_producing_app_and_their_id_in_the_ai_label(studio) -> None:
    with studio.request_context(A):
        activity = studio.activities.create("a's")
        material = studio.materials.upload(activity.id, photo("obama.jpg"))
        result = studio.fuse(activity.id, material.id, photo("biden.jpg"), response="bytes")
        stored = studio.fuse(activity.id, material.id, photo("biden.jpg"))
        stored_bytes = studio.results.read(stored.id)
    for data, rid in ((result.payload, result.id), (stored_bytes, stored.id)):
        label = read_metadata(data)["AIGC"]
        assert (label["Label"], label["ContentProducer"], label["ProduceID"]) == ("1", "app-a", rid)
    plain = studio.activities.create("no app id")
    m = studio.materials.upload(plain.id, photo("obama.jpg"))
    unnamed = studio.fuse(plain.id, m.id, photo("biden.jpg"), response="bytes")
    assert read_metadata(unnamed.payload)["AIGC"]["ContentProducer"] == "fusionkit"


def test_a_sweep_covers_every_tenant(studio, clock) -> None:
    with studio.request_context(A):
        activity = studio.activities.create("a's")
        material = studio.materials.upload(activity.id, photo("obama.jpg"))
        result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    clock.advance(days=7)
    assert studio.sweep()["results"] == 1  # swept without an app id: retention is the studio's duty
    with studio.request_context(A), pytest.raises(ResultIdNotFoundError):
        studio.results.get(result.id)


def test_video_jobs_run_and_recover_in_their_tenant(tmp_path, clock, studio_clip) -> None:  # noqa: F811
    root = str(tmp_path / "s")
    idle = fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None)
    with idle.request_context(A):
        activity = idle.activities.create("a's")
        material = idle.materials.upload(activity.id, studio_clip)
        queued = idle.videos.submit(activity.id, material.id, photo("biden.jpg"))
    with pytest.raises(fusionkit.errors.JobNotExistError):
        idle.videos.get(queued.id, context=B)
    worker = fusionkit.open(root, clock=clock, video_workers=1, sweep_every=None)  # picks it up in A's tenant
    done = worker.videos.wait(queued.id, timeout=120, context=A)
    assert done.status == "completed", done.error_message
    assert worker.store.list(keys.RESULTS_VIDEO) == []  # not in the root
    key = keys.video_result(done.updated.date(), done.id)
    assert worker.root.exists(f"{keys.tenant_folder('app-a')}/{key}")
    # The implicit AI label (GB 45438-2025) names the app that produced it and the job's id.
    with worker.request_context(A):
        label = read_video_metadata(worker.store.read(key))["AIGC"]
    assert (label["Label"], label["ContentProducer"], label["ProduceID"]) == ("1", "app-a", done.id)
    with worker.request_context(A):  # and submitted there by a running studio, it runs there too
        again = worker.videos.wait(worker.videos.submit(activity.id, material.id, photo("biden.jpg")).id,
                                   timeout=120)
    assert again.status == "completed" and again.url is not None and keys.tenant_id("app-a") in again.url
    clock.advance(days=1, seconds=1)
    assert worker.sweep()["video_results"] == 2
    worker.close()
    idle.close()
