"""Encryption at rest with a data key per scope, so that deleting a material can destroy its key (crypto-shredding).

Every object is encrypted with AES-256-GCM under the *data key* of its scope (:func:`fusionkit.storage.keys.scope_of`:
a material with its results, a video job, a day of logs, or the studio's own documents). Data keys are random,
created on the first write of their scope and stored *wrapped* (encrypted) by a master key that a
:class:`KeyProvider` holds: :class:`LocalKeyFile` (the default: a 0600 file of 32 random bytes), :class:`EnvironmentKey`
(a base64 variable) or :class:`CallableKeys` (the host's KMS). :meth:`EncryptedStore.shred` deletes a scope's wrapped
data keys: every object of the scope, and every copy of it beyond our reach (object-store versions, backups, the
leftovers of a crashed delete), is unreadable from that moment.

What is stored
--------------
``keyring/{scope}/{key_id}.key`` (:func:`~fusionkit.storage.keys.keyring_entry`)
    A wrapped data key: JSON naming its scope, the master key's :attr:`KeyProvider.key_id` and the wrapped bytes
    (AES-GCM under the master key, the scope as associated data). A scope may hold several (two processes that
    wrote its first object at the same time each made one); objects name the one that encrypts them. Keep the
    keyring where backups and object versions do not reach (the ``keyring`` argument), or shredding cannot destroy
    the copies they keep.
An object written with ``write``
    One binary record: ``\\x93FKE``, format version (1), kind ``W``, the scope, the data key's id, the ciphertext's
    length, a 12-byte random nonce, then the AES-GCM ciphertext and tag. The associated data is the object's storage
    key and the header, so an object moved or copied to another key, or another scope, fails to decrypt.
An object written with ``append`` (JSONL logs)
    A sequence of lines, one per appended line: ``\\x93FKL``, the base64 of a record of kind ``L`` and a newline.
    ``read`` decrypts each and returns the concatenation; ``rewrite_lines`` keeps or drops whole lines through the
    inner store's own ``rewrite_lines`` (its lock, across processes on local disk). Someone able to write the storage
    can drop or reorder whole lines of an appended object unseen; they cannot alter or forge one.

``size`` reports stored bytes (ciphertext: about 60 bytes more per object, a third more for appended lines);
``exists``, ``list``, ``delete``, ``delete_prefix`` and ``url`` pass through (the URL names the ciphertext).

How the studio is meant to use it
---------------------------------
::

    from fusionkit.storage import keys, open_store
    from fusionkit.storage.crypto import EncryptedStore, LocalKeyFile, encrypt_store

    inner = open_store(url, storage_options)
    provider = LocalKeyFile(master_key_path)        # or EnvironmentKey(), CallableKeys(wrap=, unwrap=, key_id=)
    store = EncryptedStore(inner, provider, keys.scope_of)   # encryption=None: use ``inner`` as it is
    ...
    store.shred(material_id)                        # first, when a material is deleted: then delete its objects
    store.shred(job_id)                             # each of the material's video jobs
    store.shred(keys.log_scope(day))                # an expired day of logs, before delete_prefix(log_folder(day))

A store written before encryption raises :class:`~fusionkit.errors.PlainObjectError` on its plain objects until
:func:`encrypt_store` has run over it once (``python -m fusionkit.storage.crypto ROOT --key-file PATH``; resumable,
with the studio stopped). Reading an object whose data key was shredded raises :class:`ObjectShredded`, a
:class:`~fusionkit.storage.backends.KeyNotFound`: the studio's not-found paths already handle it.

Errors: :class:`~fusionkit.errors.MasterKeyError` (no usable master key), :class:`~fusionkit.errors.WrongMasterKeyError`
(data keys wrapped under another one), :class:`~fusionkit.errors.KeyProviderError` (the provider raised; nothing is
written), :class:`~fusionkit.errors.EncryptedObjectError` (tampered, truncated or moved: never returned as
plaintext), :class:`~fusionkit.errors.PlainObjectError`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fusionkit.errors import (
    EncryptedObjectError,
    FusionKitError,
    KeyProviderError,
    MasterKeyError,
    PlainObjectError,
    StorageError,
    WrongMasterKeyError,
)
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound, check_key

__all__ = [
    "CallableKeys",
    "EncryptedStore",
    "EnvironmentKey",
    "KeyProvider",
    "LocalKeyFile",
    "ObjectShredded",
    "encrypt_store",
    "is_encrypted",
    "master_key_id",
]

KEY_BYTES = 32
_NONCE = 12
_MAGIC = b"\x93FKE"
_LINE_MAGIC = b"\x93FKL"
_VERSION = 1
_WHOLE, _LINE = b"W", b"L"
# magic, version, kind, scope length; then the scope, the data key id (8 bytes), the ciphertext length.
_FIXED = struct.Struct(">4sBcB")
_TAIL = struct.Struct(">8sQ")
_OBJECT_AAD = b"fusionkit object v1\x00"
_WRAP_AAD = b"fusionkit data key v1\x00"
_ENTRY_FORMAT = "fusionkit-data-key"


class ObjectShredded(KeyNotFound):
    """The object is stored but its scope's data key was destroyed (:meth:`EncryptedStore.shred`): its data is
    gone. A :class:`~fusionkit.storage.backends.KeyNotFound`, so callers treat it as not found.

    Attributes
    ----------
    scope
        The scope whose data key is gone.
    """

    def __init__(self, key: str, scope: str) -> None:
        super().__init__(key)
        self.scope = scope

    def __str__(self) -> str:
        return f"{self.args[0]!r}: the data key of its scope {self.scope!r} was destroyed (shredded)"


# -- key providers ---------------------------------------------------------------------------------------------------


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps 32-byte data keys under a master key it holds.

    ``key_id`` names the master key (stable, not secret); it is stored beside every wrapped data key, so that a
    store opened with another master key says so (:class:`~fusionkit.errors.WrongMasterKeyError`) instead of failing
    a decryption. ``scope`` is bound to the wrapped key (as AES-GCM associated data, or a KMS encryption context):
    a wrapped key moved to another scope does not unwrap.
    """

    @property
    def key_id(self) -> str: ...

    def wrap(self, data_key: bytes, scope: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, scope: str) -> bytes: ...


