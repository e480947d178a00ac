"""What the engine refuses (faces turned too far, mostly covered, too small or too blurred to carry a likeness):
typed errors with stable codes, on the real photos, models and C core; nothing half fused."""

from __future__ import annotations

import math

import attrs
import cv2
import numpy as np
import pytest

from fusionkit.core import warp_mesh
from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import FaceBlurredError, FaceOccludedError, FacePoseTooLargeError, FaceSizeTooSmallError
from fusionkit.fusion.api import fuse
from fusionkit.fusion.engine import MeshRenderer, RenderRequest, fuse_face
from fusionkit.fusion.engine.geometry import apply_similarity, fit_similarity, into_pose, plan_face, to_core
from fusionkit.fusion.engine.mask import front_facing
from fusionkit.fusion.engine.preflight import MAX_YAW_DEGREES, face_sharpness, yaw_degrees
from fusionkit.vision import analyze, mesh_topology
from tests.photos import mesh, photo


def turned(m: FaceMesh, degrees: float) -> FaceMesh:
    """The mesh's 3D points turned about the vertical axis through the face's centre (a head turned aside)."""
    p = np.asarray(m.points, np.float64).copy()
    cx = p[:, 0].mean()
    a = math.radians(degrees)
    x, z = p[:, 0] - cx, p[:, 2]
    p[:, 0] = cx + x * math.cos(a) - z * math.sin(a)
    p[:, 2] = x * math.sin(a) + z * math.cos(a)
    return attrs.evolve(m, points=p.astype(np.float32))


def test_yaw_follows_a_turned_head():
    frontal = mesh("obama.jpg")
    assert abs(yaw_degrees(frontal)) < 10
    for degrees in (-40, 30, 60):
        assert yaw_degrees(turned(frontal, degrees)) == pytest.approx(yaw_degrees(frontal) + degrees, abs=6)


def test_a_template_turned_past_the_limit_is_refused_untouched():
    t = photo("obama.jpg")
    profile = turned(mesh("obama.jpg"), 65)
    canvas = t.copy()
    with pytest.raises(FacePoseTooLargeError) as err:
        fuse_face(canvas, profile, photo("biden.jpg"), mesh("biden.jpg"), FuseOptions(), mesh_topology())
    assert err.value.code == "FailedOperation.FacePoseTooLarge"
    assert "template face is turned" in str(err.value) and f"{MAX_YAW_DEGREES:.0f}" in str(err.value)
    assert np.array_equal(canvas, t)
    with pytest.raises(FacePoseTooLargeError):
        fuse(t, photo("biden.jpg"), template_meshes=[profile])
    # Within the limit the same head is fused.
    assert fuse(t, photo("biden.jpg"), template_meshes=[turned(mesh("obama.jpg"), 30)]).image.shape == t.shape


