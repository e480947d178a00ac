"""Claims on video jobs over HTTP, against moto's S3 server (tests/s3server.py): the conditional put makes one
winner, studios on one bucket run each job once, a dead worker's claim is taken over, and nothing of a claim is
left in the bucket afterwards (listed with boto3, not through fusionkit)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import attrs
import pytest

import fusionkit
from fusionkit.storage import keys, open_store
from fusionkit.studio.claims import Claims
from tests.s3server import S3Server
from tests.studio.conftest import photo
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture


def _open(server: S3Server, bucket: str, **kwargs: Any) -> fusionkit.Studio:
    return fusionkit.open(f"s3://{bucket}/studio", storage_options=server.storage_options(), sweep_every=None,
                          **kwargs)


def test_a_claim_on_s3_has_one_winner_and_a_lapsed_one_is_taken_over(s3_server, s3_bucket) -> None:
    stores = [open_store(f"s3://{s3_bucket}/claims", s3_server.storage_options()) for _ in range(2)]
    job = "jb_0VDT14gSzQ1RUeukZG0v"
    dead, alive = Claims(lease_s=1), Claims(lease_s=1)
    first = dead.take(stores[0], job)
    assert first is not None and alive.take(stores[1], job) is None  # first seen now
    # The server itself refuses a second create of the same object: If-None-Match, not this process's lock.
    assert stores[1].create(dead.key(job, 1), b"{}") is False
    time.sleep(0.4)
    assert alive.take(stores[1], job) is None  # standing still, for less than a lease
    time.sleep(0.7)
    second = alive.take(stores[1], job)  # still, a lease after it was first seen
    assert second is not None and second.generation == 2 and not dead.holds(stores[0], first)
    alive.release(stores[1], second)
    assert s3_server.objects(s3_bucket, "claims/") == []  # the dead holder's claim went with the takeover


def test_studios_on_one_bucket_run_each_job_once_and_leave_no_claim(s3_server, s3_bucket, studio_clip,  # noqa: F811
                                                                    monkeypatch) -> None:
    import fusionkit.fusion.video as fv

    real = fv.fuse_video
    runs: Counter[str] = Counter()

    def counted(src, merges, out, *args, **kwargs):  # type: ignore[no-untyped-def]
        runs[str(out)] += 1
        return real(src, merges, out, *args, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", counted)
    caller = _open(s3_server, s3_bucket, video_workers=0)
    act = caller.activities.create("video")
    mat = caller.materials.upload(act.id, studio_clip)
    jobs = [caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id for _ in range(3)]
    workers = [_open(s3_server, s3_bucket, video_workers=1, job_lease=2) for _ in range(2)]
    try:
        done = [caller.videos.wait(j, timeout=180) for j in jobs]
    finally:
        for w in workers:
            w.close()
    assert [(d.status, d.attempts) for d in done] == [("completed", 1)] * 3, [d.error_message for d in done]
    assert sum(runs.values()) == 3
    left = s3_server.objects(s3_bucket, "studio/jobs/")
    assert sorted(left) == sorted(f"studio/jobs/{j}.json" for j in jobs)  # no photos, options or claims
    assert len(s3_server.objects(s3_bucket, "studio/results/video/")) == 3


def test_a_dead_workers_job_on_s3_is_finished_by_another(s3_server, s3_bucket, studio_clip) -> None:  # noqa: F811
    caller = _open(s3_server, s3_bucket, video_workers=0)
    act = caller.activities.create("video")
    mat = caller.materials.upload(act.id, studio_clip)
    job = caller.videos.submit(act.id, mat.id, photo("biden.jpg"))
    # As a worker that died a moment ago left it: running, first attempt, a claim that will never beat again.
    caller.store.write(keys.job_doc(job.id), attrs.evolve(job, status="processing", attempts=1).to_json().encode())
    assert Claims(lease_s=1).take(caller.store, job.id) is not None
    rescuer = _open(s3_server, s3_bucket, video_workers=1, job_lease=1)
    try:
        done = caller.videos.wait(job.id, timeout=120)
    finally:
        rescuer.close()
    assert done.status == "completed" and done.attempts == 2, done.error_message
    assert s3_server.objects(s3_bucket, f"studio/jobs/{job.id}/") == []


@pytest.mark.parametrize("what", ["cancel", "erase"])
def test_a_cancel_or_erasure_on_s3_reaches_the_worker_running_the_job(s3_server, s3_bucket, studio_clip,  # noqa: F811
                                                                      monkeypatch, what) -> None:
    import fusionkit.fusion.video as fv

    real = fv.fuse_video
    reached: list[float] = []

    def slow(*args, progress, **kwargs):  # type: ignore[no-untyped-def]
        def hook(fraction: float) -> None:
            reached.append(fraction)
            time.sleep(0.3)
            progress(fraction)

        return real(*args, progress=hook, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", slow)
    caller = _open(s3_server, s3_bucket, video_workers=0)
    act = caller.activities.create("video")
    mat = caller.materials.upload(act.id, studio_clip)
    job = caller.videos.submit(act.id, mat.id, photo("biden.jpg"))
    worker = _open(s3_server, s3_bucket, video_workers=1, job_lease=3)
    try:
        deadline = time.monotonic() + 30
        while caller.videos.get(job.id).status != "processing" and time.monotonic() < deadline:
            time.sleep(0.05)
        if what == "cancel":
            caller.videos.cancel(job.id)
        else:
            caller.erase(request_ids=[job.request_id])
        reached.clear()
        started = time.monotonic()
        while worker.videos._workers.holds(job.id) and time.monotonic() < started + 10:
            time.sleep(0.05)
        # The worker checks every second (a third of the lease): it stops before the job's last frame.
        assert not worker.videos._workers.holds(job.id) and max(reached, default=0.0) < 1.0, reached
    finally:
        worker.close()
    assert s3_server.objects(s3_bucket, f"studio/jobs/{job.id}/") == []
    assert s3_server.objects(s3_bucket, "studio/results/") == []
