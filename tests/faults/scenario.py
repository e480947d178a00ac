"""The studio the fault-injection tests break: prepared once, copied for every failure injected.

:func:`prepare` fills a local studio folder with what every operation under test needs (two activities, image
materials with results, a ready video material with a completed job) and writes down their ids;
:data:`OPERATIONS` are the calls under test, each with what must hold of the calls that succeeded once a fresh
studio has recovered from a failure injected into it (:func:`expectations`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

import fusionkit
from fusionkit.domain import ids
from fusionkit.errors import (
    ActivityIdNotFoundError,
    JobNotExistError,
    MaterialIdNotFoundError,
    ResultIdNotFoundError,
)
from fusionkit.samples import sample_path
from fusionkit.storage import keys
from fusionkit.studio import Studio
from tests.faults.invariants import AGE
from tests.photos import photo

__all__ = ["OPERATIONS", "Prepared", "expectations", "prepare", "run_operation"]

#: The calls under test, in the order they are reported.
OPERATIONS = ("upload", "fuse", "submit", "delete_material", "delete_activity", "sweep")
#: How far a sweep under test runs after the preparation: past the results' 7 days and the video results' day.
SWEEP_LATER = timedelta(days=8)


def sample_bytes(name: str) -> bytes:
    with open(sample_path(name), "rb") as fh:
        return fh.read()


class Clock:
    """A settable clock (aware datetimes)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@attrs.define
class Prepared:
    """A prepared studio folder: copy it with :meth:`copy` and open the copy."""

    folder: Path
    encryption: str | None
    now: datetime
    ids: dict[str, str]

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.folder, to, symlinks=True)
        return to


def prepare(folder: Path, clip: Path, encryption: str | None, now: datetime) -> Prepared:
    """Activity ``A`` with image materials ``M1`` and ``M2`` (results ``R1``, ``R2``) and video material ``V``
    (job ``J1`` completed); activity ``B`` with material ``MB`` (result ``RB``)."""
    clock = Clock(now)
    studio = fusionkit.open(folder, clock=clock, video_workers=1, sweep_every=None, job_lease=1, encryption=encryption)
    try:
        a = studio.activities.create("a")
        m1 = studio.materials.upload(a.id, sample_bytes("obama.jpg"))
        m2 = studio.materials.upload(a.id, sample_bytes("obama3.jpg"))
        v = studio.materials.upload(a.id, clip)
        assert v.status == "ready", v
        r1 = studio.fuse(a.id, m1.id, photo("biden.jpg"))
        r2 = studio.fuse(a.id, m2.id, photo("biden.jpg"))
        j1 = studio.videos.wait(studio.videos.submit(a.id, v.id, photo("biden.jpg")).id, timeout=120)
        assert j1.status == "completed", j1.error_message
        b = studio.activities.create("b")
        mb = studio.materials.upload(b.id, sample_bytes("obama.jpg"))
        rb = studio.fuse(b.id, mb.id, photo("biden.jpg"))
    finally:
        studio.close()
    return Prepared(folder=folder, encryption=encryption, now=clock.now, ids={
        "A": a.id, "M1": m1.id, "M2": m2.id, "V": v.id, "R1": r1.id, "R2": r2.id, "J1": j1.id, "B": b.id,
        "MB": mb.id, "RB": rb.id})


def start_of(operation: str, prepared: Prepared) -> datetime:
    """The studio clock's time when ``operation`` runs."""
    return prepared.now + (SWEEP_LATER if operation == "sweep" else timedelta(minutes=1))


