"""A fused result: one stored (or returned) fusion into a material."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import (
    JsonDocument,
    count,
    id_of,
    json_field,
    json_scalar_map,
    one_of,
    optional_id_of,
    utc,
    utc_or_none,
)

__all__ = ["FusedResult"]

@attrs.frozen(kw_only=True)
class FusedResult(JsonDocument):
    """The outcome of :meth:`fusionkit.studio.Studio.fuse`.

    Attributes
    ----------
    id, activity_id, material_id, request_id
        ``rs_...``, the activity and material fused into, and the request that made it.
    subject
        The end user it was made for (``us_...``, a keyed hash of the context's ``user_id``), or ``None``.
    created
        UTC timestamp.
    expires
        When the stored copy expires (created + the retention policy's image-result period), or ``None`` when
        the result was not stored.
    format
        ``"jpeg"`` or ``"png"``.
    size
        Encoded bytes, or 0 when nothing was encoded (``response="array"`` without storage).
    url
        The stored copy's URL, or ``None``.
    parameters
        What was used: degrees, template face indices, response kind.
    response
        ``"url"``, ``"base64"``, ``"bytes"`` or ``"array"``: what :attr:`payload` holds.
    payload
        The URL (str), base64 text (str), encoded bytes, or an RGB uint8 array; never written to JSON.
    """

    KIND: ClassVar[str] = "fused_result"

    id: str = attrs.field(validator=id_of(ids.RESULT, "result"))
    activity_id: str = attrs.field(validator=id_of(ids.ACTIVITY, "activity"))
    material_id: str = attrs.field(validator=id_of(ids.MATERIAL, "material"))
    request_id: str | None = attrs.field(default=None, validator=optional_id_of(ids.REQUEST, "request"))
    subject: str | None = attrs.field(default=None, validator=optional_id_of(ids.SUBJECT, "end user"),
                                      metadata=json_field(omit_none=True))
    created: datetime = attrs.field(converter=utc)
    expires: datetime | None = attrs.field(default=None, converter=utc_or_none)
    format: str = attrs.field(validator=one_of("jpeg", "png"))
    size: int = attrs.field(default=0, validator=count, metadata=json_field(required=True))
    url: str | None = attrs.field(default=None)
    parameters: dict[str, Any] = attrs.field(factory=dict, converter=json_scalar_map, hash=False)
    response: str = attrs.field(default="url", validator=one_of("url", "base64", "bytes", "array"))
    payload: Any = attrs.field(default=None, eq=False, hash=False, repr=False, metadata=json_field(stored=False))

    def is_expired(self, now: datetime) -> bool:
        """True when a stored copy has expired at ``now``."""
        return self.expires is not None and now >= self.expires
