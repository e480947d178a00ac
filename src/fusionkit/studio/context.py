"""Per-call request context, capacity limits and consent policies of a studio."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.errors import ParameterValueError

__all__ = ["AgeAttestation", "AllOf", "Capacity", "ConsentPolicy", "ConsentRequest", "ConsentToken", "RequestContext",
           "policy_label"]


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
    user_id
        The end user the call is for, in the host's own terms (an account id, say): the studio keeps only a keyed
        hash of it (``us_...``) on the results, jobs and log lines of the call, so that
        :meth:`Studio.subjects <fusionkit.studio.subjects.Subjects>` can export or erase everything about them.
    """

    app_id: str | None = attrs.field(default=None, validator=_optional_text)
    account_id: str | None = attrs.field(default=None, validator=_optional_text)
    sub_account_id: str | None = attrs.field(default=None, validator=_optional_text)
    client_ip: str | None = attrs.field(default=None, validator=_optional_text)
    reporting_ip: str | None = attrs.field(default=None, validator=_optional_text)
    region: str | None = attrs.field(default=None, validator=_optional_text)
    request_id: str | None = attrs.field(default=None, validator=_request_id)
    user_id: str | None = attrs.field(default=None, validator=_optional_text, repr=False)


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
        Every byte stored (activities, materials, results, video jobs and their results, the request log; as
        stored, so encrypted bytes when the studio encrypts), or ``None`` for no limit. Uploads, stored fusions and
        video jobs are refused past it; request log lines are never refused, they count.
    max_bytes_per_activity
        Bytes of one activity's materials, or ``None`` for no limit.

    Each tenant (app id) has these limits of its own. The check holds under concurrent calls: across threads and
    processes on local disk, across threads on object stores (:mod:`fusionkit.studio.capacity`).
    """

    max_materials: int | None = attrs.field(default=None, validator=_limit)
    max_bytes: int | None = attrs.field(default=None, validator=_limit)
    max_bytes_per_activity: int | None = attrs.field(default=None, validator=_limit)


@attrs.frozen(kw_only=True)
class ConsentRequest:
    """What a consent policy is asked about: the call's target, why it receives people's photos, the caller, and
    the consent the call carried.

    Attributes
    ----------
    activity_id, material_id
        The target (``material_id`` is ``None`` for an upload: the material does not exist yet).
    purpose
        ``"fuse"`` (a picture fusion), ``"video"`` (a video job) or ``"reference_faces"`` (photos of the people
        a video material follows).
    context
        The caller.
    consent
        What the call carried (``consent={...}``).
    """

    activity_id: str
    material_id: str | None
    context: RequestContext
    consent: Mapping[str, Any] | None
    purpose: str = "fuse"


#: A consent policy: return True to allow the call. Returning anything else, or raising, refuses it (the studio
#: fails closed). The request log names the policy by its ``name`` attribute (else its class or function name)
#: and ``version`` (else ``"1"``).
ConsentPolicy = Callable[[ConsentRequest], bool]


def policy_label(policy: ConsentPolicy) -> str:
    """``name@version`` of a consent policy, as the request log records it."""
    name = getattr(policy, "name", None) or getattr(policy, "__qualname__", None) or type(policy).__qualname__
    return f"{name}@{getattr(policy, 'version', '1')}"


@attrs.frozen(kw_only=True)
class ConsentToken:
    """Require ``consent={"token": ...}`` that ``verify(token)`` accepts (e.g. a signed token the host issued)."""

    verify: Callable[[str], bool]
    name: ClassVar[str] = "ConsentToken"
    version: ClassVar[str] = "1"

    def __call__(self, request: ConsentRequest) -> bool:
        token = (request.consent or {}).get("token")
        return isinstance(token, str) and self.verify(token) is True


@attrs.frozen
class AllOf:
    """Allow only what every one of ``policies`` allows (the log names them all)."""

    policies: tuple[ConsentPolicy, ...]

    @property
    def name(self) -> str:
        return "+".join(policy_label(p) for p in self.policies)

    version: ClassVar[str] = "all"

    def __call__(self, request: ConsentRequest) -> bool:
        return all(policy(request) is True for policy in self.policies)


@attrs.frozen(kw_only=True)
class AgeAttestation:
    """Require ``consent={"age_attested": n}`` with a whole number ``n >= min_age``."""

    min_age: int = 18
    name: ClassVar[str] = "AgeAttestation"

    @property
    def version(self) -> str:
        """The threshold is part of what decided: ``1-min18``."""
        return f"1-min{self.min_age}"

    def __call__(self, request: ConsentRequest) -> bool:
        age = (request.consent or {}).get("age_attested")
        return isinstance(age, int) and not isinstance(age, bool) and age >= self.min_age
