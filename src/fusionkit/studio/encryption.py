"""Encryption at rest for a studio: which master key, whether a store is encrypted, and the migration of a plain one.

A studio encrypts what it stores (:class:`~fusionkit.storage.crypto.EncryptedStore`: AES-GCM, a data key per
material, per video job and per day of logs, each tenant with its own keyring) unless it is opened with
``encryption=None``. An encrypted store says so in ``encryption.json`` at its root, which names the master key's
id, so a studio opened with another key, or without encryption, is refused instead of writing a mix. By default
(``encryption="auto"``) a new store is encrypted under the default master key; a store that holds plain data from
before keeps working as it is, plain, until :func:`encrypt_studio` (``fusionkit --studio URL encrypt``) has run.

The default master key: the environment variable ``FUSIONKIT_MASTER_KEY`` (base64 of 32 bytes) when it is set,
else the file ``$FUSIONKIT_KEY_FILE``, else ``$XDG_CONFIG_HOME/fusionkit/master.key`` (``~/.config/...``), created
0600 on first use. Keep it out of the store and out of the store's backups.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fusionkit.errors import ParameterValueError, PlainObjectError, StorageError, WrongMasterKeyError
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound, open_store
from fusionkit.storage.crypto import EncryptedStore, EnvironmentKey, KeyProvider, LocalKeyFile, encrypt_store
from fusionkit.storage.prefixed import PrefixedStore

__all__ = ["default_key_file", "default_provider", "encrypt_studio", "encrypted_view", "resolve_encryption"]

_log = logging.getLogger("fusionkit.studio")


def default_key_file() -> Path:
    """``$FUSIONKIT_KEY_FILE``, else ``$XDG_CONFIG_HOME/fusionkit/master.key`` (``~/.config/fusionkit/...``)."""
    named = os.environ.get("FUSIONKIT_KEY_FILE")
    if named:
        return Path(named)
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "fusionkit" / "master.key"


def default_provider() -> KeyProvider:
    """The default master key: ``FUSIONKIT_MASTER_KEY`` when set, else the :func:`default_key_file`."""
    if os.environ.get("FUSIONKIT_MASTER_KEY"):
        return EnvironmentKey()
    return LocalKeyFile(default_key_file())


def _marker(root: BlobStore) -> dict[str, Any] | None:
    try:
        doc = json.loads(root.read(keys.ENCRYPTION_MARKER))
    except KeyNotFound:
        return None
    except ValueError:
        raise StorageError(f"{keys.ENCRYPTION_MARKER} at the studio's root is not JSON: restore it") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("master_key_id"), str):
        raise StorageError(f"{keys.ENCRYPTION_MARKER} at the studio's root names no master key: restore it")
    return doc


def _holds_data(root: BlobStore) -> bool:
    return any(root.list(folder) for folder in (*keys.ROOT_FOLDERS, keys.TENANTS, keys.AUDIT))


def _write_marker(root: BlobStore, provider: KeyProvider) -> None:
    doc = {"schema": 1, "kind": "encryption", "master_key_id": provider.key_id,
           "created": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
    root.write(keys.ENCRYPTION_MARKER, json.dumps(doc).encode())


def resolve_encryption(root: BlobStore, encryption: Any) -> KeyProvider | None:
    """The master key a studio over ``root`` encrypts with, or ``None`` for a plain studio; marks a new store.

    Parameters
    ----------
    root
        The studio's whole store.
    encryption
        ``"auto"``, ``None`` or a :class:`~fusionkit.storage.crypto.KeyProvider` (see :func:`fusionkit.open`).

    Raises
    ------
    ParameterValueError
        ``encryption`` is none of those, or ``None`` for a store that is encrypted.
    PlainObjectError
        A key provider was given for a store that holds plain data: migrate it first.
    WrongMasterKeyError
        The store is encrypted under another master key.
    MasterKeyError, KeyProviderError
        The master key cannot be had.
    """
    if encryption is not None and encryption != "auto" and not isinstance(encryption, KeyProvider):
        raise ParameterValueError("encryption must be 'auto', None or a key provider (LocalKeyFile, EnvironmentKey, "
                                  f"CallableKeys), got {encryption!r}")
    marker = _marker(root)
    if encryption is None:
        if marker is not None:
            raise ParameterValueError("this studio is encrypted at rest: open it with its master key "
                                      "(encryption='auto' or a key provider), not encryption=None")
        return None
    if marker is None and _holds_data(root):
        if encryption == "auto":
            _log.warning("fusionkit: this studio holds data stored before encryption; it stays plain until "
                         "`fusionkit --studio URL encrypt` has run")
            return None
        raise PlainObjectError("this studio holds data stored before encryption: encrypt it first with "
                               "`fusionkit --studio URL encrypt` (resumable), then open it with the key provider")
    provider: KeyProvider = default_provider() if encryption == "auto" else encryption
    key_id = provider.key_id
    if marker is None:
        _write_marker(root, provider)
    elif marker["master_key_id"] != key_id:
        raise WrongMasterKeyError(f"this studio is encrypted under master key {marker['master_key_id']}, not {key_id}:"
                                  " open it with the master key it was encrypted under")
    return provider


def encrypted_view(provider: KeyProvider | None, keyring: BlobStore | None = None
                   ) -> Callable[[BlobStore, str | None], BlobStore] | None:
    """How each tenant's store is seen by an encrypted studio (``None`` for a plain one): its own data keys, in
    ``keyring`` (the tenant's folder of it) when the keys are kept apart from the data, else beside it."""
    if provider is None:
        return None

    def view(inner: BlobStore, tenant: str | None) -> BlobStore:
        ring = keyring if keyring is None or tenant is None else PrefixedStore(keyring, f"{keys.TENANTS}/{tenant}")
        return EncryptedStore(inner, provider, keys.scope_of, keyring=ring)

    return view


def encrypt_studio(store: str | os.PathLike[str] | BlobStore, provider: KeyProvider | None = None,
                   progress: Callable[[str], None] | None = None, *,
                   storage_options: dict[str, Any] | None = None) -> int:
    """Encrypt a plain studio in place (the root's data, every tenant's, the audit trail), then mark it encrypted;
    returns how many objects it encrypted. Resumable: a run killed at any point leaves every object whole, and
    running again finishes the rest. Run it with no studio open on the store (``fusionkit --studio URL encrypt``).

    Parameters
    ----------
    store
        The studio's URL or path (or its store).
    provider
        The master key (default: :func:`default_provider`); open the studio with the same one afterwards.
    progress
        Called with each key once it is encrypted.

    Raises
    ------
    WrongMasterKeyError
        The store is already (partly) encrypted under another master key.
    """
    root = open_store(store, storage_options) if isinstance(store, (str, os.PathLike)) else store
    provider = provider or default_provider()
    marker = _marker(root)
    if marker is not None and marker["master_key_id"] != provider.key_id:
        raise WrongMasterKeyError(f"this studio is encrypted under master key {marker['master_key_id']}, not "
                                  f"{provider.key_id}")
    done = encrypt_store(root, provider, keys.scope_of, progress, prefixes=(*keys.ROOT_FOLDERS, keys.AUDIT))
    for tenant in root.list(keys.TENANTS):
        if tenant.startswith("t_"):
            done += encrypt_store(PrefixedStore(root, f"{keys.TENANTS}/{tenant}"), provider, keys.scope_of, progress)
    if marker is None:
        _write_marker(root, provider)
    return done
