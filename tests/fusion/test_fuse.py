"""fusionkit.fuse on the real sample photos, with the real models and the real C core."""

from __future__ import annotations

from pathlib import Path

import attrs
import cv2
import numpy as np
import pytest

from fusionkit.domain.options import AigcLabel, FuseOptions, LabelOptions, LogoParam
from fusionkit.errors import (
    FaceRectParameterValueError,
    FaceSizeTooSmallError,
    ImageDecodeFailedError,
    ImageResolutionTooSmallError,
    NoFaceDetectedError,
    ParameterValueError,
    StorageError,
    TemplateFaceIDNotExistError,
)
from fusionkit.fusion.api import FusionResult, Merge, fuse
from fusionkit.fusion.label import label_rect
from fusionkit.imaging.encode import DIGITAL_SOURCE_TYPE, read_metadata
from fusionkit.samples import sample_path
from fusionkit.vision import analyze
from tests.photos import meshes, photo


def outside_roi(result: FusionResult, template: np.ndarray) -> np.ndarray:
    """Absolute difference to the template outside every rewritten region and the label."""
    diff = np.abs(result.image.astype(int) - template.astype(int)).max(axis=2)
    for m in result.merges:
        x0, y0, x1, y1 = m.fusion.roi
        diff[y0:y1, x0:x1] = 0
    lx0, ly0, lx1, ly1 = label_rect(template.shape[1], template.shape[0], LabelOptions())
    diff[ly0:ly1, lx0:lx1] = 0
    return diff


def face_change(result: FusionResult, template: np.ndarray, mesh) -> float:
    x0, y0, x1, y1 = (int(v) for v in mesh.face.box)
    return float(np.abs(result.image[y0:y1, x0:x1].astype(int) - template[y0:y1, x0:x1].astype(int)).mean())


def test_one_face_changes_the_face_and_nothing_else():
    t = photo("obama.jpg")
    result = fuse(t, photo("biden.jpg"), template_meshes=meshes("obama.jpg"))
    assert result.image.shape == t.shape and result.image.dtype == np.uint8
    assert face_change(result, t, meshes("obama.jpg")[0]) > 8  # the face is someone else's
    assert outside_roi(result, t).max() == 0
    rep = result.merges[0]
    assert rep.template_face_index == 0 and set(rep.fusion.timings_ms) >= {"warp", "colour", "mask", "blend"}
    # the fused face is still found, where the template's was
    found = analyze(result.image)
    assert len(found) == 1
    assert np.abs(found[0].face.box - meshes("obama.jpg")[0].face.box).max() < 0.1 * found[0].face.width


def test_label_is_drawn_by_default_and_can_be_turned_off():
    t = photo("obama.jpg")
    labelled = fuse(t, photo("biden.jpg"), template_meshes=meshes("obama.jpg"))
    no_label = FuseOptions(label=LabelOptions(enabled=False))
    bare = fuse(t, photo("biden.jpg"), no_label, template_meshes=meshes("obama.jpg"))
    x0, y0, x1, y1 = label_rect(t.shape[1], t.shape[0], LabelOptions())
    assert not np.array_equal(labelled.image[y0:y1, x0:x1], bare.image[y0:y1, x0:x1])
    np.testing.assert_array_equal(bare.image[y0:y1, x0:x1], t[y0:y1, x0:x1])


def test_full_degrees_give_back_the_template():
    t = photo("biden.jpg")
    opts = FuseOptions(fuse_face_degree=100, fuse_profile_degree=100, label=LabelOptions(enabled=False))
    result = fuse(t, photo("obama.jpg"), opts, template_meshes=meshes("biden.jpg"))
    diff = np.abs(result.image.astype(int) - t.astype(int))
    assert np.percentile(diff, 99.9) <= 3 and diff.mean() < 0.2