def master_key_id(master_key: bytes) -> str:
    """The id of a 32-byte master key: ``"mk-"`` and 16 hex digits of a SHA-256 of it (the same from a file or a
    variable, and revealing nothing of the key)."""
    return "mk-" + hashlib.sha256(b"fusionkit master key id\x00" + master_key).hexdigest()[:16]


@attrs.frozen
class _MasterKey:
    """AES-GCM key wrapping under a master key: a random nonce, then the wrapped key and tag (60 bytes)."""

    aead: AESGCM
    key_id: str

    @classmethod
    def of(cls, master_key: bytes) -> _MasterKey:
        return cls(AESGCM(master_key), master_key_id(master_key))

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self.aead.encrypt(nonce, data_key, _WRAP_AAD + scope.encode())

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self.aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _WRAP_AAD + scope.encode())


def _abspath(value: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.fspath(value)))


@attrs.define
class LocalKeyFile:
    """The master key in a local file of 32 random bytes, created (mode 0600, atomically) on first use if missing.

    Parameters
    ----------
    path
        The key file. Keep it out of the store and out of its backups: whoever has both can read everything.
    create
        Create the file when it is missing (``False``: a missing file is a :class:`~fusionkit.errors.MasterKeyError`;
        use it when opening a store that already holds data).

    Raises
    ------
    MasterKeyError
        On first use: the file is missing (``create=False``), unreadable, not a regular file, readable or writable by
        group or others, or not 32 bytes long.
    """

    path: Path = attrs.field(converter=_abspath)
    create: bool = True
    _key: _MasterKey | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def _master(self) -> _MasterKey:
        with self._lock:
            if self._key is None:
                self._key = _MasterKey.of(self._load())
            return self._key

    @property
    def key_id(self) -> str:
        return self._master().key_id

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        return self._master().wrap(data_key, scope)

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self._master().unwrap(wrapped, scope)

    def _load(self) -> bytes:
        try:
            return self._read()
        except FileNotFoundError:
            if not self.create:
                raise MasterKeyError(
                    f"the master key file {self.path} does not exist: give the path of the key this store was "
                    "encrypted with (a new key cannot read what the old one wrapped)") from None
        self._create()
        return self._read()

    def _read(self) -> bytes:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise MasterKeyError(f"cannot read the master key file {self.path} ({exc.strerror}): make it readable "
                                 "by this process's user only (chmod 600)") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise MasterKeyError(f"the master key file {self.path} is not a regular file")
            if os.name == "posix" and st.st_mode & 0o077:
                raise MasterKeyError(
                    f"the master key file {self.path} is open to group or others (mode {st.st_mode & 0o777:04o}): "
                    f"run chmod 600 {self.path}")
            data = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) != KEY_BYTES:
            held = f"{len(data)}{'+' if len(data) > KEY_BYTES else ''}"
            raise MasterKeyError(f"the master key file {self.path} holds {held} bytes; a master key is exactly "
                                 f"{KEY_BYTES} random bytes: restore the right file")
        return data

    def _create(self) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = folder / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                try:
                    os.fchmod(fd, 0o600)
                    os.write(fd, secrets.token_bytes(KEY_BYTES))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, self.path)  # atomic and never replaces: a key made meanwhile elsewhere wins
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise MasterKeyError(f"cannot create the master key file {self.path} ({exc.strerror}): choose a "
                                 "writable folder, or create the key yourself (32 random bytes, chmod 600)") from None


