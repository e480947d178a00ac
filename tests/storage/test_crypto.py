"""Encryption at rest: the store contract through EncryptedStore (memory:// and local disk), then what encryption
adds: nothing readable at rest, tampering and moving detected, master keys checked, providers' failures typed,
shredding, the resumable migration and file modes. Real stores and real AES-GCM throughout."""

from __future__ import annotations

import base64
import os
import re
import threading
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fusionkit.errors import (
    EncryptedObjectError,
    KeyProviderError,
    MasterKeyError,
    PlainObjectError,
    StorageError,
    WrongMasterKeyError,
)
from fusionkit.storage import BlobStore, FsspecStore, KeyNotFound, LocalStore, keys, open_store
from fusionkit.storage.crypto import (
    CallableKeys,
    EncryptedStore,
    EnvironmentKey,
    LocalKeyFile,
    ObjectShredded,
    encrypt_store,
    is_encrypted,
    main,
    master_key_id,
)
from tests.storage.store_contract import StoreContract

MT, MT2, RS, JB = "mt_0123456789ab", "mt_abcdefghijkl", "rs_0123456789ab", "jb_0123456789ab"
SECRET = b"FACE-OF-ALICE-" * 700  # ~10 KB, recognisable in any stored byte


def first_folder(key: str) -> str:
    """A scope per top folder, so the contract's keys spread over many data keys."""
    return re.sub(r"[^0-9A-Za-z_-]", "-", key.split("/")[0])


