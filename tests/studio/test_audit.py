"""The audit trail: every deletion, erasure, sweep that removed something and retention change leaves a record
with ids and counts and the receipt, no personal data; erasures leave it alone; it expires after its own period."""

from __future__ import annotations

from datetime import timedelta

import pytest

import fusionkit
from fusionkit.domain import RetentionPolicy
from fusionkit.errors import ParameterValueError
from fusionkit.storage import keys
from fusionkit.studio import RequestContext
from tests.studio.conftest import photo

CTX = RequestContext(client_ip="203.0.113.7", account_id="acct-9", request_id="rq_auditrequest0001")


def window(clock):
    return clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)


def test_deletions_and_erasures_are_recorded_with_their_receipts_and_nothing_personal(studio, clock) -> None:
    activity = studio.activities.create("audited")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    erased = studio.erase(result_ids=[result.id], context=CTX)
    deleted = studio.materials.delete(material.id, context=RequestContext(request_id="rq_auditrequest0002"))
    gone = studio.activities.delete(activity.id)
    records = studio.audit(*window(clock))
    assert [r.kind for r in records] == ["erasure", "material_deleted", "activity_deleted"]
    for record, receipt in zip(records, (erased, deleted, gone), strict=True):
        assert record.receipt_id == receipt.id and record.counts == receipt.counts
        assert record.subject_ids == receipt.subject_ids
    assert records[0].request_id == "rq_auditrequest0001" and records[1].request_id == "rq_auditrequest0002"
    raw = b"".join(studio.store.read(keys.audit_file(clock.now.date())).splitlines())
    assert b"203.0.113.7" not in raw and b"acct-9" not in raw and b"://" not in raw
    # An erasure of everything about the request leaves the trail: it is the proof.
    studio.erase(request_ids=["rq_auditrequest0001"])
    assert [r.kind for r in studio.audit(*window(clock))][:3] == ["erasure", "material_deleted", "activity_deleted"]


def test_sweeps_that_remove_something_and_retention_changes_are_recorded(studio, clock) -> None:
    activity = studio.activities.create("audited")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    studio.fuse(activity.id, material.id, photo("biden.jpg"))
    studio.sweep()  # nothing expired: nothing to record
    assert studio.audit(*window(clock), kind="sweep") == []
    studio.retention = RetentionPolicy(image_results=timedelta(hours=1))
    clock.advance(hours=2)
    assert studio.sweep()["results"] == 1
    (sweep,) = studio.audit(clock.now - timedelta(hours=3), clock.now + timedelta(minutes=1), kind="sweep")
    assert sweep.counts["results"] == 1 and sweep.request_id is not None
    (change,) = studio.audit(clock.now - timedelta(hours=3), clock.now, kind="retention_changed")
    assert change.detail["old"]["image_results_s"] == 7 * 86400 and change.detail["new"]["image_results_s"] == 3600
    with pytest.raises(ParameterValueError, match="RetentionPolicy"):
        studio.retention = {"image_results": 3600}  # type: ignore[assignment]


def test_the_trail_expires_after_its_own_period_and_each_tenant_sees_its_own(clock) -> None:
    studio = fusionkit.open("memory://audit-expiry", clock=clock, video_workers=0, sweep_every=None,
                            retention=RetentionPolicy(audit=timedelta(days=30)))
    a = RequestContext(app_id="app-a")
    activity = studio.activities.create("a", context=a)
    studio.activities.delete(activity.id, context=a)
    other = studio.activities.create("root")
    studio.activities.delete(other.id)
    assert [r.tenant for r in studio.audit(*window(clock))] == [keys.tenant_id("app-a"), None]  # the operator
    assert [r.tenant for r in studio.audit(*window(clock), context=a)] == [keys.tenant_id("app-a")]
    clock.advance(days=30)
    assert studio.sweep()["audit_records"] == 0  # kept the whole period (whole days go at once, a day later)
    clock.advance(days=1)
    assert studio.sweep()["audit_records"] == 2
    assert studio.audit(clock.now - timedelta(days=40), clock.now, kind="activity_deleted") == []
