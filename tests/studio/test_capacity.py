"""Capacity that holds: every stored byte counts, per studio and per activity, and concurrent uploads from threads
and from processes on one local store cannot both pass a limit (driven by barriers inside the real face search,
not by sleeps)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import fusionkit
import fusionkit.fusion.api as fusion_api
from fusionkit.errors import CapacityExceededError
from fusionkit.storage import keys
from fusionkit.studio import Capacity
from tests.studio.conftest import photo, photo_bytes


def test_concurrent_uploads_from_threads_cannot_pass_the_limit(studio_url, clock, monkeypatch) -> None:
    studio = fusionkit.open(studio_url, clock=clock, capacity=Capacity(max_materials=2), video_workers=0)
    activity = studio.activities.create("busy")
    real = fusion_api.find_faces
    inside = threading.Barrier(2, timeout=20)

    def find_faces(image):  # the two that got in wait for each other here, past the check, before writing
        inside.wait()
        return real(image)

    monkeypatch.setattr(fusion_api, "find_faces", find_faces)
    outcomes: list[str] = []

    def upload() -> None:
        try:
            studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
            outcomes.append("stored")
        except CapacityExceededError:
            outcomes.append("refused")

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["refused", "refused", "stored", "stored"]
    assert studio.materials.list(activity.id).total == 2
    assert studio.store.list(keys.capacity_claims()) == []  # the claims went with their calls


PROCESS = textwrap.dedent("""
    import sys, time, pathlib
    import fusionkit, fusionkit.fusion.api as api
    from fusionkit.errors import CapacityExceededError
    from fusionkit.studio import Capacity
    root, activity, photo, flags, me = sys.argv[1:6]
    flags = pathlib.Path(flags)
    real = api.find_faces
    def find_faces(image):
        (flags / f"inside-{me}").write_text("")
        while not (flags / "go").exists():
            time.sleep(0.01)
        return real(image)
    api.find_faces = find_faces
    studio = fusionkit.open(root, capacity=Capacity(max_materials=1), video_workers=0, sweep_every=None)
    try:
        studio.materials.upload(activity, pathlib.Path(photo).read_bytes())
        print("stored")
    except CapacityExceededError:
        print("refused")
""")


def test_concurrent_uploads_from_processes_on_local_disk_cannot_pass_the_limit(tmp_path: Path) -> None:
    root = str(tmp_path / "studio")
    activity = fusionkit.open(root, video_workers=0, sweep_every=None).activities.create("busy")
    flags = tmp_path / "flags"
    flags.mkdir()
    from fusionkit.samples import sample_path

    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, root, activity.id, str(sample_path("obama.jpg")),
                               str(flags), str(i)], stdout=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.monotonic() + 60
    # Go once every process is either inside (past its check) or finished (refused at its check).
    while time.monotonic() < deadline:
        inside = len(list(flags.glob("inside-*")))
        if inside + sum(p.poll() is not None for p in procs) >= 2 and inside >= 1:
            break
        time.sleep(0.02)
    (flags / "go").write_text("")
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outcomes == ["refused", "stored"]
    assert len(list(flags.glob("inside-*"))) == 1  # the second never got past the check


def test_every_stored_byte_counts_and_an_activity_can_have_its_own_limit(studio_url, clock) -> None:
    studio = fusionkit.open(studio_url, clock=clock, video_workers=0)
    activity = studio.activities.create("a")
    material = studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    used = sum(studio.store.size(f) for f in ("activities", "materials", "results", "jobs", "logs"))
    studio.capacity = Capacity(max_bytes=used + 2000)  # room for the log, not for a fused picture
    with pytest.raises(CapacityExceededError, match="max_bytes"):
        studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert studio.store.list(keys.RESULTS_IMAGE) == []
    assert studio.fuse(activity.id, material.id, photo("biden.jpg"), response="array").payload is not None
    studio.capacity = Capacity(max_bytes_per_activity=len(photo_bytes("obama.jpg")) + 100_000)
    other = studio.activities.create("b")
    with pytest.raises(CapacityExceededError, match="per activity"):
        studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    assert studio.materials.upload(other.id, photo_bytes("obama.jpg")).activity_id == other.id


def test_a_claim_left_by_a_dead_process_lapses(studio_url, clock) -> None:
    studio = fusionkit.open(studio_url, clock=clock, capacity=Capacity(max_materials=1), video_workers=0)
    activity = studio.activities.create("a")
    stale = keys.capacity_claim("cl_0123456789ab")
    studio.store.write(stale, json.dumps({"bytes": 10, "materials": 1, "activity_id": None,
                                          "created": "2026-03-10T12:00:00Z"}).encode())
    clock.advance(minutes=10)  # 40 min after the dead process claimed: still held
    with pytest.raises(CapacityExceededError):
        studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    clock.advance(hours=1)
    assert studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    assert not studio.store.exists(stale)