class EncryptedContract(StoreContract):
    backend = EncryptedStore

    def inner_url(self, tmp_path: Path) -> str:
        raise NotImplementedError

    def open(self, tmp_path: Path) -> BlobStore:
        return EncryptedStore(open_store(self.inner_url(tmp_path)), LocalKeyFile(tmp_path / "keys" / "master.key"),
                              self.scope_function)

    scope_function = staticmethod(keys.scope_of)

    def inject_write_failure(self, store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
        assert isinstance(store, EncryptedStore)
        super().inject_write_failure(store.inner, monkeypatch)

    def stored_bytes(self, store: BlobStore, key: str) -> int:
        assert isinstance(store, EncryptedStore)
        return len(store.inner.read(key))

    def url_bytes(self, store: BlobStore, key: str, data: bytes) -> bytes:
        assert isinstance(store, EncryptedStore)
        raw = store.inner.read(key)
        assert is_encrypted(raw) and data not in raw
        return raw


class TestEncryptedMemoryStore(EncryptedContract):
    def inner_url(self, tmp_path: Path) -> str:
        return f"memory://fk-test-{uuid.uuid4().hex}"

    def close(self, store: BlobStore) -> None:
        assert isinstance(store, EncryptedStore) and isinstance(store.inner, FsspecStore)
        if store.inner.fs.exists(store.inner.root):
            store.inner.fs.rm(store.inner.root, recursive=True)


class TestEncryptedLocalStore(EncryptedContract):
    scope_function = staticmethod(first_folder)

    def inner_url(self, tmp_path: Path) -> str:
        return str(tmp_path / "root")


# -- fixtures and helpers --------------------------------------------------------------------------------------------


@pytest.fixture
def inner(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "root", fsync=False)


@pytest.fixture
def key_file(tmp_path: Path) -> LocalKeyFile:
    return LocalKeyFile(tmp_path / "keys" / "master.key")


@pytest.fixture
def store(inner: LocalStore, key_file: LocalKeyFile) -> EncryptedStore:
    return EncryptedStore(inner, key_file)


def fill(store: BlobStore) -> dict[str, bytes]:
    """A small studio: a material with a result, another material, a job, a day of logs, an activity."""
    objects = {
        keys.material_doc(MT): b'{"material": "' + SECRET[:40] + b'"}',
        keys.material_source(MT, "png"): SECRET,
        keys.result_blob(date(2026, 1, 2), MT, RS, "jpeg"): SECRET[::-1],
        keys.material_doc(MT2): b'{"material": 2}',
        keys.job_doc(JB): b'{"job": 1}',
        keys.activity_doc("ac_0123456789ab"): b'{"activity": 1}',
    }
    for key, data in objects.items():
        store.write(key, data)
    log = keys.log_file(datetime(2026, 1, 2, 7))
    for i in range(3):
        store.append(log, b'{"line": %d, "who": "ALICE"}\n' % i)
    objects[log] = b"".join(b'{"line": %d, "who": "ALICE"}\n' % i for i in range(3))
    return objects


def flip(store: BlobStore, key: str, index: int) -> None:
    raw = bytearray(store.read(key))
    raw[index] ^= 0x01
    store.write(key, bytes(raw))


# -- nothing readable at rest ----------------------------------------------------------------------------------------


def test_objects_at_rest_hold_no_plaintext(tmp_path: Path, store: EncryptedStore) -> None:
    objects = fill(store)
    for key, data in objects.items():
        assert store.read(key) == data
    stored = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    ring = [p for p in stored if "keyring" in p.parts]
    assert len(ring) == 5  # one wrapped data key per scope: MT, MT2, JB, the day's logs and the studio
    assert len(stored) == len(objects) + len(ring)
    for path in stored:
        raw = path.read_bytes()
        assert b"FACE-OF-ALICE" not in raw and SECRET[::-1][:20] not in raw and b"ALICE" not in raw, path
        assert is_encrypted(raw) or path in ring, path
    assert all(re.fullmatch(r"[0-9a-f]{16}\.key", p.name) for p in ring)


def test_each_scope_has_its_own_data_key(store: EncryptedStore) -> None:
    fill(store)
    inner = store.inner
    scopes = [MT, MT2, JB, "logs-2026-01-02", "studio"]
    assert all(len(inner.list(keys.keyring_folder(s))) == 1 for s in scopes)
    wrapped = {inner.read(keys.keyring_entry(s, inner.list(keys.keyring_folder(s))[0][:-4])) for s in scopes}
    assert len(wrapped) == len(scopes)


def test_the_same_data_twice_is_stored_differently(store: EncryptedStore) -> None:
    store.write("materials/" + MT + "/a", b"same")
    store.write("materials/" + MT + "/b", b"same")
    assert store.inner.read(f"materials/{MT}/a")[-32:] != store.inner.read(f"materials/{MT}/b")[-32:]


def test_appended_logs_are_lines_of_records_and_rewrite_line_by_line(store: EncryptedStore) -> None:
    log = keys.log_file(datetime(2026, 1, 2, 7))
    for i in range(4):
        store.append(log, b"%d\n" % i)
    raw = store.inner.read(log)
    assert raw.count(b"\n") == 4 and b"0\n" not in raw
    assert store.rewrite_lines(log, lambda line: line not in (b"1\n", b"3\n")) == 2
    assert store.read(log) == b"0\n2\n"
    store.append(log, b"a\nb\n")  # two lines at once: two records
    assert store.inner.read(log).count(b"\n") == 4
    assert store.rewrite_lines(log, lambda line: line != b"a\n") == 1
    assert store.read(log) == b"0\n2\nb\n"


def test_appends_that_split_lines_still_rewrite_by_plaintext_line(store: EncryptedStore) -> None:
    store.append("logs/x.jsonl", b"ab")
    store.append("logs/x.jsonl", b"c\nd\n")
    assert store.read("logs/x.jsonl") == b"abc\nd\n"
    seen: list[bytes] = []
    assert store.rewrite_lines("logs/x.jsonl", lambda line: seen.append(line) is None and line != b"d\n") == 1
    assert seen == [b"abc\n", b"d\n"] and store.read("logs/x.jsonl") == b"abc\n"


def test_the_keyring_is_reserved(store: EncryptedStore) -> None:
    store.write(keys.material_doc(MT), b"{}")
    for call in (lambda: store.read("keyring/" + MT), lambda: store.write("keyring/x", b""),
                 lambda: store.delete_prefix("keyring"), lambda: store.list("keyring"),
                 lambda: store.delete(f"keyring/{MT}/x.key")):
        with pytest.raises(StorageError, match="keyring"):
            call()
    assert store.inner.list(keys.keyring_folder(MT))


# -- tampering and moving --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["write", "append"])
def test_every_altered_byte_is_refused(store: EncryptedStore, how: str) -> None:
    key = keys.material_doc(MT) if how == "write" else keys.log_file(datetime(2026, 1, 2, 7))
    if how == "write":
        store.write(key, b"ok")
    else:
        store.append(key, b"1\n")
        store.append(key, b"2\n")
    good = store.inner.read(key)
    for index in range(len(good)):
        flip(store.inner, key, index)
        with pytest.raises((EncryptedObjectError, PlainObjectError)):
            store.read(key)
        store.inner.write(key, good)
    for cut in (1, 17, len(good) - 1):  # truncated
        store.inner.write(key, good[:cut])
        with pytest.raises((EncryptedObjectError, PlainObjectError)):
            store.read(key)
    store.inner.write(key, good)
    assert store.read(key) in (b"ok", b"1\n2\n")


def test_an_altered_object_names_its_key(store: EncryptedStore) -> None:
    store.write(keys.material_source(MT, "png"), SECRET)
    flip(store.inner, keys.material_source(MT, "png"), 200)
    with pytest.raises(EncryptedObjectError, match=r"materials/mt_0123456789ab/source\.png.*integrity") as err:
        store.read(keys.material_source(MT, "png"))
    assert err.value.code == "FailedOperation.EncryptedObjectInvalid"


def test_an_object_moved_to_another_key_is_refused(store: EncryptedStore) -> None:
    store.write(keys.material_doc(MT), b'{"a": 1}')
    store.write(keys.material_doc(MT2), b'{"b": 2}')
    raw = store.inner.read(keys.material_doc(MT))
    store.inner.write(keys.material_tracks(MT), raw)  # same scope, another key
    with pytest.raises(EncryptedObjectError, match="integrity"):
        store.read(keys.material_tracks(MT))
    store.inner.write(keys.material_doc(MT2), raw)  # another scope
    with pytest.raises(EncryptedObjectError, match="moved"):
        store.read(keys.material_doc(MT2))
    assert store.read(keys.material_doc(MT)) == b'{"a": 1}'


def test_a_tampered_wrapped_key_is_refused(store: EncryptedStore, key_file: LocalKeyFile) -> None:
    store.write(keys.material_doc(MT), b"{}")
    entry = keys.keyring_folder(MT) + "/" + store.inner.list(keys.keyring_folder(MT))[0]
    good = store.inner.read(entry)
    doc = good.replace(b'"wrapped": "', b'"wrapped": "AAAA')
    store.inner.write(entry, doc)
    with pytest.raises(EncryptedObjectError, match="keyring"):
        EncryptedStore(store.inner, key_file).read(keys.material_doc(MT))
    store.inner.write(entry, b"not json")
    with pytest.raises(EncryptedObjectError, match="damaged"):
        EncryptedStore(store.inner, key_file).read(keys.material_doc(MT))
    # A wrapped key moved to another scope's folder does not unwrap there.
    store.inner.write(entry, good)
    store.write(keys.material_doc(MT2), b"{}")
    other = keys.keyring_folder(MT2) + "/" + store.inner.list(keys.keyring_folder(MT2))[0]
    store.inner.write(other, good.replace(MT.encode(), MT2.encode()))
    with pytest.raises(EncryptedObjectError, match="integrity check"):
        EncryptedStore(store.inner, key_file).read(keys.material_doc(MT2))


# -- plain objects ---------------------------------------------------------------------------------------------------


def test_a_plain_object_is_refused_unless_migrating(store: EncryptedStore) -> None:
    store.inner.write(keys.material_doc(MT), b'{"plain": true}')
    with pytest.raises(PlainObjectError, match="encrypt_store") as err:
        store.read(keys.material_doc(MT))
    assert err.value.code == "FailedOperation.PlainObjectRefused"
    migrating = EncryptedStore(store.inner, store.provider, allow_plain=True)
    assert migrating.read(keys.material_doc(MT)) == b'{"plain": true}'
    store.inner.append(keys.log_file(datetime(2026, 1, 2)), b"plain\n")
    with pytest.raises(PlainObjectError):
        store.rewrite_lines(keys.log_file(datetime(2026, 1, 2)), lambda line: False)


def test_plain_bytes_appended_to_an_encrypted_object_are_refused(store: EncryptedStore) -> None:
    store.append("logs/x.jsonl", b"1\n")
    store.inner.append("logs/x.jsonl", b"plain\n")
    with pytest.raises(EncryptedObjectError, match="unencrypted"):
        store.read("logs/x.jsonl")


# -- master keys -----------------------------------------------------------------------------------------------------


def test_a_wrong_master_key_is_named(tmp_path: Path, store: EncryptedStore, key_file: LocalKeyFile) -> None:
    store.write(keys.material_doc(MT), b"{}")
    other = LocalKeyFile(tmp_path / "other.key")
    wrong = EncryptedStore(store.inner, other)
    with pytest.raises(WrongMasterKeyError) as err:
        wrong.read(keys.material_doc(MT))
    assert key_file.key_id in str(err.value) and other.key_id in str(err.value) and MT in str(err.value)
    assert err.value.code == "FailedOperation.MasterKeyMismatch" and isinstance(err.value, MasterKeyError)
    with pytest.raises(WrongMasterKeyError):  # never a second data key under another master key
        wrong.write(keys.material_source(MT, "png"), b"x")
    assert not store.inner.exists(keys.material_source(MT, "png"))
    assert len(store.inner.list(keys.keyring_folder(MT))) == 1


def test_the_key_file_is_created_0600_once_and_reused(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        first = LocalKeyFile(tmp_path / "new" / "dir" / "master.key")
        key_id = first.key_id
    finally:
        os.umask(old)
    path = tmp_path / "new" / "dir" / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    assert (tmp_path / "new" / "dir").stat().st_mode & 0o777 == 0o700
    assert os.listdir(path.parent) == ["master.key"]  # no temporary file left
    assert LocalKeyFile(path, create=False).key_id == key_id == master_key_id(path.read_bytes())


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(LocalKeyFile(tmp_path / "m.key").key_id))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and len(ids) == 8


def test_an_unsafe_or_broken_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(MasterKeyError, match="does not exist"):
        _ = LocalKeyFile(path, create=False).key_id
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match=r"mode 0644.*chmod 600") as err:
        _ = LocalKeyFile(path).key_id
    assert err.value.code == "FailedOperation.MasterKeyUnavailable"
    path.chmod(0o600)
    path.write_bytes(os.urandom(31))
    with pytest.raises(MasterKeyError, match="holds 31 bytes"):
        _ = LocalKeyFile(path).key_id
    path.write_bytes(os.urandom(40))
    with pytest.raises(MasterKeyError, match="holds 33"):
        _ = LocalKeyFile(path).key_id
    (tmp_path / "folder.key").mkdir(mode=0o700)
    with pytest.raises(MasterKeyError):
        _ = LocalKeyFile(tmp_path / "folder.key").key_id


