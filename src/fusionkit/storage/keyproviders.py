"""Key providers: what holds the master key that wraps an encrypted store's data keys.

:class:`KeyProvider` is the protocol :class:`~fusionkit.storage.crypto.EncryptedStore` asks; :class:`LocalKeyFile`
(the default: a 0600 file of 32 random bytes), :class:`EnvironmentKey` (a base64 variable) and :class:`CallableKeys`
(the host's KMS) implement it. :class:`MasterKey` is the AES-GCM wrapping the first two share. The store and its
format are described in :mod:`fusionkit.storage.crypto`, which re-exports every public name of this module but
:class:`MasterKey`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fusionkit.errors import MasterKeyError

__all__ = [
    "KEY_BYTES",
    "CallableKeys",
    "EnvironmentKey",
    "KeyProvider",
    "LocalKeyFile",
    "MasterKey",
    "master_key_id",
]

#: The length of a master key and of a data key (AES-256).
KEY_BYTES = 32
_NONCE = 12  # of a wrapped data key (the object format's nonce, envelope.NONCE_BYTES, is its own)
_WRAP_AAD = b"fusionkit data key v1\x00"


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
class MasterKey:
    """AES-GCM key wrapping under a master key: a random nonce, then the wrapped key and tag (60 bytes).

    What :class:`LocalKeyFile` and :class:`EnvironmentKey` hold once their key is read; ``MasterKey.of(raw)``
    makes one from the 32 bytes of a master key.
    """

    aead: AESGCM
    key_id: str

    @classmethod
    def of(cls, master_key: bytes) -> MasterKey:
        return cls(AESGCM(master_key), master_key_id(master_key))

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self.aead.encrypt(nonce, data_key, _WRAP_AAD + scope.encode())

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self.aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _WRAP_AAD + scope.encode())


def _abspath(value: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(os.fspath(value)))


class _HeldMasterKey:
    """A provider whose master key is here, in this process (a file, a variable): wraps with :class:`MasterKey`."""

    def _master(self) -> MasterKey:
        raise NotImplementedError

    @property
    def key_id(self) -> str:
        return self._master().key_id

    def wrap(self, data_key: bytes, scope: str) -> bytes:
        return self._master().wrap(data_key, scope)

    def unwrap(self, wrapped: bytes, scope: str) -> bytes:
        return self._master().unwrap(wrapped, scope)


@attrs.define
class LocalKeyFile(_HeldMasterKey):
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
    _key: MasterKey | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def _master(self) -> MasterKey:
        with self._lock:
            if self._key is None:
                self._key = MasterKey.of(self._load())
            return self._key

    def __getstate__(self) -> dict[str, object]:
        """Pickled (for a cluster's workers) as where the key is, never the key: each process reads the file."""
        return {"path": self.path, "create": self.create}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state)  # type: ignore[misc]

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
class EnvironmentKey(_HeldMasterKey):
    """The master key in an environment variable: 32 bytes in base64 (read on first use).

    Make one with ``python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"``.

    Raises
    ------
    MasterKeyError
        On first use: the variable is unset, not base64, or not 32 bytes long.
    """

    variable: str = "FUSIONKIT_MASTER_KEY"
    _key: MasterKey | None = attrs.field(default=None, init=False, repr=False)

    def __getstate__(self) -> dict[str, object]:
        """Pickled (for a cluster's workers) as the variable's name, never the key: each process reads its own."""
        return {"variable": self.variable}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _master(self) -> MasterKey:
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
            self._key = MasterKey.of(raw)
        return self._key


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
