"""The learned renderer path end to end with tiny graphs: alignment, paste-back, degrees, projection, enhancer,
licences; and what bad models and bad plug-ins get."""

from __future__ import annotations

import gc
import pickle

import cv2
import numpy as np
import pytest
from skimage.transform import SimilarityTransform

import fusionkit
from fusionkit.domain.models import ModelSpec, PluginSpec
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import (
    ModelContractError,
    ModelHashMismatchError,
    ModelUnreadableError,
    ParameterValueError,
    ProviderUnavailableError,
    RendererFailedError,
    RendererNotFoundError,
    RendererOutputError,
)
from fusionkit.fusion.engine import MeshRenderer, RenderedFace, RenderRequest
from fusionkit.fusion.renderers import (
    MODEL_LICENCE_KEY,
    OnnxEnhancer,
    OnnxSwapper,
    arcface_template,
    available,
    five_points,
)
from fusionkit.fusion.renderers.align import ARCFACE_112, Alignment, align, arcface_112_from, paste_back
from fusionkit.vision import RuntimeOptions, mesh_topology, using_runtime
from fusionkit.vision.user_models import load_user_model
from tests.photos import mesh, photo
from tests.renderers import tiny_models as tm
from tests.renderers.conftest import Models


def swap(models: Models, **options: object) -> FuseOptions:
    return FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser), **options)  # type: ignore[arg-type]


def face_box(name: str) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in mesh(name).face.box)
    return x0, y0, x1, y1


# -- alignment ---------------------------------------------------------------------------------------------------

def test_arcface_templates_scale_as_insightface_does() -> None:
    assert np.array_equal(arcface_template(112), ARCFACE_112)
    assert np.allclose(arcface_template(128), ARCFACE_112 + [8.0, 0.0])
    assert np.allclose(arcface_template(256), ARCFACE_112 * 2 + [16.0, 0.0])
    assert np.allclose(arcface_template(224), ARCFACE_112 * 2)


@pytest.mark.parametrize("size", [128, 256, 512])
def test_the_112_px_crop_inside_a_larger_one_is_the_direct_112_px_crop(size: int) -> None:
    image = photo("obama.jpg")
    five = five_points(mesh("obama.jpg").points[:, :2].astype(np.float64) - 0.5, mesh_topology())
    crop, _ = align(image, five, arcface_template(size), size)
    direct, _ = align(image, five, ARCFACE_112, 112)
    inside = arcface_112_from(crop, size)
    assert inside.shape == (112, 112, 3)
    # The same alignment, sampled once more: the same face within a few grey levels (112 px shrinks through a
    # pyramid, the larger crops do not).
    assert np.median(np.abs(inside.astype(int) - direct.astype(int))) <= 2


