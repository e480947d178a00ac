"""Fusion options: the cloud API's knobs as validated, frozen values.

Degrees follow the cloud service: 0-100, higher = closer to the template. ``fuse_face_degree`` governs the inner
features (eyes, brows, nose, mouth: shape and texture), ``fuse_profile_degree`` the face outline and jaw.
"""

from __future__ import annotations

import base64
import enum
import io
import json
import math
import secrets
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.choices import BlendMode, Expression, OutputFormat  # defined there: the CLI lists them
from fusionkit.domain.models import PluginSpec
from fusionkit.errors import ParameterValueError

__all__ = [
    "AIGC_LABELS",
    "DEFAULT_CONTENT_PRODUCER",
    "DEFAULT_FACE_DEGREE",
    "DEFAULT_PROFILE_DEGREE",
    "AigcLabel",
    "BlendMode",
    "Expression",
    "FuseOptions",
    "LabelOptions",
    "LogoParam",
    "OutputFormat",
]

#: Default degrees: the result is recognisably the user, in the template's pose, lighting, skin tone and scene.
DEFAULT_FACE_DEGREE = 10
DEFAULT_PROFILE_DEGREE = 30


def _raise(field: str, message: str) -> None:
    raise ParameterValueError(f"{field} {message}")


def _degree(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _raise(attribute.name, f"must be a number within 0-100, got {value!r}")
    if not 0 <= value <= 100:
        _raise(attribute.name, f"must be within 0-100 (higher = closer to the template), got {value!r}")


def _unit(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _raise(attribute.name, f"must be a number within 0-1, got {value!r}")
    if not 0 <= value <= 1:
        _raise(attribute.name, f"must be within 0-1, got {value!r}")


def _enum(cls: type[enum.Enum], field: str) -> Any:
    def convert(value: Any) -> Any:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in cls)
            raise ParameterValueError(f"{field} must be one of {allowed}, got {value!r}") from None

    return convert


def _instance_of(cls: type, what: str) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, cls):
            _raise(attribute.name, f"must be {what}, got {type(value).__name__} {value!r:.60}")

    return check


def _blend_mode(value: Any) -> BlendMode:
    return _enum(BlendMode, "blend_mode")(value)  # type: ignore[no-any-return]


def _expression(value: Any) -> Expression:
    return _enum(Expression, "expression")(value)  # type: ignore[no-any-return]


def _output_format(value: Any) -> OutputFormat:
    return _enum(OutputFormat, "output_format")(value)  # type: ignore[no-any-return]


#: Metadata keys naming the markers the encoder writes itself (compared case-insensitively; the same set as
#: :data:`fusionkit.imaging.xmp.RESERVED_METADATA_KEYS`): user metadata may neither replace nor shadow them.
_RESERVED_METADATA_KEYS = frozenset({"xml:com.adobe.xmp", "digitalsourcetype", "aigc", "tc260:aigc"})


def _metadata(value: Any) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    out = []
    try:
        pairs = list(items)
    except TypeError:
        raise ParameterValueError("metadata must be a mapping of text keys to text values") from None
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ParameterValueError(f"metadata entries must be (text key, text value) pairs, got {pair!r}")
        key, val = pair
        if not key or len(key) > 79 or not key.isprintable() or not key.isascii():
            raise ParameterValueError(f"metadata key {key!r} must be 1-79 printable ASCII characters")
        if key.lower() in _RESERVED_METADATA_KEYS:
            raise ParameterValueError(
                f"metadata key {key!r} is reserved: the AI-generated markers (the IPTC digital source type and the "
                "GB 45438-2025 implicit label) are always written and cannot be replaced or removed by metadata; "
                "set FuseOptions.aigc to fill the label's fields")
        if len(val) > 4096:
            raise ParameterValueError(f"metadata value for {key!r} is {len(val)} characters; the limit is 4096")
        out.append((key, val))
    if len(out) > 32:
        raise ParameterValueError(f"metadata has {len(out)} entries; the limit is 32")
    return tuple(out)


def _rect(value: Any) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in value)
        if any(float(v) != int(v) for v in value):
            raise ValueError
    except (TypeError, ValueError):
        raise ParameterValueError(f"logo rect must be (x, y, width, height) in whole pixels, got {value!r}") from None
    if w <= 0 or h <= 0:
        raise ParameterValueError(f"logo rect width and height must be positive, got {w}x{h}")
    return x, y, w, h


