"""The key layout: every key is built from validated ids, and a date-partitioned prefix holds a day."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from fusionkit.errors import StorageError
from fusionkit.storage import keys

AC, MT, RS, JB = "ac_0123456789ab", "mt_0123456789ab", "rs_0123456789ab", "jb_0123456789ab"
DAY = date(2026, 1, 2)


def test_the_layout() -> None:
    assert keys.activity_doc(AC) == f"activities/{AC}.json"
    assert keys.activity_members(AC) == f"activities/{AC}/materials"
    assert keys.material_marker(AC, MT) == f"activities/{AC}/materials/{MT}"
    assert keys.material_folder(MT) == f"materials/{MT}"
    assert keys.material_doc(MT) == f"materials/{MT}/material.json"
    assert [keys.material_source(MT, f) for f in ("jpeg", "png", "mp4")] == [
        f"materials/{MT}/source.jpg", f"materials/{MT}/source.png", f"materials/{MT}/source.mp4"]
    assert keys.material_tracks(MT) == f"materials/{MT}/tracks.npz"
    assert keys.material_references(MT) == f"materials/{MT}/references.npz"
    assert keys.result_folder(DAY) == "results/image/2026-01-02"
    assert keys.result_doc(DAY, MT, RS) == f"results/image/2026-01-02/{MT}.{RS}.json"
    assert keys.result_blob(DAY, MT, RS, "jpeg") == f"results/image/2026-01-02/{MT}.{RS}.jpg"
    assert keys.log_folder(DAY) == "logs/2026-01-02"
    assert keys.log_file(datetime(2026, 1, 2, 7, 30)) == "logs/2026-01-02/07.jsonl"
    assert keys.job_doc(JB) == f"jobs/{JB}.json"
    assert keys.job_folder(JB) == f"jobs/{JB}"
    assert keys.job_user(JB, 2) == f"jobs/{JB}/user_2.png"
    assert keys.job_options(JB) == f"jobs/{JB}/options.json"
    assert keys.video_result_folder(DAY) == "results/video/2026-01-02"
    assert keys.video_result(DAY, JB) == f"results/video/2026-01-02/{JB}.mp4"


def test_the_folders_hold_their_keys() -> None:
    assert keys.material_doc(MT).startswith(keys.material_folder(MT) + "/")
    assert keys.result_doc(DAY, MT, RS).startswith(keys.result_folder(DAY) + "/")
    assert keys.log_file(datetime(2026, 1, 2, 23)).startswith(keys.log_folder(DAY) + "/")
    assert keys.job_user(JB, 0).startswith(keys.job_folder(JB) + "/")
    assert keys.video_result(DAY, JB).startswith(keys.video_result_folder(DAY) + "/")
    assert keys.material_marker(AC, MT).startswith(keys.activity_members(AC) + "/")


@pytest.mark.parametrize("bad", ["../etc", "mt_short", "MT_0123456789ab", "mt_0123456789ab/..", "", "mt_01234567/9ab",
                                 RS, AC])
def test_a_key_is_never_built_from_anything_but_an_id_of_its_kind(bad: str) -> None:
    for build in (keys.material_folder, keys.material_doc, keys.material_tracks, keys.material_references,
                  lambda v: keys.material_source(v, "png"), lambda v: keys.result_doc(DAY, v, RS),
                  lambda v: keys.result_blob(DAY, v, RS, "png"), lambda v: keys.material_marker(AC, v)):
        with pytest.raises(StorageError):
            build(bad)


@pytest.mark.parametrize("build", [keys.activity_doc, keys.activity_members, keys.job_doc, keys.job_folder,
                                   lambda v: keys.job_user(v, 0), lambda v: keys.job_options(v),
                                   lambda v: keys.video_result(DAY, v), lambda v: keys.result_doc(DAY, MT, v)])
def test_ids_of_another_kind_are_refused(build) -> None:
    with pytest.raises(StorageError):
        build(MT.replace("mt_", "xx_"))
    with pytest.raises(StorageError):
        build("../" + MT)
