"""FuseOptions: defaults, validation with typed errors, and evolve."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest

from fusionkit.domain.options import AigcLabel, BlendMode, FuseOptions, LabelOptions, LogoParam, OutputFormat
from fusionkit.errors import ParameterValueError


def test_defaults_and_evolve():
    opts = FuseOptions()
    assert 0 <= opts.fuse_face_degree <= 100 and 0 <= opts.fuse_profile_degree <= 100
    assert opts.blend_mode is BlendMode.MULTIBAND and opts.label.enabled and opts.logo is None
    assert opts.output_format is OutputFormat.AUTO
    changed = attrs.evolve(opts, fuse_face_degree=70, blend_mode="multiband", metadata={"a": "b"})
    assert changed.blend_mode is BlendMode.MULTIBAND and changed.metadata == (("a", "b"),)
    assert opts.fuse_face_degree != 70  # frozen original unchanged


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"fuse_face_degree": 101}, "fuse_face_degree must be within 0-100"),
        ({"fuse_profile_degree": -1}, "fuse_profile_degree must be within 0-100"),
        ({"fuse_face_degree": float("nan")}, "fuse_face_degree"),
        ({"fuse_face_degree": True}, "fuse_face_degree"),
        ({"fuse_face_degree": "50"}, "fuse_face_degree"),
        ({"skin_smoothing": 1.5}, "skin_smoothing must be within 0-1"),
        ({"sharpening": -0.1}, "sharpening"),
        ({"blend_mode": "seamless"}, "blend_mode must be one of 'poisson', 'multiband', 'alpha'"),
        ({"output_format": "gif"}, "output_format"),
        ({"jpeg_quality": 0}, "jpeg_quality"),
        ({"metadata": {"": "x"}}, "metadata key"),
        ({"metadata": {"k": 3}}, "metadata entries"),
        ({"metadata": 5}, "metadata must be a mapping"),
        ({"colour_match": "yes"}, "colour_match"),
    ],
)
def test_bad_options_raise_parameter_errors(kwargs, needle):
    with pytest.raises(ParameterValueError) as info:
        FuseOptions(**kwargs)
    assert needle in str(info.value)


def test_logo_must_be_a_logo_param():
    with pytest.raises(ParameterValueError, match="LogoParam"):
        FuseOptions(logo=np.zeros((4, 4, 3), np.uint8))
    FuseOptions(logo=LogoParam(image=np.zeros((4, 4, 3), np.uint8), rect=(0, 0, 4, 4)))


def test_options_round_trip_through_json_exactly() -> None:
    logo = LogoParam(image=np.arange(5 * 6 * 4, dtype=np.uint8).reshape(5, 6, 4), rect=(-4, 3, 40, 20))
    rich = FuseOptions(fuse_face_degree=33.5, fuse_profile_degree=70, skin_smoothing=0.2, sharpening=0.1,
                       blend_mode="poisson", colour_match=False, label=LabelOptions(enabled=False, text="made by AI"),
                       logo=logo, metadata={"campaign": "spring"}, output_format="png", jpeg_quality=80)
    for opts in (FuseOptions(), rich):
        back = FuseOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
        assert back == opts
    damaged = rich.to_dict()
    damaged["logo"]["image_npy"] = "not base64!"
    with pytest.raises(ParameterValueError, match="damaged"):
        FuseOptions.from_dict(damaged)
    with pytest.raises(ParameterValueError, match="damaged"):
        FuseOptions.from_dict({"fuse_face_degree": 10})
    out_of_range = dict(rich.to_dict(), fuse_face_degree=101)
    with pytest.raises(ParameterValueError, match="fuse_face_degree"):
        FuseOptions.from_dict(out_of_range)


def test_damaged_stored_options_are_typed_errors() -> None:
    import base64
    import io

    good = FuseOptions(logo=LogoParam(image=np.zeros((4, 6, 3), np.uint8), rect=(0, 0, 10, 10)))
    assert FuseOptions.from_json(good.to_json()) == good
    for text in (b"{not json", b"\xff\xfe", b"[1, 2]"):
        with pytest.raises(ParameterValueError, match="stored fusion options"):
            FuseOptions.from_json(text)
    bad_pair = dict(good.to_dict(), metadata=["ab"])
    with pytest.raises(ParameterValueError, match="pairs"):
        FuseOptions.from_dict(bad_pair)
    # A header claiming an enormous array is refused before NumPy allocates it; so are short pixel data and
    # other dtypes.
    for shape, dtype, payload, why in (((1 << 40, 1 << 20, 4), np.uint8, b"", "at most"),
                                       ((4, 6, 3), np.uint8, b"\0" * 10, "header says 72"),
                                       ((4, 6, 3), np.float32, b"\0" * 288, "uint8")):
        buf = io.BytesIO()  # magic and header as NumPy writes them, then the payload
        np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                   "fortran_order": False, "shape": shape})
        doc = good.to_dict()
        doc["logo"]["image_npy"] = base64.b64encode(buf.getvalue() + payload).decode()
        with pytest.raises(ParameterValueError, match=f"damaged.*{why}"):
            FuseOptions.from_dict(doc)


# --- the implicit AI label (GB 45438-2025) -------------------------------------------------------------------------

def test_aigc_label_defaults_and_resolution() -> None:
    label = FuseOptions().aigc
    assert label == AigcLabel() and label.label == "1" and label.content_producer == "fusionkit"
    assert label.produce_id == "" and FuseOptions() == FuseOptions()  # options stay comparable values
    a, b = label.resolved(), label.resolved()
    assert a.produce_id and a.produce_id != b.produce_id and len(a.produce_id) == 32
    assert a.content_producer == "fusionkit" and attrs.evolve(label, content_producer="").resolved().content_producer \
        == "fusionkit"
    given = AigcLabel(content_producer="app_1", produce_id="rs_1")
    assert given.resolved() == given
    assert list(given.fields()) == ["Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator",
                                    "PropagateID", "ReservedCode2"]
    assert AigcLabel.from_fields(given.fields()) == given


def test_aigc_label_is_validated() -> None:
    with pytest.raises(ParameterValueError, match="aigc label must be one of"):
        AigcLabel(label="0")
    with pytest.raises(ParameterValueError, match="aigc produce_id must be text"):
        AigcLabel(produce_id=5)
    with pytest.raises(ParameterValueError, match="aigc content_producer must be at most 1024 printable"):
        AigcLabel(content_producer="a\nb")
    with pytest.raises(ParameterValueError, match="aigc reserved_code1"):
        AigcLabel(reserved_code1="x" * 1025)


def test_the_label_cannot_be_removed() -> None:
    with pytest.raises(ParameterValueError, match="always written"):
        FuseOptions(aigc=None)
    with pytest.raises(ParameterValueError, match="always written"):
        attrs.evolve(FuseOptions(), aigc=None)
    with pytest.raises(ParameterValueError, match="AigcLabel"):
        FuseOptions(aigc={"Label": "1"})
    for key in ("AIGC", "TC260:AIGC", "digitalsourcetype", "XML:com.adobe.xmp"):
        with pytest.raises(ParameterValueError, match=r"reserved.*cannot be replaced or removed"):
            FuseOptions(metadata={key: ""})


def test_aigc_label_round_trips_through_json() -> None:
    label = AigcLabel(content_producer="app_7Kd92", produce_id="rs_0OqXr1bTa9Zf3kLm2PqR", reserved_code1="sig",
                      content_propagator="中文 \"quoted\"", propagate_id="p-1", reserved_code2="computer,1|human,0|")
    opts = attrs.evolve(FuseOptions(metadata={"campaign": "spring"}), aigc=label)
    doc = json.loads(opts.to_json())
    assert doc["aigc"] == label.fields()
    back = FuseOptions.from_json(opts.to_json())
    assert back == opts and back.aigc == label
    # Options stored before the label existed read back with the default label.
    del doc["aigc"]
    assert FuseOptions.from_dict(doc).aigc == AigcLabel()
    with pytest.raises(ParameterValueError, match="damaged"):
        FuseOptions.from_dict(dict(opts.to_dict(), aigc=["1"]))
    with pytest.raises(ParameterValueError, match="aigc label"):
        FuseOptions.from_dict(dict(opts.to_dict(), aigc=dict(label.fields(), Label="9")))