def _logo_image(value: Any) -> NDArray[np.uint8]:
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 3 or value.shape[2] not in (3, 4):
        raise ParameterValueError("logo image must be an RGB or RGBA uint8 array of shape (height, width, 3 or 4); "
                                  "decode files with fusionkit.imaging first")
    if value.shape[0] < 1 or value.shape[1] < 1:
        raise ParameterValueError("logo image is empty")
    arr = np.array(value, copy=True)
    arr.setflags(write=False)
    return arr


@attrs.frozen(kw_only=True)
class LogoParam:
    """A logo that replaces the default label, placed in a rectangle of the output.

    Attributes
    ----------
    image
        RGB or RGBA uint8 array; alpha, when present, is honoured. It is scaled to fit the rectangle, keeping its
        aspect ratio, and centred in it.
    rect
        ``(x, y, width, height)`` in output pixels. A negative ``x`` counts from the right edge (``x = -10`` puts
        the rectangle's right side 10 pixels from the right edge), a negative ``y`` from the bottom, as in the
        cloud API. The rectangle must lie inside the picture.
    """

    image: NDArray[np.uint8] = attrs.field(converter=_logo_image, eq=attrs.cmp_using(eq=np.array_equal))
    rect: tuple[int, int, int, int] = attrs.field(converter=_rect)

    def placed(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The rectangle as ``(x0, y0, x1, y1)`` inside a ``width`` x ``height`` picture.

        Raises
        ------
        fusionkit.errors.ParameterValueError
            If the rectangle does not fit inside the picture.
        """
        x, y, w, h = self.rect
        x0 = width + x - w if x < 0 else x
        y0 = height + y - h if y < 0 else y
        if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
            raise ParameterValueError(f"logo rect {self.rect} does not fit inside the {width}x{height} picture: "
                                      "shrink it or move it inside")
        return x0, y0, x0 + w, y0 + h


@attrs.frozen(kw_only=True)
class LabelOptions:
    """The visible "AI-generated" label, on by default.

    Attributes
    ----------
    enabled
        Draw the label. Turning it off does not remove the machine-readable marker from the file's metadata.
    text
        The label's text (printable ASCII).
    height_fraction
        Text height as a fraction of the picture height (at least 0.02, the legibility floor).
    """

    enabled: bool = attrs.field(default=True, validator=_instance_of(bool, "True or False"))
    text: str = attrs.field(default="AI-generated")
    height_fraction: float = attrs.field(default=0.025)

    @text.validator
    def _check_text(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value or len(value) > 64 or not (value.isascii() and value.isprintable()):
            raise ParameterValueError(f"label text must be 1-64 printable ASCII characters, got {value!r}")

    @height_fraction.validator
    def _check_height(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.02 <= value <= 0.2:
            raise ParameterValueError(f"label height_fraction must be within 0.02-0.2, got {value!r}")


#: GB 45438-2025's values of ``Label``: ``"1"`` generated by AI, ``"2"`` possibly, ``"3"`` suspected.
AIGC_LABELS = ("1", "2", "3")
#: The producer written when none is given (the studio writes the calling app's id instead).
DEFAULT_CONTENT_PRODUCER = "fusionkit"
_MAX_AIGC_FIELD = 1024


def _aigc_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        _raise(f"aigc {attribute.name}", f"must be text, got {type(value).__name__} {value!r:.60}")
    if len(value) > _MAX_AIGC_FIELD or not value.isprintable():
        _raise(f"aigc {attribute.name}", f"must be at most {_MAX_AIGC_FIELD} printable characters, got {value!r:.60}")


@attrs.frozen(kw_only=True)
class AigcLabel:
    """The implicit (metadata) AI label of GB 45438-2025, written into every result as XMP ``TC260:AIGC``.

    The Chinese national standard for labelling synthetic content (in force since 2025-09-01) asks that files of
    AI-generated content carry this label; :mod:`fusionkit.imaging.xmp` says how it is written. Field names follow
    the standard's JSON keys (``Label``, ``ContentProducer``, ``ProduceID``, ``ReservedCode1``,
    ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``).

    Attributes
    ----------
    label
        ``"1"``: generated by AI (the default; a fused face is), ``"2"`` possibly, ``"3"`` suspected.
    content_producer
        Who produced the content: the service's name or code. ``"fusionkit"`` unless given; the studio writes the
        calling app's id.
    produce_id
        The content's id at its producer. Empty (the default) means a fresh random id for each result (see
        :meth:`resolved`); the studio writes the result id.
    reserved_code1
        Left for the producer's integrity data (a signature or hash), empty by default.
    content_propagator, propagate_id
        Who publishes the content and its id there; empty until a propagator fills them.
    reserved_code2
        Left for the propagator's integrity data, empty by default.

    Every field is text, at most 1024 printable characters.
    """

    label: str = attrs.field(default="1")
    content_producer: str = attrs.field(default=DEFAULT_CONTENT_PRODUCER, validator=_aigc_text)
    produce_id: str = attrs.field(default="", validator=_aigc_text)
    reserved_code1: str = attrs.field(default="", validator=_aigc_text)
    content_propagator: str = attrs.field(default="", validator=_aigc_text)
    propagate_id: str = attrs.field(default="", validator=_aigc_text)
    reserved_code2: str = attrs.field(default="", validator=_aigc_text)

    @label.validator
    def _check_label(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in AIGC_LABELS:
            raise ParameterValueError(f"aigc label must be one of {', '.join(map(repr, AIGC_LABELS))} "
                                      f"('1' = generated by AI), got {value!r}")

    def resolved(self) -> AigcLabel:
        """This label with ``content_producer`` and ``produce_id`` filled: an empty producer becomes
        ``"fusionkit"``, an empty produce id a fresh random one (32 hex digits)."""
        return attrs.evolve(self, content_producer=self.content_producer or DEFAULT_CONTENT_PRODUCER,
                            produce_id=self.produce_id or secrets.token_hex(16))

    def fields(self) -> dict[str, str]:
        """The seven fields under the standard's keys, in its order (what is written as JSON)."""
        return {"Label": self.label, "ContentProducer": self.content_producer, "ProduceID": self.produce_id,
                "ReservedCode1": self.reserved_code1, "ContentPropagator": self.content_propagator,
                "PropagateID": self.propagate_id, "ReservedCode2": self.reserved_code2}

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> AigcLabel:
        """A label from the standard's keys (:meth:`fields`, or what a reader found); a missing key is empty
        (``Label`` missing is an error)."""
        return cls(label=fields["Label"], content_producer=fields.get("ContentProducer", ""),
                   produce_id=fields.get("ProduceID", ""), reserved_code1=fields.get("ReservedCode1", ""),
                   content_propagator=fields.get("ContentPropagator", ""),
                   propagate_id=fields.get("PropagateID", ""), reserved_code2=fields.get("ReservedCode2", ""))