def test_an_unreadable_key_file_is_refused_without_writing(tmp_path: Path, inner: LocalStore) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    store = EncryptedStore(inner, LocalKeyFile(path))
    path.chmod(0o644)
    with pytest.raises(MasterKeyError):
        store.write(keys.material_doc(MT), b"{}")
    assert not inner.exists(keys.material_doc(MT)) and inner.list("keyring") == []


def test_the_environment_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inner: LocalStore) -> None:
    with pytest.raises(MasterKeyError, match="FK_TEST_KEY is not set"):
        _ = EnvironmentKey("FK_TEST_KEY").key_id
    monkeypatch.setenv("FK_TEST_KEY", "not base64!")
    with pytest.raises(MasterKeyError, match="not base64"):
        _ = EnvironmentKey("FK_TEST_KEY").key_id
    monkeypatch.setenv("FK_TEST_KEY", base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(MasterKeyError, match="holds 16 bytes"):
        _ = EnvironmentKey("FK_TEST_KEY").key_id
    # The same 32 bytes in a file and in the variable are the same master key.
    file_key = LocalKeyFile(tmp_path / "master.key")
    EncryptedStore(inner, file_key).write(keys.material_doc(MT), b"{}")
    monkeypatch.setenv("FK_TEST_KEY", base64.b64encode((tmp_path / "master.key").read_bytes()).decode())
    env_key = EnvironmentKey("FK_TEST_KEY")
    assert env_key.key_id == file_key.key_id
    assert EncryptedStore(inner, env_key).read(keys.material_doc(MT)) == b"{}"


# -- a host's key provider -------------------------------------------------------------------------------------------


class FakeKms:
    """A KMS in the test: real AES-GCM under a key it keeps, the scope as encryption context."""

    def __init__(self) -> None:
        self.aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self.calls = 0
        self.down = False

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        self.calls += 1
        if self.down:
            raise ConnectionError("KMS unreachable")
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, data_key, scope.encode())

    def unwrap(self, blob: bytes, scope: str) -> bytes:
        self.calls += 1
        if self.down:
            raise ConnectionError("KMS unreachable")
        return self.aead.decrypt(blob[:12], blob[12:], scope.encode())