def plant_leftovers(studio: Studio, folder: Path, prepared: Prepared, tmpdir: str) -> None:
    """What killed processes leave, for a sweep to remove: a material folder without its document (a source
    written by an upload that died), a marker of a material that never was, a temporary file of a write and a job
    scratch folder, all three hours old."""
    old = prepared.now - timedelta(hours=3)
    studio.store.write(keys.material_source(ids.new_id(ids.MATERIAL, old), "jpeg"), b"\xff\xd8\xff left by an upload")
    studio.store.write(keys.material_marker(prepared.ids["A"], ids.new_id(ids.MATERIAL, old)), b"")
    tmp = folder / "activities" / f".{prepared.ids['A']}.json.0123456789ab.tmp"
    tmp.write_bytes(b'{"half')
    scratch = Path(tmpdir) / "fusionkit-job-planted"
    scratch.mkdir(exist_ok=True)
    (scratch / "template.mp4").write_bytes(b"a template copy")
    t = (datetime.now() - timedelta(hours=3)).timestamp()
    for path in (tmp, scratch / "template.mp4", scratch):
        os.utime(path, (t, t))


def run_operation(operation: str, studio: Studio, prepared: Prepared, clip: Path) -> Any:
    """Make the call under test; its answer."""
    i = prepared.ids
    if operation == "upload":
        return studio.materials.upload(i["A"], sample_bytes("obama.jpg"), name="new")
    if operation == "fuse":
        return studio.fuse(i["A"], i["M1"], photo("biden.jpg"), response="url")
    if operation == "submit":
        return studio.videos.submit(i["A"], i["V"], photo("biden.jpg"))
    if operation == "delete_material":
        return studio.materials.delete(i["M2"])
    if operation == "delete_activity":
        return studio.activities.delete(i["B"])
    if operation == "sweep":
        return studio.sweep()
    raise ValueError(operation)


def _material_whole(s: Studio, mid: str, activity_id: str) -> list[str]:
    """Problems with a material that must be whole: readable, its source readable, listed by its activity."""
    try:
        m = s.materials.get(mid)
    except MaterialIdNotFoundError:
        return [f"material {mid} is gone"]
    out = []
    try:
        s.store.read(keys.material_source(mid, m.source_format))
    except Exception as exc:
        out.append(f"material {mid}'s source does not read: {type(exc).__name__}")
    if mid not in {x.id for x in s.materials.list(activity_id, limit=100).materials}:
        out.append(f"material {mid} is not listed by activity {activity_id}")
    return out


def _material_gone(s: Studio, mid: str) -> list[str]:
    try:
        s.materials.get(mid)
    except MaterialIdNotFoundError:
        return []
    return [f"material {mid} is still readable"]


def _result_readable(s: Studio, rid: str) -> list[str]:
    try:
        s.results.get(rid)
        s.results.read(rid)
    except ResultIdNotFoundError as exc:
        return [f"result {rid} does not read: {exc}"]
    return []


def _result_gone(s: Studio, rid: str) -> list[str]:
    try:
        s.results.get(rid)
    except ResultIdNotFoundError:
        return []
    return [f"result {rid} is still readable"]


def _activity_exists(s: Studio, aid: str) -> bool:
    try:
        s.activities.get(aid)
    except ActivityIdNotFoundError:
        return False
    return True


