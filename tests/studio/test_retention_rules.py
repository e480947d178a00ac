"""The retention rules: one per kind of stored data, each reported by the sweep, and the sweep and the reads ask
the same rule (a real memory store and a fake clock)."""

from __future__ import annotations

import gc
import time
from datetime import timedelta

import pytest

import fusionkit
from fusionkit.domain.studio import RetentionPolicy
from fusionkit.errors import ParameterValueError, ResultIdNotFoundError
from fusionkit.studio.retention import SWEEP_REPORT
from tests.photos import photo


def test_every_rule_is_reported_by_the_sweep_once(clock) -> None:
    studio = fusionkit.open("memory://rules-report", clock=clock, video_workers=0)
    names = [rule.name for rule in studio._rules.rules]
    assert len(set(names)) == len(names) and set(names) == set(SWEEP_REPORT)
    assert list(studio.sweep()) == [*SWEEP_REPORT, "audit_records", "leftovers"]
    assert not any(studio.sweep().values())


def test_a_result_reads_as_gone_exactly_when_the_sweep_removes_it(clock) -> None:
    policy = RetentionPolicy(image_results=timedelta(hours=2))
    studio = fusionkit.open("memory://rules-agree", clock=clock, retention=policy, video_workers=0)
    activity = studio.activities.create("rules")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert result.expires == result.created + timedelta(hours=2)
    clock.advance(seconds=2 * 3600 - 1e-6)
    assert studio.results.get(result.id).id == result.id and studio.sweep()["results"] == 0
    clock.advance(seconds=1e-6)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(result.id)
    assert studio.sweep()["results"] == 1


def test_a_shorter_policy_applies_to_what_is_stored(clock) -> None:
    studio = fusionkit.open("memory://rules-shorter", clock=clock, video_workers=0)
    activity = studio.activities.create("rules")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert result.expires == result.created + timedelta(days=7)
    clock.advance(seconds=3 * 3600)
    studio.retention = RetentionPolicy(image_results=timedelta(hours=4))
    assert studio.results.get(result.id).expires == result.created + timedelta(hours=4)  # today's policy
    clock.advance(seconds=3600)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(result.id)
    assert studio.sweep()["results"] == 1


def test_periods_beyond_the_duties_need_a_stated_reason() -> None:
    with pytest.raises(ParameterValueError, match="allow_longer"):
        RetentionPolicy(logs=timedelta(days=3650))
    with pytest.raises(ParameterValueError, match="longer than the duties"):
        RetentionPolicy(video_results=timedelta(days=2))
    with pytest.raises(ParameterValueError, match="reason"):
        RetentionPolicy(logs=timedelta(days=30), allow_longer="x")
    held = RetentionPolicy(logs=timedelta(days=30), allow_longer="legal hold, case 2026-118")
    assert RetentionPolicy.from_json(held.to_json()) == held
    assert "allow_longer" not in RetentionPolicy().to_json()


def test_an_open_studio_sweeps_by_itself(clock) -> None:
    studio = fusionkit.open("memory://rules-auto", clock=clock, video_workers=0, sweep_every=0.05)
    activity = studio.activities.create("auto")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    result = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    clock.advance(days=7)
    deadline = time.monotonic() + 10
    while studio.store.list("results/image") and time.monotonic() < deadline:
        time.sleep(0.02)  # the background thread, not this test, deletes it
    assert not studio.store.list("results/image")
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(result.id)
    studio.close()
    rounds = studio._sweeper.rounds
    time.sleep(0.2)
    assert studio._sweeper.rounds == rounds  # closed: no more rounds


def test_sweeping_can_be_turned_off_and_an_abandoned_studio_stops_its_sweeper(clock) -> None:
    off = fusionkit.open("memory://rules-off", clock=clock, video_workers=0, sweep_every=None)
    assert off._sweeper is None
    with pytest.raises(ParameterValueError, match="sweep_every"):
        fusionkit.open("memory://rules-off", sweep_every=0)
    abandoned = fusionkit.open("memory://rules-gone", clock=clock, video_workers=0, sweep_every=0.02)
    thread = abandoned._sweeper._thread
    del abandoned
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
