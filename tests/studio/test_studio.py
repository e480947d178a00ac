"""The studio on memory:// and on a local directory: activities, materials, fusion, results, erasure."""

from __future__ import annotations

import base64
from datetime import timedelta

import attrs
import numpy as np
import pytest

import fusionkit
from fusionkit.domain import Activity, FusedResult, Material
from fusionkit.errors import (
    ActivityIdNotFoundError,
    CapacityExceededError,
    ConsentRequiredError,
    ImageDecodeFailedError,
    ImageResolutionExceedError,
    ImageSizeExceedError,
    MaterialIdNotFoundError,
    NoFaceDetectedError,
    ParameterValueError,
    ResultIdNotFoundError,
    TemplateFaceIDNotExistError,
    UnsupportedImageFormatError,
)
from fusionkit.fusion.api import Merge
from fusionkit.imaging.decode import ImageLimits, decode_image
from fusionkit.samples import sample_path
from fusionkit.studio import AgeAttestation, Capacity, ConsentToken, RequestContext
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

from .conftest import photo, photo_bytes, stored_keys


@pytest.fixture
def activity(studio) -> Activity:
    return studio.activities.create("spring campaign", fuse_face_degree=40)


@pytest.fixture
def material(studio, activity) -> Material:
    return studio.materials.upload(activity.id, sample_path("obama.jpg"))


# -- activities ----------------------------------------------------------------------------------------------------

def test_activity_create_get_list_rename_delete(studio, clock):
    a = studio.activities.create("one")
    clock.advance(seconds=1)
    b = studio.activities.create("two")
    assert studio.activities.get(a.id) == a
    assert [x.id for x in studio.activities.list()] == [a.id, b.id]
    clock.advance(seconds=5)
    renamed = studio.activities.rename(a.id, "uno ../../etc")
    assert renamed.name == "uno ../../etc" and renamed.updated > a.updated
    assert studio.activities.get(a.id).name == "uno ../../etc"
    receipt = studio.activities.delete(a.id)
    assert receipt.counts["activities"] == 1 and receipt.subject_ids == (a.id,)
    with pytest.raises(ActivityIdNotFoundError) as err:
        studio.activities.get(a.id)
    assert err.value.code == "InvalidParameterValue.ActivityIdNotFound"
    assert [x.id for x in studio.activities.list()] == [b.id]


def test_names_never_reach_storage_keys(studio):
    a = studio.activities.create("../../../../tmp/evil")
    keys = stored_keys(studio)
    assert keys == [f"activities/{a.id}.json"]


# -- materials -----------------------------------------------------------------------------------------------------

def test_upload_finds_and_indexes_faces_once(studio, activity, material):
    assert material.activity_id == activity.id
    assert material.source_format == "jpeg" and (material.width, material.height) == photo("obama.jpg").shape[1::-1]
    assert material.face_ids == (f"{material.id}_0",)
    assert material.source_bytes == len(photo_bytes("obama.jpg"))
    assert studio.materials.get(material.id) == material
    assert studio.materials.get(material.id, activity_id=activity.id) == material
    assert set(stored_keys(studio, "materials")) == {f"materials/{material.id}/material.json",
                                                     f"materials/{material.id}/source.jpg"}


def test_upload_from_bytes_and_array(studio, activity):
    m1 = studio.materials.upload(activity.id, photo_bytes("two_people.jpg"), name="group")
    assert m1.name == "group" and len(m1.faces) == 2
    assert [f.id for f in m1.faces] == [f"{m1.id}_0", f"{m1.id}_1"]
    assert m1.faces[0].mesh.face.size >= m1.faces[1].mesh.face.size
    m2 = studio.materials.upload(activity.id, photo("biden.jpg"))
    assert m2.source_format == "png" and m2.name == "material"


def test_list_pages_and_filters(studio, activity, clock):
    ids = []
    data = photo_bytes("obama.jpg")
    for _ in range(3):
        clock.advance(seconds=1)
        ids.append(studio.materials.upload(activity.id, data).id)
    other = studio.activities.create("other")
    page = studio.materials.list(activity.id, limit=2, offset=0)
    assert [m.id for m in page.materials] == ids[:2] and page.total == 3
    page = studio.materials.list(activity.id, limit=2, offset=2)
    assert [m.id for m in page.materials] == ids[2:] and page.total == 3
    page = studio.materials.list(activity.id, material_ids=[ids[2], ids[0]])
    assert [m.id for m in page.materials] == [ids[0], ids[2]] and page.total == 2
    assert studio.materials.list(other.id).total == 0
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(ids[0], activity_id=other.id)
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": True}):
        with pytest.raises(ParameterValueError):
            studio.materials.list(activity.id, **bad)


