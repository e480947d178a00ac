"""The engine's seams: the blend table and the renderer protocol, on the real photos, models and C core."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fusionkit.domain.options import BlendMode, FuseOptions
from fusionkit.errors import ParameterValueError
from fusionkit.fusion.api import fuse
from fusionkit.fusion.engine import FaceRenderer, MeshRenderer, RenderedFace, RenderRequest, fuse_face
from fusionkit.fusion.engine.blend import BLENDERS
from fusionkit.fusion.engine.geometry import mouth_opening
from fusionkit.vision import analyze, mesh_topology
from tests.photos import mesh, photo


def test_every_blend_mode_has_a_blender():
    assert set(BLENDERS) == set(BlendMode)


class _NothingRenderer:
    """Draws no face at all: the engine must then lay nothing of the user's in."""

    def __init__(self) -> None:
        self.requests: list[RenderRequest] = []

    def render(self, request: RenderRequest) -> RenderedFace:
        self.requests.append(request)
        h, w = request.plan.shape
        return RenderedFace(texture=np.zeros((h, w, 3), np.uint8), coverage=np.zeros((h, w), np.uint8))


def test_a_renderer_plugs_in_and_the_stages_around_it_follow_its_coverage():
    assert isinstance(MeshRenderer(), FaceRenderer)
    nothing = _NothingRenderer()
    assert isinstance(nothing, FaceRenderer)
    opts = FuseOptions(fuse_face_degree=100, fuse_profile_degree=100)  # no reshaping: the template stays as it was
    t, u = photo("obama.jpg"), photo("biden.jpg")
    canvas = t.copy()
    report = fuse_face(canvas, mesh("obama.jpg"), u, mesh("biden.jpg"), opts, mesh_topology(), renderer=nothing)
    assert len(nothing.requests) == 1
    req = nothing.requests[0]
    x0, y0, x1, y1 = req.plan.inner
    assert req.template.shape == (y1 - y0, x1 - x0, 3)
    assert req.user.base is u and not req.user.flags.writeable  # the photo itself, read-only to the plug-in
    assert np.array_equal(canvas, t), "a renderer that covers nothing must leave the template untouched"
    # The default renderer, same call, does lay a face in (the degrees keep the template's shape, not its texture
    # under the mouth and eyes, so some pixels change).
    default = t.copy()
    fuse_face(default, mesh("obama.jpg"), u, mesh("biden.jpg"), FuseOptions(), mesh_topology())
    assert np.abs(default.astype(int) - t.astype(int))[y0:y1, x0:x1].mean() > 2
    assert report.roi[2] > report.roi[0]


def _opening_of(image: np.ndarray, near) -> float:
    found = analyze(image, model="auto")
    cx, cy = near.face.center
    m = min(found, key=lambda f: abs(f.face.center[0] - cx) + abs(f.face.center[1] - cy))
    return mouth_opening(m.points)


def test_the_fused_face_wears_the_templates_expression_by_default():
    smiling, neutral = mesh("obama.jpg"), mesh("biden.jpg")  # an open smile, a shut mouth
    assert mouth_opening(smiling.points) > 0.25 and mouth_opening(neutral.points) < 0.05
    opened = fuse(photo("obama.jpg"), photo("biden.jpg"), template_meshes=[smiling]).image
    kept = fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(expression="user"),
                template_meshes=[smiling]).image
    assert _opening_of(opened, smiling) > 0.2, "the template's open smile"
    assert _opening_of(kept, smiling) < 0.1, "the user's shut mouth"
    shut = fuse(photo("biden.jpg"), photo("obama.jpg"), template_meshes=[neutral]).image
    assert _opening_of(shut, neutral) < 0.08, "the template's shut mouth, from a user's open smile"


