"""An activity: a named group of materials (a campaign) with default fusion degrees."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from fusionkit.domain import ids
from fusionkit.domain.documents import JsonDocument, degree_or_none, id_of, utc, valid_name

__all__ = ["Activity"]

@attrs.frozen(kw_only=True)
class Activity(JsonDocument):
    """A named group of materials (a campaign), with default fusion degrees for its materials.

    Attributes
    ----------
    id
        ``ac_...``.
    name
        1-200 printable characters, for people; never part of a storage key.
    created, updated
        UTC timestamps.
    fuse_face_degree, fuse_profile_degree
        0-100 defaults for fusions into this activity's materials, or ``None`` for the library's.
    """

    KIND: ClassVar[str] = "activity"

    id: str = attrs.field(validator=id_of(ids.ACTIVITY, "activity"))
    name: str = attrs.field(validator=valid_name)
    created: datetime = attrs.field(converter=utc)
    updated: datetime = attrs.field(converter=utc)
    fuse_face_degree: float | None = attrs.field(default=None, validator=degree_or_none)
    fuse_profile_degree: float | None = attrs.field(default=None, validator=degree_or_none)
