"""The studio on S3 over HTTP, against moto's S3 server on a loopback port (tests/s3server.py): upload, fusion,
results read back by their URL, erasure, the sweep and video jobs. What is left is always checked by listing the
bucket itself with boto3, never through fusionkit: after an erasure and after a sweep, no object of the erased
material or of the expired data is there, and what is there is only what a studio keeps."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import fsspec
import pytest

import fusionkit
from fusionkit.imaging.decode import decode_image
from fusionkit.samples import sample_path
from fusionkit.storage import keys
from fusionkit.storage.crypto import is_encrypted
from fusionkit.studio import Studio
from tests.s3server import S3Server
from tests.studio.conftest import FakeClock, photo
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

ROOT = "studio"

#: What a studio keeps whatever it was asked to erase: its activities, the encryption marker and the keyring's own
#: and the request logs' data keys, the request log (an hour's file, or on object stores one per writer; of the
#: erasures too, which name no subject) and the audit trail (ids and counts: the proof of the erasures).
KEPT = [re.compile(p) for p in (
    r"activities/ac_\w+\.json", r"encryption\.json", r"keyring/studio/[0-9a-f]+\.key",
    r"keyring/logs-\d{4}-\d\d-\d\d/[0-9a-f]+\.key", r"logs/\d{4}-\d\d-\d\d/\d\d(\.[0-9a-f]+)?\.jsonl",
    r"audit/\d{4}-\d\d-\d\d\.jsonl",
)]


@pytest.fixture
def open_s3(s3_server: S3Server, s3_bucket: str, clock: FakeClock) -> Iterator[Callable[..., Studio]]:
    """``open_s3(encryption="auto", video_workers=0)``: a studio on ``s3://{a new bucket}/studio``."""
    opened: list[Studio] = []

    def open_(encryption: Any = "auto", video_workers: int = 0) -> Studio:
        studio = fusionkit.open(f"s3://{s3_bucket}/{ROOT}", storage_options=s3_server.storage_options(),
                                clock=clock, encryption=encryption, video_workers=video_workers, sweep_every=None)
        opened.append(studio)
        return studio

    yield open_
    for studio in opened:
        studio.close()


class Bucket:
    """The test's bucket, seen from the server (keys relative to the studio's root)."""

    def __init__(self, server: S3Server, bucket: str) -> None:
        self.server, self.name = server, bucket

    def listed(self, prefix: str = "") -> list[str]:
        return [k.removeprefix(f"{ROOT}/") for k in self.server.objects(self.name, f"{ROOT}/{prefix}")]

    def naming(self, *ids: str) -> list[str]:
        """The keys that name any of ``ids``."""
        return [k for k in self.listed() if any(i in k for i in ids)]

    def bodies_naming(self, *ids: str) -> list[str]:
        """The keys of the objects whose bytes hold any of ``ids`` (a plain studio's documents and logs)."""
        client = self.server.client()
        found = []
        for key in self.listed():
            body = client.get_object(Bucket=self.name, Key=f"{ROOT}/{key}")["Body"].read()
            if any(i.encode() in body for i in ids):
                found.append(key)
        return found

    def beyond_what_a_studio_keeps(self) -> list[str]:
        return [k for k in self.listed() if not any(p.fullmatch(k) for p in KEPT)]


@pytest.fixture
def bucket(s3_server: S3Server, s3_bucket: str) -> Bucket:
    return Bucket(s3_server, s3_bucket)


@pytest.mark.parametrize("encryption", ["auto", None])
def test_upload_fuse_read_by_url_erase_and_sweep_leave_nothing_behind(
    open_s3: Callable[..., Studio], bucket: Bucket, clock: FakeClock, s3_server: S3Server, encryption: str | None
) -> None:
    studio = open_s3(encryption)
    act = studio.activities.create("spring")
    mat = studio.materials.upload(act.id, sample_path("obama.jpg"))
    assert {f"materials/{mat.id}/material.json", f"materials/{mat.id}/source.jpg"} <= set(bucket.listed())
    first_day = clock.now.date().isoformat()

    # A result by URL: the URL names the object in the bucket; a plain studio's is the JPEG itself, an encrypted
    # one's is ciphertext, read through studio.results.
    r1 = studio.fuse(act.id, mat.id, photo("biden.jpg"), response="url")
    assert isinstance(r1.payload, str) and r1.payload.startswith(f"s3://{bucket.name}/{ROOT}/results/image/")
    assert r1.payload.removeprefix(f"s3://{bucket.name}/{ROOT}/") in bucket.listed("results/image")
    with fsspec.open(r1.payload, "rb", **s3_server.storage_options()) as fh:
        at_url = fh.read()
    jpeg = studio.results.read(r1.id)
    assert decode_image(jpeg).shape == photo("obama.jpg").shape
    if encryption is None:
        assert at_url == jpeg
    else:
        assert is_encrypted(at_url) and jpeg not in at_url and not at_url.startswith(b"\xff\xd8")
    assert studio.results.get(r1.id).id == r1.id

    # Erasing a result takes its objects at once; another result stays.
    r2 = studio.fuse(act.id, mat.id, photo("biden.jpg"), response="url")
    assert studio.erase(result_ids=[r1.id]).counts["results"] == 1
    assert bucket.naming(r1.id) == [] and len(bucket.naming(r2.id)) == 2  # the image and its record

    # Past the retention period the sweep takes the results, the old request logs and their data key.
    clock.advance(days=7, seconds=1)
    assert studio.sweep()["results"] == 1
    assert bucket.listed("results") == [] and bucket.naming(r2.id) == []
    assert bucket.listed(f"logs/{first_day}") == [] and bucket.listed(f"keyring/logs-{first_day}") == []

    # Deleting the material takes everything derived from it; erasing it takes the log lines naming it.
    studio.materials.delete(mat.id)
    studio.erase(material_ids=[mat.id])
    assert bucket.naming(mat.id) == []
    if encryption is None:  # only the audit trail, the erasures' proof, still names them
        assert [k for k in bucket.bodies_naming(mat.id, r1.id, r2.id) if not k.startswith("audit/")] == []
    assert bucket.beyond_what_a_studio_keeps() == []
    studio.activities.delete(act.id)
    assert bucket.naming(act.id) == [] and bucket.beyond_what_a_studio_keeps() == []


