"""Writing to a URL outside the studio: staged beside the target, moved into place only on commit."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

from fusionkit.storage.outside import StagedWrite, known_protocol


@pytest.fixture(params=["file", "memory"])
def target(request, tmp_path: Path) -> str:
    if request.param == "file":
        return f"file://{tmp_path}/out/video.mp4"
    return f"memory://fk-outside-{uuid.uuid4().hex}/out/video.mp4"


def _make_folder(url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)


def _names(url: str) -> list[str]:
    fs, path = fsspec.core.url_to_fs(url)
    folder = path.rsplit("/", 1)[0]
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)) if fs.exists(folder) else []


def test_a_committed_write_lands_at_the_target(target: str) -> None:
    _make_folder(target)
    staged = StagedWrite.stage(target, b"video bytes")
    assert staged.url == target
    (temporary,) = _names(target)
    assert temporary.startswith("video.mp4.fusionkit-") and temporary.endswith(".tmp")
    staged.commit()
    with fsspec.open(target, "rb") as fh:
        assert fh.read() == b"video bytes"
    assert _names(target) == ["video.mp4"]


def test_a_discarded_write_leaves_the_users_file_as_it_was(target: str) -> None:
    with fsspec.open(target, "wb", auto_mkdir=True) as fh:
        fh.write(b"theirs")
    staged = StagedWrite.stage(target, b"ours")
    staged.discard()
    staged.discard()  # twice is harmless
    with fsspec.open(target, "rb") as fh:
        assert fh.read() == b"theirs"
    assert _names(target) == ["video.mp4"]


def test_discard_after_commit_keeps_the_committed_data(target: str) -> None:
    _make_folder(target)
    staged = StagedWrite.stage(target, b"ours")
    staged.commit()
    staged.discard()
    with fsspec.open(target, "rb") as fh:
        assert fh.read() == b"ours"


def test_known_protocols() -> None:
    assert known_protocol("file") and known_protocol("memory") and known_protocol("S3")
    assert not known_protocol("no-such-protocol")