@pytest.mark.parametrize(("source", "error"), [
    (b"hello, not an image", ImageDecodeFailedError),
    (b"GIF89a" + b"\x00" * 64, UnsupportedImageFormatError),
    (b"", ImageDecodeFailedError),
    (np.full((200, 200, 3), 128, np.uint8), NoFaceDetectedError),
    ("/no/such/file.jpg", ImageDecodeFailedError),
    (12, ParameterValueError),
])
def test_bad_uploads_store_nothing(studio, activity, source, error):
    before = stored_keys(studio)
    with pytest.raises(error):
        studio.materials.upload(activity.id, source)
    assert stored_keys(studio) == before


def test_webp_and_caps_store_nothing(studio_url, clock):
    import cv2

    studio = fusionkit.open(studio_url, clock=clock, limits=ImageLimits(max_bytes=200_000, max_side=1000))
    a = studio.activities.create("caps")
    before = stored_keys(studio)
    _ok, webp = cv2.imencode(".webp", np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(UnsupportedImageFormatError):
        studio.materials.upload(a.id, webp.tobytes())
    with pytest.raises(ImageSizeExceedError):
        studio.materials.upload(a.id, photo_bytes("obama.jpg"))  # 280 kB
    with pytest.raises(ImageResolutionExceedError):
        studio.materials.upload(a.id, np.zeros((1200, 800, 3), np.uint8))
    assert stored_keys(studio) == before


def test_upload_to_unknown_activity_stores_nothing(studio, activity):
    fake = activity.id[:-4] + "zzzz"
    with pytest.raises(ActivityIdNotFoundError):
        studio.materials.upload(fake, photo_bytes("obama.jpg"))
    assert stored_keys(studio) == [f"activities/{activity.id}.json"]


def test_capacity_limits_refuse_uploads(studio_url, clock):
    studio = fusionkit.open(studio_url, clock=clock, capacity=Capacity(max_materials=1))
    a = studio.activities.create("cap")
    studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    with pytest.raises(CapacityExceededError) as err:
        studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    assert err.value.code == "LimitExceeded.StudioCapacity" and "max_materials" in str(err.value)
    assert studio.materials.list(a.id).total == 1
    studio = fusionkit.open(studio_url + "-bytes", clock=clock, capacity=Capacity(max_bytes=300_000))
    a = studio.activities.create("cap")
    with pytest.raises(CapacityExceededError):
        studio.materials.upload(a.id, photo_bytes("obama.jpg") + b"\x00" * 30_000)


# -- fusion --------------------------------------------------------------------------------------------------------

def test_fuse_every_response_kind(studio, activity, material):
    user = photo("biden.jpg")
    r = studio.fuse(activity.id, material.id, user, response="array")
    assert isinstance(r, FusedResult) and r.url is None and r.expires is None
    assert r.payload.shape == photo("obama.jpg").shape and r.payload.dtype == np.uint8
    assert r.parameters["fuse_face_degree"] == 40  # the activity's default
    b = studio.fuse(activity.id, material.id, user, response="bytes", fuse_face_degree=70)
    assert b.payload[:3] == b"\xff\xd8\xff" and b.size == len(b.payload) and b.format == "jpeg"
    assert b.parameters["fuse_face_degree"] == 70
    b64 = studio.fuse(activity.id, material.id, Merge(image=user, template_face=f"{material.id}_0"),
                      response="base64")
    assert decode_image(base64.b64decode(b64.payload)).shape == photo("obama.jpg").shape
    assert b64.parameters["template_faces"] == [0]
    by_index = studio.fuse(activity.id, material.id, Merge(image=user, template_face=0), response="array")
    assert np.array_equal(by_index.payload, r.payload)
    assert stored_keys(studio, "results") == []
    u = studio.fuse(activity.id, material.id, user, response="url")
    assert u.payload == u.url and u.url.endswith(".jpg")
    assert u.expires - u.created == studio.retention.image_results
    assert studio.results.get(u.id) == attrs.evolve(u, payload=None)
    assert studio.results.read(u.id)[:3] == b"\xff\xd8\xff"
    assert f"results/image/{u.created.date().isoformat()}/{material.id}.{u.id}.json" in stored_keys(studio)


def test_material_degree_beats_activity_degree(studio, activity):
    m = studio.materials.upload(activity.id, photo_bytes("obama.jpg"), fuse_face_degree=90, fuse_profile_degree=5)
    r = studio.fuse(activity.id, m.id, photo("biden.jpg"), response="array")
    assert r.parameters["fuse_face_degree"] == 90 and r.parameters["fuse_profile_degree"] == 5


def test_fuse_refuses_unknown_things(studio, activity, material):
    user = photo("biden.jpg")
    other = studio.activities.create("other")
    with pytest.raises(MaterialIdNotFoundError):
        studio.fuse(other.id, material.id, user)
    with pytest.raises(ActivityIdNotFoundError):
        studio.fuse(activity.id[:-3] + "abc", material.id, user)
    with pytest.raises(TemplateFaceIDNotExistError):
        studio.fuse(activity.id, material.id, Merge(image=user, template_face=f"{material.id}_1"))
    with pytest.raises(TemplateFaceIDNotExistError):
        studio.fuse(activity.id, material.id, Merge(image=user, template_face="mt_somethingelse_0"))
    with pytest.raises(ParameterValueError):
        studio.fuse(activity.id, material.id, user, response="file")
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get("rs_0000000000000000")


def test_store_results_always(studio_url, clock):
    studio = fusionkit.open(studio_url, clock=clock, store_results="always")
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"), response="array")
    assert isinstance(r.payload, np.ndarray) and r.url is not None
    assert studio.results.get(r.id).size == r.size > 0


# -- consent -------------------------------------------------------------------------------------------------------

def test_consent_policy_fails_closed(studio_url, clock):
    def verify(token: str) -> bool:
        if token == "broken":
            raise RuntimeError("verifier down")
        return token == "signed-ok"

    studio = fusionkit.open(studio_url, clock=clock, consent=ConsentToken(verify=verify))
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    user = photo("biden.jpg")
    for consent in (None, {}, {"token": "forged"}, {"token": "broken"}, {"token": 1}):
        with pytest.raises(ConsentRequiredError) as err:
            studio.fuse(a.id, m.id, user, consent=consent)
        assert err.value.code == "FailedOperation.ConsentRequired"
    assert stored_keys(studio, "results") == []
    r = studio.fuse(a.id, m.id, user, response="array", consent={"token": "signed-ok"})
    assert r.payload is not None


def test_age_attestation_and_odd_policies(studio_url, clock):
    studio = fusionkit.open(studio_url, clock=clock, consent=AgeAttestation(min_age=18))
    a = studio.activities.create("a")
    with pytest.raises(ConsentRequiredError):
        studio.fuse(a.id, "mt_0000000000000000", b"", consent={"age_attested": 17})
    with pytest.raises(ConsentRequiredError):
        studio.fuse(a.id, "mt_0000000000000000", b"", consent={"age_attested": True})
    odd = fusionkit.open(studio_url, clock=clock, consent=lambda request: "yes")  # truthy is not True
    with pytest.raises(ConsentRequiredError):
        odd.fuse(a.id, "mt_0000000000000000", b"")
    with pytest.raises(ParameterValueError):
        fusionkit.open(studio_url, consent="always")


def test_every_call_receiving_peoples_photos_records_the_consent_decision(studio_url, clock, studio_clip):  # noqa: F811
    studio = fusionkit.open(studio_url, clock=clock, consent=AgeAttestation(min_age=16), video_workers=0)
    a = studio.activities.create("a")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    studio.fuse(a.id, m.id, photo("biden.jpg"), consent={"age_attested": 30})
    with pytest.raises(ConsentRequiredError):
        studio.fuse(a.id, m.id, photo("biden.jpg"), consent={"age_attested": 12})
    with pytest.raises(ConsentRequiredError):  # photos of performers, for a video material: asked too
        studio.materials.upload(a.id, studio_clip, reference_faces=[photo("obama.jpg")])
    video = studio.materials.upload(a.id, studio_clip, reference_faces=[photo("obama.jpg")],
                                    consent={"age_attested": 40})
    studio.videos.submit(a.id, video.id, photo("biden.jpg"), consent={"age_attested": 20})
    records = studio.logs.query(clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1))
    decided = [(r.interface, r.consent) for r in records if r.consent is not None]
    policy = "AgeAttestation@1-min16"
    assert decided == [("FuseFace", f"{policy}:allowed"), ("FuseFace", f"{policy}:refused"),
                       ("UploadMaterial", f"{policy}:refused"), ("UploadMaterial", f"{policy}:allowed"),
                       ("SubmitVideoFaceFusionJob", f"{policy}:allowed")]
    assert [r.consent for r in records if r.interface == "CreateActivity"] == [None]  # no photo: not asked
    plain = fusionkit.open(studio_url + "-plain", clock=clock, video_workers=0)
    pa = plain.activities.create("a")
    pm = plain.materials.upload(pa.id, photo_bytes("obama.jpg"))
    plain.fuse(pa.id, pm.id, photo("biden.jpg"))
    (fused,) = plain.logs.query(clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1),
                                interface="FuseFace")
    assert fused.consent == "not_checked"


