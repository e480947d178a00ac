"""What every studio document shares: the schema version, JSON derived from attrs fields (:class:`JsonDocument`,
:func:`json_field`), statuses with the service's values (:class:`Status`) and the value checks the documents use.

Every document is frozen and validated on construction, and round-trips through JSON with ``to_json`` /
``from_json``. Each JSON document carries ``"schema"`` (:data:`SCHEMA_VERSION`) and ``"kind"``; a document
of a newer schema or another kind is refused with :class:`~fusionkit.errors.StorageError`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import attrs

from fusionkit.domain import ids
from fusionkit.errors import FusionKitError, ParameterValueError, StorageError

_T = TypeVar("_T")

#: The version written into every JSON document; readers accept this version and older ones.
SCHEMA_VERSION = 1


def utc(value: Any) -> datetime:
    """A timezone-aware UTC datetime from a datetime or ISO 8601 text (a naive value is refused)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterValueError(f"expected an ISO 8601 timestamp, got {value!r}") from None
    if not isinstance(value, datetime):
        raise ParameterValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ParameterValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(timezone.utc)


def utc_or_none(value: Any) -> datetime | None:
    """:func:`utc`, or None."""
    return None if value is None else utc(value)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text with ``Z`` for UTC, or None."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def id_of(prefix: str, what: str) -> Any:
    """An attrs validator: the value is an id with ``prefix`` (``what`` names it in the error)."""
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not ids.is_id(value, prefix):
            raise ParameterValueError(f"{attribute.name} must be a {what} id ({prefix}_...), got {value!r}")

    return check


def optional_id_of(prefix: str, what: str) -> Any:
    """:func:`id_of`, or None."""
    inner = id_of(prefix, what)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def valid_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: 1-200 printable characters."""
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not value.isprintable():
        raise ParameterValueError(f"{attribute.name} must be 1-200 printable characters, got {value!r}")


def degree_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: a fusion degree within 0-100, or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ParameterValueError(f"{attribute.name} must be within 0-100 or None, got {value!r}")


def one_of(*allowed: str) -> Any:
    """An attrs validator: the value is one of ``allowed``."""
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            raise ParameterValueError(f"{attribute.name} must be one of {allowed}, got {value!r}")

    return check


class Status(str, enum.Enum):
    """A status with the service's string value; compares equal to it and prints as it."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


_S = TypeVar("_S", bound=Status)


def status_of(kind: type[_S], value: Any) -> _S:
    """``value`` as a member of the status enum ``kind``; :class:`~fusionkit.errors.ParameterValueError` names the
    allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = tuple(m.value for m in kind)
        raise ParameterValueError(f"status must be one of {allowed}, got {value!r}") from None


def matches(pattern: str) -> Any:
    """An attrs validator: a string matching ``pattern`` whole."""
    compiled = re.compile(pattern)

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ParameterValueError(f"{attribute.name} must match {pattern}, got {value!r}")

    return check


def count(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterValueError(f"{attribute.name} must be a whole number >= 0, got {value!r}")


def check_doc(data: Mapping[str, Any], kind: str) -> None:
    """Refuse a document of a newer schema or another kind (:class:`~fusionkit.errors.StorageError`)."""
    if not isinstance(data, Mapping):
        raise StorageError(f"a {kind} document must be a JSON object")
    if data.get("kind") != kind:
        raise StorageError(f"expected a {kind} document, got kind {data.get('kind')!r}")
    schema = data.get("schema")
    if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
        raise StorageError(f"{kind} document has schema {schema!r}; this fusionkit reads 1-{SCHEMA_VERSION}")


def loads(text: str | bytes) -> Any:
    """Parse JSON text; :class:`~fusionkit.errors.StorageError` when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"not a JSON document: {exc}") from None