@attrs.define
class EnvironmentKey:
    """The master key in an environment variable: 32 bytes in base64 (read on first use).

    Make one with ``python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"``.

    Raises
    ------
    MasterKeyError
        On first use: the variable is unset, not base64, or not 32 bytes long.
    """

    variable: str = "FUSIONKIT_MASTER_KEY"
    _key: _MasterKey | None = attrs.field(default=None, init=False, repr=False)

    def _master(self) -> _MasterKey:
        if self._key is None:
            value = os.environ.get(self.variable)
            if not value:
                raise MasterKeyError(f"the environment variable {self.variable} is not set: set it to the store's "
                                     "master key (32 random bytes in base64)")
            try:
                raw = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                try:
                    raw = base64.urlsafe_b64decode(value.strip())
                except (binascii.Error, ValueError):
                    raise MasterKeyError(f"the environment variable {self.variable} is not base64: set it to the "
                                         "master key, 32 random bytes in base64") from None
            if len(raw) != KEY_BYTES:
                raise MasterKeyError(f"the environment variable {self.variable} holds {len(raw)} bytes; a master "
                                     f"key is {KEY_BYTES} random bytes in base64")
            self._key = _MasterKey.of(raw)
        return self._key

    @property
    def key_id(self) -> str:
        return self._master().key_id

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        return self._master().wrap(data_key, scope)

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self._master().unwrap(wrapped, scope)


@attrs.frozen
class CallableKeys:
    """A master key held elsewhere (a KMS): the host gives the two calls and the key's id.

    Parameters
    ----------
    wrap
        ``wrap(data_key, scope) -> bytes``: encrypt the 32-byte data key (bind ``scope`` as the encryption context).
    unwrap
        ``unwrap(wrapped, scope) -> bytes``: the data key back.
    key_id
        A stable name of the master key (a KMS key ARN), stored beside every wrapped data key.

    Whatever the calls raise becomes a :class:`~fusionkit.errors.KeyProviderError` naming it.
    """

    _wrap: Callable[[bytes, str], bytes]
    _unwrap: Callable[[bytes, str], bytes]
    key_id: str = attrs.field(validator=attrs.validators.instance_of(str))

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        return self._wrap(data_key, scope)

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self._unwrap(wrapped, scope)


# -- the object format -----------------------------------------------------------------------------------------------


class _Record(NamedTuple):
    kind: bytes
    scope: str
    key_id: str
    header: bytes
    nonce: memoryview
    ciphertext: memoryview


def is_encrypted(raw: bytes) -> bool:
    """Whether stored bytes are an encrypted object (they start with a record's magic)."""
    return raw[:4] in (_MAGIC, _LINE_MAGIC)


