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
    assert keys.log_file(datetime(2026, 1, 2, 7, 30), "a1b2c3") == "logs/2026-01-02/07.a1b2c3.jsonl"
    for writer in ("", "../x", "A1", "a/b", "a.b"):
        with pytest.raises(StorageError):
            keys.log_file(datetime(2026, 1, 2, 7, 30), writer)
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


# -- encryption scopes ---------------------------------------------------------------------------------------------

# Every function of keys.py that builds an object's key, with its arguments and the scope of that key.
OBJECT_KEYS = {
    "activity_doc": ((AC,), "studio"),
    "material_marker": ((AC, MT), "studio"),
    "material_doc": ((MT,), MT),
    "material_source": ((MT, "png"), MT),
    "material_tracks": ((MT,), MT),
    "material_references": ((MT,), MT),
    "result_doc": ((DAY, MT, RS), MT),
    "result_blob": ((DAY, MT, RS, "jpeg"), MT),
    "log_file": ((datetime(2026, 1, 2, 7),), "logs-2026-01-02"),
    "job_doc": ((JB,), JB),
    "job_user": ((JB, 0), JB),
    "job_options": ((JB,), JB),
    "video_result": ((DAY, JB), JB),
    "audit_file": ((DAY,), "studio"),
    "capacity_lock": ((), "studio"),
    "capacity_claim": (("cl_0123456789ab",), "studio"),
}
# Functions that build a folder (a prefix, never an object's key) or a part of one, and those about scopes.
# A tenant's folder holds a whole studio layout, seen through a PrefixedStore: wrap the EncryptedStore around the
# tenant's PrefixedStore, so scope_of sees the tenant-relative keys and each tenant has its own keyring.
FOLDERS = {"activity_folder", "activity_members", "material_folder", "result_folder", "log_folder", "job_folder",
           "video_result_folder", "tenant_folder", "tenant_id", "capacity_claims"}
SCOPE_FUNCTIONS = {"scope_of", "log_scope", "keyring_folder", "keyring_entry"}


def test_the_scope_table_covers_every_key_function() -> None:
    functions = {name for name, value in vars(keys).items()
                 if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == keys.__name__}
    unclassified = functions - set(OBJECT_KEYS) - FOLDERS - SCOPE_FUNCTIONS
    assert not unclassified, (f"new key functions {sorted(unclassified)} in keys.py: add each to OBJECT_KEYS (with the "
                              "encryption scope of its keys, and teach scope_of if needed) or FOLDERS, here")
    assert set(OBJECT_KEYS) | FOLDERS | SCOPE_FUNCTIONS <= functions


@pytest.mark.parametrize("name", sorted(OBJECT_KEYS))
def test_every_object_key_has_its_scope(name: str) -> None:
    args, scope = OBJECT_KEYS[name]
    assert keys.scope_of(getattr(keys, name)(*args)) == scope


def test_a_material_and_its_results_share_a_scope_and_a_job_has_its_own() -> None:
    other = "mt_abcdefghijkl"
    assert keys.scope_of(keys.result_blob(DAY, other, RS, "png")) == other
    assert keys.scope_of(keys.result_doc(DAY, MT, RS)) == keys.scope_of(keys.material_doc(MT))
    assert keys.scope_of(keys.video_result(DAY, JB)) == keys.scope_of(keys.job_user(JB, 3)) == JB
    assert keys.scope_of(keys.log_file(datetime(2026, 1, 2, 23))) == keys.log_scope(DAY)
    assert keys.scope_of(keys.log_file(datetime(2026, 1, 3, 0))) == "logs-2026-01-03"


@pytest.mark.parametrize("key", [
    "materials/xx_0123456789ab/material.json",  # an id of another kind
    "materials/mt_0123456789ab",  # the folder itself
    f"results/image/2026-01-02/{JB}.{RS}.json", f"results/image/2026/{MT}.{RS}.json", f"results/video/x/{JB}.mp4",
    f"jobs/{MT}.json", "jobs/jb_short.json", "logs/x.jsonl", "logs/2026-1-2/00.jsonl", "a/b/c.json", "keyring/x",
])
def test_keys_outside_the_layout_are_in_the_studio_scope(key: str) -> None:
    assert keys.scope_of(key) == keys.STUDIO_SCOPE


def test_keyring_keys() -> None:
    assert keys.keyring_folder(MT) == f"keyring/{MT}"
    assert keys.keyring_entry("logs-2026-01-02", "0123456789abcdef") == "keyring/logs-2026-01-02/0123456789abcdef.key"
    for bad in ("", "../x", "a/b", "a.b", "-x", "x" * 81, None):
        with pytest.raises(StorageError):
            keys.keyring_folder(bad)  # type: ignore[arg-type]
    for bad_id in ("", "0123", "0123456789ABCDEF", "../0123456789abcdef", "0123456789abcdefg"):
        with pytest.raises(StorageError):
            keys.keyring_entry(MT, bad_id)