# -- deletion and erasure ------------------------------------------------------------------------------------------

def test_delete_material_erases_everything_derived(studio, activity, material):
    r1 = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    other = studio.materials.upload(activity.id, photo_bytes("obama3.jpg"))
    r2 = studio.fuse(activity.id, other.id, photo("biden.jpg"))
    receipt = studio.materials.delete(material.id)
    assert receipt.counts == {"activities": 0, "materials": 1, "faces": 1, "sources": 1, "tracks": 0, "results": 1,
                              "log_records": 0}
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.get(material.id)
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(r1.id)
    with pytest.raises(MaterialIdNotFoundError):
        studio.fuse(activity.id, material.id, photo("biden.jpg"))
    assert studio.results.get(r2.id).material_id == other.id
    assert [m.id for m in studio.materials.list(activity.id).materials] == [other.id]
    assert not [k for k in stored_keys(studio) if material.id in k]
    with pytest.raises(MaterialIdNotFoundError):
        studio.materials.delete(material.id)


def test_delete_activity_erases_its_materials_and_results(studio, activity, material):
    studio.fuse(activity.id, material.id, photo("biden.jpg"))
    keep = studio.activities.create("keep")
    receipt = studio.activities.delete(activity.id)
    assert receipt.counts["materials"] == 1 and receipt.counts["results"] == 1 and receipt.counts["faces"] == 1
    assert stored_keys(studio) == [f"activities/{keep.id}.json"]