def test_a_host_kms_wraps_the_data_keys(inner: LocalStore) -> None:
    kms = FakeKms()
    provider = CallableKeys(wrap=kms.wrap, unwrap=kms.unwrap, key_id="arn:aws:kms:eu:1:key/test")
    objects = fill(EncryptedStore(inner, provider))
    fresh = EncryptedStore(inner, provider)
    before = kms.calls
    assert all(fresh.read(k) == v for k, v in objects.items())
    assert all(fresh.read(k) == v for k, v in objects.items())
    assert kms.calls - before == 5  # one unwrap per scope, then the cache


def test_a_failing_provider_writes_nothing(inner: LocalStore) -> None:
    kms = FakeKms()
    kms.down = True
    store = EncryptedStore(inner, CallableKeys(wrap=kms.wrap, unwrap=kms.unwrap, key_id="kms-1"))
    with pytest.raises(KeyProviderError, match="KMS unreachable") as err:
        store.write(keys.material_doc(MT), b"{}")
    assert err.value.code == "FailedOperation.KeyProviderFailed" and "CallableKeys" in str(err.value)
    with pytest.raises(KeyProviderError):
        store.append(keys.log_file(datetime(2026, 1, 2)), b"line\n")
    assert inner.list("materials") == [] and inner.list("logs") == [] and inner.list("keyring") == []
    kms.down = False
    store.write(keys.material_doc(MT), b"{}")
    kms.down = True
    with pytest.raises(KeyProviderError, match="unwrap"):
        EncryptedStore(inner, CallableKeys(wrap=kms.wrap, unwrap=kms.unwrap, key_id="kms-1")).read(
            keys.material_doc(MT))


@pytest.mark.parametrize("bad", [lambda k, s: "text", lambda k, s: b"short"], ids=["str", "16-bytes"])
def test_a_provider_returning_nonsense_is_refused(inner: LocalStore, bad: Any) -> None:
    kms = FakeKms()
    EncryptedStore(inner, CallableKeys(wrap=kms.wrap, unwrap=kms.unwrap, key_id="k")).write(
        keys.material_doc(MT), b"{}")
    with pytest.raises(KeyProviderError):
        EncryptedStore(inner, CallableKeys(wrap=kms.wrap, unwrap=bad, key_id="k")).read(keys.material_doc(MT))


def test_a_provider_wrapping_into_a_string_writes_nothing(inner: LocalStore) -> None:
    store = EncryptedStore(inner, CallableKeys(wrap=lambda k, s: "text", unwrap=lambda b, s: b, key_id="k"))
    with pytest.raises(KeyProviderError, match="must return bytes"):
        store.write(keys.material_doc(MT), b"{}")
    assert inner.list("materials") == [] and inner.list("keyring") == []
    with pytest.raises(KeyProviderError, match="key_id"):
        EncryptedStore(inner, CallableKeys(wrap=lambda k, s: k, unwrap=lambda b, s: b, key_id="")).write(
            keys.material_doc(MT), b"{}")