def test_degrees_move_the_face_from_user_to_template():
    t = photo("biden.jpg")
    changes = [face_change(fuse(t, photo("obama3.jpg"), FuseOptions(fuse_face_degree=d, fuse_profile_degree=d),
                                template_meshes=meshes("biden.jpg")), t, meshes("biden.jpg")[0])
               for d in (0, 50, 100)]
    assert changes[0] > changes[1] > changes[2]


@pytest.mark.parametrize("mode", ["poisson", "multiband", "alpha"])
def test_every_blend_mode_and_the_filters_run(mode):
    t = photo("obama.jpg")
    opts = FuseOptions(blend_mode=mode, skin_smoothing=0.6, sharpening=0.4)
    result = fuse(t, photo("astronaut.png"), opts, template_meshes=meshes("obama.jpg"))
    assert face_change(result, t, meshes("obama.jpg")[0]) > 5
    assert outside_roi(result, t).max() == 0


def test_two_faces_in_one_template_and_threads_agree():
    t = photo("two_people.jpg")
    merges = [Merge(image=photo("astronaut.png"), template_face=0), Merge(image=photo("obama.jpg"), template_face=1)]
    serial = fuse(t, merges, template_meshes=meshes("two_people.jpg"))
    threaded = fuse(t, merges, template_meshes=meshes("two_people.jpg"), threads=2)
    np.testing.assert_array_equal(serial.image, threaded.image)
    assert [m.template_face_index for m in serial.merges] == [0, 1]
    for mesh in meshes("two_people.jpg"):
        assert face_change(serial, t, mesh) > 5


def test_input_face_rect_picks_the_user_face():
    t = photo("obama.jpg")
    right = meshes("two_people.jpg")[1].face.box  # pick the second face of the two-person photo
    x0, y0, x1, y1 = (int(v) for v in right)
    a = fuse(t, Merge(image=photo("two_people.jpg"), input_face_rect=(x0, y0, x1 - x0, y1 - y0)),
             template_meshes=meshes("obama.jpg"))
    b = fuse(t, Merge(image=photo("two_people.jpg")), template_meshes=meshes("obama.jpg"))
    assert not np.array_equal(a.image, b.image)


def test_every_encoding_carries_the_aigc_label(tmp_path):
    template = str(sample_path("obama.jpg"))
    plain = fuse(template, photo("biden.jpg"), template_meshes=meshes("obama.jpg"))
    # No label given: producer "fusionkit", a random produce id fixed for the result (every encoding the same).
    assert plain.aigc.content_producer == "fusionkit" and len(plain.aigc.produce_id) == 32
    assert read_metadata(plain.encode())["AIGC"] == plain.aigc.fields() == read_metadata(plain.encode("png"))["AIGC"]
    assert read_metadata(plain._repr_png_())["AIGC"] == plain.aigc.fields()
    # What the studio does: its app id and the result id, set on the options; user metadata beside them.
    label = AigcLabel(content_producer="app_7Kd92", produce_id="rs_0OqXr1bTa9Zf3kLm2PqR")
    opts = attrs.evolve(FuseOptions(metadata={"campaign": "spring"}), aigc=label)
    result = fuse(template, photo("biden.jpg"), opts, template_meshes=meshes("obama.jpg"))
    assert result.aigc == label
    for fmt in ("jpeg", "png"):
        meta = read_metadata(result.encode(fmt))
        assert meta["AIGC"] == label.fields() and meta["AIGC"]["Label"] == "1"
        assert meta["DigitalSourceType"] == DIGITAL_SOURCE_TYPE and meta["campaign"] == "spring"
    result.save(str(tmp_path / "fused.jpg"))
    assert read_metadata((tmp_path / "fused.jpg").read_bytes())["AIGC"] == label.fields()