def _header(kind: bytes, scope: str, key_id: str, plain_length: int) -> bytes:
    name = scope.encode()
    return (_FIXED.pack(_MAGIC, _VERSION, kind, len(name)) + name
            + _TAIL.pack(bytes.fromhex(key_id), plain_length + 16))


def _parse(buf: memoryview, pos: int, key: str) -> tuple[_Record, int]:
    """The binary record at ``pos`` and where the next one starts."""
    def bad(why: str) -> EncryptedObjectError:
        return EncryptedObjectError(f"the encrypted object {key!r} is {why}: restore it from a backup or delete it")

    if len(buf) - pos < _FIXED.size:
        raise bad("truncated")
    magic, version, kind, name_length = _FIXED.unpack_from(buf, pos)
    if magic != _MAGIC:
        raise bad("damaged (no record header where one should start)")
    if version != _VERSION:
        raise EncryptedObjectError(f"the encrypted object {key!r} has format version {version}, newer than this "
                                   "fusionkit reads: upgrade fusionkit")
    start = pos + _FIXED.size
    if kind not in (_WHOLE, _LINE) or len(buf) - start < name_length + _TAIL.size:
        raise bad("damaged or truncated")
    try:
        scope = bytes(buf[start:start + name_length]).decode("ascii")
    except UnicodeDecodeError:
        raise bad("damaged (its scope is not text)") from None
    key_id, length = _TAIL.unpack_from(buf, start + name_length)
    body = start + name_length + _TAIL.size
    end = body + _NONCE + length
    if end > len(buf):
        raise bad("truncated")
    record = _Record(kind, scope, key_id.hex(), bytes(buf[pos:body]), buf[body:body + _NONCE],
                     buf[body + _NONCE:end])
    return record, end


def _records(raw: bytes, key: str) -> Iterator[_Record]:
    """Every record of a stored object, in order: binary ones, then (or only) base64 lines."""
    buf = memoryview(raw)
    pos = 0
    while pos < len(raw):
        if raw.startswith(_MAGIC, pos):
            record, pos = _parse(buf, pos, key)
            yield record
        elif raw.startswith(_LINE_MAGIC, pos):
            end = raw.find(b"\n", pos)
            if end < 0:
                raise EncryptedObjectError(f"the encrypted object {key!r} ends in a truncated line: restore it "
                                           "from a backup, or drop the line")
            text = raw[pos + len(_LINE_MAGIC):end]
            try:
                inner = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged") from None
            if base64.b64encode(inner) != text:  # a changed padding bit decodes to the same bytes: still a change
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged")
            record, used = _parse(memoryview(inner), 0, key)
            if used != len(inner) or record.kind != _LINE:
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged")
            yield record
            pos = end + 1
        else:
            raise EncryptedObjectError(f"the encrypted object {key!r} holds unencrypted bytes at offset {pos}: "
                                       "something wrote to it without encryption; restore it or delete it")


def _aad(key: str, header: bytes) -> bytes:
    return _OBJECT_AAD + key.encode() + b"\x00" + header


# -- the store -------------------------------------------------------------------------------------------------------


