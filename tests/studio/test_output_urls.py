"""Where a video job may write its result (user_designated_url): refused at submit, with a typed error, when it
points into the studio's store, at a folder or a special file, at a protocol the host did not allow or that is not
installed; and checked again before the write, so a place changed since the submit is not written either."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fusionkit
from fusionkit.errors import ParameterValueError
from fusionkit.storage import keys
from tests.studio.conftest import photo
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture


@pytest.fixture
def on_disk(tmp_path: Path, clock, studio_clip):  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock, video_workers=0, sweep_every=None)
    activity = studio.activities.create("outputs")
    return studio, activity, studio.materials.upload(activity.id, studio_clip)


def refused(studio, activity, material, url, why: str) -> None:
    with pytest.raises(ParameterValueError, match=why):
        studio.videos.submit(activity.id, material.id, photo("biden.jpg"), user_designated_url=url)


def test_hostile_places_are_refused_at_submit(on_disk, tmp_path: Path) -> None:
    studio, activity, material = on_disk
    root = tmp_path / "studio"
    refused(studio, activity, material, f"file://{root}/{keys.activity_doc(activity.id)}", "inside the studio")
    refused(studio, activity, material, f"file://{root}/{keys.material_doc(material.id)}", "inside the studio")
    (tmp_path / "link").symlink_to(root)
    refused(studio, activity, material, f"file://{tmp_path}/link/new.mp4", "inside the studio")  # through a link
    refused(studio, activity, material, "file:///dev/full", "special file")
    os.mkfifo(tmp_path / "pipe")
    refused(studio, activity, material, f"file://{tmp_path}/pipe", "special file")
    refused(studio, activity, material, f"file://{tmp_path}", "folder")
    refused(studio, activity, material, f"file://{tmp_path}/", "folder")
    refused(studio, activity, material, f"file://{tmp_path}/no/such/folder/out.mp4", "does not exist")
    refused(studio, activity, material, "ftp://127.0.0.1:1/x.mp4", "may not use ftp")
    refused(studio, activity, material, "memory://elsewhere/x.mp4", "may not use memory")
    refused(studio, activity, material, "nosuchproto://x/y.mp4", "unknown protocol")
    assert studio.store.list(keys.JOBS) == []  # nothing was queued
    assert (root / keys.activity_doc(activity.id)).exists() and Path("/dev/full").is_char_device()


def test_the_host_chooses_the_places_and_a_missing_package_is_said_at_submit(tmp_path: Path, clock,
                                                                             studio_clip) -> None:  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock, video_workers=0, sweep_every=None,
                            output_urls=["gs://campaign-out/", str(tmp_path / "results")])
    activity = studio.activities.create("outputs")
    material = studio.materials.upload(activity.id, studio_clip)
    (tmp_path / "results").mkdir()
    job = studio.videos.submit(activity.id, material.id, photo("biden.jpg"),
                               user_designated_url=f"file://{tmp_path}/results/out.mp4")
    assert job.user_designated_url == f"file://{tmp_path}/results/out.mp4"
    refused(studio, activity, material, f"file://{tmp_path}/other.mp4", "outside what this studio may write")
    refused(studio, activity, material, "gs://campaign-out/x.mp4", "not installed")  # gcsfs is in no extra
    with pytest.raises(ParameterValueError, match="output_urls"):
        fusionkit.open(str(tmp_path / "other"), output_urls="s3://one-string/")


def test_a_place_changed_after_the_submit_is_not_written(on_disk, tmp_path: Path, clock) -> None:
    studio, activity, material = on_disk
    target = tmp_path / "out.mp4"
    job = studio.videos.submit(activity.id, material.id, photo("biden.jpg"), user_designated_url=f"file://{target}")
    os.mkfifo(target)  # between the submit and the write, the place became a pipe
    worker = fusionkit.open(str(tmp_path / "studio"), clock=clock, video_workers=1, sweep_every=None)
    done = worker.videos.wait(job.id, timeout=120)
    assert done.status == "failed" and done.error_code == ParameterValueError.code and "special" in (
        done.error_message or "")
    assert Path(target).is_fifo() and not list(tmp_path.glob(".out.mp4*"))
    worker.close()
