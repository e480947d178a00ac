"""A full disk: the calls that write fail with a typed error (``StorageError``, ``FailedOperation.StorageError``)
and leave nothing half-written, on a real full file system (a 2 MiB tmpfs, where this machine lets the tests
mount one) and on a fake one (every write from some point on meets ENOSPC half-way, tests/faults/faulty_store.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import fusionkit
from fusionkit.errors import StorageError
from tests.faults.faulty_store import FaultyStore, disk_full
from tests.faults.invariants import recover_and_check
from tests.faults.scenario import Clock, Prepared, run_operation, sample_bytes, start_of
from tests.photos import photo

WRITING = ("upload", "fuse", "submit")


def _check_typed(exc: StorageError) -> None:
    assert exc.code == "FailedOperation.StorageError"
    assert "full" in str(exc) and "nothing half-written" in str(exc), str(exc)


@pytest.mark.parametrize("encryption", ["auto", None], ids=["encrypted", "plain"])
@pytest.mark.parametrize("operation", WRITING)
def test_a_disk_that_fills_up_fails_the_call_with_a_typed_error_and_leaves_nothing(
        operation: str, encryption: str | None, prepared: Callable[[str | None], Prepared], tmp_path: Path,
        tiny_clip: Path, private_tmp: str) -> None:
    scenario = prepared(encryption)
    writes = _count_writes(operation, scenario, tmp_path / "count", tiny_clip)
    # Full from the call's first, second or third write on (what it wrote before fitted).
    for first in range(1, min(3, writes) + 1):
        folder = scenario.copy(tmp_path / f"from-{first}")
        clock = Clock(start_of(operation, scenario))
        studio = fusionkit.open(folder, clock=clock, video_workers=0, sweep_every=None, job_lease=1,
                                encryption=encryption)
        faulty = FaultyStore(studio.root, at=first, error=disk_full, short=True, kinds=("write",),
                             full_from_then_on=True)
        studio.root = faulty
        try:
            with pytest.raises(StorageError) as raised:
                run_operation(operation, studio, scenario, tiny_clip)
        finally:
            studio.root = faulty.inner
            studio.close()
        _check_typed(raised.value)
        report = recover_and_check(folder, now=clock.now, encryption=encryption, tmpdir=private_tmp)
        assert report.ok, report.lines()
        for what in ("materials", "results", "jobs"):
            assert _files(folder / what) == _files(scenario.folder / what), what


def _count_writes(operation: str, scenario: Prepared, folder: Path, clip: Path) -> int:
    scenario.copy(folder)
    studio = fusionkit.open(folder, clock=Clock(start_of(operation, scenario)), video_workers=0, sweep_every=None,
                            job_lease=1, encryption=scenario.encryption)
    counting = FaultyStore(studio.root, kinds=("write",))
    studio.root = counting
    try:
        run_operation(operation, studio, scenario, clip)
    finally:
        studio.close()
    return len(counting.events)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else set()


# -- a real full file system ----------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (root only; skipped where mounting is not allowed)."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    where = tmp_path / "disk"
    where.mkdir()
    proc = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run([umount, str(where)], capture_output=True, timeout=30, check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but ``leave`` bytes (a file beside the studio); the file, to remove once done."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    st = os.statvfs(disk)
    assert st.f_bavail * st.f_frsize < 65536
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


@pytest.mark.parametrize("encryption", ["auto", None], ids=["encrypted", "plain"])
def test_a_real_full_disk_fails_writes_with_a_typed_error_and_leaves_nothing(
        small_disk: Path, encryption: str | None, tiny_clip: Path, private_tmp: str) -> None:
    folder = small_disk / "studio"
    clock = Clock(datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc))
    studio = fusionkit.open(folder, clock=clock, video_workers=1, sweep_every=None, job_lease=1, encryption=encryption)
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, sample_bytes("obama.jpg"))
    v = studio.materials.upload(a.id, tiny_clip)
    r = studio.fuse(a.id, m.id, photo("biden.jpg"))
    studio.close()
    studio = fusionkit.open(folder, clock=clock, video_workers=0, sweep_every=None, job_lease=1, encryption=encryption)
    before = _files(folder)
    filler = _fill(small_disk, leave=16384)  # room for the request log's lines, not for a picture
    calls: dict[str, Callable[[], object]] = {
        "upload": lambda: studio.materials.upload(a.id, sample_bytes("obama3.jpg")),
        "fuse": lambda: studio.fuse(a.id, m.id, photo("biden.jpg"), response="url"),
        "submit": lambda: studio.videos.submit(a.id, v.id, photo("two_people.jpg")),
    }
    for name, call in calls.items():
        with pytest.raises(StorageError) as raised:
            call()
        _check_typed(raised.value)
        # Only the request log's line of the call, and in an encrypted studio the data key of what it began to
        # write (stored before any object uses it; unused, it holds nothing of anyone).
        assert not [p for p in _files(folder) - before if not p.startswith(("logs/", "keyring/"))], name
    # Nothing half-written is left (no temporary file, no torn log line), and after a sweep nothing at all.
    assert not [p for p in _files(folder) if p.endswith(".tmp")]
    studio.close()
    filler.unlink()
    st = os.statvfs(small_disk)
    assert st.f_bavail * st.f_frsize > 1 << 20

    def succeeded(s: fusionkit.Studio) -> list[str]:
        out = []
        if s.materials.get(m.id) != m:
            out.append("the material changed")
        if s.results.get(r.id).id != r.id:
            out.append("the result changed")
        if {x.id for x in s.materials.list(a.id).materials} != {m.id, v.id}:
            out.append("the activity lists other materials")
        return out

    report = recover_and_check(folder, now=clock.now + timedelta(minutes=1), encryption=encryption,
                               tmpdir=private_tmp, expect=succeeded)
    assert report.ok, report.lines()


def test_enospc_is_what_the_fake_raises() -> None:
    exc = disk_full()
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC
