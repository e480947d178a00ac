"""The split of the encryption code: ``fusionkit.storage.crypto`` still offers every name it did, the very objects of
the modules that now hold them (``keyproviders``, ``envelope``), and the object format reads what the store writes."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from fusionkit.errors import EncryptedObjectError
from fusionkit.storage import LocalStore, crypto, envelope, keyproviders


@pytest.mark.parametrize("name", ["KEY_BYTES", "CallableKeys", "EnvironmentKey", "KeyProvider", "LocalKeyFile",
                                  "master_key_id"])
def test_crypto_re_exports_the_key_providers(name: str) -> None:
    assert getattr(crypto, name) is getattr(keyproviders, name)


def test_crypto_re_exports_is_encrypted_and_keeps_its_all() -> None:
    assert crypto.is_encrypted is envelope.is_encrypted
    assert sorted(crypto.__all__) == ["CallableKeys", "EncryptedStore", "EnvironmentKey", "KeyProvider", "LocalKeyFile",
                                      "ObjectShredded", "encrypt_store", "is_encrypted", "master_key_id"]
    for name in crypto.__all__:
        assert hasattr(crypto, name)


def test_every_provider_is_a_key_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # isinstance may read key_id (before Python 3.12): give EnvironmentKey its variable.
    monkeypatch.setenv("FUSIONKIT_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    master = keyproviders.MasterKey.of(os.urandom(keyproviders.KEY_BYTES))
    providers = [keyproviders.LocalKeyFile(tmp_path / "master.key"), keyproviders.EnvironmentKey(),
                 keyproviders.CallableKeys(wrap=master.wrap, unwrap=master.unwrap, key_id=master.key_id), master]
    for provider in providers:
        assert isinstance(provider, keyproviders.KeyProvider)
    data_key = os.urandom(32)
    assert master.unwrap(master.wrap(data_key, "m1"), "m1") == data_key


def test_the_envelope_reads_what_the_store_writes(tmp_path: Path) -> None:
    store = crypto.EncryptedStore(LocalStore(tmp_path / "store"), keyproviders.LocalKeyFile(tmp_path / "master.key"),
                                  lambda key: "s1")
    whole = store.seal("materials/m1/a.bin", b"hello")
    [record] = envelope.iter_records(whole, "materials/m1/a.bin")
    assert (record.kind, record.scope, len(record.nonce)) == (envelope.WHOLE, "s1", envelope.NONCE_BYTES)
    assert record.header == envelope.build_header(envelope.WHOLE, "s1", record.key_id, 5)
    lines = store.seal("logs/a.jsonl", b"one\ntwo\n", lines=True)
    assert lines.startswith(envelope.LINE_MAGIC) and envelope.is_encrypted(lines)
    assert [r.kind for r in envelope.iter_records(lines, "logs/a.jsonl")] == [envelope.LINE, envelope.LINE]
    with pytest.raises(EncryptedObjectError):
        envelope.parse_record(memoryview(whole[:-1]), 0, "materials/m1/a.bin")


def test_key_providers_pickle_as_where_the_key_is_never_the_key(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # A studio whose jobs run on a cluster sends its key provider to every worker: the key must not travel.
    import pickle

    held = keyproviders.LocalKeyFile(tmp_path / "master.key")
    wrapped = held.wrap(b"k" * 32, "scope")
    raw = (tmp_path / "master.key").read_bytes()
    copy = pickle.loads(pickle.dumps(held))
    assert raw not in pickle.dumps(held) and copy.path == held.path
    assert copy.unwrap(wrapped, "scope") == b"k" * 32  # read from the file again, in the copy's process
    monkeypatch.setenv("FK_TEST_KEY", base64.b64encode(raw).decode())
    env = keyproviders.EnvironmentKey("FK_TEST_KEY")
    env.wrap(b"k" * 32, "scope")
    assert raw not in pickle.dumps(env) and pickle.loads(pickle.dumps(env)).unwrap(wrapped, "scope") == b"k" * 32
