"""A worker killed in the middle of a video job: its job is finished by another worker once the claim's lease
lapses, with exactly one result and nothing of it left in the store. Once for a studio in a process of its own,
once for a worker process of a Dask cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

import fusionkit
from tests.cluster import process_cluster, wait_for_workers  # noqa: F401 - the session's cluster
from tests.studio.conftest import photo, stored_keys
from tests.studio.test_claims import caller_on_disk
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

LEASE = 1.5

# A studio that runs jobs, each frame slowed down so that the kill lands in the middle of one.
_WORKER = textwrap.dedent("""
    import sys, time
    import fusionkit
    import fusionkit.fusion.video as fv

    real = fv.fuse_video

    def slow(*args, progress, **kwargs):
        def hook(fraction):
            time.sleep(0.25)
            progress(fraction)
        return real(*args, progress=hook, **kwargs)

    fv.fuse_video = slow
    studio = fusionkit.open(sys.argv[1], video_workers=1, sweep_every=None, job_lease=float(sys.argv[2]))
    print("ready", flush=True)
    time.sleep(600)
""")


def _holder_pid(studio: Any, job_id: str, timeout: float = 60) -> int:
    """The process id in the claim of the worker running ``job_id`` (``host:pid:token``), once it is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claims = studio.store.list(f"jobs/{job_id}/claims")
        if claims and studio.videos.get(job_id).status == "processing":
            import json

            record = json.loads(studio.store.read(f"jobs/{job_id}/claims/{claims[-1]}"))
            return int(record["holder"].split(":")[1])
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never started")


def _nothing_left_but_one_result(studio: Any, job_id: str) -> None:
    results = stored_keys(studio, "results")
    assert len(results) == 1 and results[0].endswith(f"/{job_id}.mp4")
    # The worker saves the completed document, then deletes the job's inputs: a waiter may look in between.
    deadline = time.monotonic() + 30
    while stored_keys(studio, "jobs") != [f"jobs/{job_id}.json"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stored_keys(studio, "jobs") == [f"jobs/{job_id}.json"]  # no photos, no options, no claims


def test_a_killed_studio_process_has_its_job_finished_by_another(tmp_path, studio_clip) -> None:  # noqa: F811
    root = str(tmp_path / "studio")
    caller, act, mat = caller_on_disk(root, studio_clip)
    job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, root, str(LEASE)], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        assert _holder_pid(caller, job_id) == worker.pid
        time.sleep(0.5)  # a few frames in
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        killed = time.monotonic()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert caller.videos.get(job_id).status == "processing"  # as the dead worker left it
    rescuer = fusionkit.open(root, video_workers=1, sweep_every=None, job_lease=LEASE)
    try:
        _holder_pid(caller, job_id)  # taken over...
        taken_over = time.monotonic() - killed
        done = caller.videos.wait(job_id, timeout=120)
    finally:
        rescuer.close()
    # Watched from its open for a whole lease, looked at again every half lease: within 1.5 leases, and a margin
    # for a loaded machine (the rescuer's open, the job's start).
    assert taken_over <= 1.5 * LEASE + 3.5, taken_over
    assert done.status == "completed" and done.attempts == 2, done.error_message
    _nothing_left_but_one_result(caller, job_id)


def test_a_killed_dask_worker_has_its_job_finished_by_another(tmp_path, studio_clip, process_cluster) -> None:  # noqa: F811
    client = process_cluster
    wait_for_workers(client)

    def slow_down() -> None:  # in each worker process: a quarter second a frame, so the kill lands mid-job
        import fusionkit.fusion.video as fv

        real = getattr(fv, "_real_fuse_video", fv.fuse_video)
        fv._real_fuse_video = real  # type: ignore[attr-defined]

        def slow(*args: Any, progress: Any, **kwargs: Any) -> Any:
            def hook(fraction: float) -> None:
                time.sleep(0.25)
                progress(fraction)

            return real(*args, progress=hook, **kwargs)

        fv.fuse_video = slow  # type: ignore[assignment]

    client.run(slow_down)
    root = str(tmp_path / "studio")
    caller = fusionkit.open(root, video_workers=0, sweep_every=None, video_cluster=client, job_lease=LEASE)
    try:
        act = caller.activities.create("video")
        mat = caller.materials.upload(act.id, studio_clip)
        job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
        pid = _holder_pid(caller, job_id)
        assert pid in client.run(os.getpid).values()  # a worker process of the cluster runs it
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        done = caller.videos.wait(job_id, timeout=120)
    finally:
        caller.close()
    assert done.status == "completed" and done.attempts == 2, done.error_message
    _nothing_left_but_one_result(caller, job_id)
    wait_for_workers(client)  # the nanny has started another in its place, for the tests after this one


def test_jobs_on_a_cluster_run_once_each(tmp_path, studio_clip, process_cluster) -> None:  # noqa: F811
    client = process_cluster
    wait_for_workers(client)
    root = str(tmp_path / "studio")
    caller = fusionkit.open(root, video_workers=0, sweep_every=None, video_cluster=client)
    try:
        act = caller.activities.create("video")
        mat = caller.materials.upload(act.id, studio_clip)
        jobs = [caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id for _ in range(2)]
        done = [caller.videos.wait(j, timeout=120) for j in jobs]
    finally:
        caller.close()
    assert [(d.status, d.attempts) for d in done] == [("completed", 1)] * 2, [d.error_message for d in done]
    assert len(stored_keys(caller, "results")) == 2


def test_a_cluster_is_asked_for_properly() -> None:
    from fusionkit.errors import ParameterValueError

    with pytest.raises(ParameterValueError, match=r"video_cluster must be a dask\.distributed\.Client"):
        fusionkit.open("memory://fk-cluster-bad", video_cluster=object(), sweep_every=None)