def test_a_video_job_runs_on_s3_and_the_sweep_and_a_delete_leave_nothing(
    open_s3: Callable[..., Studio], bucket: Bucket, clock: FakeClock, studio_clip: Any  # noqa: F811
) -> None:
    studio = open_s3(video_workers=1)
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, studio_clip)
    assert {"material.json", "source.mp4", "tracks.npz"} <= {k.rsplit("/", 1)[-1] for k in bucket.naming(mat.id)}
    done = studio.videos.wait(studio.videos.submit(act.id, mat.id, photo("biden.jpg")).id, timeout=120)
    assert done.status == "completed", done.error_message
    key = keys.video_result(done.updated.date(), done.id)
    assert done.url == f"s3://{bucket.name}/{ROOT}/{key}" and key in bucket.listed()
    assert hashlib.md5(studio.store.read(key)).hexdigest() == done.md5
    assert bucket.listed("jobs") == [keys.job_doc(done.id)]  # the user's image went with the job's run

    clock.advance(days=1, seconds=1)
    assert studio.sweep()["video_results"] == 1
    assert bucket.naming(done.id) == []  # the result, the job's document and its data key
    studio.materials.delete(mat.id)
    assert bucket.naming(mat.id) == [] and bucket.beyond_what_a_studio_keeps() == []


def test_cancelled_video_jobs_leave_nothing_on_s3(
    open_s3: Callable[..., Studio], bucket: Bucket, clock: FakeClock, studio_clip: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fusionkit.fusion.video as fv

    idle = open_s3(video_workers=0)
    act = idle.activities.create("video")
    mat = idle.materials.upload(act.id, studio_clip)

    # Queued: the cancel takes the user's image at once; the job's document (failed) and its data key stay until
    # the job expires.
    queued = idle.videos.submit(act.id, mat.id, photo("biden.jpg"))
    assert any("/user_" in k for k in bucket.naming(queued.id))
    assert idle.videos.cancel(queued.id).error_code == "FailedOperation.JobCancelled"
    assert [k for k in bucket.naming(queued.id) if not k.startswith("keyring/")] == [keys.job_doc(queued.id)]

    # Running: cancelled at a third of its frames by the caller, on a studio with a worker.
    running: dict[str, str] = {}
    submitted = threading.Event()
    real = fv.fuse_video

    def fuse_then_cancel(*args: Any, progress: Callable[[float], None], **kwargs: Any) -> Any:
        def hook(fraction: float) -> None:
            if fraction >= 0.3 and submitted.wait(30):
                worker.videos.cancel(running["id"])
            progress(fraction)

        return real(*args, progress=hook, **kwargs)

    monkeypatch.setattr(fv, "fuse_video", fuse_then_cancel)
    worker = open_s3(video_workers=1)
    running["id"] = worker.videos.submit(act.id, mat.id, photo("biden.jpg")).id
    submitted.set()
    done = worker.videos.wait(running["id"], timeout=120)
    assert done.status == "failed" and done.error_code == "FailedOperation.JobCancelled"
    worker.videos.close()  # the worker has finished with the job (and cleaned up after it)
    assert bucket.listed("results") == []
    assert sorted(bucket.listed("jobs")) == sorted([keys.job_doc(queued.id), keys.job_doc(done.id)])

    clock.advance(days=1, seconds=1)
    worker.sweep()
    assert bucket.naming(queued.id, done.id) == [] and bucket.listed("jobs") == []
    worker.materials.delete(mat.id)
    assert bucket.beyond_what_a_studio_keeps() == []
