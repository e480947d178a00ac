"""Writes that the system cuts short (a file-size limit, a full disk) fail with a typed error and leave nothing
half-written: output files, store objects and appended log lines (real files; the size limit is the process's own
RLIMIT_FSIZE in a subprocess, a full disk is ENOSPC from the write call)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fusionkit.errors import StorageError
from fusionkit.imaging.files import write_bytes_atomic
from fusionkit.storage import LocalStore

LIMITED = textwrap.dedent("""
    import resource, sys
    from fusionkit.errors import StorageError
    from fusionkit.imaging.files import write_bytes_atomic
    from fusionkit.storage import LocalStore
    folder = sys.argv[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    outcomes = []
    for name, write in (("save", lambda: write_bytes_atomic(folder + "/out.jpg", b"x" * 230_402)),
                        ("store", lambda: LocalStore(folder + "/store").write("a/b.json", b"y" * 230_402)),
                        ("append", lambda: LocalStore(folder + "/store").append("logs/x.jsonl", b"z" * 230_402))):
        try:
            write()
            outcomes.append(name + ":written")
        except StorageError as exc:
            outcomes.append(name + ":" + exc.code + ":" + ("size limit" in str(exc)) * "says-why")
    print(" ".join(outcomes))
""")


def test_a_file_size_limit_is_a_typed_error_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "out.jpg").write_bytes(b"the old picture")
    LocalStore(tmp_path / "store").append("logs/x.jsonl", b'{"line": 1}\n')
    proc = subprocess.run([sys.executable, "-c", LIMITED, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    code = "FailedOperation.StorageError"
    assert proc.stdout.split() == [f"save:{code}:says-why", f"store:{code}:says-why", f"append:{code}:says-why"]
    assert (tmp_path / "out.jpg").read_bytes() == b"the old picture"  # untouched, no partial file beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg", "store"]
    store = LocalStore(tmp_path / "store")
    assert store.list("a") == [] and store.read("logs/x.jsonl") == b'{"line": 1}\n'  # no torn line
    assert not [p for p in (tmp_path / "store").rglob("*") if p.name.startswith(".") and p.is_file()
                and p.suffix == ".tmp"]


def test_a_full_disk_is_a_typed_error_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    real = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data) -> int:  # the first call writes half, the next finds the disk full
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "out.png").write_bytes(b"old")
    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StorageError, match="disk is full"):
        write_bytes_atomic(tmp_path / "out.png", b"p" * 10_000)
    calls["n"] = 0
    store = LocalStore(tmp_path / "store")
    with pytest.raises(StorageError, match="disk is full"):
        store.write("k.json", b"q" * 10_000)
    monkeypatch.setattr(os, "write", real)
    assert (tmp_path / "out.png").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name != "store"] == ["out.png"]
    assert not store.exists("k.json") and not list((tmp_path / "store").rglob("*.tmp"))
