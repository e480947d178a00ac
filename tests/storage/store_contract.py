"""What every blob store promises (the :class:`~fusionkit.storage.BlobStore` protocol and write_together on top).

A backend's test module subclasses :class:`StoreContract` and names the store's URL::

    class TestS3Store(StoreContract):
        storage_options = {"endpoint_url": "http://127.0.0.1:5555"}

        def url(self, tmp_path):
            return f"s3://fk-test/{uuid.uuid4().hex}"

Override :meth:`StoreContract.open` where a store is not opened from a URL, :meth:`StoreContract.close` to
remove what a test left behind, and :meth:`StoreContract.inject_write_failure` for a store that is neither a
LocalStore nor an FsspecStore.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fusionkit.errors import StorageError
from fusionkit.storage import BlobStore, FsspecStore, KeyNotFound, LocalStore, open_store
from fusionkit.storage.catalog import write_together

MALFORMED_KEYS = ["../x", "a/../b", "/etc/passwd", "a//b", "a/./b", "simplecache::file:///etc/passwd",
                  "http://169.254.169.254/", "a\\b", ""]

# Every method of the protocol, called with a key: each must refuse a malformed one before touching storage.
KEYED_CALLS: dict[str, Callable[[BlobStore, str], object]] = {
    "read": lambda s, k: s.read(k),
    "write": lambda s, k: s.write(k, b"x"),
    "create": lambda s, k: s.create(k, b"x"),
    "append": lambda s, k: s.append(k, b"x\n"),
    "rewrite_lines": lambda s, k: s.rewrite_lines(k, lambda line: False),
    "delete": lambda s, k: s.delete(k),
    "delete_prefix": lambda s, k: s.delete_prefix(k),
    "list": lambda s, k: s.list(k),
    "exists": lambda s, k: s.exists(k),
    "size": lambda s, k: s.size(k),
    "url": lambda s, k: s.url(k),
    "lock": lambda s, k: s.lock(k).__enter__(),
}


class FailingWrites:
    """A store whose writes of some keys fail (after the real store was asked for nothing); all else passes through."""

    def __init__(self, store: BlobStore, failing: set[str]) -> None:
        self._store = store
        self._failing = failing

    def write(self, key: str, data: bytes) -> None:
        if key in self._failing:
            raise OSError(f"injected failure writing {key}")
        self._store.write(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class StoreContract:
    """Every backend passes these. A subclass provides :meth:`url` (or :meth:`open`)."""

    #: The class open_store must return for :meth:`url`.
    backend: ClassVar[type] = object
    #: Passed to open_store with :meth:`url` (credentials, an endpoint).
    storage_options: ClassVar[dict[str, Any] | None] = None

    def url(self, tmp_path: Path) -> str:
        """A fresh, empty root for one test."""
        raise NotImplementedError

    def open(self, tmp_path: Path) -> BlobStore:
        return open_store(self.url(tmp_path), self.storage_options)

    def close(self, store: BlobStore) -> None:
        """Remove what a test left behind (nothing to do under tmp_path)."""

    def stored_bytes(self, store: BlobStore, key: str) -> int:
        """How many bytes ``size`` counts for the object ``key``: its length, unless the store adds to what it keeps
        (an encrypted store counts its ciphertext)."""
        return len(store.read(key))

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[BlobStore]:
        store = self.open(tmp_path)
        try:
            yield store
        finally:
            self.close(store)

    def inject_write_failure(
        self, store: BlobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Make every later write fail in the middle (after some bytes, before it completes)."""
        if isinstance(store, LocalStore):
            def half_then_boom(self: LocalStore, fd: int, data: bytes) -> None:
                os.write(fd, bytes(data[: len(data) // 2]))
                raise OSError("injected failure after half the bytes")

            monkeypatch.setattr(LocalStore, "_write_all", half_then_boom)
        elif isinstance(store, FsspecStore):
            # An object store's single put either lands whole or not at all; a failure is a put that never lands.
            def boom(path: str, value: bytes, **kwargs: Any) -> None:
                raise OSError("injected failure during the put")

            monkeypatch.setattr(store.fs, "pipe_file", boom)
        else:
            raise NotImplementedError(f"override inject_write_failure for {type(store).__name__}")

    # -- opening --------------------------------------------------------------------------------------------------

    def test_the_url_opens_the_expected_backend(self, store: BlobStore) -> None:
        assert isinstance(store, self.backend)

    def test_the_store_has_every_method_of_the_protocol(self, store: BlobStore) -> None:
        members = {n for n in vars(BlobStore) if not n.startswith("_")}
        assert members == set(KEYED_CALLS)  # a new protocol method needs a line in KEYED_CALLS and tests here
        assert all(callable(getattr(store, name, None)) for name in members)

    def test_a_lock_keeps_threads_apart_and_is_released(self, store: BlobStore) -> None:
        import threading

        inside: list[int] = []
        overlap: list[bool] = []

        def work() -> None:
            for _ in range(20):
                with store.lock("locks/one"):
                    inside.append(1)
                    overlap.append(len(inside) > 1)
                    inside.pop()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(overlap) == 80 and not any(overlap)
        with store.lock("locks/one"), store.lock("locks/two"):  # released, and two names are two locks
            pass

    # -- read, write, delete, exists ------------------------------------------------------------------------------

    def test_write_read_overwrite_delete(self, store: BlobStore) -> None:
        store.write("a/b/c.json", b"one")
        assert store.read("a/b/c.json") == b"one"
        store.write("a/b/c.json", b"two")
        assert store.read("a/b/c.json") == b"two"
        assert store.exists("a/b/c.json")
        assert store.delete("a/b/c.json") is True
        assert store.delete("a/b/c.json") is False
        with pytest.raises(KeyNotFound):
            store.read("a/b/c.json")

    @pytest.mark.parametrize("data", [b"", bytes(range(256)), bytes(range(255, -1, -1)) * 4096],
                             ids=["empty", "all-bytes", "1MiB"])
    def test_values_round_trip_byte_for_byte(self, store: BlobStore, data: bytes) -> None:
        store.write("v/blob.bin", data)
        back = store.read("v/blob.bin")
        assert type(back) is bytes and back == data
        assert store.exists("v/blob.bin")

    def test_missing_key_is_key_not_found(self, store: BlobStore) -> None:
        with pytest.raises(KeyNotFound):
            store.read("nothing/here.json")
        assert not store.exists("nothing/here.json")

    def test_key_not_found_is_a_key_error_naming_the_key(self, store: BlobStore) -> None:
        with pytest.raises(KeyError) as err:
            store.read("nothing/here.json")
        assert isinstance(err.value, KeyNotFound) and err.value.args == ("nothing/here.json",)

    def test_a_folder_or_a_key_below_an_object_is_not_found(self, store: BlobStore) -> None:
        store.write("f/obj", b"x")
        with pytest.raises(KeyNotFound):
            store.read("f")  # a prefix with objects under it is not an object
        with pytest.raises(KeyNotFound):
            store.read("f/obj/below")

    def test_delete_takes_only_its_key(self, store: BlobStore) -> None:
        store.write("d/a", b"1")
        store.write("d/b", b"2")
        assert store.delete("d/a") is True
        assert not store.exists("d/a") and store.read("d/b") == b"2"
        assert store.delete("no/such/folder/key") is False

    # -- list -----------------------------------------------------------------------------------------------------

    def test_list_gives_sorted_child_names_without_temp_files(self, store: BlobStore) -> None:
        for name in ("b", "a", "c/d"):
            store.write(f"p/{name}", b"x")
        assert store.list("p") == ["a", "b", "c"]
        assert store.list("missing") == []

    def test_list_goes_one_level_down_hides_dot_names_and_lists_nothing_under_an_object(self, store: BlobStore) -> None:
        for key in ("p/c/d", "p/c/e/f", "p/.hidden", "p/c/.tmp"):
            store.write(key, b"x")
        assert store.list("p") == ["c"]
        assert store.list("p/c") == ["d", "e"]
        assert store.list("p/c/e") == ["f"]
        assert store.list("p/c/d") == []  # an object has no children

    def test_list_after_writes_and_deletes_of_files(self, store: BlobStore) -> None:
        store.write("l/a", b"x")
        store.write("l/b", b"x")
        store.delete("l/a")
        assert store.list("l") == ["b"]

    # -- delete_prefix --------------------------------------------------------------------------------------------

    def test_delete_prefix_counts_files(self, store: BlobStore) -> None:
        for i in range(5):
            store.write(f"day/2026-01-01/{i}.json", b"x")
        store.write("day/2026-01-02/0.json", b"x")
        assert store.delete_prefix("day/2026-01-01") == 5
        assert store.list("day") == ["2026-01-02"]
        assert store.delete_prefix("day/2026-01-01") == 0

    def test_delete_prefix_takes_nested_files_and_only_that_folder(self, store: BlobStore) -> None:
        for key in ("m/mt_1/a.json", "m/mt_1/deep/b.png", "m/mt_1/deep/er/c", "m/mt_10/keep", "m/mt_1.json"):
            store.write(key, b"x")
        assert store.delete_prefix("m/mt_1") == 3
        assert store.list("m/mt_1") == [] and not store.exists("m/mt_1/deep/b.png")
        assert store.read("m/mt_10/keep") == b"x" and store.read("m/mt_1.json") == b"x"  # a name sharing its start
        assert store.delete_prefix("m/mt_") == 0  # a prefix is a folder, not the start of a name
        assert store.list("m") == ["mt_1.json", "mt_10"]
        assert store.delete_prefix("never/written") == 0

    # -- append and rewrite_lines ---------------------------------------------------------------------------------

    def test_append_and_rewrite_lines(self, store: BlobStore) -> None:
        store.append("logs/x.jsonl", b"1\n")
        store.append("logs/x.jsonl", b"2\n")
        store.append("logs/x.jsonl", b"3\n")
        assert store.read("logs/x.jsonl") == b"1\n2\n3\n"
        assert store.rewrite_lines("logs/x.jsonl", lambda line: line != b"2\n") == 1
        assert store.read("logs/x.jsonl") == b"1\n3\n"
        assert store.rewrite_lines("logs/x.jsonl", lambda line: False) == 2
        assert not store.exists("logs/x.jsonl")
        assert store.rewrite_lines("logs/x.jsonl", lambda line: False) == 0

    def test_append_extends_a_written_object_and_creates_folders(self, store: BlobStore) -> None:
        store.write("logs/w.jsonl", b"0\n")
        store.append("logs/w.jsonl", b"1\n")
        assert store.read("logs/w.jsonl") == b"0\n1\n"
        store.append("new/deep/folder/x.jsonl", b"a\n")
        assert store.read("new/deep/folder/x.jsonl") == b"a\n"

    def test_rewrite_lines_keeping_every_line_changes_nothing(self, store: BlobStore) -> None:
        store.write("logs/k.jsonl", b"a\nb\nlast without newline")
        seen: list[bytes] = []
        assert store.rewrite_lines("logs/k.jsonl", lambda line: seen.append(line) is None) == 0
        assert seen == [b"a\n", b"b\n", b"last without newline"]  # lines keep their ends
        assert store.read("logs/k.jsonl") == b"a\nb\nlast without newline"
        assert store.rewrite_lines("logs/k.jsonl", lambda line: line.startswith(b"last")) == 2
        assert store.read("logs/k.jsonl") == b"last without newline"

    # -- size -----------------------------------------------------------------------------------------------------

    def test_size_sums_bytes_under_a_prefix(self, store: BlobStore) -> None:
        store.write("m/a", b"12345")
        store.write("m/b/c", b"123")
        assert self.stored_bytes(store, "m/a") >= 5 and self.stored_bytes(store, "m/b/c") >= 3
        assert store.size("m") == self.stored_bytes(store, "m/a") + self.stored_bytes(store, "m/b/c")

    def test_size_of_nothing_is_zero(self, store: BlobStore) -> None:
        assert store.size("never/written") == 0
        store.write("s/empty", b"")
        store.write("s/d/x", b"1234")
        assert store.size("s") == self.stored_bytes(store, "s/empty") + self.stored_bytes(store, "s/d/x") >= 4
        store.delete_prefix("s")
        assert store.size("s") == 0

    def test_create_writes_only_where_nothing_is(self, store: BlobStore) -> None:
        assert store.create("claims/a/1.json", b"first") is True
        assert store.create("claims/a/1.json", b"second") is False
        assert store.read("claims/a/1.json") == b"first"
        store.write("claims/a/1.json", b"rewritten")  # a created object is an ordinary one
        assert store.read("claims/a/1.json") == b"rewritten"
        assert store.delete("claims/a/1.json") and store.create("claims/a/1.json", b"again") is True
        assert store.list("claims/a") == ["1.json"]  # no temporary file is left beside it

    def test_threads_creating_one_key_make_exactly_one_winner(self, store: BlobStore) -> None:
        for round_ in range(5):
            key = f"claims/race/{round_}.json"
            with ThreadPoolExecutor(8) as pool:
                won = list(pool.map(lambda i, k=key: store.create(k, str(i).encode()), range(8)))
            assert won.count(True) == 1
            assert store.read(key) == str(won.index(True)).encode()

    # -- keys -----------------------------------------------------------------------------------------------------

    @pytest.mark.parametrize("key", MALFORMED_KEYS)
    def test_malformed_keys_are_refused(self, store: BlobStore, key: str) -> None:
        with pytest.raises(StorageError):
            store.write(key, b"x")
        with pytest.raises(StorageError):
            store.read(key)

    @pytest.mark.parametrize("method", sorted(KEYED_CALLS))
    def test_every_method_refuses_every_malformed_key(self, store: BlobStore, method: str) -> None:
        call = KEYED_CALLS[method]
        for key in MALFORMED_KEYS:
            with pytest.raises(StorageError):
                call(store, key)

    # -- atomic writes --------------------------------------------------------------------------------------------

    def test_a_write_failing_midway_leaves_the_old_object(
        self, store: BlobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.write("doc.json", b"old" * 1000)
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(StorageError, match="injected"):
            store.write("doc.json", b"new" * 1000)
        assert store.read("doc.json") == b"old" * 1000

    def test_a_write_failing_midway_leaves_no_new_object(
        self, store: BlobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.inject_write_failure(store, monkeypatch)
        with pytest.raises(StorageError, match="injected"):
            store.write("fresh/doc.json", b"new" * 1000)
        assert not store.exists("fresh/doc.json")
        assert store.list("fresh") == []

    def test_readers_see_whole_objects_during_overwrites_and_deletes(self, store: BlobStore) -> None:
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

    def test_concurrent_appends_and_rewrites_lose_no_line(self, store: BlobStore) -> None:
        def appender(tag: int) -> None:
            for i in range(150):
                store.append("logs/h.jsonl", f"{tag}-{i}\n".encode())
                if tag == 0 and i % 50 == 0:
                    store.rewrite_lines("logs/h.jsonl", lambda line: not line.startswith(b"drop"))

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(appender, range(2)))
        lines = store.read("logs/h.jsonl").splitlines()
        assert sorted(lines) == sorted(f"{t}-{i}".encode() for t in range(2) for i in range(150))

    # -- url ------------------------------------------------------------------------------------------------------

    def test_url_names_the_object(self, store: BlobStore) -> None:
        store.write("r/x.png", b"x")
        assert store.url("r/x.png").endswith("/r/x.png")
        assert "://" in store.url("r/x.png")

    def url_bytes(self, store: BlobStore, key: str, data: bytes) -> bytes:
        """What a reader of :meth:`~fusionkit.storage.BlobStore.url` gets for an object holding ``data`` (an
        encrypted store's URL names the ciphertext)."""
        return data

    def test_the_url_reads_back_the_object_through_fsspec(self, store: BlobStore) -> None:
        import fsspec

        store.write("r/y.bin", b"\x00payload\xff")
        with fsspec.open(store.url("r/y.bin"), "rb", **(self.storage_options or {})) as fh:
            assert fh.read() == self.url_bytes(store, "r/y.bin", b"\x00payload\xff")

    # -- write_together (catalog) ---------------------------------------------------------------------------------

    def test_writes_together_land_in_order(self, store: BlobStore) -> None:
        write_together(store, [("m/a.bin", b"1"), ("m/doc.json", b"{}")], folder="m")
        assert store.read("m/a.bin") == b"1" and store.read("m/doc.json") == b"{}"

    def test_a_failed_write_together_takes_back_its_writes_and_folder(self, store: BlobStore) -> None:
        store.write("elsewhere/keep", b"k")
        store.write("y/older", b"o")  # under the folder: the folder goes as a whole
        failing = FailingWrites(store, {"marker/y"})
        with pytest.raises(OSError, match="injected"):
            write_together(failing, [("y/a.bin", b"1"), ("y/doc.json", b"{}"), ("marker/y", b"")], folder="y")
        assert store.list("y") == [] and not store.exists("y/a.bin") and not store.exists("y/doc.json")
        assert not store.exists("marker/y") and store.read("elsewhere/keep") == b"k"

    def test_an_interrupted_write_together_leaves_nothing(self, store: BlobStore) -> None:
        def blobs() -> Iterator[tuple[str, bytes]]:
            yield "z/a.bin", b"1"
            yield "z/doc.json", b"{}"
            raise KeyboardInterrupt  # the caller stopped between two writes

        with pytest.raises(KeyboardInterrupt):
            write_together(store, blobs(), folder="z")
        assert store.list("z") == [] and not store.exists("z/a.bin")

    def test_without_a_folder_only_the_writes_are_taken_back(self, store: BlobStore) -> None:
        store.write("w/older", b"o")
        with pytest.raises(OSError, match="injected"):
            write_together(FailingWrites(store, {"w/b"}), [("w/a", b"1"), ("w/b", b"2")])
        assert store.list("w") == ["older"]
