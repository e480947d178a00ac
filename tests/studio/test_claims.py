"""Claims with leases on video jobs: each job runs once whatever the number of studios on a store, a lapsed claim
is taken over, and a cancel or an erasure reaches a job running in another studio."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

import fusionkit
from fusionkit.domain import ids
from fusionkit.errors import ParameterValueError
from fusionkit.storage import keys, open_store
from fusionkit.studio.claims import Claims
from tests.studio.conftest import photo, stored_keys
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    return open_store(str(tmp_path / "claims"))


def _job() -> str:
    return ids.new_id(ids.JOB, datetime.now(timezone.utc))


def test_a_job_is_claimed_once_and_freed_when_its_holder_lets_go(store) -> None:
    job = _job()
    mine, theirs = Claims(lease_s=5), Claims(lease_s=5)
    claim = mine.take(store, job)
    assert claim is not None and claim.generation == 1
    assert theirs.take(store, job) is None and mine.take(store, job) is None  # held, even by its own studio
    assert mine.holds(store, claim)
    mine.release(store, claim)
    again = theirs.take(store, job)
    assert again is not None and again.generation == 1


def test_a_claim_whose_beat_stands_still_for_a_lease_is_taken_over(store) -> None:
    job = _job()
    dead, alive = Claims(lease_s=1), Claims(lease_s=1)
    old = dead.take(store, job)  # and never beats again, like a killed worker
    assert old is not None
    assert alive.take(store, job) is None  # first seen now: watched for a lease from here
    time.sleep(0.3)
    assert alive.take(store, job) is None
    time.sleep(0.8)
    new = alive.take(store, job)
    assert new is not None and new.generation == 2
    assert not dead.holds(store, old) and alive.holds(store, new)


def test_a_kept_claim_beats_and_is_never_taken_over(store) -> None:
    job = _job()
    holder, watcher = Claims(lease_s=0.5), Claims(lease_s=0.5)
    claim = holder.take(store, job)
    assert claim is not None
    with holder.kept(store, claim, lambda: True, check_every=0.05) as lease:
        lease.report(0.25)
        deadline = time.monotonic() + 1.5  # three leases
        while time.monotonic() < deadline:
            assert watcher.take(store, job) is None
            time.sleep(0.1)
        assert not lease.lost.is_set() and lease.still_held()
        assert watcher.progress(store, job) == 0.25  # carried by the beats
    assert store.list(f"jobs/{job}/claims") == []  # the block's end lets go


def test_a_holder_learns_it_was_taken_over_or_is_no_longer_wanted(store) -> None:
    job = _job()
    holder, other = Claims(lease_s=3), Claims(lease_s=3)
    claim = holder.take(store, job)
    assert claim is not None
    with holder.kept(store, claim, lambda: True, check_every=0.05) as lease:
        store.create(f"jobs/{job}/claims/{2:08d}.json", b"{}")  # another worker's generation
        assert lease.lost.wait(2) and lease.taken_over
    wanted = threading.Event()
    wanted.set()
    claim = other.take(store, _job())
    assert claim is not None
    with other.kept(store, claim, wanted.is_set, check_every=0.05) as lease:
        wanted.clear()  # cancelled or erased
        assert lease.lost.wait(2) and not lease.taken_over


def test_job_lease_is_checked(tmp_path) -> None:
    for bad in (0.5, 0, -1, 4000, "30", True, None):
        with pytest.raises(ParameterValueError, match="job_lease"):
            fusionkit.open(str(tmp_path / "s"), job_lease=bad, sweep_every=None)  # type: ignore[arg-type]


def caller_on_disk(root: str, clip: Any) -> tuple[Any, Any, Any]:
    """(a studio at ``root`` that runs no jobs, as a caller's is; an activity; a ready video material of ``clip``)."""
    caller = fusionkit.open(root, video_workers=0, sweep_every=None)
    act = caller.activities.create("video")
    return caller, act, caller.materials.upload(act.id, clip)


def _counting_fusions(monkeypatch, delay: float = 0.0,  # type: ignore[no-untyped-def]
                      reached: list[float] | None = None) -> Counter[str]:
    """Count the runs of fuse_video per output folder (one folder per run), slowing each frame by ``delay``; the
    progress each frame reports goes to ``reached``."""
    import fusionkit.fusion.video as fv

    real = fv.fuse_video
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def counted(src, merges, out, *args, progress, **kwargs):  # type: ignore[no-untyped-def]
        with lock:
            runs[str(out)] += 1

        def slow(fraction: float) -> None:
            if reached is not None:
                reached.append(fraction)
            time.sleep(delay)
            progress(fraction)

        return real(src, merges, out, *args, progress=slow, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", counted)
    return runs


def test_three_studios_on_one_store_run_each_job_exactly_once(tmp_path, studio_clip, monkeypatch) -> None:  # noqa: F811
    runs = _counting_fusions(monkeypatch)
    root = str(tmp_path / "studio")
    submitter = fusionkit.open(root, video_workers=0, sweep_every=None)
    act = submitter.activities.create("video")
    mat = submitter.materials.upload(act.id, studio_clip)
    jobs = [submitter.videos.submit(act.id, mat.id, photo("biden.jpg")).id for _ in range(6)]
    studios = [fusionkit.open(root, video_workers=2, sweep_every=None, job_lease=2) for _ in range(3)]
    try:
        done = [submitter.videos.wait(j, timeout=180) for j in jobs]
        # A worker saves the completed document before it deletes the job's claims and inputs: let every
        # worker finish that before the scan looks.
        deadline = time.monotonic() + 60
        while any(s.videos._workers.keys() for s in studios) and time.monotonic() < deadline:
            time.sleep(0.02)
        for s in studios:
            s.videos.scan()  # sees every job ended: forgets what it watched of their claims
            assert s.videos._claims._seen == {}
    finally:
        for s in studios:
            s.close()
    assert [d.status for d in done] == ["completed"] * 6, [d.error_message for d in done]
    assert sum(runs.values()) == 6 and all(d.attempts == 1 for d in done)
    results = stored_keys(submitter, "results")
    assert len(results) == 6 and {r.rsplit("/", 1)[-1][:-4] for r in results} == set(jobs)
    assert [k for k in stored_keys(submitter, "jobs") if not k.endswith(".json") or "/" in k[5:]] == []


def test_a_cancel_in_one_studio_stops_the_job_running_in_another(tmp_path, studio_clip, monkeypatch) -> None:  # noqa: F811
    reached: list[float] = []
    runs = _counting_fusions(monkeypatch, delay=0.3, reached=reached)  # 10 frames: 3 s a job
    root = str(tmp_path / "studio")
    caller, act, mat = caller_on_disk(root, studio_clip)
    worker = fusionkit.open(root, video_workers=1, sweep_every=None, job_lease=1.5)
    try:
        cancelled = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
        erased = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
        for started_runs, job_id in enumerate((cancelled, erased), start=1):
            # Running means fusing: the job is "processing" as soon as it is claimed, a moment before its first
            # frame, and a cancel in that moment stops it before any frame (right, but not what this tests).
            deadline = time.monotonic() + 30
            while (caller.videos.get(job_id).status != "processing" or sum(runs.values()) < started_runs
                   or not reached) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert caller.videos.get(job_id).status == "processing" and sum(runs.values()) >= started_runs and reached
            if job_id == cancelled:
                caller.videos.cancel(job_id)
            else:
                caller.erase(request_ids=[caller.videos.get(job_id).request_id])
            reached.clear()
            started = time.monotonic()
            while worker.videos._workers.holds(job_id) and time.monotonic() < started + 10:
                time.sleep(0.02)
            # The holder checks every half second (a third of the lease): it stops frames before the job's end.
            assert not worker.videos._workers.holds(job_id) and max(reached, default=0.0) < 1.0, reached
            reached.clear()  # the job stopped: what comes next is the next job's frames
    finally:
        worker.close()
    assert sum(runs.values()) == 2
    assert caller.videos.get(cancelled).error_code == "FailedOperation.JobCancelled"
    assert stored_keys(caller, "results") == []
    assert stored_keys(caller, "jobs") == [keys.job_doc(cancelled)]  # no photos, no claims; the erased job gone


def test_progress_comes_from_the_running_workers_claim(tmp_path, studio_clip, monkeypatch) -> None:  # noqa: F811
    _counting_fusions(monkeypatch, delay=0.15)  # 10 frames: 1.5 s a job, beats every third of a second
    root = str(tmp_path / "studio")
    caller, act, mat = caller_on_disk(root, studio_clip)
    worker = fusionkit.open(root, video_workers=1, sweep_every=None, job_lease=1)
    try:
        job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
        seen = set()
        while (job := caller.videos.get(job_id)).status != "completed":
            assert job.status in ("queued", "processing")
            seen.add(job.progress)
            time.sleep(0.05)
    finally:
        worker.close()
    assert any(0 < p < 1 for p in seen), seen


def test_a_store_failing_at_the_claim_leaves_the_job_for_the_next_look(tmp_path, studio_clip) -> None:  # noqa: F811
    from fusionkit.studio import Studio
    from tests.faults.faulty_store import FaultyStore

    root = str(tmp_path / "studio")
    caller, act, mat = caller_on_disk(root, studio_clip)
    job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    # The worker's first claim fails in the store (as a put that timed out would): the job is not failed, it is
    # looked at again half a lease later and runs then.
    faulty = FaultyStore(caller.root, at=1, kinds=("create",))
    worker = Studio(store=faulty, encryption=caller.encryption, video_workers=1, job_lease=1, sweep_every=None)
    try:
        done = caller.videos.wait(job_id, timeout=120)
    finally:
        worker.close()
    assert faulty.injected == ("create", f"jobs/{job_id}/claims/00000001.json")
    assert done.status == "completed" and done.attempts == 1, done.error_message


def test_a_claim_number_that_comes_back_is_watched_afresh(store) -> None:
    # The sweep's claim folder empties after every sweep, so its generation 1 comes back: a watcher that had seen
    # one holder's generation 1 standing still must not count that time against the next holder's.
    job = _job()
    first, second, watcher = Claims(lease_s=1), Claims(lease_s=1), Claims(lease_s=1)
    old = first.take(store, job)
    assert old is not None and watcher.take(store, job) is None  # watched from now
    first.release(store, old)
    time.sleep(1.1)
    new = second.take(store, job)
    assert new is not None and new.generation == 1
    assert watcher.take(store, job) is None  # a new claim: watched from now, not from the old one's first sight


class _FailingWrites:
    """A store whose writes fail (a partition): reads, lists and creates still answer."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner

    def write(self, key: str, data: bytes) -> None:
        raise OSError("injected: the store does not answer")

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_holder_whose_beats_fail_for_a_lease_gives_the_job_up(store) -> None:
    holder = Claims(lease_s=1)
    claim = holder.take(store, _job())
    assert claim is not None
    started = time.monotonic()
    with holder.kept(_FailingWrites(store), claim, lambda: True, check_every=0.1) as lease:
        assert lease.lost.wait(3)
    assert lease.taken_over and 0.9 <= time.monotonic() - started < 3  # left as it is, for whoever claims it next


def test_a_job_whose_worker_still_beats_is_not_expired_as_waiting(tmp_path, studio_clip) -> None:  # noqa: F811
    import attrs

    from tests.studio.conftest import FakeClock

    clock = FakeClock()
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock, video_workers=0, sweep_every=None)
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, studio_clip)
    job = studio.videos.submit(act.id, mat.id, photo("biden.jpg"))
    studio.store.write(keys.job_doc(job.id), attrs.evolve(job, status="processing", attempts=1).to_json().encode())
    clock.advance(days=2)  # running for two days, longer than video results are kept (one)...
    assert Claims(lease_s=30, clock=clock).take(studio.store, job.id) is not None  # ...its worker beating now
    studio.sweep()
    assert studio.videos.get(job.id).status == "processing"
    clock.advance(days=2)  # and when it has not beaten for longer than that, it is a job that died
    studio.sweep()
    assert studio.videos.get(job.id).error_code == "FailedOperation.JobExpired"


def test_a_cancel_from_another_studio_during_the_upload_leaves_no_result(tmp_path, studio_clip,  # noqa: F811
                                                                         monkeypatch) -> None:
    from fusionkit.storage import LocalStore

    root = str(tmp_path / "studio")
    caller, act, mat = caller_on_disk(root, studio_clip)
    job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    real = LocalStore.write

    def write_while_cancelled(self, key, data):  # type: ignore[no-untyped-def]
        if key.startswith("results/video/"):
            caller.videos.cancel(job_id)  # lands while the fused video is being stored...
            time.sleep(0.8)  # ...and the worker's lease sees the job's folder gone before the write ends
        real(self, key, data)

    monkeypatch.setattr(LocalStore, "write", write_while_cancelled)
    worker = fusionkit.open(root, video_workers=1, sweep_every=None, job_lease=1)
    try:
        done = caller.videos.wait(job_id, timeout=120)
        deadline = time.monotonic() + 10
        while worker.videos._workers.holds(job_id) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.close()
    assert done.error_code == "FailedOperation.JobCancelled"
    assert stored_keys(caller, "results") == [] and stored_keys(caller, "jobs") == [keys.job_doc(job_id)]


def test_a_worker_that_gives_a_job_up_says_why_in_the_log(tmp_path, studio_clip, monkeypatch, caplog) -> None:  # noqa: F811
    import logging

    from fusionkit.studio.claims import Lease

    _counting_fusions(monkeypatch, delay=0.1)
    real_check = Lease._check

    def taken(self) -> bool:  # type: ignore[no-untyped-def]
        self.taken_over = True  # as when another worker created the next generation
        self._lose("another worker took the job over")
        return True

    monkeypatch.setattr(Lease, "_check", taken)
    caller, act, mat = caller_on_disk(str(tmp_path / "studio"), studio_clip)
    job_id = caller.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    with caplog.at_level(logging.WARNING, logger="fusionkit.studio.requests"):
        worker = fusionkit.open(str(tmp_path / "studio"), video_workers=1, sweep_every=None, job_lease=1)
        deadline = time.monotonic() + 30
        while not any("left to another worker" in r.getMessage() for r in caplog.records) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        worker.close()
    monkeypatch.setattr(Lease, "_check", real_check)
    (record,) = [r for r in caplog.records if "left to another worker" in r.getMessage()][:1]
    assert job_id in record.getMessage() and "took the job over" in record.getMessage()
    assert caller.videos.get(job_id).status == "processing"  # left as it is, for whoever holds it