def test_a_blurred_user_photo_is_refused_a_soft_one_fused():
    u = photo("biden.jpg")
    iod = mesh("biden.jpg").inter_ocular_distance
    soft = cv2.GaussianBlur(u, (0, 0), 0.02 * iod)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(soft, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    fuse(photo("obama.jpg"), enc.tobytes(), template_meshes=[mesh("obama.jpg")])  # soft but fine
    blurred = cv2.GaussianBlur(u, (0, 0), 0.07 * iod)
    with pytest.raises(FaceBlurredError) as err:
        fuse(photo("obama.jpg"), blurred, template_meshes=[mesh("obama.jpg")])
    assert err.value.code == "FailedOperation.FaceBlurred" and "sharper photo" in str(err.value)
    assert face_sharpness(blurred, analyze(blurred, model="auto")[0], mesh_topology()) < face_sharpness(
        u, mesh("biden.jpg"), mesh_topology())


def test_a_user_face_too_small_for_a_likeness_is_refused():
    u = photo("obama.jpg")
    scale = 18 / mesh("obama.jpg").inter_ocular_distance  # 18 px between the eyes
    tiny = cv2.resize(u, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceSizeTooSmallError):
        fuse(photo("biden.jpg"), tiny, template_meshes=[mesh("biden.jpg")])


def test_a_mostly_covered_template_face_is_refused():
    t = photo("obama.jpg").copy()
    m = mesh("obama.jpg")
    x0, y0, x1, y1 = (int(v) for v in m.face.box)
    t[y0 + (y1 - y0) // 6:y1, x0:x1] = (40, 90, 200)  # a blue board over most of the face
    with pytest.raises(FaceOccludedError) as err:
        fuse(t, photo("biden.jpg"), template_meshes=[m])
    assert err.value.code == "FailedOperation.FaceOccluded" and "template face" in str(err.value)


def test_a_turned_user_is_turned_into_the_templates_pose():
    frontal = mesh("obama.jpg")
    side = turned(frontal, 35)
    # The user's frontal face seen in the template's turned pose is the turned mesh itself, up to float error.
    assert np.abs(into_pose(side.points, frontal.points) - side.points[:, :2]).max() < 0.05
    # A similarity in the picture plane cannot do that.
    flat = apply_similarity(fit_similarity(frontal.points, side.points), frontal.points)
    assert np.abs(flat - side.points[:, :2]).max() > 5


def test_the_hidden_half_of_a_turned_user_face_is_drawn_from_its_mirror():
    topo = mesh_topology()
    user, frontal = photo("biden.jpg"), mesh("biden.jpg")
    side = turned(frontal, 40)
    # A user photo of the head turned 40 degrees: the frontal photo warped onto the turned mesh, the triangles
    # now facing away left out (as a camera would not see them).
    src, dst = topo.extend(frontal.points).astype(np.float64), topo.extend(side.points).astype(np.float64)
    tris = topo.triangles
    own = tris[(tris < 468).all(axis=1)]
    seen = own[front_facing(dst, own, np.asarray(topo.mean_shape, np.float64))]
    photo_turned = user.copy()
    warp_mesh(user, to_core(src), to_core(dst), seen, photo_turned)
    template, tmesh = photo("obama.jpg"), mesh("obama.jpg")
    plan = plan_face(tmesh, side, FuseOptions(), topo, template.shape[:2])
    x0, y0, x1, y1 = plan.inner
    request = RenderRequest(template=np.ascontiguousarray(template[y0:y1, x0:x1]), user=photo_turned, plan=plan,
                            topology=topo, options=FuseOptions())
    drawn = MeshRenderer().render(request)
    oval = np.zeros(plan.shape, np.uint8)
    cv2.fillPoly(oval, [np.round(plan.in_inner(plan.target)[topo.region("face_oval")]).astype(np.int32)], 255)
    inside = oval >= 128
    # The whole frontal target is covered: the far half from the near half's mirror image.
    assert (drawn.coverage[inside] >= 128).mean() > 0.95
    # A frontal user photo needs no mirror: its coverage is the plain warp's.
    plain = MeshRenderer().render(RenderRequest(template=request.template, user=user,
                                                plan=plan_face(tmesh, frontal, FuseOptions(), topo,
                                                               template.shape[:2]),
                                                topology=topo, options=FuseOptions()))
    assert plain.coverage.any()


def test_a_tiny_template_face_is_fused_not_refused_as_covered():
    # A face a video's tracks hold at 14 px (fuse() refuses template faces under 34 px; the engine must not take
    # such a face's few skin pixels for a cover and blame the user).
    t = photo("obama.jpg")
    m = mesh("obama.jpg")
    scale = 14 / m.face.size
    small = cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    tiny = attrs.evolve(m, points=(m.points * np.float32(scale)).astype(np.float32),
                        face=attrs.evolve(m.face, box=m.face.box * np.float32(scale)))
    canvas = small.copy()
    fuse_face(canvas, tiny, photo("biden.jpg"), mesh("biden.jpg"), FuseOptions(), mesh_topology())