def test_the_texture_mix_is_the_same_for_numpy_and_python_degrees() -> None:
    """FuseOptions takes NumPy's float64 degrees (floats); the mix must not then run in float64 and round apart."""
    from types import SimpleNamespace

    from fusionkit.fusion.engine.texture import mix_textures

    topo = mesh_topology()
    rng = np.random.default_rng(14)
    h, w = 384, 332

    def ellipse(cx: int, cy: int, rx: int, ry: int) -> np.ndarray:
        return cv2.ellipse(np.zeros((h, w), np.uint8), (cx, cy), (rx, ry), 0, 0, 360, 255, -1)

    # A face-sized region with noise for textures: every pixel's weight then shows in the result.
    parts = SimpleNamespace(oval=ellipse(166, 210, 120, 160), mouth_open=ellipse(166, 290, 30, 8),
                            lips_outer=ellipse(166, 290, 45, 18))
    points = np.asarray(topo.mean_shape, np.float64) * 150 + [w / 2, h / 2 + 20]
    plan = SimpleNamespace(sigma=9.6, in_inner=lambda p: p, target=points, shape=(h, w))
    user, template = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2))
    for beta in (0.3, 0.47, 0.7):
        for lips in (0.0, 0.35, 1.0):
            for mouth in (False, True):
                mixed = [mix_textures(user.copy(), template, plan, parts, degree, topo,  # type: ignore[arg-type]
                                      mouth_from_template=mouth, lips_from_template=lips)
                         for degree in (beta, np.float64(beta))]
                np.testing.assert_array_equal(mixed[1], mixed[0])


def test_expression_option_is_validated_and_stored():
    assert FuseOptions().expression.value == "template"
    assert FuseOptions.from_json(FuseOptions(expression="user").to_json()).expression.value == "user"
    stored = FuseOptions().to_dict()
    del stored["expression"]  # options stored by an earlier version
    assert FuseOptions.from_dict(stored).expression.value == "template"
    with pytest.raises(ParameterValueError, match="expression must be one of"):
        FuseOptions(expression="smile")