def test_five_points_are_eyes_nose_and_mouth_corners_image_left_first() -> None:
    five = five_points(mesh("obama.jpg").points[:, :2].astype(np.float64), mesh_topology())
    left_eye, right_eye, nose, mouth_left, mouth_right = five
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < nose[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


@pytest.mark.parametrize("scale", [1.0, 0.3, 0.12])
def test_a_crop_puts_each_point_where_the_template_says_even_shrunk_through_a_pyramid(scale: float) -> None:
    # A dot at each of five points of a synthetic image lands at the template's point in the crop.
    rng = np.random.default_rng(3)
    size = 128
    dst = arcface_template(size)
    src = (dst - dst.mean(axis=0)) / scale @ np.array([[0.96, -0.28], [0.28, 0.96]]) + [700.0, 500.0]
    image = np.zeros((1000, 1400, 3), np.uint8) + rng.integers(0, 20, (1000, 1400, 3), dtype=np.uint8)
    for x, y in src:  # drawn to 1/16 px (shift=4), so the dots sit where the points are
        cv2.circle(image, (round(16 * x), round(16 * y)), 16 * max(2, round(2 / scale)), (255, 255, 255), -1,
                   cv2.LINE_AA, 4)
    crop, alignment = align(image, src, dst, size)
    assert alignment.scale == pytest.approx(scale, rel=1e-6)
    grey = crop[..., 0].astype(np.float64)
    for x, y in dst:
        win = grey[round(y) - 4:round(y) + 5, round(x) - 4:round(x) + 5]
        yy, xx = np.mgrid[-4:5, -4:5]
        w = np.clip(win - 40, 0, None)
        assert w.sum() > 0
        centre = ((w * xx).sum() / w.sum() + round(x), (w * yy).sum() / w.sum() + round(y))
        assert abs(centre[0] - x) < 0.15 and abs(centre[1] - y) < 0.15


@pytest.mark.parametrize("scale", [0.3, 0.12])
def test_a_face_shrunk_through_the_pyramid_comes_back_where_it_was(scale: float) -> None:
    # A large face (a close-up at 4K) cropped small and laid back: a dot returns to its place within half a pixel.
    size = 128
    dst = arcface_template(size)
    src = (dst - dst.mean(axis=0)) / scale + [900.0, 700.0]
    image = np.zeros((1400, 1800, 3), np.uint8)
    cv2.circle(image, (900, 690), round(3 / scale), (255, 255, 255), -1)
    crop, alignment = align(image, src, dst, size)
    laid, _ = paste_back(crop.transpose(2, 0, 1).astype(np.float32) / 255, alignment, image.shape[:2])
    grey = laid[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:grey.shape[0], :grey.shape[1]]
    assert abs((grey * xs).sum() / grey.sum() - 900) < 0.5 and abs((grey * ys).sum() / grey.sum() - 690) < 0.5


def test_paste_back_inverts_the_crop_and_covers_only_the_crop() -> None:
    image = photo("obama.jpg")
    five = five_points(mesh("obama.jpg").points[:, :2].astype(np.float64) - 0.5, mesh_topology())
    crop, alignment = align(image, five, arcface_template(256), 256)
    planar = crop.transpose(2, 0, 1).astype(np.float32) / 255  # as a model gives it: (3, S, S) in [0, 1]
    texture, coverage = paste_back(planar, alignment, image.shape[:2])
    inside = coverage == 255
    x0, y0, x1, y1 = face_box("obama.jpg")
    assert inside[y0:y1, x0:x1].mean() > 0.9 and (coverage[0] == 0).all()  # the face, not the picture's edges
    diff = np.abs(texture[inside].astype(int) - image[inside].astype(int))
    assert np.median(diff) <= 3


@pytest.mark.parametrize(("value_range", "values", "expected"), [
    ((0.0, 1.0), (-0.5, 0.0, 0.5, 1.0, 1.5), (0, 0, 128, 255, 255)),
    ((-1.0, 1.0), (-3.0, -1.0, 0.0, 1.0, 2.0), (0, 0, 128, 255, 255)),
])
def test_model_outputs_beyond_their_range_are_clipped_not_folded(value_range, values, expected) -> None:
    size = 128
    face = np.zeros((3, size, size), np.float32)
    for k, v in enumerate(values):
        face[:, :, k * 20:(k + 1) * 20] = v
    alignment = Alignment(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), size)
    texture, _ = paste_back(face, alignment, (size, size), value_range)
    assert [int(texture[64, k * 20 + 10, 0]) for k in range(len(values))] == list(expected)


# -- the swapper in fusions --------------------------------------------------------------------------------------

def test_the_swapped_face_is_laid_where_the_template_face_is(models: Models) -> None:
    marker = models.write("marker.onnx", tm.marker_swapper(tuple(arcface_template(128)[0])))
    # Both degrees 100: the target geometry is the template's own, so the eye stays where the template has it.
    opts = FuseOptions(renderer=OnnxSwapper(marker, models.recogniser), colour_match=False, blend_mode="alpha",
                       fuse_face_degree=100, fuse_profile_degree=100)
    fused = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), opts).image.astype(np.int32)
    template = photo("obama.jpg").astype(np.int32)
    x0, y0, x1, y1 = face_box("obama.jpg")
    bright = (fused.min(axis=2) > 235) & (template.min(axis=2) < 200)  # white that the template does not have
    _, labels, stats, _ = cv2.connectedComponentsWithStats(bright[y0:y1, x0:x1].astype(np.uint8))
    square = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    xs, ys = np.nonzero(square == labels.T)
    xs, ys = xs + x0 + 0.5, ys + y0 + 0.5  # pixel centres, as the mesh has them
    assert len(xs) > 10
    # The square is drawn at ArcFace's image-left eye: it lands where the similarity that best takes the template's
    # five points onto ArcFace's (scikit-image's estimate, independent of ours) takes that point back.
    five = five_points(mesh("obama.jpg").points[:, :2].astype(np.float64), mesh_topology())
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image 0.26 and later
        fit = SimilarityTransform.from_estimate(five, arcface_template(128))
    else:
        fit = SimilarityTransform()
        assert fit.estimate(five, arcface_template(128))
    expected = fit.inverse(arcface_template(128)[:1])[0]
    iod = mesh("obama.jpg").inter_ocular_distance
    assert np.hypot(xs.mean() - expected[0], ys.mean() - expected[1]) < 0.02 * iod
    assert np.hypot(expected[0] - five[0, 0], expected[1] - five[0, 1]) < 0.1 * iod  # and that is near the eye