def test_encode_follows_the_template_format_and_writes_the_marker(tmp_path):
    result = fuse(str(sample_path("obama.jpg")), photo("biden.jpg"),
                  FuseOptions(metadata={"campaign": "spring"}), template_meshes=meshes("obama.jpg"))
    assert result.format == "jpeg"
    data = result.encode()
    assert data[:2] == b"\xff\xd8" and b"Exif" not in data[:4096]
    meta = read_metadata(data)
    assert meta["campaign"] == "spring" and meta["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    png = fuse(str(sample_path("astronaut.png")), photo("obama.jpg"), template_meshes=meshes("astronaut.png"))
    assert png.format == "png" and png._repr_png_()[:4] == b"\x89PNG"
    out = tmp_path / "fused.jpg"
    result.save(str(out))
    assert out.read_bytes() == data and [p.name for p in tmp_path.iterdir()] == ["fused.jpg"]


def test_logo_replaces_the_label():
    t = photo("obama.jpg")
    logo = np.zeros((20, 40, 3), np.uint8)
    logo[..., 2] = 255
    result = fuse(t, photo("biden.jpg"), FuseOptions(logo=LogoParam(image=logo, rect=(-10, -10, 80, 40))),
                  template_meshes=meshes("obama.jpg"))
    h, w = t.shape[:2]
    assert (result.image[h - 50 + 1:h - 10 - 1, w - 90 + 1:w - 10 - 1] == [0, 0, 255]).all()


# --- bad input: typed errors, and nothing written -------------------------------------------------------------


def test_no_face_in_the_user_image():
    with pytest.raises(NoFaceDetectedError) as info:
        fuse(photo("obama.jpg"), np.full((200, 200, 3), 128, np.uint8), template_meshes=meshes("obama.jpg"))
    assert info.value.code == "FailedOperation.NoFaceDetected" and "merge 0" in info.value.message


def test_no_face_in_the_template():
    with pytest.raises(NoFaceDetectedError, match="template"):
        fuse(np.full((200, 200, 3), 90, np.uint8), photo("obama.jpg"))


@pytest.mark.parametrize(
    ("merge_kwargs", "error", "needle"),
    [
        ({"template_face": 3}, TemplateFaceIDNotExistError, "has 1 face"),
        ({"template_face": "mat_x_7"}, TemplateFaceIDNotExistError, "has 1 face"),
        ({"template_face": "nonsense"}, TemplateFaceIDNotExistError, "names no template face"),
        ({"input_face_rect": (0, 0, 20, 20)}, FaceRectParameterValueError, "at least 30x30"),
        ({"input_face_rect": (0, 0, 40, 40)}, FaceRectParameterValueError, "covers no face"),
        ({"input_face_rect": "x"}, FaceRectParameterValueError, "(x, y, width, height)"),
        ({"template_face": 1.5}, ParameterValueError, "template_face"),
    ],
)
def test_bad_merges(merge_kwargs, error, needle):
    with pytest.raises(error, match=None) as info:
        fuse(photo("obama.jpg"), Merge(image=photo("biden.jpg"), **merge_kwargs), template_meshes=meshes("obama.jpg"))
    assert needle in info.value.message


def test_too_many_merges_and_bad_options():
    with pytest.raises(ParameterValueError, match="1 to 6 merges"):
        fuse(photo("obama.jpg"), [photo("biden.jpg")] * 7)
    with pytest.raises(ParameterValueError, match="1 to 6 merges"):
        fuse(photo("obama.jpg"), [])
    with pytest.raises(ParameterValueError, match="options must be a FuseOptions"):
        fuse(photo("obama.jpg"), photo("biden.jpg"), {"fuse_face_degree": 50})  # type: ignore[arg-type]
    with pytest.raises(ParameterValueError, match="same template face"):
        fuse(photo("obama.jpg"), [photo("biden.jpg"), photo("astronaut.png")], template_meshes=meshes("obama.jpg"))


def test_small_and_broken_images():
    with pytest.raises(ImageResolutionTooSmallError):
        fuse(np.zeros((50, 300, 3), np.uint8), photo("obama.jpg"))
    with pytest.raises(ImageDecodeFailedError):
        fuse(b"not an image at all", photo("obama.jpg"))
    _, jpg = cv2.imencode(".jpg", photo("obama.jpg"))
    with pytest.raises(ImageDecodeFailedError):
        fuse(photo("obama.jpg"), jpg.tobytes()[: len(jpg) // 3])


def test_logo_outside_the_picture_fails_before_any_work():
    logo = LogoParam(image=np.zeros((10, 10, 3), np.uint8), rect=(5000, 0, 10, 10))
    with pytest.raises(ParameterValueError, match="does not fit"):
        fuse(photo("obama.jpg"), photo("biden.jpg"), FuseOptions(logo=logo))


def test_save_leaves_nothing_when_it_fails(tmp_path):
    result = fuse(photo("obama.jpg"), photo("biden.jpg"), template_meshes=meshes("obama.jpg"))
    with pytest.raises(StorageError, match="missing-folder"):
        result.save(str(tmp_path / "missing-folder" / "x.jpg"))
    assert list(tmp_path.iterdir()) == []


def test_an_object_over_the_template_face_stays_in_front():
    """A hand-like patch over the template's cheek is kept, not painted over with the user's skin."""
    t = np.array(photo("obama.jpg"))
    mesh = meshes("obama.jpg")[0]
    x0, y0, x1, y1 = (int(v) for v in mesh.face.box)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    patch = (slice(cy, cy + (y1 - y0) // 4), slice(x0 + (x1 - x0) // 8, cx - (x1 - x0) // 10))
    t[patch] = [40, 90, 200]  # a blue object over the subject's right cheek
    result = fuse(t, photo("biden.jpg"), template_meshes=[mesh])
    inner = (slice(patch[0].start + 6, patch[0].stop - 6), slice(patch[1].start + 6, patch[1].stop - 6))
    diff = np.abs(result.image[inner].astype(int) - t[inner].astype(int))
    assert np.percentile(diff, 95) <= 12, "the occluder was overwritten"
    assert face_change(result, t, mesh) > 5  # the face itself was still replaced


def test_a_face_too_small_to_fuse():
    small = cv2.resize(photo("obama.jpg"), (60, 75), interpolation=cv2.INTER_AREA)  # a face of about 17 px
    canvas = np.full((240, 240, 3), 200, np.uint8)
    canvas[100:175, 100:160] = small
    with pytest.raises(FaceSizeTooSmallError) as info:
        fuse(photo("obama.jpg"), canvas, template_meshes=meshes("obama.jpg"))
    assert info.value.code == "FailedOperation.FaceSizeTooSmall" and "34 px" in info.value.message


@pytest.mark.parametrize("angle", [-30, 25])
def test_a_tilted_template_degrades_gracefully(angle):
    t = photo("obama.jpg")
    h, w = t.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    tilted = np.ascontiguousarray(cv2.warpAffine(t, rot, (w, h), borderMode=cv2.BORDER_REFLECT_101))
    result = fuse(tilted, photo("biden.jpg"))
    found = analyze(result.image)
    assert len(found) == 1 and abs(found[0].face.roll - (-angle)) < 12  # still one upright-consistent face
    assert outside_roi(result, tilted).max() == 0


def test_a_face_partly_out_of_the_frame():
    t = photo("obama.jpg")
    x0, _, x1, _ = (int(v) for v in meshes("obama.jpg")[0].face.box)
    cut = np.ascontiguousarray(t[:, x0 + (x1 - x0) // 3:])  # the face's left third is outside the picture
    result = fuse(cut, photo("biden.jpg"))
    assert result.image.shape == cut.shape
    assert outside_roi(result, cut).max() == 0


def _large_jpeg(name: str, factor: float) -> bytes:
    """A sample photo enlarged to well over REDUCED_DECODE_PIXELS, as a phone's JPEG would be."""
    img = photo(name)
    big = cv2.resize(img, (round(img.shape[1] * factor), round(img.shape[0] * factor)), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def test_a_large_user_jpeg_is_read_at_half_size_when_its_face_allows() -> None:
    from fusionkit.fusion import api

    data = _large_jpeg("obama3.jpg", 2.0)  # 2868 x 4666 pixels, its face 354 px between the outer eye corners
    assert len(data) > 0 and api.REDUCED_DECODE_PIXELS < 2868 * 4666
    half = api.user_face(Merge(image=data), 0, api.DEFAULT_LIMITS, needed_iod=150.0)
    assert half.scale == 2.0 and half.image.shape == (2333, 1434, 3)
    assert half.mesh.inter_ocular_distance >= 150.0
    whole = api.user_face(Merge(image=data), 0, api.DEFAULT_LIMITS, needed_iod=300.0)  # more than half size holds
    assert whole.scale == 1.0 and whole.image.shape == (4666, 2868, 3)
    # fuse asks for the template face's size, and reports the user's face in the photo's own pixels
    t = photo("biden.jpg")
    assert meshes("biden.jpg")[0].inter_ocular_distance < half.mesh.inter_ocular_distance
    result = fuse(t, data, template_meshes=meshes("biden.jpg"))
    box = np.array(result.merges[0].fusion.user_box)
    np.testing.assert_allclose(box, np.asarray(half.mesh.face.box) * 2, rtol=1e-6)  # the half-size face, doubled
    assert np.abs(box - np.asarray(whole.mesh.face.box)).max() < 4  # where the whole photo has it
    assert face_change(result, t, meshes("biden.jpg")[0]) > 5


def test_small_photos_arrays_and_other_formats_are_read_whole(tmp_path: Path) -> None:
    from fusionkit.fusion import api

    png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(photo("obama3.jpg")), cv2.COLOR_RGB2BGR))[1]
    path = tmp_path / "big.jpg"
    path.write_bytes(_large_jpeg("obama3.jpg", 2.0))
    for source in (sample_path("obama3.jpg"), photo("obama3.jpg"), png.tobytes()):
        assert api.user_face(Merge(image=source), 0, api.DEFAULT_LIMITS, needed_iod=1.0).scale == 1.0
    assert api.user_face(Merge(image=path), 0, api.DEFAULT_LIMITS, needed_iod=1.0).scale == 2.0  # a path too


def test_a_large_jpeg_s_errors_are_the_whole_photo_s() -> None:
    from fusionkit.fusion import api

    blank = cv2.imencode(".jpg", np.full((3000, 2500, 3), 128, np.uint8))[1].tobytes()
    with pytest.raises(NoFaceDetectedError, match="merge 0"):
        api.user_face(Merge(image=blank), 0, api.DEFAULT_LIMITS)
    data = _large_jpeg("two_people.jpg", 3.0)
    with pytest.raises(FaceRectParameterValueError, match=r"input_face_rect \(0, 0, 90, 90\)"):
        api.user_face(Merge(image=data, input_face_rect=(0, 0, 90, 90)), 0, api.DEFAULT_LIMITS, needed_iod=1.0)
    # a bad template face index is reported after the user photo, as before
    with pytest.raises(ImageDecodeFailedError):
        fuse(photo("obama.jpg"), Merge(image=b"not an image", template_face=5), template_meshes=meshes("obama.jpg"))


def test_input_face_rect_is_in_the_photo_s_pixels_when_read_at_half_size() -> None:
    from fusionkit.fusion import api

    data = _large_jpeg("two_people.jpg", 3.0)
    x0, y0, x1, y1 = (3 * float(v) for v in meshes("two_people.jpg")[1].face.box)  # the second face, enlarged
    picked = api.user_face(Merge(image=data, input_face_rect=(round(x0), round(y0), round(x1 - x0), round(y1 - y0))),
                           0, api.DEFAULT_LIMITS, needed_iod=20.0)
    assert picked.scale == 2.0
    assert np.abs(np.asarray(picked.mesh.face.box) * 2 - [x0, y0, x1, y1]).max() < 0.05 * (x1 - x0)
