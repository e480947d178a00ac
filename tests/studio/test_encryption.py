"""Encryption at rest in the studio: a new store is encrypted under the default master key, deleting a material
destroys its key so a restored backup copy is unreadable, the wrong key or a tampered object or a failing key
provider is a typed error that writes nothing, and a plain store keeps working until the resumable migration
encrypts it. Real AES-GCM, real stores, real models."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

import fusionkit
from fusionkit.errors import (
    EncryptedObjectError,
    KeyProviderError,
    MaterialIdNotFoundError,
    ParameterValueError,
    PlainObjectError,
    ResultIdNotFoundError,
    WrongMasterKeyError,
)
from fusionkit.storage import keys
from fusionkit.storage.crypto import CallableKeys, EnvironmentKey, LocalKeyFile
from fusionkit.studio.encryption import encrypt_studio
from tests.studio.conftest import photo, photo_bytes


@pytest.fixture
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "keys" / "master.key"
    monkeypatch.setenv("FUSIONKIT_KEY_FILE", str(path))
    monkeypatch.delenv("FUSIONKIT_MASTER_KEY", raising=False)
    return path


def raw_objects(studio, prefix: str = "") -> dict[str, bytes]:
    """Every object of the root store as stored (ciphertext when encrypted)."""
    out = {}

    def walk(p: str) -> None:
        for name in studio.root.list(p):
            key = f"{p}/{name}"
            if studio.root.list(key):
                walk(key)
            else:
                try:
                    out[key] = studio.root.read(key)
                except KeyError:
                    continue

    for top in [prefix] if prefix else TOP:
        walk(top)
    return out


TOP = ("activities", "materials", "results", "jobs", "logs", "audit", "keyring", "tenants")


def test_a_new_studio_is_encrypted_under_a_0600_key_file(tmp_path, clock, key_file) -> None:
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    activity = studio.activities.create("secret campaign")
    material = studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    marker = json.loads(studio.root.read(keys.ENCRYPTION_MARKER))
    assert marker["master_key_id"] == LocalKeyFile(key_file).key_id
    stored = raw_objects(studio)
    assert stored[keys.material_source(material.id, "jpeg")] != photo_bytes("obama.jpg")
    for key, data in stored.items():  # nothing readable at rest: no JPEG, no JSON, no name
        if key == keys.ENCRYPTION_MARKER:
            continue
        assert b"secret campaign" not in data and b"\xff\xd8\xff" not in data[:16] and b'"schema"' not in data, key
    assert studio.results.read(result.id)[:3] == b"\xff\xd8\xff"  # and all of it readable through the studio
    reopened = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    assert reopened.materials.get(material.id) == material


def test_deleting_a_material_makes_every_copy_of_it_unreadable(tmp_path, clock, key_file) -> None:
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    activity = studio.activities.create("a")
    material = studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    # A backup taken before (of the data: the keyring is kept where backups do not reach, see keyring=).
    backup = {k: v for k, v in raw_objects(studio).items() if material.id in k and not k.startswith("keyring/")}
    assert len(backup) >= 4
    studio.materials.delete(material.id)
    for key, data in backup.items():  # restored from the backup: still nothing to read
        studio.root.write(key, data)
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(material.id)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.read(result.id)
    with pytest.raises(KeyError):
        studio.store.read(keys.material_source(material.id, "jpeg"))
    studio.sweep()  # and the sweep clears the unreadable leftovers
    assert not [k for k in raw_objects(studio) if material.id in k]


def test_the_wrong_key_no_key_or_no_encryption_is_refused(tmp_path, clock, key_file, monkeypatch) -> None:
    root = str(tmp_path / "s")
    studio = fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None)
    studio.activities.create("a")
    other = LocalKeyFile(tmp_path / "other.key")
    with pytest.raises(WrongMasterKeyError, match=other.key_id):
        fusionkit.open(root, encryption=other, video_workers=0, sweep_every=None)
    with pytest.raises(ParameterValueError, match="encrypted at rest"):
        fusionkit.open(root, encryption=None, video_workers=0, sweep_every=None)
    monkeypatch.setenv("FUSIONKIT_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(WrongMasterKeyError):  # the variable wins over the file, and it is another key
        fusionkit.open(root, video_workers=0, sweep_every=None)
    with pytest.raises(ParameterValueError, match="key provider"):
        fusionkit.open(root, encryption="yes", video_workers=0, sweep_every=None)
    assert EnvironmentKey().key_id != LocalKeyFile(key_file).key_id


def test_a_tampered_object_and_a_failing_key_provider_are_typed_errors(tmp_path, clock, key_file) -> None:
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=0, sweep_every=None)
    activity = studio.activities.create("a")
    material = studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    (blob,) = [k for k in raw_objects(studio, keys.RESULTS_IMAGE) if k.endswith(".jpg")]
    data = bytearray(studio.root.read(blob))
    data[-40] ^= 1
    studio.root.write(blob, bytes(data))
    with pytest.raises(EncryptedObjectError):
        studio.results.read(result.id)

    def broken(*args):
        raise RuntimeError("KMS unreachable")

    kms = CallableKeys(wrap=broken, unwrap=broken, key_id="kms-key-1")
    failing = fusionkit.open(f"memory://kms-{os.getpid()}", encryption=kms, video_workers=0, sweep_every=None)
    with pytest.raises(KeyProviderError, match="KMS unreachable"):
        failing.activities.create("a")
    assert not any(failing.root.list(top) for top in TOP)  # nothing written


def test_a_plain_store_keeps_working_until_the_resumable_migration(tmp_path, clock, key_file) -> None:
    root = str(tmp_path / "s")
    plain = fusionkit.open(root, clock=clock, encryption=None, video_workers=0, sweep_every=None)
    activity = plain.activities.create("from before")
    material = plain.materials.upload(activity.id, photo_bytes("obama.jpg"))
    result = plain.fuse(activity.id, material.id, photo("biden.jpg"))
    assert fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None).results.read(result.id)  # auto
    with pytest.raises(PlainObjectError, match="encrypt"):
        fusionkit.open(root, encryption=LocalKeyFile(key_file), video_workers=0, sweep_every=None)

    class Killed(Exception):
        pass

    written: list[str] = []

    def progress(key: str) -> None:  # the migration is killed after three objects
        written.append(key)
        if len(written) == 3:
            raise Killed

    from fusionkit.storage import open_store

    with pytest.raises(Killed):
        encrypt_studio(open_store(root), progress=progress)
    assert not open_store(root).exists(keys.ENCRYPTION_MARKER)  # not marked until complete
    assert encrypt_studio(open_store(root)) > 0
    assert encrypt_studio(open_store(root)) == 0  # done: nothing left to do
    studio = fusionkit.open(root, clock=clock, video_workers=0, sweep_every=None)
    assert studio.materials.get(material.id) == material and studio.results.read(result.id)[:3] == b"\xff\xd8\xff"
    assert b"from before" not in studio.root.read(keys.activity_doc(activity.id))


def test_with_the_keyring_apart_a_whole_backup_of_the_store_is_unreadable_after_a_delete(tmp_path, clock,
                                                                                       key_file) -> None:
    studio = fusionkit.open(str(tmp_path / "s"), keyring=str(tmp_path / "ring"), clock=clock, video_workers=0,
                            sweep_every=None)
    activity = studio.activities.create("a")
    material = studio.materials.upload(activity.id, photo_bytes("obama.jpg"))
    backup = raw_objects(studio)  # everything in the store, as a backup or an object version would keep it
    assert not any(k.startswith("keyring/") for k in backup)  # the keys are not in it
    studio.materials.delete(material.id)
    for key, data in backup.items():
        studio.root.write(key, data)
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(material.id)
    assert studio.activities.get(activity.id).name == "a"  # what was not deleted reads as before
