"""Hostile ids never reach storage; failures in the middle of a write leave no partial object or dangling
reference; retention hides and then removes expired results and log lines."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

import fusionkit
from fusionkit.errors import (
    ActivityIdNotFoundError,
    FusionKitError,
    MaterialIdNotFoundError,
    ParameterValueError,
    ResultIdNotFoundError,
)
from fusionkit.storage import keys as key_layout
from fusionkit.studio import LOGGER_NAME, RequestContext

from .conftest import photo, photo_bytes, stored_keys

HOSTILE = ["../x", "a/b", "%2e%2e", "simplecache::file:///etc/passwd", "http://169.254.169.254/", "",
           "ac_../../../../x", "mt_abc/def/ghi", "ac_0123456789\n", None, 12, b"ac_0123456789"]


class SpyStore:
    """Wraps a store and records every call with its key."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name):
        target = getattr(self.inner, name)

        def call(key, *args, **kwargs):
            self.calls.append((name, key))
            return target(key, *args, **kwargs)

        return call


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_ids_are_refused_before_any_storage_call(studio, bad):
    spy = SpyStore(studio.root)
    studio.root = spy
    calls = [
        (ActivityIdNotFoundError, lambda: studio.activities.get(bad)),
        (ActivityIdNotFoundError, lambda: studio.activities.rename(bad, "x")),
        (ActivityIdNotFoundError, lambda: studio.activities.delete(bad)),
        (ActivityIdNotFoundError, lambda: studio.materials.upload(bad, b"\xff\xd8\xff")),
        (ActivityIdNotFoundError, lambda: studio.materials.list(bad)),
        (MaterialIdNotFoundError, lambda: studio.materials.get(bad)),
        (MaterialIdNotFoundError, lambda: studio.materials.delete(bad)),
        (ActivityIdNotFoundError, lambda: studio.fuse(bad, "mt_0123456789ab", b"")),
        (MaterialIdNotFoundError, lambda: studio.fuse("ac_0123456789ab", bad, b"")),
        (ResultIdNotFoundError, lambda: studio.results.get(bad)),
        (ResultIdNotFoundError, lambda: studio.results.read(bad)),
        (MaterialIdNotFoundError, lambda: studio.erase(material_ids=[bad])),
        (ValueError, lambda: studio.erase(request_ids=[bad])),
    ]
    for error, call in calls:
        with pytest.raises(error):
            call()
    # The only storage calls are the request-log appends of the refused calls (and, in an encrypted studio, the
    # data key of the day's log), and they carry no bad id.
    logged = [key for op, key in spy.calls if op == "append"]
    assert logged and all(key.startswith("logs/") for key in logged)
    assert all(op == "append" or key.startswith("keyring/") for op, key in spy.calls), spy.calls
    studio.root = spy.inner
    for line in studio.store.read(logged[0]).decode().splitlines():
        assert (bad not in line) if isinstance(bad, str) and len(bad) > 3 else True


def test_keys_refuse_anything_but_ids():
    with pytest.raises(FusionKitError):
        key_layout.material_doc("../x")
    with pytest.raises(FusionKitError):
        key_layout.activity_doc("ac_0123456789/..")


class Boom(Exception):
    pass


class Patched:
    """A store with some methods replaced."""

    def __init__(self, inner, **overrides):
        self.inner = inner
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def patch_store(studio, monkeypatch, **overrides):
    monkeypatch.setattr(studio, "root", Patched(studio.root, **overrides))


def fail_on(studio, monkeypatch, fragment: str):
    """Make the store's writes of keys containing ``fragment`` raise."""
    real = studio.root.write

    def write(key, data):
        if fragment in key:
            raise Boom(f"injected failure writing {key}")
        return real(key, data)

    patch_store(studio, monkeypatch, write=write)


