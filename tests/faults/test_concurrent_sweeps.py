"""Studios sweeping one store at once: no error, every expired item deleted and counted once, nothing live
touched (one sweep at a time, through a claim on the store)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import fusionkit
from fusionkit.storage import keys
from tests.studio.conftest import FakeClock, photo, stored_keys


def test_two_studios_sweeping_at_once_delete_and_count_everything_once(tmp_path) -> None:
    clock = FakeClock()
    root = str(tmp_path / "studio")
    first = fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None)
    act = first.activities.create("sweeps")
    mat = first.materials.upload(act.id, photo("obama.jpg"))
    expired = [first.fuse(act.id, mat.id, photo("biden.jpg")).id for _ in range(4)]
    clock.advance(days=4)
    kept = [first.fuse(act.id, mat.id, photo("biden.jpg")).id for _ in range(2)]
    clock.advance(days=4)  # the first four are 8 days old (expired after 7), the last two 4 days (kept)
    studios = [fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None) for _ in range(3)]
    reports: list[dict[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(studios))

    def sweep(studio: fusionkit.Studio) -> None:
        start.wait()
        try:
            reports.append(studio.sweep())
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(s,)) for s in studios]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(reports) == 3
    assert sum(r["results"] for r in reports) == len(expired)  # each deleted, and counted, once
    left = {k.rsplit("/", 1)[-1].split(".")[1] for k in stored_keys(first, "results") if k.endswith(".json")}
    assert left == set(kept)
    now = first.now()
    sweeps = first.audit(now - timedelta(days=1), now + timedelta(days=1), kind="sweep")
    assert len(sweeps) == 1  # one sweep found something; the others found it gone
    assert first.root.list(keys.SWEEP_CLAIMS) == []  # each let go of its turn


def test_a_sweeper_that_died_holding_its_turn_is_taken_over_after_the_lease(tmp_path) -> None:
    root = str(tmp_path / "studio")
    studio = fusionkit.open(root, video_workers=0, sweep_every=None, job_lease=1)
    store = studio._tenants.store_of(None)  # the claim a dead studio left, written as a sweep writes it
    from fusionkit.studio.claims import Claims

    dead = Claims(1, folder=lambda _: keys.SWEEP_CLAIMS)
    assert dead.take(store, "store") is not None  # and never beats
    started = time.monotonic()
    studio.sweep()
    assert 1.0 <= time.monotonic() - started < 5
    assert studio.root.list(keys.SWEEP_CLAIMS) == []
