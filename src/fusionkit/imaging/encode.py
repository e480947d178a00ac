"""Encoding results: JPEG or PNG, with key/value metadata and a machine-readable AI-generated marker.

Nothing from the inputs is carried over: the pixels are encoded afresh (OpenCV writes no EXIF for an array), and
the only metadata is what is written here. The markers are the IPTC digital source type
``compositeWithTrainedAlgorithmicMedia``, which is what content-credential tools read, and, when a label is given,
the implicit label of GB 45438-2025 (``TC260:AIGC``), both in one XMP packet (PNG ``iTXt`` chunk
``XML:com.adobe.xmp``; JPEG APP1 segment; see :mod:`fusionkit.imaging.xmp`); the key/value pairs go into PNG
``iTXt`` chunks or one JPEG comment (``COM``) segment of ``key=value`` lines.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import ParameterValueError
from fusionkit.imaging.xmp import DIGITAL_SOURCE_TYPE, RESERVED_METADATA_KEYS, read_xmp, xmp_packet

__all__ = ["DIGITAL_SOURCE_TYPE", "encode_image", "read_metadata"]

_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_itxt(key: str, value: str) -> bytes:
    # keyword, NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text
    return _png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def _with_png_metadata(png: bytes, metadata: Sequence[tuple[str, str]], aigc: Mapping[str, str] | None) -> bytes:
    iend = png.rfind(b"IEND") - 4  # the IEND chunk starts with its 4-byte length
    extra = _png_itxt("XML:com.adobe.xmp", xmp_packet(metadata, aigc).decode("utf-8"))
    extra += b"".join(_png_itxt(k, v) for k, v in metadata)
    return png[:iend] + extra + png[iend:]


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    if len(body) + 2 > 0xFFFF:
        raise ParameterValueError("metadata is too large for a JPEG segment (64 KiB): shorten the values")
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def _with_jpeg_metadata(jpeg: bytes, metadata: Sequence[tuple[str, str]], aigc: Mapping[str, str] | None) -> bytes:
    # After SOI and OpenCV's JFIF APP0: our APP1 (XMP) and, when there are pairs, a COM segment.
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    extra = _jpeg_segment(0xE1, _XMP_ID + xmp_packet(metadata, aigc))
    if metadata:
        extra += _jpeg_segment(0xFE, "\n".join(f"{k}={v}" for k, v in metadata).encode("utf-8"))
    return jpeg[:pos] + extra + jpeg[pos:]


def encode_image(
    image: NDArray[np.uint8],
    fmt: str = "png",
    *,
    jpeg_quality: int = 92,
    metadata: Sequence[tuple[str, str]] = (),
    aigc: Mapping[str, str] | None = None,
) -> bytes:
    """Encode an RGB uint8 image as JPEG or PNG with the AI-generated markers and ``metadata``.

    Parameters
    ----------
    image
        (H, W, 3) RGB uint8 array.
    fmt
        ``"jpeg"`` or ``"png"``.
    jpeg_quality
        1-100.
    metadata
        (key, value) text pairs; keys are printable ASCII, not one of the names the markers use
        (``XML:com.adobe.xmp``, ``DigitalSourceType``, ``AIGC``, ``TC260:AIGC``, in any case).
    aigc
        The GB 45438-2025 implicit label's seven fields by name (``Label``, ``ContentProducer``, ``ProduceID``,
        ``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``), written as ``TC260:AIGC``
        in the XMP packet; ``None`` writes the IPTC marker alone.

    Returns
    -------
    bytes
        The encoded file.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ParameterValueError("image must be an RGB uint8 array of shape (height, width, 3)")
    for key, _ in metadata:
        if key.lower() in RESERVED_METADATA_KEYS:
            raise ParameterValueError(f"metadata key {key!r} is the name of a marker fusionkit writes itself: "
                                      "use another key")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise ParameterValueError("the image could not be encoded as JPEG")
        return _with_jpeg_metadata(buf.tobytes(), metadata, aigc)
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise ParameterValueError("the image could not be encoded as PNG")
        return _with_png_metadata(buf.tobytes(), metadata, aigc)
    raise ParameterValueError(f"format must be 'jpeg' or 'png', got {fmt!r}")


def read_metadata(data: bytes) -> dict[str, Any]:
    """Read back what :func:`encode_image` wrote: the key/value pairs (text), plus ``"DigitalSourceType"`` (text)
    if marked and ``"AIGC"`` (the GB 45438-2025 label's fields, a dict of text) if labelled.

    Reads PNG ``iTXt``/``tEXt`` chunks and JPEG ``COM`` and XMP segments; other files give an empty mapping.
    """
    out: dict[str, Any] = {}
    xmp = b""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            body = data[pos + 8 : pos + 8 + length]
            if kind in (b"iTXt", b"tEXt"):
                key, _, rest = body.partition(b"\x00")
                text = rest[4:].split(b"\x00", 2)[-1] if kind == b"iTXt" else rest
                if key == b"XML:com.adobe.xmp":
                    xmp = text
                else:
                    out[key.decode("latin-1")] = text.decode("utf-8", "replace")
            pos += 12 + length
    elif data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xD9, 0xDA):
            marker = data[pos + 1]
            length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
            body = data[pos + 4 : pos + 2 + length]
            if marker == 0xFE:
                for line in body.decode("utf-8", "replace").splitlines():
                    name, sep, text_value = line.partition("=")
                    if sep:
                        out[name] = text_value
            elif marker == 0xE1 and body.startswith(_XMP_ID):
                xmp = body[len(_XMP_ID) :]
            pos += 2 + length
    out.update(read_xmp(xmp))
    return out
