"""The studio's domain values: validated, frozen, JSON round trips with a schema version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import attrs
import numpy as np
import pytest

from fusionkit.domain import (
    SCHEMA_VERSION,
    Activity,
    ErasureReceipt,
    Face,
    FaceMesh,
    FusedResult,
    LogRecord,
    Material,
    MaterialFace,
    MaterialVideo,
    RetentionPolicy,
    ids,
)
from fusionkit.errors import ParameterValueError, StorageError

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)
MID = "mt_0VDT14gSzTjPB9CSjfxg"
AID = "ac_0VDT14gS8UeyxxLnBuV6"


def mesh() -> FaceMesh:
    rng = np.random.default_rng(0)
    face = Face(box=[10, 20, 110, 140], keypoints=rng.uniform(10, 100, (6, 2)), score=0.9, roll=1.5)
    return FaceMesh(face=face, points=np.round(rng.uniform(0, 100, (468, 3)), 3), presence=0.99)


def material(**kw) -> Material:
    args = dict(id=MID, activity_id=AID, name="m", source_format="jpeg", width=640, height=480,
                source_bytes=1234, source_sha256="a" * 64, faces=[MaterialFace(id=f"{MID}_0", index=0, mesh=mesh())],
                created=NOW, updated=NOW)
    args.update(kw)
    return Material(**args)


VALUES = [
    Activity(id=AID, name="spring", created=NOW, updated=NOW, fuse_face_degree=40),
    material(),
    material(kind="video", source_format="mp4", faces=[], video=MaterialVideo(
        size_bytes=150576, duration_s=0.4, fps=25.0, frame_count=10, width=640, height=480, bit_rate=3011520,
        video_codec="h264", audio_codec=None, audio_channels=0, audio_sample_rate=0, tracked_faces=2,
        progress=0.5, attempts=1)),
    FusedResult(id="rs_0VDT14gS5MRfHzClbllg", activity_id=AID, material_id=MID, request_id="rq_0123456789ab",
                created=NOW, expires=NOW + timedelta(days=7), format="png", size=10, url="memory:///x.png",
                parameters={"fuse_face_degree": 50, "template_faces": [0]}),
    LogRecord(timestamp=NOW, request_id="rq_0123456789ab", interface="FuseFace", time_cost_ms=12.5,
              client_ip="203.0.113.1", error_code="FailedOperation.NoFaceDetected"),
    RetentionPolicy(logs=timedelta(days=3)),
    ErasureReceipt(id="er_0123456789ab", completed=NOW, subject_ids=[MID], counts={"materials": 1, "results": 4}),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_json_round_trip_with_schema(value):
    text = value.to_json()
    doc = json.loads(text)
    assert doc["schema"] == SCHEMA_VERSION and doc["kind"] == type(value).KIND
    assert type(value).from_json(text) == value
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        value.id = "x"  # type: ignore[misc]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_newer_schema_other_kind_and_broken_documents_are_refused(value):
    doc = json.loads(value.to_json())
    with pytest.raises(StorageError, match="schema"):
        type(value).from_json(json.dumps({**doc, "schema": SCHEMA_VERSION + 1}))
    with pytest.raises(StorageError, match="kind"):
        type(value).from_json(json.dumps({**doc, "kind": "other"}))
    with pytest.raises(StorageError):
        type(value).from_json(value.to_json()[:-5])
    with pytest.raises(StorageError):
        type(value).from_json(json.dumps({"schema": 1, "kind": type(value).KIND}))


def test_validation():
    with pytest.raises(ParameterValueError):
        Activity(id="ac_../x", name="a", created=NOW, updated=NOW)
    with pytest.raises(ParameterValueError):
        Activity(id=AID, name="", created=NOW, updated=NOW)
    with pytest.raises(ParameterValueError):
        Activity(id=AID, name="a", created=NOW.replace(tzinfo=None), updated=NOW)
    with pytest.raises(ParameterValueError):
        Activity(id=AID, name="a", created=NOW, updated=NOW, fuse_face_degree=101)
    with pytest.raises(ParameterValueError):
        material(faces=[MaterialFace(id=f"{MID}_1", index=1, mesh=mesh())])
    with pytest.raises(ParameterValueError):
        MaterialFace(id="mt_other_0", index=0, mesh=mesh())
    with pytest.raises(ParameterValueError):
        LogRecord(timestamp=NOW, request_id="rq_0123456789ab", interface="Fuse Face", time_cost_ms=1)
    with pytest.raises(ParameterValueError):
        RetentionPolicy(logs=timedelta(0))
    with pytest.raises(ParameterValueError):
        ErasureReceipt(id="er_0123456789ab", completed=NOW, subject_ids=[], counts={"things": 1})
    with pytest.raises(ValueError):
        material(source_format="gif")


def test_material_face_box_and_ids():
    m = material()
    assert m.face_ids == (f"{MID}_0",)
    assert m.faces[0].box == (10.0, 20.0, 110.0, 140.0) and m.faces[0].material_id == MID


def test_ids_are_random_sortable_and_strict():
    a = ids.new_id(ids.MATERIAL, NOW)
    b = ids.new_id(ids.MATERIAL, NOW + timedelta(milliseconds=1))
    assert a != ids.new_id(ids.MATERIAL, NOW) and a < b
    assert ids.is_id(a, ids.MATERIAL) and not ids.is_id(a, ids.ACTIVITY)
    assert abs(ids.id_time(a) - NOW) < timedelta(milliseconds=1)
    for bad in ("mt_short", "mt_" + "a" * 41, "mt_abc/defghijkl", "mt_0123456789\n", "MT_0123456789", 5, None):
        assert not ids.is_id(bad, ids.MATERIAL)
    assert not ids.is_id(type("S", (str,), {})("mt_0123456789"), ids.MATERIAL)  # only plain str


def test_material_face_points_are_exact_and_the_list_form_still_reads():
    face = material().faces[0]
    doc = face.to_dict()
    assert "points_f32le" in doc["mesh"]
    back = MaterialFace.from_dict(doc)
    assert np.array_equal(back.mesh.points, face.mesh.points) and back == face
    legacy = {**doc, "mesh": face.mesh.to_dict()}  # FaceMesh.to_dict's decimal lists
    assert np.allclose(MaterialFace.from_dict(legacy).mesh.points, face.mesh.points, atol=1e-3)
    for bad in ("not base64!", "AAAA"):
        with pytest.raises(ParameterValueError):
            MaterialFace.from_dict({**doc, "mesh": {**doc["mesh"], "points_f32le": bad}})


def test_statuses_are_enums_stored_as_the_services_strings():
    from fusionkit.domain.studio import JobStatus, MaterialStatus, VideoJob

    m = material(status="preprocessing")
    assert m.status is MaterialStatus.PREPROCESSING and m.status == "preprocessing" and f"{m.status}" == "preprocessing"
    assert json.loads(m.to_json())["status"] == "preprocessing" and Material.from_json(m.to_json()) == m
    with pytest.raises(ParameterValueError, match=r"status must be one of .*'role_not_in_video'.*got 'done'"):
        material(status="done")
    job = VideoJob(id="jb_0VDT14gSzTjPB9CSjfxg", activity_id=AID, material_id=MID,
                   request_id="rq_0VDT14gSzTjPB9CSjfxg", status="completed", created=NOW, updated=NOW)
    assert job.status is JobStatus.COMPLETED and job.status_code == 7 and job.done
    doc = job.to_dict()
    assert doc["status"] == "completed" and type(doc["status"]) is str and doc["status_code"] == 7
    assert VideoJob.from_dict(json.loads(json.dumps(doc))) == job
    assert [s.code for s in JobStatus] == [1, 3, 5, 7]


def test_a_video_materials_metadata_is_a_frozen_value_read_as_the_stored_mapping():
    stored = {"size_bytes": 9, "duration_s": 2.0, "fps": 25.0, "frame_count": 50, "width": 64, "height": 48,
              "bit_rate": 36, "video_codec": "h264", "audio_codec": "aac", "audio_channels": 2,
              "audio_sample_rate": 44100, "tracked_faces": 1, "error": None, "progress": 1.0, "reference_faces": 2}
    m = material(kind="video", source_format="mp4", faces=[], video=stored)
    assert isinstance(m.video, MaterialVideo) and m.video.reference_faces == 2 and m.video.attempts is None
    # Read as the document stores it: the same keys in the same order, attempts left out while None.
    assert dict(m.video) == stored and list(m.video) == list(stored) and m.video["progress"] == 1.0
    assert json.loads(m.to_json())["video"] == stored
    assert Material.from_json(m.to_json()) == m
    assert m.video.get("attempts") is None and "attempts" not in m.video
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        m.video.progress = 0.5  # type: ignore[misc]
    with pytest.raises(ParameterValueError, match="progress"):
        MaterialVideo.from_dict({**stored, "progress": 1.5})
    with pytest.raises(ParameterValueError, match="incomplete"):
        MaterialVideo.from_dict({"progress": 1.0})
    # A document from before a field existed still reads; keys this version does not know are ignored.
    old = {k: v for k, v in stored.items() if k not in ("tracked_faces", "reference_faces")} | {"later": 1}
    assert MaterialVideo.from_dict(old).tracked_faces == 0