def test_the_identity_the_swapper_gets_is_the_users_mixed_with_the_templates_by_the_face_degree(
        models: Models) -> None:
    template = photo("obama.jpg")
    x0, y0, x1, y1 = face_box("obama.jpg")

    def face(user: str, degree: int) -> np.ndarray:
        opts = swap(models, fuse_face_degree=degree, fuse_profile_degree=100)
        return fusionkit.fuse(template, photo(user), opts).image[y0:y1, x0:x1].astype(np.int32)

    # Degree 0: the users' identities, so two users give two faces; 100: the template's own, so the same face.
    assert np.abs(face("biden.jpg", 0) - face("obama3.jpg", 0)).mean() > 0.5
    assert np.abs(face("biden.jpg", 100) - face("obama3.jpg", 100)).max() <= 1
    # The mesh renderer at the same degree 0 draws each user's own face: the path really changed.
    mesh_face = fusionkit.fuse(template, photo("biden.jpg"), FuseOptions(fuse_face_degree=0)).image[y0:y1, x0:x1]
    assert np.abs(mesh_face.astype(np.int32) - face("biden.jpg", 0)).mean() > 2


def test_one_swapper_shared_by_calls_never_carries_one_users_identity_into_another(models: Models) -> None:
    shared = FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser))
    template = photo("obama.jpg")
    first = fusionkit.fuse(template, photo("biden.jpg"), shared).image
    second = fusionkit.fuse(template, photo("obama3.jpg"), shared).image
    assert np.array_equal(second, fusionkit.fuse(template, photo("obama3.jpg"), swap(models)).image)
    assert np.array_equal(first, fusionkit.fuse(template, photo("biden.jpg"), shared).image)


def test_no_identity_embedding_outlives_the_call_that_made_it(models: Models) -> None:
    swapper = OnnxSwapper(models.swapper, models.recogniser)
    fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer=swapper))
    gc.collect()
    assert len(swapper._by_user) == 0  # biometric data: kept for the call (a video's frames), then gone


def test_a_projection_maps_the_identity_and_the_identity_matrix_changes_nothing(models: Models,
                                                                                tmp_path) -> None:
    eye = tm.save_projection(np.eye(tm.D, dtype=np.float32), tmp_path / "eye.npy")
    turn = tm.save_projection(np.linalg.qr(np.random.default_rng(5).normal(size=(tm.D, tm.D)))[0].astype(np.float32),
                              tmp_path / "turn.npy")

    def fused(projection: ModelSpec | None) -> np.ndarray:
        opts = FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser, projection))
        return fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), opts).image

    plain = fused(None)
    assert np.array_equal(fused(eye), plain)
    assert not np.array_equal(fused(turn), plain)
    wrong = tm.save_projection(np.eye(16, dtype=np.float32), tmp_path / "small.npy")
    with pytest.raises(ModelContractError, match=r"small\.npy"):
        fused(wrong)


