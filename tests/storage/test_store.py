"""The blob stores: one base class of tests, run against memory:// and a local directory."""

from __future__ import annotations

import os
import uuid

import pytest

from fusionkit.errors import ParameterValueError, StorageError
from fusionkit.storage import FsspecStore, KeyNotFound, LocalStore, open_store
from fusionkit.storage.backends import BlobStore


class StoreTests:
    """Every backend passes these; a subclass provides ``make_store`` and ``inject_write_failure``."""

    @pytest.fixture
    def store(self, tmp_path) -> BlobStore:
        return self.make_store(tmp_path)

    def make_store(self, tmp_path) -> BlobStore:
        raise NotImplementedError

    def inject_write_failure(self, store, monkeypatch) -> None:
        """Make the next write fail in the middle (after some bytes, before it completes)."""
        raise NotImplementedError

    def test_write_read_overwrite_delete(self, store):
        store.write("a/b/c.json", b"one")
        assert store.read("a/b/c.json") == b"one"
        store.write("a/b/c.json", b"two")
        assert store.read("a/b/c.json") == b"two"
        assert store.exists("a/b/c.json")
        assert store.delete("a/b/c.json") is True
        assert store.delete("a/b/c.json") is False
        with pytest.raises(KeyNotFound):
            store.read("a/b/c.json")

    def test_missing_key_is_key_not_found(self, store):
        with pytest.raises(KeyNotFound):
            store.read("nothing/here.json")
        assert not store.exists("nothing/here.json")

    def test_list_gives_sorted_child_names_without_temp_files(self, store):
        for name in ("b", "a", "c/d"):
            store.write(f"p/{name}", b"x")
        assert store.list("p") == ["a", "b", "c"]
        assert store.list("missing") == []

    def test_delete_prefix_counts_files(self, store):
        for i in range(5):
            store.write(f"day/2026-01-01/{i}.json", b"x")
        store.write("day/2026-01-02/0.json", b"x")
        assert store.delete_prefix("day/2026-01-01") == 5
        assert store.list("day") == ["2026-01-02"]
        assert store.delete_prefix("day/2026-01-01") == 0

    def test_append_and_rewrite_lines(self, store):
        store.append("logs/x.jsonl", b"1\n")
        store.append("logs/x.jsonl", b"2\n")
        store.append("logs/x.jsonl", b"3\n")
        assert store.read("logs/x.jsonl") == b"1\n2\n3\n"
        assert store.rewrite_lines("logs/x.jsonl", lambda line: line != b"2\n") == 1
        assert store.read("logs/x.jsonl") == b"1\n3\n"
        assert store.rewrite_lines("logs/x.jsonl", lambda line: False) == 2
        assert not store.exists("logs/x.jsonl")
        assert store.rewrite_lines("logs/x.jsonl", lambda line: False) == 0

    def test_size_sums_bytes_under_a_prefix(self, store):
        store.write("m/a", b"12345")
        store.write("m/b/c", b"123")
        assert store.size("m") == 8

    @pytest.mark.parametrize("key", ["../x", "a/../b", "/etc/passwd", "a//b", "a/./b", "simplecache::file:///etc/passwd",
                                     "http://169.254.169.254/", "a\\b", ""])
    def test_malformed_keys_are_refused(self, store, key):
        with pytest.raises(StorageError):
            store.write(key, b"x")
        with pytest.raises(StorageError):
            store.read(key)

    def test_a_write_failing_midway_leaves_the_old_object(self, store, monkeypatch):
        store.write("doc.json", b"old" * 1000)
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(OSError, match="injected"):
            store.write("doc.json", b"new" * 1000)
        assert store.read("doc.json") == b"old" * 1000

    def test_a_write_failing_midway_leaves_no_new_object(self, store, monkeypatch):
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(OSError, match="injected"):
            store.write("fresh/doc.json", b"new" * 1000)
        assert not store.exists("fresh/doc.json")
        assert store.list("fresh") == []

    def test_readers_see_whole_objects_during_overwrites_and_deletes(self, store):
        import threading

        a, b = b"A" * 300_000, b"B" * 200_000
        for i in range(20):
            store.write(f"day/2026-01-01/{i}.bin", a)
        store.write("doc.bin", a)
        seen: list[str] = []
        stop = threading.Event()
        first_pass = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                if seen:
                    first_pass.set()
                for key in ["doc.bin", *(f"day/2026-01-01/{i}.bin" for i in range(20))]:
                    try:
                        data = store.read(key)
                    except KeyNotFound:
                        seen.append("gone")
                        continue
                    seen.append("whole" if data in (a, b) else "TORN")

        t = threading.Thread(target=reader)
        t.start()
        first_pass.wait(timeout=30)
        try:
            for i in range(30):
                store.write("doc.bin", b if i % 2 else a)
            store.delete_prefix("day/2026-01-01")
        finally:
            stop.set()
            t.join()
        assert "TORN" not in seen and "whole" in seen

    def test_concurrent_appends_and_rewrites_lose_no_line(self, store):
        from concurrent.futures import ThreadPoolExecutor

        def appender(tag: int) -> None:
            for i in range(150):
                store.append("logs/h.jsonl", f"{tag}-{i}\n".encode())
                if tag == 0 and i % 50 == 0:
                    store.rewrite_lines("logs/h.jsonl", lambda line: not line.startswith(b"drop"))

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(appender, range(2)))
        lines = store.read("logs/h.jsonl").splitlines()
        assert sorted(lines) == sorted(f"{t}-{i}".encode() for t in range(2) for i in range(150))

    def test_url_names_the_object(self, store):
        store.write("r/x.png", b"x")
        assert store.url("r/x.png").endswith("/r/x.png")
        assert "://" in store.url("r/x.png")