@pytest.mark.parametrize("fragment", ["source.", "material.json", "/materials/mt_"])
def test_a_failed_upload_leaves_nothing_behind(studio, monkeypatch, fragment):
    a = studio.activities.create("a")
    fail_on(studio, monkeypatch, fragment)
    with pytest.raises(Boom):
        studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    assert stored_keys(studio) == [f"activities/{a.id}.json"]
    assert studio.materials.list(a.id).total == 0
    logs = studio.logs.query(studio.now() - timedelta(hours=1), studio.now() + timedelta(hours=1),
                             interface="UploadMaterial")
    assert logs[-1].error_code == "FailedOperation.InternalError"


@pytest.mark.parametrize("fragment", [".jpg", ".json"])
def test_a_failed_result_write_leaves_nothing_behind(studio, monkeypatch, fragment):
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    before = stored_keys(studio)
    real = studio.root.write

    def write(key, data):
        if key.startswith("results/") and key.endswith(fragment):
            raise Boom("injected")
        return real(key, data)

    patch_store(studio, monkeypatch, write=write)
    with pytest.raises(Boom):
        studio.fuse(a.id, m.id, photo("biden.jpg"))
    assert stored_keys(studio) == before


def test_a_failed_rename_keeps_the_old_document(studio, monkeypatch):
    a = studio.activities.create("old name")
    fail_on(studio, monkeypatch, "activities/")
    with pytest.raises(Boom):
        studio.activities.rename(a.id, "new name")
    monkeypatch.undo()
    assert studio.activities.get(a.id).name == "old name"


def test_results_and_logs_expire_after_seven_days(studio, clock):
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"))
    t0 = clock.now
    window = (t0 - timedelta(days=30), t0 + timedelta(days=30))
    assert studio.logs.query(*window)
    clock.advance(days=7, seconds=-1)
    assert studio.results.get(r.id).id == r.id  # not yet: it expires at created + 7 days
    clock.advance(seconds=2)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(r.id)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.read(r.id)
    assert [rec for rec in studio.logs.query(*window) if rec.timestamp <= t0] == []
    assert stored_keys(studio, "results")  # still on disk before the sweep
    counts = studio.sweep()
    assert counts["results"] == 1 and counts["log_records"] >= 3
    assert stored_keys(studio, "results") == []
    for key in stored_keys(studio, "logs"):
        for line in studio.store.read(key).splitlines():
            assert b'"timestamp":"' + t0.date().isoformat().encode() not in line
    assert studio.materials.get(m.id) == m  # materials stay until deleted
    fresh = [rec for rec in studio.logs.query(*window) if rec.timestamp > t0 + timedelta(days=1)]
    assert [rec.interface for rec in fresh][:1] == ["DescribeResult"]  # lines within the period survive


def test_sweep_deletes_whole_expired_days_and_keeps_fresh_results(studio, clock):
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    old = studio.fuse(a.id, m.id, photo("biden.jpg"))
    clock.advance(days=3)
    fresh = studio.fuse(a.id, m.id, photo("biden.jpg"))
    clock.advance(days=6)
    assert studio.sweep()["results"] == 1
    assert studio.results.get(fresh.id).id == fresh.id
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(old.id)
    assert studio.store.list("results/image") == [fresh.created.date().isoformat()]
    assert studio.sweep()["results"] == 0


def test_custom_retention_and_material_retention(studio_url, clock):
    from fusionkit.domain import RetentionPolicy

    studio = fusionkit.open(studio_url, clock=clock,
                            retention=RetentionPolicy(image_results=timedelta(hours=1), logs=timedelta(hours=2),
                                                      materials=timedelta(days=30)))
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"))
    assert r.expires == r.created + timedelta(hours=1)
    clock.advance(hours=1, seconds=1)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(r.id)
    clock.advance(days=30)
    counts = studio.sweep()
    assert counts["materials"] == 1 and counts["results"] == 1
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(m.id)


# -- the request log ----------------------------------------------------------------------------------------------