def test_an_enhancer_restores_what_the_renderer_drew_by_its_strength(models: Models) -> None:
    x0, y0, x1, y1 = face_box("obama.jpg")
    template, user = photo("obama.jpg"), photo("biden.jpg")
    base = FuseOptions(colour_match=False)

    def face(enhancer: object) -> np.ndarray:
        out = fusionkit.fuse(template, user, FuseOptions(colour_match=False, enhancer=enhancer))  # type: ignore[arg-type]
        return out.image[y0:y1, x0:x1].astype(np.int32)

    plain = fusionkit.fuse(template, user, base).image[y0:y1, x0:x1].astype(np.int32)
    assert np.array_equal(face(OnnxEnhancer(models.enhancer, strength=0.0)), plain)
    half, full = face(OnnxEnhancer(models.enhancer, strength=0.5)), face(OnnxEnhancer(models.enhancer, strength=1.0))
    # The tiny restorer darkens: the stronger, the darker (after the mesh renderer, any renderer).
    assert plain.mean() - half.mean() > 3 and half.mean() - full.mean() > 3
    with pytest.raises(ParameterValueError, match="strength"):
        OnnxEnhancer(models.enhancer, strength=1.5)


class CopyingEnhancer:
    """Returns a new RenderedFace holding the same arrays, as a plug-in may: the face degree must not apply twice."""

    def enhance(self, request: RenderRequest, rendered: RenderedFace) -> RenderedFace:
        return RenderedFace(texture=rendered.texture.copy(), coverage=rendered.coverage.copy())


def test_an_enhancer_that_makes_a_new_face_keeps_the_swappers_identity_mix(models: Models) -> None:
    alone = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), swap(models, fuse_face_degree=40)).image
    copied = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"),
                            swap(models, fuse_face_degree=40, enhancer=CopyingEnhancer())).image
    assert np.array_equal(alone, copied)


def test_results_name_each_models_licence_in_their_metadata(models: Models) -> None:
    opts = FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser), enhancer=OnnxEnhancer(models.enhancer))
    result = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), opts)
    assert result.model_licences == (("recogniser.onnx", "test recogniser licence"),
                                     ("swapper_128.onnx", "test swapper licence"),
                                     ("enhancer.onnx", "test enhancer licence"))
    for fmt in ("png", "jpeg"):
        data = result.encode(fmt)
        assert MODEL_LICENCE_KEY.encode() in data and b"swapper_128.onnx: test swapper licence" in data
    assert fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg")).model_licences == ()


def test_swappers_of_other_sizes_and_dynamic_ones_given_their_size(models: Models) -> None:
    dynamic = models.write("dynamic.onnx", tm.swapper("S"))  # type: ignore[arg-type]
    sized = ModelSpec(path=dynamic.path, sha256=dynamic.sha256, licence="x", input_size=256)
    for spec in (models.swapper_256, sized):
        result = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"),
                                FuseOptions(renderer=OnnxSwapper(spec, models.recogniser)))
        assert result.image.shape == photo("obama.jpg").shape
    with pytest.raises(ModelContractError, match="input_size"):
        fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer=OnnxSwapper(dynamic,
                                                                                                models.recogniser)))


# -- specs, names, pickling ----------------------------------------------------------------------------------------

def test_options_store_a_plugin_as_its_spec_and_old_options_mean_the_mesh(models: Models) -> None:
    swapper = OnnxSwapper(models.swapper, models.recogniser)
    opts = FuseOptions(renderer=swapper, enhancer=OnnxEnhancer(models.enhancer, strength=0.25))
    back = FuseOptions.from_json(opts.to_json())
    assert back.renderer == swapper.spec and back.enhancer.setting("strength") == 0.25
    assert FuseOptions.from_json(back.to_json()) == back
    old = opts.to_dict()
    del old["renderer"], old["enhancer"]
    for damaged in ({}, [], 0, False, ""):
        with pytest.raises(ParameterValueError):
            FuseOptions.from_dict({**old, "renderer": damaged})
    older = FuseOptions.from_dict(old)
    assert older.renderer == PluginSpec(name="mesh") and older.enhancer is None
    assert FuseOptions(renderer="onnx-swapper").renderer == PluginSpec(name="onnx-swapper")
    with pytest.raises(ParameterValueError, match="cannot be stored"):
        FuseOptions(renderer=MeshRendererWithoutSpec()).to_dict()
    with pytest.raises(ParameterValueError, match="renderer must be"):
        FuseOptions(renderer=42)
    with pytest.raises(ParameterValueError, match="given twice"):  # and never a TypeError from sorting them
        PluginSpec(name="x", settings=[("strength", 1), ("strength", "high")])
    with pytest.raises(ParameterValueError, match="ModelSpec values"):
        PluginSpec(name="x", models={"swapper": "/models/swapper.onnx"})
    clone = pickle.loads(pickle.dumps(swapper))
    assert isinstance(clone, OnnxSwapper) and clone.spec == swapper.spec