def test_erase_removes_results_and_log_lines(studio, activity, material, clock):
    r1 = studio.fuse(activity.id, material.id, photo("biden.jpg"))
    r2 = studio.fuse(activity.id, material.id, photo("biden.jpg"),
                     context=RequestContext(request_id="rq_subjectrequest01"))
    since, until = clock.now.replace(hour=0), clock.now.replace(hour=23)
    assert any(rec.result_id == r1.id for rec in studio.logs.query(since, until))
    receipt = studio.erase(result_ids=[r1.id])
    assert receipt.counts["results"] == 1 and receipt.counts["log_records"] >= 1
    assert not any(r1.id in (rec.result_id, rec.result_url) for rec in studio.logs.query(since, until))
    receipt = studio.erase(request_ids=["rq_subjectrequest01"])
    assert receipt.counts["results"] == 1
    with pytest.raises(ResultIdNotFoundError):
        studio.results.get(r2.id)
    assert not any(rec.request_id == "rq_subjectrequest01" for rec in studio.logs.query(since, until))
    receipt = studio.erase(material_ids=[material.id])
    assert receipt.counts["log_records"] >= 1  # the upload
    assert not any(material.id in (rec.material_id or "") for rec in studio.logs.query(since, until))
    assert studio.materials.get(material.id) == material  # erase() serves results and logs; delete() materials
    with pytest.raises(ParameterValueError):
        studio.erase(request_ids=["../x"])