def _call(provider: KeyProvider, what: str, call: Callable[[], bytes]) -> bytes:
    try:
        out = call()
    except (FusionKitError, InvalidTag):
        raise
    except Exception as exc:
        raise KeyProviderError(f"the key provider {type(provider).__name__} failed to {what}: "
                               f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(out, bytes):
        raise KeyProviderError(f"the key provider {type(provider).__name__} returned {type(out).__name__} when "
                               f"asked to {what}; it must return bytes")
    return out


def _provider_id(provider: KeyProvider) -> str:
    try:
        key_id = provider.key_id
    except FusionKitError:
        raise
    except Exception as exc:
        raise KeyProviderError(f"the key provider {type(provider).__name__} cannot name its master key: "
                               f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(key_id, str) or not key_id:
        raise KeyProviderError(f"the key provider {type(provider).__name__} names its master key {key_id!r}; "
                               "key_id must be a non-empty string")
    return key_id


@attrs.define
class EncryptedStore:
    """A :class:`~fusionkit.storage.BlobStore` that encrypts every object under its scope's data key.

    Parameters
    ----------
    inner
        The store that holds the ciphertext.
    provider
        Holds the master key that wraps the data keys.
    scope
        The scope of a storage key (whose data key encrypts it); :func:`fusionkit.storage.keys.scope_of`.
    keyring
        Where the wrapped data keys live (under ``keyring/``); ``inner`` when ``None``. Give a store that backups
        and object versioning do not reach, so that :meth:`shred` destroys every copy of a key.
    allow_plain
        Read unencrypted objects as they are, only while a store is being migrated (:func:`encrypt_store`). Writes
        always encrypt. By default a plain object is a :class:`~fusionkit.errors.PlainObjectError`.
    cache_size, cache_seconds
        How many unwrapped data keys are kept in memory, and for how long: a key shredded by another process stays
        usable here for at most ``cache_seconds`` (this process's :meth:`shred` forgets it at once).
    """

    inner: BlobStore
    provider: KeyProvider
    scope: Callable[[str], str] = keys.scope_of
    keyring: BlobStore | None = None
    allow_plain: bool = False
    cache_size: int = 1024
    cache_seconds: float = 60.0
    _cache: OrderedDict[tuple[str, str], tuple[float, AESGCM]] = attrs.field(factory=OrderedDict, init=False,
                                                                            repr=False)
    _current: dict[str, str] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)
    _creating: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)
    _lines: threading.RLock = attrs.field(factory=threading.RLock, init=False, repr=False)

    # -- keys ---------------------------------------------------------------------------------------------------------

    @property
    def _ring(self) -> BlobStore:
        return self.inner if self.keyring is None else self.keyring

    def _check(self, key: str) -> None:
        check_key(key)
        if key == keys.KEYRING or key.startswith(keys.KEYRING + "/"):
            raise StorageError(f"{key!r} is under the encrypted store's keyring, which only shred() changes")

    def _scope(self, key: str) -> str:
        scope = self.scope(key)
        keys.keyring_folder(scope)  # refuses a scope that cannot name a keyring folder
        return scope

    def _cached(self, scope: str, key_id: str) -> AESGCM | None:
        with self._lock:
            found = self._cache.get((scope, key_id))
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._cache[(scope, key_id)]
                return None
            self._cache.move_to_end((scope, key_id))
            return found[1]

    def _remember(self, scope: str, key_id: str, aead: AESGCM) -> None:
        with self._lock:
            self._cache[(scope, key_id)] = (time.monotonic() + self.cache_seconds, aead)
            self._cache.move_to_end((scope, key_id))
            while len(self._cache) > max(1, self.cache_size):
                self._cache.popitem(last=False)

    def _data_key(self, scope: str, key_id: str, key: str) -> AESGCM:
        """The data key ``key_id`` of ``scope`` (to read ``key``): from the cache, else unwrapped from the keyring."""
        aead = self._cached(scope, key_id)
        if aead is not None:
            return aead
        entry = keys.keyring_entry(scope, key_id)
        try:
            blob = self._ring.read(entry)
        except KeyNotFound:
            if self._ring.list(keys.keyring_folder(scope)):  # the scope has keys, just not this one
                raise EncryptedObjectError(f"the encrypted object {key!r} names a data key its scope {scope!r} does "
                                           "not have: it was altered; restore it from a backup") from None
            raise ObjectShredded(key, scope) from None
        aead = AESGCM(self._unwrap_entry(entry, scope, blob))
        self._remember(scope, key_id, aead)
        return aead

    def _unwrap_entry(self, entry: str, scope: str, blob: bytes) -> bytes:
        try:
            doc = json.loads(blob)
            ok = (isinstance(doc, dict) and doc.get("format") == _ENTRY_FORMAT and doc.get("version") == 1
                  and isinstance(doc.get("key_id"), str) and isinstance(doc.get("wrapped"), str))
            wrapped = base64.b64decode(doc["wrapped"], validate=True) if ok else b""
        except (ValueError, binascii.Error):
            ok = False
        if not ok:
            raise EncryptedObjectError(f"the wrapped data key {entry!r} is damaged: restore the keyring from a "
                                       "backup (the objects of its scope are unreadable without it)")
        if doc.get("scope") != scope:
            raise EncryptedObjectError(f"the wrapped data key {entry!r} belongs to the scope {doc.get('scope')!r}: "
                                       "the keyring was tampered with; restore it from a backup")
        held = _provider_id(self.provider)
        if doc["key_id"] != held:
            raise WrongMasterKeyError(
                f"the data keys of scope {scope!r} are wrapped under the master key {doc['key_id']!r}, but the key "
                f"provider {type(self.provider).__name__} holds {held!r}: open the store with the master key it "
                "was encrypted under")
        try:
            data_key = _call(self.provider, f"unwrap the data key of scope {scope!r}",
                             lambda: self.provider.unwrap(wrapped, scope))
        except InvalidTag:
            raise EncryptedObjectError(f"the wrapped data key {entry!r} fails its integrity check under the master "
                                       f"key {held!r}: the keyring was tampered with; restore it from a "
                                       "backup") from None
        if len(data_key) != KEY_BYTES:
            raise KeyProviderError(f"the key provider {type(self.provider).__name__} unwrapped {len(data_key)} "
                                   f"bytes for scope {scope!r}; a data key is {KEY_BYTES}")
        return data_key

    def _write_key(self, scope: str) -> tuple[str, AESGCM]:
        """The data key that encrypts new objects of ``scope``, made (and stored wrapped) on its first write."""
        key_id = self._current.get(scope)
        if key_id is not None:
            aead = self._cached(scope, key_id)
            if aead is not None:
                return key_id, aead
        with self._creating:
            folder = keys.keyring_folder(scope)
            ids = sorted(n[:-4] for n in self._ring.list(folder) if n.endswith(".key"))
            for key_id in ids:  # normally one; several when two processes made the first object at once
                try:
                    aead = self._data_key(scope, key_id, folder)
                except (ObjectShredded, StorageError) as exc:  # shredded since listed, or not a key's name
                    if isinstance(exc, EncryptedObjectError):
                        raise
                    continue
                self._current[scope] = key_id
                return key_id, aead
            data_key = AESGCM.generate_key(bit_length=256)
            held = _provider_id(self.provider)
            wrapped = _call(self.provider, f"wrap a new data key for scope {scope!r}",
                            lambda: self.provider.wrap(data_key, scope))
            key_id = secrets.token_hex(8)
            entry = {"format": _ENTRY_FORMAT, "version": 1, "scope": scope, "key_id": held,
                     "wrapped": base64.b64encode(wrapped).decode()}
            # Stored before any object uses it: a crash after this line leaves an unused key, never an object
            # without one.
            self._ring.write(keys.keyring_entry(scope, key_id), json.dumps(entry).encode())
            aead = AESGCM(data_key)
            self._remember(scope, key_id, aead)
            self._current[scope] = key_id
            return key_id, aead

    def verify_master_key(self) -> None:
        """Check now what the first read would: the provider has its master key, and it is the one the keyring's
        data keys were wrapped under (one wrapped key is unwrapped). Call it when opening a store.

        Raises
        ------
        MasterKeyError, WrongMasterKeyError, KeyProviderError, EncryptedObjectError
            As a read would.
        """
        _provider_id(self.provider)
        for scope in self._ring.list(keys.KEYRING):
            for name in self._ring.list(f"{keys.KEYRING}/{scope}"):
                try:
                    entry = keys.keyring_entry(scope, name.removesuffix(".key"))
                    blob = self._ring.read(entry)
                except (StorageError, KeyNotFound):  # not a key's name, or shredded meanwhile
                    continue
                self._unwrap_entry(entry, scope, blob)
                return

    def shred(self, scope: str) -> int:
        """Destroy every data key of ``scope``: its objects, wherever copies of them are, become unreadable now.

        Call it before deleting the objects (a crash in between leaves unreadable leftovers, not readable ones).
        Returns how many wrapped keys were deleted (0 when the scope had none).
        """
        folder = keys.keyring_folder(scope)
        with self._lock:
            for cached in [c for c in self._cache if c[0] == scope]:
                del self._cache[cached]
            self._current.pop(scope, None)
        return self._ring.delete_prefix(folder)

    # -- sealing and opening ------------------------------------------------------------------------------------------

    def _seal(self, key: str, data: bytes, kind: bytes) -> bytes:
        scope = self._scope(key)
        key_id, aead = self._write_key(scope)
        header = _header(kind, scope, key_id, len(data))
        nonce = os.urandom(_NONCE)
        return header + nonce + aead.encrypt(nonce, data, _aad(key, header))

    def seal(self, key: str, data: bytes, *, lines: bool = False) -> bytes:
        """What :meth:`write` stores for ``data`` at ``key`` (``lines``: one record per line, as :meth:`append`
        stores them), without storing it: for a migration, or a host that puts the bytes somewhere itself."""
        self._check(key)
        return self._seal_lines(key, bytes(data)) if lines else self._seal(key, bytes(data), _WHOLE)

    def _seal_lines(self, key: str, data: bytes) -> bytes:
        """One base64 line record per line of ``data`` (one empty record when ``data`` is empty)."""
        lines = data.splitlines(keepends=True) or [b""]
        return b"".join(_LINE_MAGIC + base64.b64encode(self._seal(key, line, _LINE)) + b"\n" for line in lines)

    def _open(self, key: str, record: _Record, scope: str, memo: dict[str, AESGCM] | None = None) -> bytes:
        """The plaintext of one record; ``memo`` keeps the data keys met within one object (its many lines)."""
        if record.scope != scope:
            raise EncryptedObjectError(f"the encrypted object {key!r} was written for the scope {record.scope!r}, "
                                       f"not {scope!r}: it was moved or copied from another key")
        aead = memo.get(record.key_id) if memo is not None else None
        if aead is None:
            aead = self._data_key(record.scope, record.key_id, key)
            if memo is not None:
                memo[record.key_id] = aead
        try:
            return aead.decrypt(record.nonce, record.ciphertext, _aad(key, record.header))
        except InvalidTag:
            raise EncryptedObjectError(f"the encrypted object {key!r} fails its integrity check: it was altered, "
                                       "or moved or copied from another key; restore it from a backup or delete "
                                       "it") from None

    def _plaintext(self, key: str, raw: bytes) -> bytes:
        if not is_encrypted(raw):
            if self.allow_plain:
                return raw
            raise PlainObjectError(f"{key!r} is stored unencrypted in an encrypted store: encrypt the store once "
                                   "(fusionkit.storage.crypto.encrypt_store), or open it with encryption=None")
        scope = self._scope(key)
        memo: dict[str, AESGCM] = {}
        parts = [self._open(key, record, scope, memo) for record in _records(raw, key)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # -- the BlobStore protocol ---------------------------------------------------------------------------------------

    def read(self, key: str) -> bytes:
        self._check(key)
        return self._plaintext(key, self.inner.read(key))

    def write(self, key: str, data: bytes) -> None:
        self._check(key)
        self.inner.write(key, self._seal(key, bytes(data), _WHOLE))

    def append(self, key: str, data: bytes) -> None:
        self._check(key)
        sealed = self._seal_lines(key, bytes(data))
        with self._lines:
            self.inner.append(key, sealed)

    def rewrite_lines(self, key: str, keep: Callable[[bytes], bool]) -> int:
        """Keep the lines ``keep`` approves. An object made of appended lines is rewritten by the inner store's
        ``rewrite_lines`` (under its lock, so a line appended meanwhile by another process is kept); one that was
        written whole, or whose appends split lines, is decrypted, filtered and written back as lines."""
        self._check(key)
        with self._lines:
            try:
                raw = self.inner.read(key)
            except KeyNotFound:
                return 0
            if not is_encrypted(raw):
                return self._rewrite_whole(key, self._plaintext(key, raw), keep)
            scope = self._scope(key)
            records = list(_records(raw, key))
            memo: dict[str, AESGCM] = {}
            opened = [self._open(key, r, scope, memo) for r in records]
            # One line per record, each ending in a newline but perhaps the last: the inner store's lines are ours.
            framed = all(r.kind == _LINE for r in records) and all(
                len(p.splitlines()) <= 1 and (p.endswith(b"\n") or i == len(opened) - 1) for i, p in enumerate(opened))
            if not framed:
                return self._rewrite_whole(key, b"".join(opened), keep)

            def keep_line(stored: bytes) -> bool:
                line = self._plaintext(key, stored)
                return not line or keep(line)  # an empty record (an empty append) holds no line

            return self.inner.rewrite_lines(key, keep_line)

    def _rewrite_whole(self, key: str, plain: bytes, keep: Callable[[bytes], bool]) -> int:
        lines = plain.splitlines(keepends=True)
        kept = [line for line in lines if keep(line)]
        removed = len(lines) - len(kept)
        if removed:
            if kept:
                self.inner.write(key, self._seal_lines(key, b"".join(kept)))
            else:
                self.inner.delete(key)
        return removed

    def delete(self, key: str) -> bool:
        self._check(key)
        return self.inner.delete(key)

    def delete_prefix(self, prefix: str) -> int:
        self._check(prefix)
        return self.inner.delete_prefix(prefix)

    def list(self, prefix: str) -> list[str]:
        self._check(prefix)
        return self.inner.list(prefix)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (also one whose scope was shredded: it reads as not found)."""
        self._check(key)
        return self.inner.exists(key)

    def size(self, prefix: str) -> int:
        """Stored bytes under ``prefix``: the ciphertext, headers included (not the plaintext's length)."""
        self._check(prefix)
        return self.inner.size(prefix)

    def url(self, key: str) -> str:
        """The inner store's URL of the object: it names the ciphertext."""
        self._check(key)
        return self.inner.url(key)


# -- migration -------------------------------------------------------------------------------------------------------


def _objects(store: BlobStore, prefix: str) -> Iterator[str]:
    for name in store.list(prefix):
        child = f"{prefix}/{name}"
        if store.list(child):
            yield from _objects(store, child)
        else:
            yield child


def encrypt_store(
    inner: BlobStore,
    provider: KeyProvider,
    scope: Callable[[str], str] = keys.scope_of,
    progress: Callable[[str], None] | None = None,
    *,
    keyring: BlobStore | None = None,
    prefixes: Iterable[str] = keys.ROOT_FOLDERS,
) -> int:
    """Encrypt every plain object of a store in place, object by object; returns how many it encrypted.

    Each object's encrypted copy replaces the plain one in one atomic write, so a run killed at any point leaves
    every object whole, plain or encrypted; running again skips the encrypted ones and finishes the rest (after a
    complete run it does nothing and returns 0). ``.jsonl`` objects become one record per line, so later
    ``rewrite_lines`` calls work line by line. Run it with the studio stopped: an append landing between the read
    and the write of its object would be lost.

    Parameters
    ----------
    inner, provider, scope, keyring
        As for :class:`EncryptedStore`.
    progress
        Called with each key once it is encrypted.
    prefixes
        The folders to walk (a studio's root folders by default).
    """
    store = EncryptedStore(inner, provider, scope, keyring=keyring)
    store.verify_master_key()  # a resumed run with another master key would mix two keys in one store
    done = 0
    for prefix in prefixes:
        for key in _objects(inner, prefix):
            if key == keys.KEYRING or key.startswith(keys.KEYRING + "/"):
                continue
            try:
                raw = inner.read(key)
            except KeyNotFound:  # an empty folder, or deleted meanwhile
                continue
            if is_encrypted(raw):
                continue
            inner.write(key, store.seal(key, raw, lines=key.endswith(".jsonl")))
            done += 1
            if progress is not None:
                progress(key)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fusionkit.storage.crypto ROOT (--key-file PATH | --key-env VARIABLE)``: encrypt a plain store."""
    from fusionkit.storage.backends import open_store

    parser = argparse.ArgumentParser(prog="python -m fusionkit.storage.crypto",
                                     description="Encrypt a studio's plain store in place (resumable).")
    parser.add_argument("root", help="the studio's storage URL or path")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--key-file", help="the master key file (created 0600 if missing)")
    group.add_argument("--key-env", help="the environment variable holding the master key (base64)")
    args = parser.parse_args(argv)
    provider: KeyProvider = LocalKeyFile(args.key_file) if args.key_file else EnvironmentKey(args.key_env)
    try:
        count = encrypt_store(open_store(args.root), provider, progress=lambda key: print(f"encrypted {key}"))
    except FusionKitError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{count} objects encrypted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
