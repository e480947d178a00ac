"""The blob stores: the store contract (store_contract.py) on memory://, a file:// URL and a plain local path,
then what only one backend or open_store's routing does."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from fusionkit.errors import ParameterValueError, StorageError
from fusionkit.storage import BlobStore, FsspecStore, LocalStore, open_store
from fusionkit.storage.catalog import write_together
from tests.storage.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    backend = FsspecStore

    def url(self, tmp_path: Path) -> str:
        return f"memory://fk-test-{uuid.uuid4().hex}"

    def close(self, store: BlobStore) -> None:
        assert isinstance(store, FsspecStore)
        if store.fs.exists(store.root):
            store.fs.rm(store.root, recursive=True)  # the memory filesystem is one per process

    def test_memory_url_names_the_root(self) -> None:
        store = open_store("memory://fk-test-root/inner/")
        assert isinstance(store, FsspecStore)
        assert (store.root, store.protocol) == ("/fk-test-root/inner", "memory")
        assert store.url("a/b") == "memory:///fk-test-root/inner/a/b"


def _create_in_a_process(root: str, key: str, value: int) -> bool:
    return LocalStore(root).create(key, str(value).encode())


class LocalContract(StoreContract):
    """The contract plus what a directory on local disk adds (not collected itself)."""

    backend = LocalStore

    def test_temp_files_are_removed_after_a_failure(self, store, monkeypatch) -> None:
        store.write("d/doc.json", b"old")
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(StorageError, match="injected"):
            store.write("d/doc.json", b"new" * 100)
        assert os.listdir(store.root / "d") == ["doc.json"]

    def test_url_is_the_file_uri(self, store) -> None:
        assert store.url("r/x.png") == (store.root / "r" / "x.png").as_uri()

    def test_writes_together_land_together_or_leave_nothing(self, store) -> None:
        write_together(store, [("m/a.bin", b"1"), ("m/doc.json", b"{}")], folder="m")
        assert store.read("m/a.bin") == b"1" and store.read("m/doc.json") == b"{}"
        # The third write cannot land (its parent "x/f" is a file): the two before it are taken back, and the folder.
        store.write("x/f", b"file")
        with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises, the caller sees it
            write_together(store, [("y/a.bin", b"1"), ("y/doc.json", b"{}"), ("x/f/marker", b"")], folder="y")
        assert store.list("y") == [] and not store.exists("y/a.bin") and not store.exists("y/doc.json")


    def test_processes_creating_one_key_make_exactly_one_winner(self, store) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        for round_ in range(3):
            key = f"claims/race/{round_}.json"
            with ctx.Pool(4) as pool:
                won = pool.starmap(_create_in_a_process, [(str(store.root), key, i) for i in range(8)])
            assert won.count(True) == 1
            assert store.read(key) == str(won.index(True)).encode()
            assert store.list("claims/race").count(f"{round_}.json") == 1

    def test_create_refuses_a_key_below_a_file_with_a_typed_error(self, store) -> None:
        store.write("x/f", b"file")
        with pytest.raises(StorageError, match="create x/f/claim"):
            store.create("x/f/claim", b"1")

    @pytest.mark.parametrize("umask", [0o000, 0o022, 0o177])
    def test_files_are_0600_and_folders_0700_whatever_the_umask(self, store, monkeypatch, umask: int) -> None:
        seen_tmp: list[int] = []
        real_replace = os.replace

        def replace(src, dst) -> None:  # the atomic write's temporary file, just before it is renamed
            seen_tmp.append(os.stat(src).st_mode & 0o777)
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        old = os.umask(umask)
        try:
            store.write("a/b/doc.json", b"{}")
            store.append("logs/d/00.jsonl", b"1\n")
            store.append("logs/d/00.jsonl", b"2\n")
            store.rewrite_lines("logs/d/00.jsonl", lambda line: line == b"2\n")
        finally:
            os.umask(old)
        assert seen_tmp and set(seen_tmp) == {0o600}
        for folder in ("", "a", "a/b", "logs", "logs/d"):
            assert (store.root / folder).stat().st_mode & 0o777 == 0o700, folder
        for key in ("a/b/doc.json", "logs/d/00.jsonl"):
            assert (store.root / key).stat().st_mode & 0o777 == 0o600, key

    def test_an_older_log_file_is_made_private_on_the_next_append(self, store) -> None:
        store.append("logs/x.jsonl", b"1\n")
        os.chmod(store.root / "logs" / "x.jsonl", 0o644)
        store.append("logs/x.jsonl", b"2\n")
        assert (store.root / "logs" / "x.jsonl").stat().st_mode & 0o777 == 0o600


class TestFileUrlStore(LocalContract):
    def url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/root"


class TestPathStore(LocalContract):
    def url(self, tmp_path: Path) -> str:
        return str(tmp_path / "root")


def test_file_url_and_plain_path_are_local(tmp_path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    assert open_store(f"file://{tmp_path}").root == tmp_path
    for form in (tmp_path, str(tmp_path), f"file://{tmp_path}"):
        store = open_store(form)
        assert isinstance(store, LocalStore) and store.root == tmp_path


def test_a_relative_path_is_made_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("data")
    assert isinstance(store, LocalStore) and store.root == tmp_path / "data"


def test_unused_storage_options_are_an_error(tmp_path) -> None:
    with pytest.raises(ParameterValueError, match="not used"):
        open_store("memory://x", {"anon": True})
    with pytest.raises(ParameterValueError, match="not used"):
        open_store(str(tmp_path), {"anon": True})
    with pytest.raises(ParameterValueError):
        open_store("")


@pytest.mark.parametrize("url", [None, 12, b"memory://x"])
def test_a_url_that_is_not_a_string_or_path_is_an_error(url) -> None:
    with pytest.raises(ParameterValueError, match="non-empty string or path"):
        open_store(url)


def test_other_urls_go_through_fsspec(tmp_path) -> None:
    store = open_store(f"simplecache::file://{tmp_path}/cached")
    assert isinstance(store, FsspecStore)


@pytest.mark.parametrize("url, why", [("file://", "names no folder"), ("/etc/passwd", "is a file"),
                                      ("file:///etc/passwd", "is a file")])
def test_a_local_url_that_is_no_folder_is_refused(url: str, why: str) -> None:
    with pytest.raises(ParameterValueError, match=why):
        open_store(url)


def test_a_url_whose_package_is_missing_is_a_typed_error_naming_it() -> None:
    with pytest.raises(ParameterValueError, match="gcsfs"):
        open_store("gs://bucket/studio")  # gcsfs is in no extra of fusionkit


def test_s3_without_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    registry = importlib.import_module("fsspec.registry")
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as on a machine without the s3 extra: importing it fails
    for protocol in ("s3", "s3a"):  # forget the class an earlier test imported
        monkeypatch.delitem(registry._registry, protocol, raising=False)
    with pytest.raises(ParameterValueError, match=r"fusionkit\[s3\]"):
        open_store("s3://bucket/studio")