def test_every_call_logs_the_privacy_fields(studio, clock, caplog):
    ctx = RequestContext(app_id="app-1", account_id="acct-9", sub_account_id="sub-3", client_ip="203.0.113.7",
                         reporting_ip="198.51.100.2", region="eu-west", request_id="rq_hostrequest0001")
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        a = studio.activities.create("a", context=ctx)
        with studio.request_context(RequestContext(app_id="app-2")), pytest.raises(ActivityIdNotFoundError):
            studio.activities.get("ac_0123456789abcdef")
    since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    # Each app id's lines are its tenant's: each reads its own.
    (first,) = studio.logs.query(since, until, context=ctx)
    (second,) = studio.logs.query(since, until, context=RequestContext(app_id="app-2"))
    assert studio.logs.query(since, until) == []  # nothing was logged without an app id
    assert (first.app_id, first.account_id, first.sub_account_id, first.client_ip, first.reporting_ip,
            first.region, first.request_id, first.activity_id, first.error_code) == (
        "app-1", "acct-9", "sub-3", "203.0.113.7", "198.51.100.2", "eu-west", "rq_hostrequest0001", a.id, None)
    assert first.time_cost_ms >= 0 and first.timestamp == clock.now
    assert second.app_id == "app-2" and second.error_code == "InvalidParameterValue.ActivityIdNotFound"
    assert second.request_id.startswith("rq_")
    # Python's logging, outside retention and erasure, gets no personal field.
    shipped = [r.fusionkit_request for r in caplog.records if r.name == LOGGER_NAME]
    assert [s["interface"] for s in shipped] == ["CreateActivity", "DescribeActivity"]
    assert shipped[0] == {"request_id": "rq_hostrequest0001", "interface": "CreateActivity", "status": "ok",
                          "time_cost_ms": first.time_cost_ms}
    assert shipped[1]["status"] == "InvalidParameterValue.ActivityIdNotFound"
    assert not any(v in r.getMessage() for r in caplog.records for v in ("203.0.113.7", "acct-9", "app-1"))
    with studio.request_context(ctx):  # in app-1's folder (the hour's file, this studio's own on an object store)
        (name,) = studio.store.list(key_layout.log_folder(clock.now.date()))
        key = f"{key_layout.log_folder(clock.now.date())}/{name}"
        assert name.startswith(f"{clock.now.hour:02d}.") and name.endswith(".jsonl")
        assert studio.root.exists(f"{key_layout.tenant_folder('app-1')}/{key}")
        lines = studio.store.read(key).splitlines()
    assert len(lines) == 2 and b'"interface":"QueryLogs"' in lines[1]  # the query is logged too
    assert studio.logs.query(since, until, interface="CreateActivity", context=ctx) == [first]


def test_fuse_log_carries_the_result_url(studio, clock):
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"))
    (rec,) = studio.logs.query(clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1),
                               interface="FuseFace")
    assert rec.result_url == r.url and rec.material_id == m.id and rec.result_id == r.id
    assert rec.image_url == studio.store.url(key_layout.material_source(m.id, "jpeg"))  # the template fused into


def test_personal_fields_reach_python_logging_only_when_the_host_opts_in(clock, caplog):
    ctx = RequestContext(app_id="app-1", client_ip="203.0.113.7")
    opted = fusionkit.open("memory://fk-opted-in", clock=clock, video_workers=0, log_personal_fields=True)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        opted.activities.create("a", context=ctx)
    (shipped,) = [r.fusionkit_request for r in caplog.records if r.name == LOGGER_NAME]
    assert shipped["client_ip"] == "203.0.113.7" and shipped["app_id"] == "app-1"
    with pytest.raises(ParameterValueError, match="log_personal_fields"):
        fusionkit.open("memory://fk-opted-in", log_personal_fields="yes")


