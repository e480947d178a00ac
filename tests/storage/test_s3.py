"""The blob store on S3 over HTTP, against moto's S3 server on a loopback port (tests/s3server.py): the store contract,
encrypted and plain, then what S3 adds: conditional puts (``If-None-Match: *``) raced by processes, listings that
other processes' writes show at once, and no directory markers left behind."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fusionkit.storage import BlobStore, FsspecStore, open_store
from fusionkit.storage.crypto import EncryptedStore, LocalKeyFile
from tests.s3server import S3Server
from tests.storage.store_contract import StoreContract
from tests.storage.test_crypto import EncryptedContract


class S3Contract:
    """A fresh bucket per test on the session's server (``s3_bucket``), the store rooted in a folder of it."""

    server: S3Server
    bucket: str
    storage_options: ClassVar[dict[str, Any] | None] = None

    @pytest.fixture(autouse=True)
    def _bucket(self, s3_server: S3Server, s3_bucket: str) -> None:  # runs before the contract's store fixture
        self.server, self.bucket = s3_server, s3_bucket
        self.storage_options = s3_server.storage_options()  # type: ignore[misc]

    def url(self, tmp_path: Path) -> str:
        return f"s3://{self.bucket}/studio"


class TestS3Store(S3Contract, StoreContract):
    backend = FsspecStore

    def test_the_store_is_on_the_server(self, store: BlobStore) -> None:
        store.write("a/b.json", b"{}")
        assert self.server.objects(self.bucket) == ["studio/a/b.json"]

    def test_deleting_leaves_no_folder_objects(self, store: BlobStore) -> None:
        for key in ("m/mt_1/a.json", "m/mt_1/deep/b.png", "m/keep"):
            store.write(key, b"x")
        store.delete("m/keep")
        assert store.delete_prefix("m/mt_1") == 2
        assert self.server.objects(self.bucket) == []  # no "folder/" marker objects, nothing else


class TestEncryptedS3Store(S3Contract, EncryptedContract):
    def inner_url(self, tmp_path: Path) -> str:
        return self.url(tmp_path)

    def open(self, tmp_path: Path) -> BlobStore:
        return EncryptedStore(open_store(self.inner_url(tmp_path), self.storage_options),
                              LocalKeyFile(tmp_path / "keys" / "master.key"), self.scope_function)

    def test_concurrent_appends_and_rewrites_lose_no_line(self, store: BlobStore) -> None:
        pytest.skip("600 HTTP round trips (5 s) for what TestS3Store and TestEncryptedMemoryStore already cover")

    def test_nothing_readable_reaches_the_server(self, store: BlobStore) -> None:
        secret = b"FACE-OF-ALICE-" * 100
        store.write("materials/mt_0123456789ab/source.jpg", secret)
        client = self.server.client()
        for key in self.server.objects(self.bucket):
            assert secret[:14] not in client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


# -- conditional puts ----------------------------------------------------------------------------------------------

def test_the_server_honours_if_none_match(s3_server: S3Server, s3_bucket: str) -> None:
    """moto answers a put with ``If-None-Match: *`` over an object with 412 Precondition Failed (moto >= 5.0.20 does;
    AWS S3 since August 2024): the claims on video jobs rest on it."""
    from botocore.exceptions import ClientError

    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"first"


def _create_in_a_process(url: str, options: dict[str, Any], key: str, value: int,
                         start: Any) -> bool:
    store = open_store(url, options)
    start.wait(30)  # every process opened its store (and connection) first: the puts race
    return store.create(key, str(value).encode())


def test_processes_creating_one_key_make_exactly_one_winner(s3_server: S3Server, s3_bucket: str) -> None:
    url, options = f"s3://{s3_bucket}/studio", s3_server.storage_options()
    ctx = multiprocessing.get_context("fork")  # fsspec drops its instances and event loop in a forked child
    with ctx.Manager() as manager, ctx.Pool(6) as pool:
        for round_ in range(3):
            key = f"claims/race/{round_}.json"
            start = manager.Barrier(6)
            won = pool.starmap(_create_in_a_process, [(url, options, key, i, start) for i in range(6)])
            assert won.count(True) == 1, won
            assert open_store(url, options).read(key) == str(won.index(True)).encode()
    assert s3_server.objects(s3_bucket, "studio/claims") == [f"studio/claims/race/{i}.json" for i in range(3)]


# -- listings across processes -------------------------------------------------------------------------------------

def _write_in_a_process(url: str, options: dict[str, Any], key: str) -> None:
    open_store(url, options).write(key, b"x")


def _delete_in_a_process(url: str, options: dict[str, Any], key: str) -> None:
    open_store(url, options).delete(key)


def test_listings_show_other_processes_writes_and_deletes_at_once(s3_server: S3Server, s3_bucket: str) -> None:
    """s3fs caches listings per filesystem instance; a store that several studios share must not answer from them."""
    url, options = f"s3://{s3_bucket}/studio", s3_server.storage_options()
    store = open_store(url, options)
    store.write("jobs/a.json", b"x")
    assert store.list("jobs") == ["a.json"] and store.exists("jobs/a.json")  # now cached, were it cached
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        pool.apply(_write_in_a_process, (url, options, "jobs/b.json"))
        assert store.list("jobs") == ["a.json", "b.json"] and store.exists("jobs/b.json")
        assert store.size("jobs") == 2
        pool.apply(_delete_in_a_process, (url, options, "jobs/a.json"))
        assert store.list("jobs") == ["b.json"] and not store.exists("jobs/a.json")
        pool.apply(_write_in_a_process, (url, options, "jobs/deep/c.json"))
        assert store.delete_prefix("jobs") == 2
    assert store.list("jobs") == [] and s3_server.objects(s3_bucket) == []