# -- shredding -------------------------------------------------------------------------------------------------------


def test_shred_makes_a_scope_unreadable_at_once_and_spares_the_others(
    tmp_path: Path, store: EncryptedStore, key_file: LocalKeyFile
) -> None:
    objects = fill(store)
    backup = {k: store.inner.read(k) for k in objects}  # copies beyond our reach
    other_process = EncryptedStore(store.inner, key_file, cache_seconds=0)
    assert other_process.read(keys.material_doc(MT)) == objects[keys.material_doc(MT)]
    assert store.shred(MT) == 1
    for key, data in objects.items():
        gone = keys.scope_of(key) == MT
        for reader in (store, other_process, EncryptedStore(store.inner, key_file)):
            if gone:
                with pytest.raises(ObjectShredded) as err:
                    reader.read(key)
                assert isinstance(err.value, KeyNotFound) and err.value.scope == MT and err.value.args == (key,)
                assert "shredded" in str(err.value)
            else:
                assert reader.read(key) == data
    restored = LocalStore(tmp_path / "restored", fsync=False)  # the backup, restored beside the live keyring
    for key, raw in backup.items():
        restored.write(key, raw)
    with pytest.raises(ObjectShredded):
        EncryptedStore(restored, key_file, keyring=store.inner).read(keys.material_source(MT, "png"))
    assert store.exists(keys.material_source(MT, "png"))  # the object is still there; its data is not
    assert store.shred(MT) == 0
    store.write(keys.material_doc(MT), b"new")  # a new key for a new life of the scope
    assert store.read(keys.material_doc(MT)) == b"new"


def test_shredding_a_day_of_logs(store: EncryptedStore) -> None:
    day = date(2026, 1, 2)
    store.append(keys.log_file(datetime(2026, 1, 2, 7)), b"a\n")
    store.append(keys.log_file(datetime(2026, 1, 3, 7)), b"b\n")
    assert store.shred(keys.log_scope(day)) == 1
    with pytest.raises(KeyNotFound):
        store.read(keys.log_file(datetime(2026, 1, 2, 7)))
    assert store.read(keys.log_file(datetime(2026, 1, 3, 7))) == b"b\n"
    with pytest.raises(StorageError):
        store.shred("../materials")


def test_a_separate_keyring(tmp_path: Path, inner: LocalStore, key_file: LocalKeyFile) -> None:
    ring = LocalStore(tmp_path / "ring", fsync=False)
    store = EncryptedStore(inner, key_file, keyring=ring)
    store.write(keys.material_doc(MT), b"{}")
    assert inner.list("keyring") == [] and ring.list(keys.keyring_folder(MT))
    with pytest.raises(ObjectShredded):
        EncryptedStore(inner, key_file).read(keys.material_doc(MT))  # without its keyring: unreadable
    store.shred(MT)
    assert ring.list("keyring") == []