def test_a_spec_by_name_renders_as_the_object_does(models: Models) -> None:
    spec = PluginSpec(name="onnx-swapper", models={"swapper": models.swapper, "recogniser": models.recogniser})
    by_name = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer=spec)).image
    by_object = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), swap(models)).image
    assert np.array_equal(by_name, by_object)
    with pytest.raises(RendererNotFoundError, match=r"no renderer is named 'nope'.*'mesh', 'onnx-swapper'") as err:
        fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer="nope"))
    assert err.value.code == "InvalidParameterValue.RendererNotFound"
    with pytest.raises(ParameterValueError, match="'swapper' and 'recogniser'"):
        fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer="onnx-swapper"))
    assert available()[:2] == ["mesh", "onnx-swapper"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sha256", "abc", "64 hex digits"), ("licence", "", "licence"), ("input_size", 100, "input_size"),
    ("path", "", "file path"),
])
def test_model_specs_refuse_what_cannot_pin_a_model(field: str, value: object, message: str) -> None:
    fields: dict[str, object] = {"path": "/m.onnx", "sha256": "a" * 64, "licence": "MIT"}
    fields[field] = value
    with pytest.raises(ParameterValueError, match=message):
        ModelSpec(**fields)  # type: ignore[arg-type]


# -- bad models, bad plug-ins: typed errors, the template untouched ------------------------------------------------

def untouched(options: FuseOptions, error: type[Exception], match: str) -> Exception:
    template = photo("obama.jpg").copy()
    before = template.copy()
    with pytest.raises(error, match=match) as caught:
        fusionkit.fuse(template, photo("biden.jpg"), options)
    assert np.array_equal(template, before)
    return caught.value


def test_a_model_whose_hash_differs_is_refused_before_it_is_loaded(models: Models, tmp_path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all")
    wrong = ModelSpec(path=str(garbage), sha256="0" * 64, licence="x")
    # The file is not even a model: a hash error, not a load error, proves nothing was loaded first.
    err = untouched(FuseOptions(renderer=OnnxSwapper(wrong, models.recogniser)), ModelHashMismatchError,
                    "garbage.onnx has sha256")
    assert err.code == "FailedOperation.ModelHashMismatch"
    tampered = ModelSpec(path=models.swapper.path, sha256="1" * 64, licence="x")
    untouched(FuseOptions(renderer=OnnxSwapper(tampered, models.recogniser)), ModelHashMismatchError, "swapper")


def test_a_bad_plugin_fails_before_the_template_is_even_read(models: Models) -> None:
    faceless = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(RendererNotFoundError):
        fusionkit.fuse(faceless, photo("biden.jpg"), FuseOptions(renderer="nope"))  # not NoFaceDetected
    wrong = ModelSpec(path=models.swapper.path, sha256="5" * 64, licence="x")
    with pytest.raises(ModelHashMismatchError):
        fusionkit.fuse(faceless, photo("biden.jpg"), FuseOptions(renderer=OnnxSwapper(wrong, models.recogniser)))


def test_corrupt_and_missing_files_are_unreadable(models: Models, tmp_path) -> None:
    corrupt = models.write("corrupt.onnx", tm.swapper().SerializeToString()[:200])
    err = untouched(FuseOptions(renderer=OnnxSwapper(corrupt, models.recogniser)), ModelUnreadableError,
                    "corrupt.onnx is not a model")
    assert err.code == "FailedOperation.ModelUnreadable"
    missing = ModelSpec(path=str(tmp_path / "none.onnx"), sha256="2" * 64, licence="x")
    untouched(FuseOptions(renderer=OnnxSwapper(missing, models.recogniser)), ModelUnreadableError,
              "none.onnx cannot be read")


@pytest.mark.parametrize(("swapper", "recogniser", "match"), [
    (lambda: tm.swapper(extra_input=True), tm.recogniser, "two inputs"),
    (lambda: tm.swapper(100), tm.recogniser, "100 px"),
    (lambda: tm.swapper(dims=128), tm.recogniser, "takes 128 values"),
    (tm.swapper, lambda: tm.recogniser(size=96), "96 px"),
    (tm.swapper, tm.enhancer, "recogniser contract"),
], ids=["extra-input", "odd-size", "identity-width", "recogniser-size", "recogniser-is-a-restorer"])
def test_models_that_break_the_contract_name_themselves_and_what_is_wrong(models: Models, swapper, recogniser,
                                                                          match: str) -> None:
    sw = models.write("contract_swapper.onnx", swapper())
    rc = models.write("contract_recogniser.onnx", recogniser())
    err = untouched(FuseOptions(renderer=OnnxSwapper(sw, rc)), ModelContractError, match)
    assert err.code == "FailedOperation.ModelContractMismatch" and "contract_" in str(err)


@pytest.mark.parametrize(("model", "match"), [
    (lambda: tm.enhancer(256), "256 x 256; the contract takes 512"),
    (lambda: tm.enhancer(weight="fidelity"), "at most a scalar 'weight'"),
    (lambda: tm.enhancer(flat_output=True), "first output must be the restored face"),
], ids=["size", "input-name", "output-rank"])
def test_an_enhancer_that_breaks_its_contract(models: Models, model, match: str) -> None:
    wrong = models.write("bad_restorer.onnx", model())
    err = untouched(FuseOptions(enhancer=OnnxEnhancer(wrong)), ModelContractError, match)
    assert "bad_restorer.onnx" in str(err)


@pytest.mark.parametrize("weight_shape", [[], ["n"], [1]], ids=["scalar", "dynamic", "one"])
def test_a_restorer_with_codeformers_weight_input_gets_the_fidelity(models: Models, weight_shape: list) -> None:
    codeformer_like = models.write("weighted_restorer.onnx", tm.enhancer(weight="weight", weight_shape=weight_shape))
    plain = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(enhancer=OnnxEnhancer(models.enhancer)))
    weighted = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"),
                              FuseOptions(enhancer=OnnxEnhancer(codeformer_like, fidelity=0.3)))
    assert np.array_equal(plain.image, weighted.image)