class TestMemoryStore(StoreTests):
    def make_store(self, tmp_path):
        store = open_store(f"memory://fk-test-{uuid.uuid4().hex}")
        assert isinstance(store, FsspecStore)
        return store

    def inject_write_failure(self, store, monkeypatch):
        # An object store's single put either lands whole or not at all; a failure is a put that never lands.
        def boom(path, value, **kwargs):
            raise OSError("injected failure during the put")

        monkeypatch.setattr(store.fs, "pipe_file", boom)


class TestLocalStore(StoreTests):
    def make_store(self, tmp_path):
        store = open_store(tmp_path / "root")
        assert isinstance(store, LocalStore)
        return store

    def inject_write_failure(self, store, monkeypatch):
        def half_then_boom(self, fd, data):
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError("injected failure after half the bytes")

        monkeypatch.setattr(LocalStore, "_write_all", half_then_boom)

    def test_temp_files_are_removed_after_a_failure(self, store, monkeypatch, tmp_path):
        store.write("d/doc.json", b"old")
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(OSError):
            store.write("d/doc.json", b"new" * 100)
        assert os.listdir(tmp_path / "root" / "d") == ["doc.json"]

    def test_file_url_and_plain_path_are_local(self, tmp_path):
        assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
        assert open_store(f"file://{tmp_path}").root == tmp_path


def test_unused_storage_options_are_an_error(tmp_path):
    with pytest.raises(ParameterValueError, match="not used"):
        open_store("memory://x", {"anon": True})
    with pytest.raises(ParameterValueError, match="not used"):
        open_store(str(tmp_path), {"anon": True})
    with pytest.raises(ParameterValueError):
        open_store("")


def test_other_urls_go_through_fsspec(tmp_path):
    store = open_store(f"simplecache::file://{tmp_path}/cached")
    assert isinstance(store, FsspecStore)


def test_writes_together_land_together_or_leave_nothing(tmp_path) -> None:
    from fusionkit.storage.backends import open_store
    from fusionkit.storage.catalog import write_together

    store = open_store(str(tmp_path / "root"))
    write_together(store, [("m/a.bin", b"1"), ("m/doc.json", b"{}")], folder="m")
    assert store.read("m/a.bin") == b"1" and store.read("m/doc.json") == b"{}"
    # The third write cannot land (its parent "x/f" is a file): the two before it are taken back, and the folder.
    store.write("x/f", b"file")
    with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises, the caller sees it
        write_together(store, [("y/a.bin", b"1"), ("y/doc.json", b"{}"), ("x/f/marker", b"")], folder="y")
    assert store.list("y") == [] and not store.exists("y/a.bin") and not store.exists("y/doc.json")
