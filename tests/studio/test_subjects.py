"""End users: a context's user_id is kept only as a keyed hash on the results, jobs and log lines of its calls;
an access request exports all of it as one archive and an erasure request deletes all of it, nobody else's."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest

import fusionkit
from fusionkit.errors import ParameterValueError, ResultIdNotFoundError
from fusionkit.storage import keys
from fusionkit.studio import RequestContext
from tests.studio.conftest import photo
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

ALICE = RequestContext(user_id="alice@example.com", client_ip="203.0.113.7")
BOB = RequestContext(user_id="bob-42")


def test_an_end_user_is_kept_hashed_and_exported_whole(tmp_path, clock, studio_clip) -> None:  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "s"), clock=clock, video_workers=1, sweep_every=None)
    activity = studio.activities.create("campaign")
    picture = studio.materials.upload(activity.id, photo("obama.jpg"))
    video = studio.materials.upload(activity.id, studio_clip)
    mine = studio.fuse(activity.id, picture.id, photo("biden.jpg"), context=ALICE)
    theirs = studio.fuse(activity.id, picture.id, photo("biden.jpg"), context=BOB)
    job = studio.videos.wait(studio.videos.submit(activity.id, video.id, photo("biden.jpg"), context=ALICE).id,
                             timeout=120)
    assert job.status == "completed"
    subject = studio.results.get(mine.id).subject
    assert subject is not None and subject.startswith("us_") and subject != studio.results.get(theirs.id).subject
    assert job.subject == subject and mine.subject == subject
    # The id itself is stored nowhere (the studio encrypts; read through it, in the clear).
    since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    assert all("alice" not in r.to_json() for r in studio.logs.query(since, until))
    archive = zipfile.ZipFile(io.BytesIO(studio.subjects.export("alice@example.com")))
    names = set(archive.namelist())
    image = f"results/{mine.id}.{'jpg' if mine.format == 'jpeg' else 'png'}"
    assert {f"results/{mine.id}.json", image, f"jobs/{job.id}.json", f"jobs/{job.id}.mp4", "logs.jsonl",
            "README.txt"} <= names
    assert not any(theirs.id in n for n in names)
    assert archive.read(image) == studio.results.read(mine.id)
    lines = [json.loads(line) for line in archive.read("logs.jsonl").splitlines()]
    assert {line["interface"] for line in lines} == {"FuseFace", "SubmitVideoFaceFusionJob"}
    assert all(line["subject"] == subject for line in lines)
    studio.close()


def test_an_erasure_request_deletes_one_users_data_and_nobody_elses(studio, clock) -> None:
    activity = studio.activities.create("campaign")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    mine = [studio.fuse(activity.id, material.id, photo("biden.jpg"), context=ALICE) for _ in range(2)]
    theirs = studio.fuse(activity.id, material.id, photo("biden.jpg"), context=BOB)
    receipt = studio.subjects.erase("alice@example.com")
    assert receipt.counts["results"] == 2 and receipt.counts["log_records"] == 2
    for result in mine:
        with pytest.raises(ResultIdNotFoundError):
            studio.results.get(result.id)
    assert studio.results.get(theirs.id).id == theirs.id
    since, until = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    subjects = {r.subject for r in studio.logs.query(since, until)}
    assert subjects == {None, studio.results.get(theirs.id).subject}
    (audit,) = studio.audit(since, until, kind="erasure")
    assert audit.receipt_id == receipt.id and not any(s.startswith("us_") for s in audit.subject_ids)
    archive = zipfile.ZipFile(io.BytesIO(studio.subjects.export("alice@example.com")))
    assert archive.namelist() == ["logs.jsonl", "README.txt"] and archive.read("logs.jsonl") == b""
    with pytest.raises(ParameterValueError, match="user_id"):
        studio.subjects.erase("")
    assert studio.root.exists(keys.SUBJECT_SALT)