class HideKeyringOnce:
    """A real store whose first keyring listing comes back empty: two processes making a scope's first key at once."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._hidden = False

    def list(self, prefix: str) -> list[str]:
        if prefix.startswith("keyring/") and not self._hidden:
            self._hidden = True
            return []
        return self._store.list(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_two_first_writers_of_a_scope_each_keep_a_readable_key(store: EncryptedStore) -> None:
    store.write(keys.material_doc(MT), b"first")
    late = EncryptedStore(HideKeyringOnce(store.inner), store.provider)  # type: ignore[arg-type]
    late.write(keys.material_source(MT, "png"), b"second")
    assert len(store.inner.list(keys.keyring_folder(MT))) == 2
    for reader in (store, late, EncryptedStore(store.inner, store.provider)):
        assert reader.read(keys.material_doc(MT)) == b"first"
        assert reader.read(keys.material_source(MT, "png")) == b"second"
    assert store.shred(MT) == 2


def test_the_cache_is_bounded(store: EncryptedStore) -> None:
    small = EncryptedStore(store.inner, store.provider, cache_size=2)
    mids = [f"mt_{i:012d}" for i in range(5)]
    for mid in mids:
        small.write(keys.material_doc(mid), mid.encode())
    assert len(small._cache) == 2
    assert [small.read(keys.material_doc(mid)) for mid in mids] == [m.encode() for m in mids]


# -- migration -------------------------------------------------------------------------------------------------------


class StopAfter:
    """A real store that raises (as a kill would stop the process) on its ``n``-th write."""

    def __init__(self, store: BlobStore, n: int) -> None:
        self._store = store
        self._left = n

    def write(self, key: str, data: bytes) -> None:
        self._left -= 1
        if self._left == 0:
            raise KeyboardInterrupt(f"killed before writing {key}")
        self._store.write(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def plain_studio(store: BlobStore) -> dict[str, bytes]:
    objects = fill(store)
    objects[keys.log_file(datetime(2026, 1, 3, 1))] = b'{"a": 1}\n{"b": 2}\n'
    store.write(keys.log_file(datetime(2026, 1, 3, 1)), b'{"a": 1}\n{"b": 2}\n')
    return objects


def test_an_existing_plain_store_is_refused_until_migrated(inner: LocalStore, key_file: LocalKeyFile) -> None:
    objects = plain_studio(inner)
    with pytest.raises(PlainObjectError):
        EncryptedStore(inner, key_file).read(keys.material_doc(MT))
    done: list[str] = []
    assert encrypt_store(inner, key_file, progress=done.append) == len(objects)
    assert sorted(done) == sorted(objects)
    store = EncryptedStore(inner, key_file)
    assert all(store.read(k) == v for k, v in objects.items())
    assert all(is_encrypted(inner.read(k)) for k in objects)
    assert encrypt_store(inner, key_file) == 0
    log = keys.log_file(datetime(2026, 1, 3, 1))
    assert inner.read(log).count(b"\n") == 2  # a migrated log is one record per line
    assert store.rewrite_lines(log, lambda line: b'"a"' in line) == 1 and store.read(log) == b'{"a": 1}\n'


def test_the_migration_resumes_after_a_kill_at_any_write(tmp_path: Path) -> None:
    reference = LocalStore(tmp_path / "reference", fsync=False)
    objects = plain_studio(reference)
    total = None
    n = 1
    while total is None or n <= total:
        root = LocalStore(tmp_path / f"run{n}", fsync=False)
        plain_studio(root)
        key_file = LocalKeyFile(tmp_path / f"run{n}.key")
        killed = StopAfter(root, n)
        try:
            first = encrypt_store(killed, key_file)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            first = None
        if first is not None:  # nothing left to kill: n passed the number of writes a migration makes
            total = n - 1
            assert first == len(objects)
            break
        store = EncryptedStore(root, key_file, allow_plain=True)
        assert all(store.read(k) == v for k, v in objects.items())  # each object whole, plain or encrypted
        assert encrypt_store(root, key_file) >= 1
        assert encrypt_store(root, key_file) == 0
        strict = EncryptedStore(root, key_file)
        assert all(strict.read(k) == v for k, v in objects.items())
        n += 1
    assert total is not None and total >= len(objects) + 4  # every object and every new data key were a kill point


def test_the_migration_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = LocalStore(tmp_path / "root", fsync=False)
    objects = plain_studio(root)
    assert main([str(tmp_path / "root"), "--key-file", str(tmp_path / "master.key")]) == 0
    assert f"{len(objects)} objects encrypted" in capsys.readouterr().out
    store = EncryptedStore(root, LocalKeyFile(tmp_path / "master.key"))
    assert all(store.read(k) == v for k, v in objects.items())
    assert main([str(tmp_path / "root"), "--key-env", "FK_TEST_UNSET_VARIABLE"]) == 1
    assert "FK_TEST_UNSET_VARIABLE is not set" in capsys.readouterr().err


# -- file modes ------------------------------------------------------------------------------------------------------


def test_everything_on_disk_is_private(tmp_path: Path, inner: LocalStore, key_file: LocalKeyFile) -> None:
    old = os.umask(0o022)
    try:
        fill(EncryptedStore(inner, key_file))
    finally:
        os.umask(old)
    for path in [tmp_path / "root", *(tmp_path / "root").rglob("*"), tmp_path / "keys", key_file.path]:
        want = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == want, path


def test_verify_master_key_checks_the_keyring_at_open(tmp_path: Path, store: EncryptedStore) -> None:
    store.verify_master_key()  # an empty keyring: any key will do
    store.write(keys.material_doc(MT), b"{}")
    store.verify_master_key()
    with pytest.raises(WrongMasterKeyError):
        EncryptedStore(store.inner, LocalKeyFile(tmp_path / "other.key")).verify_master_key()
    with pytest.raises(MasterKeyError, match="does not exist"):
        EncryptedStore(store.inner, LocalKeyFile(tmp_path / "none.key", create=False)).verify_master_key()


def test_a_migration_resumed_with_another_master_key_stops_before_writing(tmp_path: Path, inner: LocalStore) -> None:
    objects = plain_studio(inner)
    with pytest.raises(KeyboardInterrupt):
        encrypt_store(StopAfter(inner, 3), LocalKeyFile(tmp_path / "a.key"))  # type: ignore[arg-type]
    before = {k: inner.read(k) for k in objects}
    with pytest.raises(WrongMasterKeyError):
        encrypt_store(inner, LocalKeyFile(tmp_path / "b.key"))
    assert {k: inner.read(k) for k in objects} == before


def test_seal_gives_what_write_stores(store: EncryptedStore) -> None:
    sealed = store.seal(keys.material_doc(MT), b'{"a": 1}')
    store.inner.write(keys.material_doc(MT), sealed)
    assert store.read(keys.material_doc(MT)) == b'{"a": 1}'
    lines = store.seal("logs/2026-01-02/00.jsonl", b"1\n2\n", lines=True)
    assert lines.count(b"\n") == 2
    store.inner.write("logs/2026-01-02/00.jsonl", lines)
    assert store.rewrite_lines("logs/2026-01-02/00.jsonl", lambda line: line == b"2\n") == 1
    with pytest.raises(StorageError):
        store.seal("keyring/x", b"")


def test_an_encrypted_tenant_has_its_own_scopes_and_keyring(tmp_path: Path, inner: LocalStore,
                                                            key_file: LocalKeyFile) -> None:
    from fusionkit.storage.prefixed import PrefixedStore

    a = EncryptedStore(PrefixedStore(inner, keys.tenant_folder("app-a")), key_file)
    b = EncryptedStore(PrefixedStore(inner, keys.tenant_folder("app-b")), key_file)
    a.write(keys.material_doc(MT), b"a")
    b.write(keys.material_doc(MT), b"b")
    assert inner.list(f"{keys.tenant_folder('app-a')}/keyring") == [MT]
    assert a.shred(MT) == 1
    with pytest.raises(ObjectShredded):
        a.read(keys.material_doc(MT))
    assert b.read(keys.material_doc(MT)) == b"b"  # the other tenant's material of the same id keeps its key
    raw = inner.read(f"{keys.tenant_folder('app-b')}/{keys.material_doc(MT)}")
    inner.write(f"{keys.tenant_folder('app-a')}/{keys.material_doc(MT)}", raw)  # copied across tenants
    a.write(keys.material_tracks(MT), b"new key for a")
    with pytest.raises(EncryptedObjectError):
        a.read(keys.material_doc(MT))