def test_the_log_exports_under_the_services_field_names(studio, clock):
    ctx = RequestContext(app_id="app-1", account_id="acct-9", sub_account_id="sub-3", client_ip="203.0.113.7",
                         reporting_ip="198.51.100.2", region="eu-west", request_id="rq_hostrequest0001")
    with studio.request_context(ctx):
        a = studio.activities.create("a")
        m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
        r = studio.fuse(a.id, m.id, photo("biden.jpg"))
        out = studio.logs.export(clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["InterfaceName"] for row in rows] == ["CreateActivity", "UploadMaterial", "FuseFace"]
    assert all(row["RequestId"] == "rq_hostrequest0001" for row in rows)
    assert list(rows[0]) == ["Timestamp", "AppId", "Uin", "SubAccountUin", "RequestId", "ClientIp", "ReportIp",
                             "TimeCost", "Region", "InterfaceName", "VideoUrl", "ResultUrl", "ImageUrl"]
    assert (rows[0]["AppId"], rows[0]["Uin"], rows[0]["SubAccountUin"], rows[0]["ClientIp"], rows[0]["ReportIp"],
            rows[0]["Region"], rows[0]["RequestId"]) == (
        "app-1", "acct-9", "sub-3", "203.0.113.7", "198.51.100.2", "eu-west", "rq_hostrequest0001")
    assert rows[0]["Timestamp"].endswith("Z") and rows[0]["TimeCost"] >= 0
    assert rows[2]["ResultUrl"] == r.url and rows[2]["ImageUrl"] == rows[1]["ImageUrl"] is not None
    with pytest.raises(ParameterValueError, match="jsonl"):
        studio.logs.export(clock.now, clock.now, format="csv")


def test_a_failing_log_write_does_not_fail_the_call(studio, monkeypatch, caplog):
    def broken(key, data):
        raise OSError("disk full")

    patch_store(studio, monkeypatch, append=broken)
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        a = studio.activities.create("a")
    assert studio.activities.get(a.id) == a
    assert any("could not write the request log" in r.getMessage() for r in caplog.records)


def test_request_context_is_per_thread(studio, clock):
    import threading

    def work(app: str) -> None:
        with studio.request_context(RequestContext(app_id=app)):
            for _ in range(5):
                studio.activities.create(app)

    threads = [threading.Thread(target=work, args=(f"app-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    for app in ("app-0", "app-1"):
        ctx = RequestContext(app_id=app)
        records = studio.logs.query(since, until, context=ctx)
        assert len(records) == 5 and {r.app_id for r in records} == {app}  # each thread wrote in its own tenant
        assert all(studio.activities.get(r.activity_id, context=ctx).name == app for r in records)


@pytest.mark.parametrize("fragment", ["/materials/mt_", "results/", "material.json", "source."])
def test_a_failed_delete_leaves_no_dangling_reference_and_can_be_retried(studio, monkeypatch, fragment):
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"))
    real = studio.root.delete

    def delete(key):
        if fragment in key:
            raise Boom(f"injected failure deleting {key}")
        return real(key)

    patch_store(studio, monkeypatch, delete=delete)
    with pytest.raises(Boom):
        studio.materials.delete(m.id)
    monkeypatch.undo()
    # Whatever is left points only at things that exist: a listed material has its document and source; a
    # readable result's material document still exists.
    for listed in studio.materials.list(a.id).materials:
        assert studio.materials.get(listed.id) == listed
        assert studio.store.exists(f"materials/{listed.id}/source.jpg")
    try:
        assert studio.results.get(r.id).material_id == m.id
        assert studio.store.exists(f"materials/{m.id}/material.json")
    except ResultIdNotFoundError:
        pass
    if studio.store.exists(f"materials/{m.id}/material.json"):
        studio.materials.delete(m.id)  # the retry completes the erasure
    studio.clock.advance(hours=2)
    studio.sweep()  # and the sweep removes a source left without its document
    assert not [k for k in stored_keys(studio) if m.id in k]
