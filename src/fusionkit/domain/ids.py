"""Identifiers of studio objects: ``<prefix>_<body>``, generated with :mod:`secrets`, validated before any use.

An id is two lower-case letters naming its kind (``ac`` activity, ``mt`` material, ``rs`` fused result, ``rq``
request, ``er`` erasure receipt, ``jb`` video job), an underscore, and 10-40 characters of ``[0-9A-Za-z]``.
Generated ids start with
eight characters of the creation time (milliseconds since 1970, base 62, which sorts in ASCII order) followed by
twelve random characters, so sorting ids sorts by creation time. Storage keys are built only from ids that
:func:`is_id` accepts: no slash, dot, percent sign, colon or scheme can reach a path.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

__all__ = ["ACTIVITY", "CLAIM", "ERASURE", "JOB", "MATERIAL", "REQUEST", "RESULT", "SUBJECT", "id_time", "is_id",
           "new_id"]

ACTIVITY = "ac"
MATERIAL = "mt"
RESULT = "rs"
REQUEST = "rq"
ERASURE = "er"
JOB = "jb"
#: An end user, as the studio keeps them: ``us_`` and a keyed hash of the host's user id (never the id itself).
SUBJECT = "us"
#: Bytes an upload, fusion or job holds against the studio's capacity while it writes them.
CLAIM = "cl"

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID = re.compile(r"([a-z]{2})_([0-9A-Za-z]{10,40})")
_TIME_CHARS = 8
_RANDOM_CHARS = 12


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str, now: datetime) -> str:
    """A fresh id of kind ``prefix`` created at ``now`` (a timezone-aware datetime)."""
    if not re.fullmatch(r"[a-z]{2}", prefix):
        raise ValueError(f"id prefix must be two lower-case letters, got {prefix!r}")
    ms = max(0, int(now.timestamp() * 1000))
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return f"{prefix}_{_base62(ms, _TIME_CHARS)}{rand}"


def is_id(value: object, prefix: str) -> bool:
    """True when ``value`` is a well-formed id of kind ``prefix`` (a plain ``str``, nothing else)."""
    if type(value) is not str:
        return False
    m = _ID.fullmatch(value)
    return m is not None and m.group(1) == prefix


def id_time(value: str) -> datetime:
    """The creation time encoded in a generated id (UTC, millisecond precision)."""
    body = value.split("_", 1)[1][:_TIME_CHARS]
    ms = 0
    for ch in body:
        ms = ms * 62 + _ALPHABET.index(ch)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
