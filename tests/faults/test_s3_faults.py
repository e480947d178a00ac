"""The S3 server stopped mid-write: killed, paused, or cut off from the client while a put of several MiB is in
flight. Each test starts a moto S3 server of its own (tests/s3server.py; the session's is never stopped) behind a
small TCP relay on the loopback address, which forwards every byte and, once a request has sent a given number of
bytes through it, stops the server or cuts the connection: the failure lands inside the upload on every run, with
no sleep to tune and nothing of s3fs replaced.

What must hold: the failed call raises :class:`~fusionkit.errors.StorageError` (never botocore's or aiohttp's own
exceptions) within the store's deadline; the object under the key is the old value or the new one, whole, never part
of one; no multipart upload is left open; and once the server is back the same store works again."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

import fusionkit
from fusionkit.errors import StorageError
from fusionkit.samples import sample_path
from fusionkit.storage import FsspecStore, KeyNotFound, open_store
from tests.s3server import HOST, S3Server, have_moto, isolated_environment, start_server
from tests.studio.conftest import FakeClock

pytestmark = pytest.mark.skipif(not have_moto(), reason="moto[server] is not installed: pip install -e '.[test]'")

MiB = 2**20
OLD, NEW = b"O" * (2 * MiB), b"N" * (4 * MiB)

#: What users are told to set (docs/scaling.md), small here: a server that takes no connection is seen in a second,
#: one that stops answering in five, and botocore tries each request once (its backoff between tries is up to a
#: second); s3fs's own loop still retries a connection that broke under a request, a few times within a second.
OPTIONS: dict[str, Any] = {"config_kwargs": {"connect_timeout": 1, "read_timeout": 5,
                                             "retries": {"max_attempts": 1, "mode": "standard"}}}


class Relay:
    """A TCP relay on ``127.0.0.1`` in front of the S3 server: it forwards both ways and, once the requests sent
    through it since :meth:`arm` add up to ``after`` bytes, calls ``action`` (in the forwarding thread, so the
    bytes after that point wait for it)."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.endpoint = f"http://{HOST}:{self.port}"
        self._sockets: list[socket.socket] = []
        self._guard = threading.Lock()
        self._after: int | None = None
        self._action: Callable[[], None] = lambda: None
        self._sent = 0
        self.tripped = threading.Event()
        self._serve()

    def _serve(self) -> None:
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def arm(self, after: int | None, action: Callable[[], None] = lambda: None) -> None:
        """Call ``action`` once ``after`` more request bytes went through (``None``: never)."""
        with self._guard:
            self._after, self._action, self._sent = after, action, 0
            self.tripped.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection((HOST, self.upstream), timeout=2)
                server.settimeout(None)
            except OSError:
                self._reset(client)
                continue
            with self._guard:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, request: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if request:
                    with self._guard:
                        self._sent += len(data)
                        fire = self._after is not None and self._sent >= self._after and not self.tripped.is_set()
                        if fire:
                            self.tripped.set()
                    if fire:
                        self._action()
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        """Close ``sock`` with a reset (what a peer whose process died sends), waking a thread blocked on it."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Reset every connection through the relay (new ones are still taken)."""
        with self._guard:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            self._reset(sock)

    def refuse(self) -> None:
        """Stop listening: new connections are refused, as by a host whose server is gone. (Closing alone would
        not do: the thread blocked in accept() keeps the socket listening until it returns; shutdown wakes it.)"""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def listen_again(self) -> None:
        self.listener = socket.create_server((HOST, self.port))
        self._serve()

    def close(self) -> None:
        self.refuse()
        self.cut()


@pytest.fixture
def server() -> Iterator[S3Server]:
    """A moto S3 server of this test's own."""
    with isolated_environment():
        own = start_server()
        try:
            yield own
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(own.process.pid, signal.SIGCONT)  # a paused one, so that it can be stopped
            own.stop()


@pytest.fixture
def relay(server: S3Server) -> Iterator[Relay]:
    proxy = Relay(server.port)
    try:
        yield proxy
    finally:
        proxy.close()


def open_through(server: S3Server, relay: Relay, bucket: str, deadline: float = 20.0) -> FsspecStore:
    """A store on ``bucket`` reached through ``relay``, with short timeouts and the given deadline for each call."""
    store = open_store(f"s3://{bucket}/studio", server.storage_options(endpoint=relay.endpoint, **OPTIONS))
    assert isinstance(store, FsspecStore)
    store.deadline, store.seconds_per_mib = deadline, 0.0
    return store


def stored(server: S3Server, bucket: str, key: str) -> bytes | None:
    """The object under ``studio/key``, read from the server directly (not through the relay or fusionkit)."""
    try:
        return bytes(server.client().get_object(Bucket=bucket, Key=f"studio/{key}")["Body"].read())
    except server.client().exceptions.NoSuchKey:
        return None


