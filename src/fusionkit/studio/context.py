"""Per-call request context, capacity limits and consent policies of a studio."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from fusionkit.domain import ids
from fusionkit.errors import ParameterValueError

__all__ = ["AgeAttestation", "Capacity", "ConsentPolicy", "ConsentRequest", "ConsentToken", "RequestContext"]


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 256 or not value.isprintable()):
        raise ParameterValueError(f"{attribute.name} must be 1-256 printable characters or None, got {value!r}")


def _request_id(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not ids.is_id(value, ids.REQUEST):
        raise ParameterValueError(f"request_id must be a request id rq_<10-40 letters or digits>, got {value!r}")


@attrs.frozen(kw_only=True)
class RequestContext:
    """Who is calling, for the request log: pass one per call (``context=``) or for a block of calls
    (``with studio.request_context(ctx):``).

    Attributes
    ----------
    app_id, account_id, sub_account_id
        The caller's identity in the host application.
    client_ip, reporting_ip
        The end user's IP address and the IP of the service that reported the call.
    region
        Where the call is served.
    request_id
        ``rq_...`` to correlate with the host's own logs; generated per call when ``None``.
    """

    app_id: str | None = attrs.field(default=None, validator=_optional_text)
    account_id: str | None = attrs.field(default=None, validator=_optional_text)
    sub_account_id: str | None = attrs.field(default=None, validator=_optional_text)
    client_ip: str | None = attrs.field(default=None, validator=_optional_text)
    reporting_ip: str | None = attrs.field(default=None, validator=_optional_text)
    region: str | None = attrs.field(default=None, validator=_optional_text)
    request_id: str | None = attrs.field(default=None, validator=_request_id)


def _limit(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ParameterValueError(f"{attribute.name} must be a whole number >= 1 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class Capacity:
    """The most a studio stores; an upload that would exceed it is refused with
    :class:`~fusionkit.errors.CapacityExceededError`.

    Attributes
    ----------
    max_materials
        Materials across all activities, or ``None`` for no limit.
    max_bytes
        Bytes under ``materials/`` (sources and their documents), or ``None`` for no limit.

    Two processes uploading at the very same moment can each pass the check; the limit is exact for one process.
    """

    max_materials: int | None = attrs.field(default=None, validator=_limit)
    max_bytes: int | None = attrs.field(default=None, validator=_limit)


@attrs.frozen(kw_only=True)
class ConsentRequest:
    """What a consent policy is asked about: the fusion's target, the caller, and the consent the call carried."""

    activity_id: str
    material_id: str
    context: RequestContext
    consent: Mapping[str, Any] | None


#: A consent policy: return True to allow the fusion. Returning anything else, or raising, refuses it
#: (the studio fails closed).
ConsentPolicy = Callable[[ConsentRequest], bool]


@attrs.frozen(kw_only=True)
class ConsentToken:
    """Require ``consent={"token": ...}`` that ``verify(token)`` accepts (e.g. a signed token the host issued)."""

    verify: Callable[[str], bool]

    def __call__(self, request: ConsentRequest) -> bool:
        token = (request.consent or {}).get("token")
        return isinstance(token, str) and self.verify(token) is True


@attrs.frozen(kw_only=True)
class AgeAttestation:
    """Require ``consent={"age_attested": n}`` with a whole number ``n >= min_age``."""

    min_age: int = 18

    def __call__(self, request: ConsentRequest) -> bool:
        age = (request.consent or {}).get("age_attested")
        return isinstance(age, int) and not isinstance(age, bool) and age >= self.min_age