def test_a_black_and_white_user_photo_takes_the_templates_skin_colour():
    t, m = photo("obama.jpg"), mesh("obama.jpg")
    grey = cv2.cvtColor(cv2.cvtColor(photo("biden.jpg"), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    fused = fuse(t, grey, template_meshes=[m]).image

    # The cheeks (between the nose wing and the jaw on each side) in CIE a*b*: coloured like the template's.
    def cheeks_ab(img: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        pts = m.points[[50, 280], :2].astype(int)  # MediaPipe's cheek centres
        return np.array([np.median(lab[y - 6:y + 6, x - 6:x + 6, 1:].reshape(-1, 2), axis=0) for x, y in pts])
    # (6.2 on the right cheek since the grey photo's face is found by the pyramid: the letterboxed pass misses it)
    assert np.linalg.norm(cheeks_ab(fused) - cheeks_ab(t), axis=1).max() < 7
    assert np.linalg.norm(cheeks_ab(fused), axis=1).min() > 8, "not grey"


def _fine_energy(img: np.ndarray, m) -> float:
    """Mean |3x3 Laplacian| of the grey image on both cheeks (a box around MediaPipe's cheek centres)."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    r = max(4, round(0.15 * m.inter_ocular_distance))
    return float(np.mean([lap[y - r:y + r, x - r:x + r].mean() for x, y in m.points[[50, 280], :2].astype(int)]))


def test_a_soft_user_photo_takes_the_templates_grain_in_full():
    # A user photo blurred well past the template's grain: the fused cheeks must carry about the template's fine
    # detail (its grain, clipped of its creases and scaled back to its energy), not the user's plastic smoothness.
    t, m = photo("obama.jpg"), mesh("obama.jpg")
    soft = cv2.GaussianBlur(photo("biden.jpg"), (0, 0), 2.5)
    fused = fuse(t, soft, template_meshes=[m]).image
    plain = fuse(t, soft, FuseOptions(fuse_face_degree=0, fuse_profile_degree=0), template_meshes=[m]).image
    wanted = _fine_energy(t, m)
    assert _fine_energy(soft, mesh("biden.jpg")) < 0.5 * wanted, "the user photo is softer than the template"
    for out in (fused, plain):
        assert 0.8 * wanted < _fine_energy(out, m) < 1.3 * wanted


@pytest.mark.parametrize("scale", [0.05, 0.2, 0.37, 0.5, 0.6, 0.62, 0.625, 0.7, 1.0, 2.0])
def test_the_prefilter_scale_steps_by_an_eighth_of_an_octave_rounded_up(scale: float) -> None:
    from fusionkit.fusion.engine.renderer import prefilter_scale

    factor = prefilter_scale(scale)
    if 1.6 * scale >= 1.0:
        assert factor == 1.0  # no prefilter: the warp shrinks by 1.6x at most
    else:
        # the warp is left 1.6-1.75x to shrink, never more; the factor is one of few (a video's frames share it)
        assert 1.6 * scale <= factor < 1.6 * scale * 2 ** (1 / 8) + 1e-12
        assert abs(np.log2(factor) * 8 - round(np.log2(factor) * 8)) < 1e-9 or factor == 1.0


def test_a_video_s_frames_share_the_shrunk_user_photo_for_the_call_only() -> None:
    import gc

    import fusionkit.fusion.engine.renderer as renderer_module
    from fusionkit.fusion.engine import UserKey

    # obama3's face is far larger than the astronaut's: the user photo is shrunk before the warp.
    template, user = photo("astronaut.png"), photo("obama3.jpg")
    tmesh, umesh, topo = mesh("astronaut.png"), mesh("obama3.jpg"), mesh_topology()
    made: list[float] = []
    real = renderer_module._prefiltered

    def counted(image, points, factor):  # type: ignore[no-untyped-def]
        made.append(factor)
        return real(image, points, factor)

    renderer = MeshRenderer()
    renderer_module._prefiltered = counted  # type: ignore[assignment]
    try:
        key = UserKey()
        frames = [template.copy() for _ in range(3)]
        for canvas in frames:  # three frames of one call: one shrink
            fuse_face(canvas, tmesh, user, umesh, FuseOptions(), topo, renderer, None, key)
        assert len(made) == 1 and made[0] < 1.0
        alone = template.copy()  # no key (nothing may be kept): shrunk again, the same picture
        fuse_face(alone, tmesh, user, umesh, FuseOptions(), topo, renderer, None, None)
        assert len(made) == 2
        assert all(np.array_equal(f, alone) for f in frames)
        fuse_face(template.copy(), tmesh, user, umesh, FuseOptions(), topo, renderer, None, UserKey())
        assert len(made) == 3  # another call, another key: never the first call's photo
        # A key reused for another face (not what callers do) still gets that face, not the first one's photo.
        other = template.copy()
        fuse_face(other, tmesh, photo("biden.jpg"), mesh("biden.jpg"), FuseOptions(), topo, renderer, None, key)
        assert len(made) == 4
        fresh = template.copy()
        fuse_face(fresh, tmesh, photo("biden.jpg"), mesh("biden.jpg"), FuseOptions(), topo, renderer, None, None)
        assert np.array_equal(other, fresh)
    finally:
        renderer_module._prefiltered = real  # type: ignore[assignment]
    del key
    gc.collect()
    assert len(renderer._by_user) == 0  # the user's face is kept for the call, then gone


def test_skin_likeness_by_table_is_the_per_pixel_formula() -> None:
    """The occluder stages' skin likeness looks each channel's term up for the 256 codes; it must give the very
    numbers the per-pixel float32 formula gives (CIE Lab from OpenCV's 8-bit codes, chroma weighing most, brighter
    than the skin a third as much as darker)."""
    from fusionkit.fusion.engine._lab import lab_float, skin_likeness

    rng = np.random.default_rng(7)
    for _ in range(20):
        lab8 = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
        mean = np.array([rng.uniform(20, 90), rng.uniform(-10, 30), rng.uniform(-10, 40)])
        std = rng.uniform(0.5, 20, 3)
        spread = np.maximum(std, [8.0, 3.0, 3.0])
        d = (lab_float(lab8) - mean.astype(np.float32)) * (1 / spread).astype(np.float32)
        d[..., 0] = np.where(d[..., 0] > 0, d[..., 0] * np.float32(1 / 3), d[..., 0])
        d *= d
        expected = np.clip((4.3 - np.sqrt(0.35 * d[..., 0] + d[..., 1] + d[..., 2])) * (1 / 1.5), 0.0, 1.0)
        got = skin_likeness(lab8, mean, std)
        assert got.dtype == np.float32 and got.shape == lab8.shape[:2]
        np.testing.assert_array_equal(got, expected.astype(np.float32))
    # the skin itself is fully alike; a colour far off in chroma is not
    skin = np.array([[[150, 140, 145]]], np.uint8)  # OpenCV codes
    far = np.array([[[150, 90, 200]]], np.uint8)
    mean, std = lab_float(skin)[0, 0].astype(np.float64), np.array([5.0, 2.0, 2.0])
    assert skin_likeness(skin, mean, std)[0, 0] == 1.0 and skin_likeness(far, mean, std)[0, 0] == 0.0


@pytest.mark.parametrize("step", [1, 2, 3, 4, 7])
def test_subsample_and_the_srgb_table_are_numpy_s(step: int) -> None:
    """The engine's every-k-th-pixel copies and its sRGB table lookup take faster routes to NumPy's arrays."""
    from fusionkit.fusion.engine._common import subsample
    from fusionkit.fusion.engine.colour import _TO_LINEAR, srgb_to_linear

    rng = np.random.default_rng(13)
    frame = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    for image in (frame, frame[5:50, 7:80], frame[:, :, 0], frame[::-1, 3:]):
        got = subsample(image, step)
        expected = np.ascontiguousarray(image[::step, ::step])
        assert got.dtype == expected.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
        linear = srgb_to_linear(image[::step, ::step])
        assert linear.dtype == np.float32
        np.testing.assert_array_equal(linear, _TO_LINEAR[image[::step, ::step]])


@pytest.mark.parametrize("q", [0.0, 0.1, 37.3, 50.0, 99.5, 99.9, 100.0])
def test_percentile_is_numpy_s_percentile(q: float) -> None:
    """The colour stage's percentile of the skin's light skips np.percentile's overhead; it must be its number."""
    from fusionkit.fusion.engine._common import percentile

    rng = np.random.default_rng(12)
    for n in (1, 2, 3, 7, 41, 200, 201, 1303, 4000, 176438):
        for ties in (False, True):
            a = (rng.random(n) ** 2.2).astype(np.float32)
            if ties:
                a = (np.round(a * 20) / 20).astype(np.float32)
            samples: list[np.ndarray] = [a, a.astype(np.float64), -a]
            for values in samples:
                got, expected = percentile(values, q), float(np.percentile(values, q))
                assert got == expected, (n, ties, values.dtype)
    # NumPy's edge cases: a NaN anywhere, an infinite largest value
    a = rng.random(1303).astype(np.float32)
    a[5] = np.nan
    assert np.isnan(percentile(a, q)) and np.isnan(float(np.percentile(a, q)))
    b = np.array([1, np.inf], np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_equal(percentile(b, q), float(np.percentile(b, q)))


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (400,), (3, 3, 1), (3, 3, 2), (3, 3, 61), (2, 5, 100)])
def test_median_last_is_numpy_s_median(shape: tuple[int, ...]) -> None:
    """The engine's medians of a face region's samples skip np.median's overhead; they must be its numbers."""
    from fusionkit.fusion.engine._common import median_last

    rng = np.random.default_rng(11)
    for ties in (False, True):
        a = (rng.random(shape) * 200 - 100).astype(np.float32)
        if ties:
            a = np.round(a / 10) * 10
        got, expected = median_last(a), np.median(a, axis=-1)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_regions_features_match_the_feature_mask_drawn_afresh() -> None:
    """regions() lends its lips and eyes to the feature mask; the mask is the one drawn from nothing, and the lips and
    eyes lent are left as they were."""
    from fusionkit.core import dilate_mask
    from fusionkit.fusion.engine._common import polygon_mask
    from fusionkit.fusion.engine.geometry import OUTER_LIPS, plan_face
    from fusionkit.fusion.engine.mask import feature_mask, regions

    topo = mesh_topology()
    for template, user in (("obama.jpg", "biden.jpg"), ("two_people.jpg", "astronaut.png")):
        plan = plan_face(mesh(template), mesh(user), FuseOptions(), topo, photo(template).shape[:2])
        parts = regions(plan, topo)
        afresh = feature_mask(plan.in_inner(plan.target), topo, plan.shape)
        assert afresh.max() == 255 and parts.eyes.max() == 255
        np.testing.assert_array_equal(parts.features_grown, dilate_mask(afresh, parts.grow))
        tgt = plan.in_inner(plan.target)
        np.testing.assert_array_equal(parts.lips_outer, polygon_mask(tgt[OUTER_LIPS], plan.shape))
        np.testing.assert_array_equal(parts.eyes, np.maximum(polygon_mask(tgt[topo.region("right_eye")], plan.shape),
                                                             polygon_mask(tgt[topo.region("left_eye")], plan.shape)))