def open_uploads(server: S3Server, bucket: str) -> list[Any]:
    return list(server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def failed_write(store: FsspecStore, key: str, data: bytes, within: float) -> StorageError:
    start = time.monotonic()
    with pytest.raises(StorageError) as err:
        store.write(key, data)
    assert time.monotonic() - start < within, "the failed write took too long"
    assert f"could not write {key}" in str(err.value) and "nothing half-written was left" in str(err.value)
    assert type(err.value) is StorageError  # not botocore's or aiohttp's exceptions, nor wrapped in one
    return err.value


def test_the_server_killed_mid_put_is_a_typed_error_and_the_store_works_once_it_is_back(
    server: S3Server, relay: Relay
) -> None:
    bucket = server.new_bucket()
    store = open_through(server, relay, bucket)
    store.write("big.bin", OLD)

    def kill() -> None:  # the server process dies (SIGKILL) with the put half sent; its port closes with it
        server.stop()
        relay.refuse()
        relay.cut()

    relay.arm(MiB, kill)
    err = failed_write(store, "big.bin", NEW, within=20)
    assert relay.tripped.is_set() and server.process.poll() is not None
    assert "could not be reached or stopped answering" in str(err)
    for call in (lambda: store.read("big.bin"), lambda: store.list("jobs"), lambda: store.exists("big.bin"),
                 lambda: store.create("claim.json", b"1"), lambda: store.delete_prefix("x")):
        with pytest.raises(StorageError, match="could not be reached"):
            call()

    # The server comes back on its port (empty: moto keeps its objects in memory), and the same store with it.
    back = start_server(server.port)
    server.process = back.process
    relay.listen_again()
    with pytest.raises(KeyNotFound):
        store.read("big.bin")  # the bucket went with the old server: nothing, and nothing torn
    server.client().create_bucket(Bucket=bucket)
    store.write("big.bin", NEW)
    assert store.read("big.bin") == NEW and open_uploads(server, bucket) == []


@pytest.mark.parametrize("comes_back", [False, True], ids=["stays-away", "comes-back"])
def test_a_put_cut_midway_leaves_the_old_object_whole_or_is_retried_whole(
    server: S3Server, relay: Relay, comes_back: bool
) -> None:
    """The connection dies under the put (the server's host rebooting, a load balancer dropping it): botocore
    retries the whole put on a new connection; if the server is back by then the write succeeds, whole, else it
    fails typed and the server still holds the old object, whole."""
    bucket = server.new_bucket()
    store = open_through(server, relay, bucket)
    store.write("big.bin", OLD)

    def cut() -> None:
        if not comes_back:
            relay.refuse()
        relay.cut()

    relay.arm(MiB, cut)
    if comes_back:
        store.write("big.bin", NEW)
        assert stored(server, bucket, "big.bin") == NEW
    else:
        failed_write(store, "big.bin", NEW, within=20)
        assert stored(server, bucket, "big.bin") == OLD
    assert relay.tripped.is_set() and open_uploads(server, bucket) == []
    assert server.objects(bucket) == ["studio/big.bin"]


def test_a_server_that_stops_answering_mid_put_fails_the_write_at_its_deadline(
    server: S3Server, relay: Relay
) -> None:
    """SIGSTOP: the server takes connections and answers nothing. The client's own timeouts do not cover all of a
    put (aiohttp awaits ``100 Continue`` with none), so the store's deadline ends it; once the server runs again the
    object is whole (the old value, or the new one had all of it reached the server before the client gave up)."""
    bucket = server.new_bucket()
    store = open_through(server, relay, bucket, deadline=1.0)
    store.write("big.bin", OLD)
    relay.arm(MiB, lambda: os.kill(server.process.pid, signal.SIGSTOP))
    err = failed_write(store, "big.bin", NEW, within=15)
    assert relay.tripped.is_set() and "stopped answering" in str(err)
    with pytest.raises(StorageError):
        store.read("big.bin")
    os.kill(server.process.pid, signal.SIGCONT)
    assert stored(server, bucket, "big.bin") in (OLD, NEW)
    assert store.read("big.bin") in (OLD, NEW)  # the same store, at once
    store.write("big.bin", NEW)
    assert stored(server, bucket, "big.bin") == NEW and open_uploads(server, bucket) == []


@pytest.mark.parametrize("encryption", [None, "auto"])
def test_an_upload_whose_server_goes_away_fails_typed_and_leaves_no_material(
    server: S3Server, relay: Relay, encryption: str | None
) -> None:
    """The studio's view: the server goes away while a material's source is being put. The upload fails with a
    StorageError naming the write, and once the server is back nothing of the material is in the bucket."""
    bucket = server.new_bucket()
    clock = FakeClock(datetime.now(timezone.utc))
    studio = fusionkit.open(f"s3://{bucket}/studio", encryption=encryption, video_workers=0, sweep_every=None,
                            clock=clock, storage_options=server.storage_options(endpoint=relay.endpoint, **OPTIONS))
    try:
        act = studio.activities.create("spring")
        before = set(server.objects(bucket))
        relay.arm(100_000, lambda: (relay.refuse(), relay.cut()))  # within the source's put (280 KB)
        with pytest.raises(StorageError, match=r"could not write materials/mt_\w+/source\.jpg"):
            studio.materials.upload(act.id, sample_path("obama.jpg"))
        assert relay.tripped.is_set()
        relay.arm(None)
        relay.listen_again()
        assert studio.materials.list(act.id).total == 0
        clock.advance(hours=2)  # past the hour an upload in flight is given (an encrypted one made a data key)
        studio.sweep()
        assert [k for k in set(server.objects(bucket)) - before if "mt_" in k] == []
    finally:
        studio.close()
