"""A request log record: the fields the service's privacy terms name."""

from __future__ import annotations

import math
from datetime import datetime
from typing import ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import JsonDocument, id_of, json_field, matches, optional_str, utc
from fusionkit.errors import ParameterValueError

__all__ = ["SERVICE_FIELDS", "LogRecord"]

#: The cloud service's names for the log fields its privacy terms list, and the record attribute each holds.
SERVICE_FIELDS = {
    "Timestamp": "timestamp", "AppId": "app_id", "Uin": "account_id", "SubAccountUin": "sub_account_id",
    "RequestId": "request_id", "ClientIp": "client_ip", "ReportIp": "reporting_ip", "TimeCost": "time_cost_ms",
    "Region": "region", "InterfaceName": "interface", "VideoUrl": "video_url", "ResultUrl": "result_url",
    "ImageUrl": "image_url",
}

def _milliseconds(value: float) -> float:
    return round(value, 3)



@attrs.frozen(kw_only=True)
class LogRecord(JsonDocument):
    """One line of the request log (the fields the service's privacy terms name).

    Attributes
    ----------
    timestamp
        When the call started (UTC).
    request_id
        ``rq_...``, given by the caller's request context or generated.
    interface
        The public call, e.g. ``"FuseFace"``, ``"UploadMaterial"``.
    time_cost_ms
        Wall time of the call in milliseconds.
    app_id, account_id, sub_account_id, client_ip, reporting_ip, region
        From the request context, when given.
    video_url, result_url, image_url
        URLs involved in the call, where they apply.
    error_code
        The error's stable code when the call failed, else ``None``.
    activity_id, material_id, result_id
        The objects the call referred to (so a data-subject erasure can find the line).
    consent
        For a call that received people's photos: the consent policy that decided and how
        (``"AgeAttestation@1-min18:allowed"``), or ``"not_checked"`` when the studio has none; ``None`` otherwise.
    subject
        The end user the call was for (``us_...``: the studio's keyed hash of the context's ``user_id``).
    models
        For a fusion a learned renderer or enhancer plug-in made: each model it ran and the licence its spec gives
        (``"inswapper_128.onnx: non-commercial research only; ..."``); ``None`` otherwise.
    """

    KIND: ClassVar[str] = "log_record"

    timestamp: datetime = attrs.field(converter=utc)
    request_id: str = attrs.field(validator=id_of(ids.REQUEST, "request"))
    interface: str = attrs.field(validator=matches(r"[A-Za-z][A-Za-z0-9]{0,63}"))
    time_cost_ms: float = attrs.field(converter=float, metadata=json_field(encode=_milliseconds))
    app_id: str | None = attrs.field(default=None, validator=optional_str)
    account_id: str | None = attrs.field(default=None, validator=optional_str)
    sub_account_id: str | None = attrs.field(default=None, validator=optional_str)
    client_ip: str | None = attrs.field(default=None, validator=optional_str)
    reporting_ip: str | None = attrs.field(default=None, validator=optional_str)
    region: str | None = attrs.field(default=None, validator=optional_str)
    video_url: str | None = attrs.field(default=None, validator=optional_str)
    result_url: str | None = attrs.field(default=None, validator=optional_str)
    image_url: str | None = attrs.field(default=None, validator=optional_str)
    error_code: str | None = attrs.field(default=None, validator=optional_str)
    activity_id: str | None = attrs.field(default=None, validator=optional_str)
    material_id: str | None = attrs.field(default=None, validator=optional_str)
    result_id: str | None = attrs.field(default=None, validator=optional_str)
    consent: str | None = attrs.field(default=None, validator=optional_str, metadata=json_field(omit_none=True))
    subject: str | None = attrs.field(default=None, validator=optional_str, metadata=json_field(omit_none=True))
    models: str | None = attrs.field(default=None, validator=optional_str, metadata=json_field(omit_none=True))

    @time_cost_ms.validator
    def _check_cost(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not math.isfinite(value) or value < 0:
            raise ParameterValueError(f"time_cost_ms must be finite and >= 0, got {value!r}")

    def to_service(self) -> dict[str, object]:
        """The record under the service's field names (:data:`SERVICE_FIELDS`, in that order): ``Timestamp`` as ISO
        8601 UTC text, ``TimeCost`` in milliseconds, absent values as ``None``."""
        out = self.to_dict()
        return {name: out.get(attribute) for name, attribute in SERVICE_FIELDS.items()}

    def refers_to(self, any_of: frozenset[str]) -> bool:
        """True when the record's request, activity, material, result or end-user id is in ``any_of``."""
        return bool({self.request_id, self.activity_id, self.material_id, self.result_id, self.subject} & any_of)
