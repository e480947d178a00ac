"""The encrypted object format: the records an :class:`~fusionkit.storage.crypto.EncryptedStore` stores.

The layout is described in :mod:`fusionkit.storage.crypto` ("What is stored"). In short, a binary record is
:data:`MAGIC`, the format version (1), its kind (:data:`WHOLE` or :data:`LINE`), the scope's length and the scope,
the data key's id (8 bytes), the ciphertext's length, a :data:`NONCE_BYTES`-byte nonce, then the AES-GCM ciphertext
and tag; an appended object is lines of :data:`LINE_MAGIC`, the base64 of a record of kind :data:`LINE` and a
newline. The associated data (:func:`object_aad`) binds each record to its storage key and header.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterator
from typing import NamedTuple

from fusionkit.errors import EncryptedObjectError

__all__ = [
    "LINE",
    "LINE_MAGIC",
    "MAGIC",
    "NONCE_BYTES",
    "WHOLE",
    "Record",
    "build_header",
    "is_encrypted",
    "iter_records",
    "object_aad",
    "parse_record",
]

NONCE_BYTES = 12
MAGIC = b"\x93FKE"
LINE_MAGIC = b"\x93FKL"
_VERSION = 1
#: The kinds of record: an object written whole, a line of an appended one.
WHOLE, LINE = b"W", b"L"
# magic, version, kind, scope length; then the scope, the data key id (8 bytes), the ciphertext length.
_FIXED = struct.Struct(">4sBcB")
_TAIL = struct.Struct(">8sQ")
_OBJECT_AAD = b"fusionkit object v1\x00"


class Record(NamedTuple):
    """One record of an encrypted object, as :func:`parse_record` reads it: its kind (:data:`WHOLE` or
    :data:`LINE`), the scope and data key id it names, its header bytes (part of the associated data), the nonce
    and the ciphertext with its tag (views into the stored bytes)."""

    kind: bytes
    scope: str
    key_id: str
    header: bytes
    nonce: memoryview
    ciphertext: memoryview


def is_encrypted(raw: bytes) -> bool:
    """Whether stored bytes are an encrypted object (they start with a record's magic)."""
    return raw[:4] in (MAGIC, LINE_MAGIC)


def build_header(kind: bytes, scope: str, key_id: str, plain_length: int) -> bytes:
    """The header of a record of ``kind`` encrypting ``plain_length`` bytes under the data key ``key_id`` (16 hex
    digits) of ``scope``."""
    name = scope.encode()
    return (_FIXED.pack(MAGIC, _VERSION, kind, len(name)) + name
            + _TAIL.pack(bytes.fromhex(key_id), plain_length + 16))


def parse_record(buf: memoryview, pos: int, key: str) -> tuple[Record, int]:
    """The binary record at ``pos`` and where the next one starts."""
    def bad(why: str) -> EncryptedObjectError:
        return EncryptedObjectError(f"the encrypted object {key!r} is {why}: restore it from a backup or delete it")

    if len(buf) - pos < _FIXED.size:
        raise bad("truncated")
    magic, version, kind, name_length = _FIXED.unpack_from(buf, pos)
    if magic != MAGIC:
        raise bad("damaged (no record header where one should start)")
    if version != _VERSION:
        raise EncryptedObjectError(f"the encrypted object {key!r} has format version {version}, newer than this "
                                   "fusionkit reads: upgrade fusionkit")
    start = pos + _FIXED.size
    if kind not in (WHOLE, LINE) or len(buf) - start < name_length + _TAIL.size:
        raise bad("damaged or truncated")
    try:
        scope = bytes(buf[start:start + name_length]).decode("ascii")
    except UnicodeDecodeError:
        raise bad("damaged (its scope is not text)") from None
    key_id, length = _TAIL.unpack_from(buf, start + name_length)
    body = start + name_length + _TAIL.size
    end = body + NONCE_BYTES + length
    if end > len(buf):
        raise bad("truncated")
    record = Record(kind, scope, key_id.hex(), bytes(buf[pos:body]), buf[body:body + NONCE_BYTES],
                     buf[body + NONCE_BYTES:end])
    return record, end


def iter_records(raw: bytes, key: str) -> Iterator[Record]:
    """Every record of a stored object, in order: binary ones, then (or only) base64 lines."""
    buf = memoryview(raw)
    pos = 0
    while pos < len(raw):
        if raw.startswith(MAGIC, pos):
            record, pos = parse_record(buf, pos, key)
            yield record
        elif raw.startswith(LINE_MAGIC, pos):
            end = raw.find(b"\n", pos)
            if end < 0:
                raise EncryptedObjectError(f"the encrypted object {key!r} ends in a truncated line: restore it "
                                           "from a backup, or drop the line")
            text = raw[pos + len(LINE_MAGIC):end]
            try:
                inner = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged") from None
            if base64.b64encode(inner) != text:  # a changed padding bit decodes to the same bytes: still a change
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged")
            record, used = parse_record(memoryview(inner), 0, key)
            if used != len(inner) or record.kind != LINE:
                raise EncryptedObjectError(f"a line of the encrypted object {key!r} is damaged")
            yield record
            pos = end + 1
        else:
            raise EncryptedObjectError(f"the encrypted object {key!r} holds unencrypted bytes at offset {pos}: "
                                       "something wrote to it without encryption; restore it or delete it")


def object_aad(key: str, header: bytes) -> bytes:
    """The associated data of a record stored at ``key``: the storage key and the record's header."""
    return _OBJECT_AAD + key.encode() + b"\x00" + header
