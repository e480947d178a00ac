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

The key providers live in :mod:`fusionkit.storage.keyproviders` and the object format in
:mod:`fusionkit.storage.envelope`; this module re-exports the providers, :func:`master_key_id` and
:func:`is_encrypted`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fusionkit.errors import (
    EncryptedObjectError,
    FusionKitError,
    KeyProviderError,
    PlainObjectError,
    StorageError,
    WrongMasterKeyError,
)
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound, check_key
from fusionkit.storage.envelope import (
    LINE,
    LINE_MAGIC,
    NONCE_BYTES,
    WHOLE,
    Record,
    build_header,
    is_encrypted,
    iter_records,
    object_aad,
)
from fusionkit.storage.keyproviders import KEY_BYTES as KEY_BYTES  # defined here before the split
from fusionkit.storage.keyproviders import (
    CallableKeys,
    EnvironmentKey,
    KeyProvider,
    LocalKeyFile,
    master_key_id,
)

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

    def keyed_scopes(self) -> set[str]:
        """The scopes that have a data key (one listing of the keyring, no object read): a scope :meth:`shred`
        destroyed is not among them."""
        return set(self._ring.list(keys.KEYRING))

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
        header = build_header(kind, scope, key_id, len(data))
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + aead.encrypt(nonce, data, object_aad(key, header))

    def seal(self, key: str, data: bytes, *, lines: bool = False) -> bytes:
        """What :meth:`write` stores for ``data`` at ``key`` (``lines``: one record per line, as :meth:`append`
        stores them), without storing it: for a migration, or a host that puts the bytes somewhere itself."""
        self._check(key)
        return self._seal_lines(key, bytes(data)) if lines else self._seal(key, bytes(data), WHOLE)

    def _seal_lines(self, key: str, data: bytes) -> bytes:
        """One base64 line record per line of ``data`` (one empty record when ``data`` is empty)."""
        lines = data.splitlines(keepends=True) or [b""]
        return b"".join(LINE_MAGIC + base64.b64encode(self._seal(key, line, LINE)) + b"\n" for line in lines)

    def _open(self, key: str, record: Record, scope: str, memo: dict[str, AESGCM] | None = None) -> bytes:
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
            return aead.decrypt(record.nonce, record.ciphertext, object_aad(key, record.header))
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
        parts = [self._open(key, record, scope, memo) for record in iter_records(raw, key)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # -- the BlobStore protocol ---------------------------------------------------------------------------------------

    def read(self, key: str) -> bytes:
        self._check(key)
        return self._plaintext(key, self.inner.read(key))

    def write(self, key: str, data: bytes) -> None:
        self._check(key)
        self.inner.write(key, self._seal(key, bytes(data), WHOLE))

    def create(self, key: str, data: bytes) -> bool:
        self._check(key)
        return self.inner.create(key, self._seal(key, bytes(data), WHOLE))

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
            records = list(iter_records(raw, key))
            memo: dict[str, AESGCM] = {}
            opened = [self._open(key, r, scope, memo) for r in records]
            # One line per record, each ending in a newline but perhaps the last: the inner store's lines are ours.
            framed = all(r.kind == LINE for r in records) and all(
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

    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        """The inner store's lock (a lock holds no data to encrypt)."""
        self._check(key)
        return self.inner.lock(key)


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