def test_inputs_a_model_rejects_at_run_time_are_its_contract(models: Models) -> None:
    model = load_user_model(models.recogniser, "recogniser")
    with pytest.raises(ModelContractError, match=r"recogniser\.onnx.*running it failed"):
        model.run({model.inputs[0].name: np.zeros((1, 3, 112, 112), np.float64)})  # a float64 tensor


def test_an_unavailable_provider_names_those_there_are(models: Models) -> None:
    with using_runtime(RuntimeOptions(providers=("NoSuchExecutionProvider",))):
        err = untouched(swap(models), ProviderUnavailableError, r"NoSuchExecutionProvider.*CPUExecutionProvider")
    assert err.code == "InvalidParameterValue.ExecutionProviderUnavailable"


class MeshRendererWithoutSpec:
    def render(self, request: RenderRequest) -> RenderedFace:
        return MeshRenderer().render(request)


class Raising:
    name = "raising"

    def render(self, request: RenderRequest) -> RenderedFace:
        raise RuntimeError("out of memory on the device")


class WrongShape:
    def render(self, request: RenderRequest) -> RenderedFace:
        h, w = request.plan.shape
        return RenderedFace(texture=np.zeros((h, w - 1, 3), np.uint8), coverage=np.zeros((h, w), np.uint8))


class NotARenderedFace:
    def render(self, request: RenderRequest) -> object:
        return np.zeros((8, 8, 3), np.uint8)


def test_a_renderer_that_raises_or_returns_the_wrong_thing_is_a_typed_error() -> None:
    err = untouched(FuseOptions(renderer=Raising()), RendererFailedError,
                    "'raising' raised RuntimeError: out of memory")
    assert err.code == "FailedOperation.RendererFailed"
    err = untouched(FuseOptions(renderer=WrongShape()), RendererOutputError, r"texture \(\d+, \d+, 3\) uint8")
    assert err.code == "FailedOperation.RendererOutputInvalid"
    untouched(FuseOptions(renderer=NotARenderedFace()), RendererOutputError, "got ndarray")
    # A plug-in object without a spec still renders in this process (as the mesh does).
    fine = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(renderer=MeshRendererWithoutSpec()))
    assert np.array_equal(fine.image, fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg")).image)