def _plugin(kind: str, optional: bool) -> Any:
    """A renderer's or enhancer's converter: a name becomes a :class:`PluginSpec`; a spec, or an object with a
    ``render`` (renderer) or ``enhance`` (enhancer) method, is kept."""
    method = "render" if kind == "renderer" else "enhance"

    def convert(value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, str):
            return PluginSpec(name=value)
        if isinstance(value, PluginSpec) or callable(getattr(value, method, None)):
            return value
        raise ParameterValueError(f"{kind} must be a name (e.g. {'mesh' if kind == 'renderer' else 'onnx-enhancer'!r}"
                                  f"), a PluginSpec, or an object with a {method}() method"
                                  f"{' or None' if optional else ''}, got {value!r:.80}")

    return convert


_as_renderer = _plugin("renderer", False)
_as_enhancer = _plugin("enhancer", True)


def _renderer(value: Any) -> Any:
    return _as_renderer(value)


def _enhancer(value: Any) -> Any:
    return _as_enhancer(value)


def _plugin_doc(value: Any, kind: str) -> Any:
    """What a stored job keeps of a renderer or enhancer: its spec (a plug-in object's ``spec``)."""
    if value is None:
        return None
    spec = value if isinstance(value, PluginSpec) else getattr(value, "spec", None)
    if not isinstance(spec, PluginSpec):
        raise ParameterValueError(f"the {kind} {value!r:.60} cannot be stored or sent to another process: give it a "
                                  "`spec` (a PluginSpec its factory rebuilds it from), or name a registered one")
    return spec.to_dict()


