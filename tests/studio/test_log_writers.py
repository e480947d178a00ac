"""The request log on stores whose appends are a read and a whole write (object stores): each studio appends to
its own hour file, so studios in many processes lose none of each other's lines; on local disk (flock) they share
one."""

from __future__ import annotations

import uuid
from datetime import timedelta

import fusionkit
from fusionkit.storage import keys
from tests.studio.conftest import FakeClock


def _hour_files(studio) -> list[str]:  # type: ignore[no-untyped-def]
    folder = keys.log_folder(studio.now().date())
    return studio.store.list(folder)


def test_studios_on_an_object_store_each_write_their_own_hour_file() -> None:
    clock = FakeClock()
    url = f"memory://fk-logs-{uuid.uuid4().hex}"
    one = fusionkit.open(url, clock=clock, video_workers=0, sweep_every=None)
    two = fusionkit.open(url, clock=clock, video_workers=0, sweep_every=None)
    a = one.activities.create("one")
    b = two.activities.create("two")
    files = _hour_files(one)
    assert len(files) == 2 and all(f.startswith(f"{clock.now.hour:02d}.") and f.endswith(".jsonl") for f in files)
    now = one.now()
    found = one.logs.query(now - timedelta(minutes=1), now + timedelta(minutes=1), interface="CreateActivity")
    assert {r.activity_id for r in found} == {a.id, b.id}  # one query reads every writer's file
    clock.advance(days=8)
    one.sweep()
    assert not one.store.list(keys.log_folder((clock.now - timedelta(days=8)).date()))  # expired, every file


def test_studios_on_local_disk_share_the_hour_file(tmp_path) -> None:
    clock = FakeClock()
    one = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    two = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    one.activities.create("one")
    two.activities.create("two")
    assert _hour_files(one) == [f"{clock.now.hour:02d}.jsonl"]


def test_a_studio_on_an_object_store_starts_a_new_file_every_256_kib(monkeypatch) -> None:
    from fusionkit.studio import logs

    monkeypatch.setattr(logs, "_PART_BYTES", 2000)  # a few lines a file
    clock = FakeClock()
    studio = fusionkit.open(f"memory://fk-logs-{uuid.uuid4().hex}", clock=clock, video_workers=0, sweep_every=None)
    made = [studio.activities.create(f"a{i}").id for i in range(12)]
    files = _hour_files(studio)
    assert len(files) >= 3 and len({f.split(".")[1][:-1] for f in files}) == 1  # one writer, several parts
    assert max(len(studio.store.read(f"{keys.log_folder(clock.now.date())}/{f}")) for f in files) < 2000 + 1000
    now = studio.now()
    found = studio.logs.query(now - timedelta(minutes=1), now + timedelta(minutes=1), interface="CreateActivity")
    assert sorted(r.activity_id for r in found) == sorted(made)
