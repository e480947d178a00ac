"""``studio.activities``: create, get, list, rename and delete activities (``activities/{activity_id}.json``)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import attrs

from fusionkit.domain import ids
from fusionkit.domain.studio import Activity, ErasureReceipt
from fusionkit.errors import ActivityIdNotFoundError
from fusionkit.storage import keys
from fusionkit.studio.common import Calls, load_activity, need_activity, write_doc
from fusionkit.studio.context import RequestContext
from fusionkit.studio.retention import RetentionRules

if TYPE_CHECKING:
    from fusionkit.studio.studio import Studio

__all__ = ["Activities"]


@attrs.define(eq=False)
class Activities:
    """``studio.activities``: create, get, list, rename, delete."""

    _studio: Studio
    _calls: Calls
    _rules: RetentionRules

    def create(self, name: str, *, fuse_face_degree: float | None = None, fuse_profile_degree: float | None = None,
               context: RequestContext | None = None) -> Activity:
        """Create an activity named ``name`` (any printable text; never part of a storage key)."""
        s = self._studio
        with self._calls("CreateActivity", context) as (call, _):
            now = s.now()
            activity = Activity(id=ids.new_id(ids.ACTIVITY, now), name=name, created=now, updated=now,
                                fuse_face_degree=fuse_face_degree, fuse_profile_degree=fuse_profile_degree)
            call.refs["activity_id"] = activity.id
            write_doc(s.store, keys.activity_doc(activity.id), activity)
            return activity

    def get(self, activity_id: str, *, context: RequestContext | None = None) -> Activity:
        """The activity; :class:`~fusionkit.errors.ActivityIdNotFoundError` when there is none."""
        s = self._studio
        with self._calls("DescribeActivity", context) as (call, _):
            call.refs["activity_id"] = activity_id = need_activity(activity_id)
            return load_activity(s.store, activity_id)

    def list(self, *, context: RequestContext | None = None) -> list[Activity]:
        """Every activity, oldest first."""
        s = self._studio
        with self._calls("DescribeActivityList", context):
            out = []
            for name in s.store.list(keys.ACTIVITIES):
                aid = name[:-5] if name.endswith(".json") else ""
                if ids.is_id(aid, ids.ACTIVITY):
                    with contextlib.suppress(ActivityIdNotFoundError):
                        out.append(load_activity(s.store, aid))
            return out

    def rename(self, activity_id: str, name: str, *, context: RequestContext | None = None) -> Activity:
        """Give the activity a new name."""
        s = self._studio
        with self._calls("ModifyActivity", context) as (call, _):
            call.refs["activity_id"] = activity_id = need_activity(activity_id)
            activity = attrs.evolve(load_activity(s.store, activity_id), name=name, updated=s.now())
            write_doc(s.store, keys.activity_doc(activity_id), activity)
            return activity

    def delete(self, activity_id: str, *, context: RequestContext | None = None) -> ErasureReceipt:
        """Delete the activity with its materials, their faces and sources, and every result made from them."""
        s = self._studio
        with self._calls("DeleteActivity", context) as (call, request_id):
            call.refs["activity_id"] = activity_id = need_activity(activity_id)
            load_activity(s.store, activity_id)
            counts = self._rules.erase_activity(activity_id)
            return self._rules.audit.receipt("activity_deleted", request_id, (activity_id,), counts)