def _aigc(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        raise ParameterValueError("aigc cannot be None: the implicit AI label (GB 45438-2025) is always written; "
                                  "give an AigcLabel to fill its fields")
    if not isinstance(value, AigcLabel):
        _raise("aigc", f"must be an AigcLabel, got {type(value).__name__} {value!r:.60}")


@attrs.frozen(kw_only=True)
class FuseOptions:
    """Everything that shapes a fusion, validated on construction; change it with :func:`attrs.evolve`.

    Attributes
    ----------
    fuse_face_degree
        0-100: how much of the template's eyes, brows, nose and mouth (shape and texture) to keep.
    fuse_profile_degree
        0-100: how much of the template's face outline and jaw to keep.
    skin_smoothing
        0-1: strength of the edge-preserving skin smoother (guided filter) on the fused face.
    sharpening
        0-1: strength of the unsharp mask on the fused face.
    blend_mode
        ``poisson``, ``multiband`` or ``alpha``.
    colour_match
        Give the user's face the template's light and complexion (the user's detail and likeness kept).
    expression
        ``template`` (the default): the mouth's opening and shape, the teeth and the eyelids follow the template,
        the user's identity everything else; ``user``: the user photo's expression.
    label
        The visible label; see :class:`LabelOptions`.
    logo
        A logo that replaces the label, or ``None``.
    metadata
        Key/value text written into the encoded file (PNG text chunks, or a JPEG comment), beside the
        machine-readable AI-generated markers, which are always written: a key naming a marker (``AIGC``,
        ``TC260:AIGC``, ``DigitalSourceType``, ``XML:com.adobe.xmp``, in any case) is refused.
    aigc
        The implicit AI label of GB 45438-2025 (:class:`AigcLabel`), written into every picture and video as XMP
        ``TC260:AIGC`` beside the IPTC marker. It cannot be turned off (``None`` is refused); set its fields, e.g.
        ``attrs.evolve(opts, aigc=AigcLabel(content_producer=app_id, produce_id=result_id))``.
    output_format
        ``auto`` (follow the template), ``jpeg`` or ``png``.
    jpeg_quality
        1-100, for JPEG output.
    renderer
        What draws the user's face in the template's geometry: ``"mesh"`` (the default: the user's photo warped
        onto the target mesh), ``"onnx-swapper"`` or a registered plug-in, as a name, a
        :class:`~fusionkit.domain.models.PluginSpec` (name, models, settings) or a plug-in object; the engine keeps
        occluders, colour, masks, blending and the label around it. See ``docs/renderers.md``.
    enhancer
        A face restorer run on what the renderer drew (``"onnx-enhancer"`` or a registered one), or None.
    """

    fuse_face_degree: float = attrs.field(default=DEFAULT_FACE_DEGREE, validator=_degree)
    fuse_profile_degree: float = attrs.field(default=DEFAULT_PROFILE_DEGREE, validator=_degree)
    skin_smoothing: float = attrs.field(default=0.0, validator=_unit)
    sharpening: float = attrs.field(default=0.0, validator=_unit)
    blend_mode: BlendMode = attrs.field(default=BlendMode.MULTIBAND, converter=_blend_mode)
    colour_match: bool = attrs.field(default=True, validator=_instance_of(bool, "True or False"))
    expression: Expression = attrs.field(default=Expression.TEMPLATE, converter=_expression)
    label: LabelOptions = attrs.field(factory=LabelOptions, validator=_instance_of(LabelOptions, "a LabelOptions"))
    logo: LogoParam | None = attrs.field(
        default=None, validator=_instance_of((LogoParam, type(None)), "a LogoParam or None")  # type: ignore[arg-type]
    )
    metadata: tuple[tuple[str, str], ...] = attrs.field(factory=tuple, converter=_metadata)
    output_format: OutputFormat = attrs.field(
        default=OutputFormat.AUTO, converter=_output_format
    )
    jpeg_quality: int = attrs.field(default=92)
    aigc: AigcLabel = attrs.field(factory=AigcLabel, validator=_aigc)
    renderer: Any = attrs.field(factory=lambda: PluginSpec(name="mesh"), converter=_renderer)
    enhancer: Any = attrs.field(default=None, converter=_enhancer)

    @jpeg_quality.validator
    def _check_quality(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ParameterValueError(f"jpeg_quality must be a whole number within 1-100, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every option (the logo's pixels as a base64 ``.npy``); :meth:`from_dict` reverses
        it exactly. Video jobs store it so that a job picked up after a restart runs with the same options."""
        logo = None
        if self.logo is not None:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(self.logo.image), allow_pickle=False)
            logo = {"image_npy": base64.b64encode(buf.getvalue()).decode("ascii"), "rect": list(self.logo.rect)}
        return {
            "fuse_face_degree": self.fuse_face_degree,
            "fuse_profile_degree": self.fuse_profile_degree,
            "skin_smoothing": self.skin_smoothing,
            "sharpening": self.sharpening,
            "blend_mode": self.blend_mode.value,
            "colour_match": self.colour_match,
            "expression": self.expression.value,
            "label": {"enabled": self.label.enabled, "text": self.label.text,
                      "height_fraction": self.label.height_fraction},
            "logo": logo,
            "metadata": [list(pair) for pair in self.metadata],
            "output_format": self.output_format.value,
            "jpeg_quality": self.jpeg_quality,
            "aigc": self.aigc.fields(),
            "renderer": _plugin_doc(self.renderer, "renderer"),
            "enhancer": _plugin_doc(self.enhancer, "enhancer"),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> FuseOptions:
        """Options from :meth:`to_json`'s text; damaged text raises :class:`ParameterValueError`."""
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            raise ParameterValueError(f"stored fusion options are not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise ParameterValueError("stored fusion options must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FuseOptions:
        """Options from :meth:`to_dict`'s output, validated as on construction.

        Raises
        ------
        fusionkit.errors.ParameterValueError
            A field is missing or invalid (the message names it).
        """
        try:
            fields = dict(data)
            label = LabelOptions(**fields.pop("label"))
            logo_doc = fields.pop("logo")
            logo = None
            if logo_doc is not None:
                logo = LogoParam(image=_logo_from_npy(base64.b64decode(logo_doc["image_npy"], validate=True)),
                                 rect=tuple(logo_doc["rect"]))
            metadata = []
            for pair in fields.pop("metadata"):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise ParameterValueError(f"stored metadata entries must be [key, value] pairs, got {pair!r}")
                metadata.append((pair[0], pair[1]))
            # Options stored before the label existed have no "aigc": they get the default label.
            aigc_doc = fields.pop("aigc", None)
            aigc = AigcLabel() if aigc_doc is None else AigcLabel.from_fields(aigc_doc)
            # Options stored before renderers were plug-ins have neither: the mesh renderer, no enhancer.
            renderer_doc = fields.pop("renderer", None)
            renderer = PluginSpec.from_dict("mesh" if renderer_doc is None else renderer_doc)
            enhancer_doc = fields.pop("enhancer", None)
            enhancer = None if enhancer_doc is None else PluginSpec.from_dict(enhancer_doc)
            return cls(**fields, label=label, logo=logo, metadata=tuple(metadata), aigc=aigc, renderer=renderer,
                       enhancer=enhancer)
        except ParameterValueError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterValueError(f"stored fusion options are incomplete or damaged: {exc!r}") from None


#: A stored logo is refused above this many pixels a side (the decoder's cap for pictures).
_MAX_LOGO_SIDE = 8000


def _logo_from_npy(raw: bytes) -> NDArray[np.uint8]:
    """A logo's pixels from ``.npy`` bytes, the header checked before any allocation (a damaged or hostile header
    must not make NumPy allocate what it claims)."""
    buf = io.BytesIO(raw)
    version = np.lib.format.read_magic(buf)
    if version != (1, 0):
        raise ValueError(f"unexpected .npy version {version}")
    shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
    if dtype != np.uint8 or len(shape) != 3 or shape[2] not in (3, 4) \
            or not all(0 < side <= _MAX_LOGO_SIDE for side in shape[:2]):
        raise ValueError(f"a logo must be (height, width, 3 or 4) uint8 of at most {_MAX_LOGO_SIDE} px a side, "
                         f"got {shape} {dtype}")
    count = int(shape[0]) * int(shape[1]) * int(shape[2])
    if len(raw) - buf.tell() != count:
        raise ValueError(f"the logo holds {len(raw) - buf.tell()} bytes of pixels, its header says {count}")
    flat = np.frombuffer(raw, np.uint8, count=count, offset=buf.tell())
    return np.array(flat.reshape(shape, order="F" if fortran else "C"))