def json_field(key: str | None = None, *, encode: Any = None, decode: Any = None, omit_none: bool = False,
               stored: bool = True, required: bool = False) -> dict[str, Any]:
    """attrs field metadata for :class:`JsonDocument`'s derived JSON: the document's ``key`` when it differs from the
    field's name, an ``encode``/``decode`` pair for a value the generic rules do not cover, ``omit_none`` to leave
    the key out when the value is None, ``stored=False`` for a field that never goes to JSON, ``required`` for a
    field with a default that a document must still carry."""
    return {"json": {"key": key, "encode": encode, "decode": decode, "omit_none": omit_none, "stored": stored,
                     "required": required}}


_NO_META: dict[str, Any] = {"key": None, "encode": None, "decode": None, "omit_none": False, "stored": True,
                            "required": False}


def encode_value(value: Any) -> Any:
    """A field's value as JSON: datetimes as ISO text (``Z``), periods as seconds, enums as their values, nested
    values by their ``to_dict``, sequences as lists and mappings as plain dicts."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value


class JsonDocument:
    """JSON documents derived once from the attrs fields (in their order, after ``schema`` and ``kind``), with
    :func:`json_field` metadata where a key, an encoding or an omission differs; ``to_json``/``from_json`` over
    ``to_dict``/``from_dict``. Reading takes every field it finds and leaves missing optional ones at their
    defaults (documents written before a field existed still read)."""

    KIND: ClassVar[str] = ""

    def _header(self) -> dict[str, Any]:
        """Keys written after ``schema`` and ``kind``, derived from the value (none by default)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.KIND, **self._header()}
        for f in attrs.fields(type(self)):  # type: ignore[arg-type]
            meta = f.metadata.get("json", _NO_META)
            if not meta["stored"]:
                continue
            value = getattr(self, f.name)
            if value is None and meta["omit_none"]:
                continue
            out[meta["key"] or f.name] = meta["encode"](value) if meta["encode"] and value is not None \
                else encode_value(value)
        return out

    @classmethod
    def from_dict(cls: type[_T], data: Mapping[str, Any]) -> _T:
        check_doc(data, cls.KIND)  # type: ignore[attr-defined]
        kwargs: dict[str, Any] = {}
        for f in attrs.fields(cls):  # type: ignore[arg-type]
            meta = f.metadata.get("json", _NO_META)
            if not meta["stored"] or not f.init:
                continue
            key = meta["key"] or f.name
            if key in data:
                value = data[key]
                kwargs[f.name] = meta["decode"](value) if meta["decode"] and value is not None else value
            elif f.default is attrs.NOTHING or meta["required"]:
                raise KeyError(key)
        return cls(**kwargs)

    def to_json(self) -> str:
        """The value as a compact JSON document (with ``schema`` and ``kind``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls: type[_T], text: str | bytes) -> _T:
        """Rebuild the value from :meth:`to_json`'s output."""
        try:
            return cls.from_dict(loads(text))  # type: ignore[attr-defined, no-any-return]
        except FusionKitError:
            raise
        except (KeyError, TypeError) as exc:
            raise StorageError(f"incomplete {cls.__name__} document: {exc!r}") from None
        except (ValueError, OverflowError) as exc:  # a field no value of its kind can hold
            raise StorageError(f"invalid {cls.__name__} document: {exc}") from None


def json_scalar_map(value: Any) -> dict[str, Any]:
    """A mapping of string keys to JSON scalars (and lists of them), as a plain dict."""
    if not isinstance(value, Mapping):
        raise ParameterValueError(f"parameters must be a mapping, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ParameterValueError(f"parameter names must be strings, got {k!r}")
        if v is not None and not isinstance(v, (str, int, float, bool, list)):
            raise ParameterValueError(f"parameter {k} must be a JSON scalar or list, got {type(v).__name__}")
        out[k] = v
    return out


def optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """An attrs validator: a string of at most 2048 characters, or None."""
    if value is not None and (not isinstance(value, str) or len(value) > 2048):
        raise ParameterValueError(f"{attribute.name} must be a string of at most 2048 characters or None")