def _stored(folder: Path, prefix: str) -> set[str]:
    root = folder / prefix
    return {str(p.relative_to(folder)) for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def expectations(operation: str, prepared: Prepared, folder: Path, answer: Any, error: BaseException | None,
                 ) -> Callable[[Studio], list[str]]:
    """What must hold after the recovery from a failure injected into ``operation`` (which returned ``answer``,
    or raised ``error``): what the call did when it returned, none of it when it failed (or, for the deletes,
    all of it or none), and every other call's work as it was."""
    i = prepared.ids
    before_materials = _stored(prepared.folder, "materials")
    before_results = _stored(prepared.folder, "results/image")
    before_jobs = _stored(prepared.folder, "jobs")

    def check(s: Studio) -> list[str]:
        out: list[str] = []
        swept = operation == "sweep"
        # The work of the calls before, untouched by this one.
        if not _activity_exists(s, i["A"]):
            out.append(f"activity {i['A']} is gone")
        out += _material_whole(s, i["M1"], i["A"]) + _material_whole(s, i["V"], i["A"])
        if not swept:
            out += _result_readable(s, i["R1"])
            try:
                s.videos.get(i["J1"])
            except JobNotExistError:
                out.append(f"job {i['J1']} is gone")
        if operation != "delete_material":
            out += _material_whole(s, i["M2"], i["A"])
            out += [] if swept else _result_readable(s, i["R2"])
        if operation != "delete_activity":
            if not _activity_exists(s, i["B"]):
                out.append(f"activity {i['B']} is gone")
            out += _material_whole(s, i["MB"], i["B"])
            out += [] if swept else _result_readable(s, i["RB"])
        # The call's own work.
        # A call that failed leaves nothing, or (failing after its work was stored: its request log line) all.
        if operation == "upload":
            new = {p.split("/")[1] for p in _stored(folder, "materials") - before_materials}
            if error is None:
                out += _material_whole(s, answer.id, i["A"])
            elif new:
                out += [p for mid in sorted(new) for p in _material_whole(s, mid, i["A"])] + (
                    [f"a failed upload left {len(new)} materials"] if len(new) > 1 else [])
        elif operation == "fuse":
            new = {p.rsplit(".", 2)[1] for p in _stored(folder, "results/image") - before_results}
            if error is None:
                out += _result_readable(s, answer.id)
            elif new:
                out += [p for rid in sorted(new) for p in _result_readable(s, rid)] + (
                    [f"a failed fusion left {len(new)} results"] if len(new) > 1 else [])
        elif operation == "submit":
            new = {p.split("/")[1].removesuffix(".json") for p in _stored(folder, "jobs") - before_jobs}
            if error is None:
                new = {answer.id}
            elif len(new) > 1:
                out.append(f"a failed submit left {sorted(new)}")
            for jid in sorted(new):
                try:
                    job = s.videos.get(jid)
                except JobNotExistError:
                    out.append(f"job {jid} does not read")
                    continue
                if job.status != "queued":
                    out.append(f"job {jid} is {job.status}, not queued")
                if not s.store.list(keys.job_folder(jid)):
                    out.append(f"job {jid}'s inputs are gone")
        elif operation == "delete_material":
            # A delete that failed leaves all of it, or (once swept) none of it; one that returned, none.
            if error is None or _material_gone(s, i["M2"]) == []:
                out += _material_gone(s, i["M2"]) + _result_gone(s, i["R2"])
            else:
                out += _material_whole(s, i["M2"], i["A"]) + _result_readable(s, i["R2"])
        elif operation == "delete_activity":
            # Likewise, but its results go first, then its materials one by one, then it: a delete that failed
            # may leave the activity with its material whole (perhaps without its results) or gone.
            if error is None or not _activity_exists(s, i["B"]):
                out += _material_gone(s, i["MB"]) + _result_gone(s, i["RB"])
                if _activity_exists(s, i["B"]):
                    out.append(f"activity {i['B']} is still readable")
            elif _material_gone(s, i["MB"]):  # the material is still there: whole
                out += _material_whole(s, i["MB"], i["B"])
            else:  # it went before the activity, with its results
                out += _result_gone(s, i["RB"])
        elif operation == "sweep":
            for rid in ("R1", "R2", "RB"):
                out += _result_gone(s, i[rid])
            left = _stored(folder, "results/image") | _stored(folder, "results/video")
            if left:
                out.append(f"expired results are still stored: {sorted(left)}")
            if (folder / keys.job_doc(i["J1"])).exists():
                out.append(f"the expired job {i['J1']} is still stored")
            old_logs = [p for p in _stored(folder, "logs") if p.split("/")[1] < (
                prepared.now + SWEEP_LATER + AGE - timedelta(days=7)).date().isoformat()]
            if old_logs:
                out.append(f"expired request logs are still stored: {old_logs}")
        return out

    return check
