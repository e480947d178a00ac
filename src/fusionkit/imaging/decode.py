"""Decode JPEG, PNG and WebP bytes to RGB uint8 with the limits checked from the header first.

The format is chosen by the magic bytes only (never by a file name or a declared MIME type). The
header is parsed here, in Python, to read the width and height, and the limits are enforced before OpenCV decodes
anything, so an oversized or hostile image is refused before any large allocation.

Normalisation: grayscale becomes RGB; 16-bit samples keep their high byte; CMYK/YCCK JPEGs are converted by
libjpeg; images with an alpha channel (PNG colour types 4 and 6, WebP with alpha) are composited onto white.
EXIF orientation is applied: by OpenCV while decoding, or, for images with alpha (which OpenCV decodes without
it), from the PNG ``eXIf`` or WebP ``EXIF`` chunk read here.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Literal, Union

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import (
    ImageDecodeFailedError,
    ImageResolutionExceedError,
    ImageSizeExceedError,
    ParameterValueError,
    UnsupportedImageFormatError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ImageInfo",
    "ImageLimits",
    "ImageSource",
    "decode_image",
    "load_image",
    "probe_image",
]

#: Channel order of an input array: fusionkit works in RGB; ``"bgr"`` converts OpenCV's order on the way in.
ChannelOrder = Literal["rgb", "bgr"]

#: What :func:`load_image` accepts: an RGB uint8 array, encoded bytes, or a path to a file.
ImageSource = Union[NDArray[np.uint8], bytes, bytearray, memoryview, str, "os.PathLike[str]"]


@attrs.frozen(kw_only=True)
class ImageLimits:
    """The largest image fusionkit accepts.

    Attributes
    ----------
    max_bytes
        Largest encoded size in bytes (default 32 MiB).
    max_side
        Largest width or height in pixels (default 8000).
    max_pixels
        Largest width x height (default 40 megapixels).
    """

    max_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=attrs.validators.gt(0))
    max_side: int = attrs.field(default=8000, validator=attrs.validators.gt(0))
    max_pixels: int = attrs.field(default=40_000_000, validator=attrs.validators.gt(0))


DEFAULT_LIMITS = ImageLimits()


@attrs.frozen(kw_only=True)
class ImageInfo:
    """What the header says about an encoded image.

    Attributes
    ----------
    format
        ``"jpeg"``, ``"png"`` or ``"webp"``.
    width, height
        Stored size in pixels (before EXIF orientation).
    channels
        Stored colour channels (1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha or CMYK).
    bit_depth
        Bits per sample.
    has_alpha
        Whether an alpha channel is stored.
    """

    format: str
    width: int
    height: int
    channels: int
    bit_depth: int
    has_alpha: bool


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_REFUSED_MAGIC = [
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
]
# JPEG start-of-frame markers (every SOFn except DHT C4, JPG C8 and DAC CC).
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _truncated(fmt: str) -> ImageDecodeFailedError:
    return ImageDecodeFailedError(f"the {fmt} data is truncated or corrupt; send the complete file")


def _probe_png(data: bytes) -> ImageInfo:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _truncated("PNG")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or width == 0 or height == 0:
        raise ImageDecodeFailedError(f"the PNG header is invalid (colour type {colour}, size {width}x{height})")
    if data.rfind(b"IEND") < 33:
        raise _truncated("PNG")
    return ImageInfo(
        format="png",
        width=width,
        height=height,
        channels=channels,
        bit_depth=depth,
        has_alpha=colour in (4, 6),
    )


def _probe_jpeg(data: bytes) -> ImageInfo:
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise _truncated("JPEG")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 10 > n or length < 8:
                break
            depth, height, width, channels = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            if width == 0 or height == 0 or channels not in (1, 3, 4):
                raise ImageDecodeFailedError(
                    f"the JPEG frame header is invalid ({width}x{height}, {channels} components)"
                )
            # The last end-of-image marker must follow the first scan (an EXIF thumbnail's EOI comes earlier).
            sos = data.find(b"\xff\xda", pos)
            if sos < 0 or data.rfind(b"\xff\xd9") < sos:
                raise _truncated("JPEG")
            return ImageInfo(
                format="jpeg", width=width, height=height, channels=channels, bit_depth=depth, has_alpha=False
            )
        pos += 2 + length
    raise _truncated("JPEG")


def _probe_webp(data: bytes) -> ImageInfo:
    if len(data) < 30:
        raise _truncated("WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        raise _truncated("WebP")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageDecodeFailedError("the WebP (lossy) header is invalid")
        w, h = struct.unpack("<HH", data[26:30])
        width, height, alpha = w & 0x3FFF, h & 0x3FFF, False
    elif chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ImageDecodeFailedError("the WebP (lossless) header is invalid")
        (bits,) = struct.unpack("<I", data[21:25])
        width, height, alpha = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    elif chunk == b"VP8X":
        flags = data[20]
        if flags & 0x02:
            raise UnsupportedImageFormatError("animated WebP is not supported; send a still JPEG, PNG or WebP")
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        alpha = bool(flags & 0x10)
    else:
        raise ImageDecodeFailedError(f"unknown WebP chunk {chunk!r}")
    if width == 0 or height == 0:
        raise ImageDecodeFailedError("the WebP header gives an empty image")
    return ImageInfo(
        format="webp", width=width, height=height, channels=4 if alpha else 3, bit_depth=8, has_alpha=alpha
    )


def probe_image(data: bytes | bytearray | memoryview) -> ImageInfo:
    """Read the format and size of an encoded image from its header, without decoding it.

    Raises
    ------
    ImageDecodeFailedError
        Empty, not an image, or a truncated/corrupt header.
    UnsupportedImageFormatError
        A recognised image format outside the allow-list (JPEG, PNG, WebP).
    """
    head = bytes(data[:64])
    if not head:
        raise ImageDecodeFailedError("the image is empty (0 bytes)")
    buf = bytes(data)
    if head.startswith(b"\xff\xd8\xff"):
        return _probe_jpeg(buf)
    if head.startswith(_PNG_MAGIC):
        return _probe_png(buf)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _probe_webp(buf)
    for magic, name in _REFUSED_MAGIC:
        if head.startswith(magic):
            raise UnsupportedImageFormatError(f"{name} images are not supported; send JPEG, PNG or WebP")
    if head[4:8] == b"ftyp":
        raise UnsupportedImageFormatError("HEIF/AVIF images are not supported; send JPEG, PNG or WebP")
    raise ImageDecodeFailedError("the data is not a JPEG, PNG or WebP image (unrecognised header)")


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if width > limits.max_side or height > limits.max_side:
        raise ImageResolutionExceedError(
            f"the image is {width}x{height} pixels; each side must be at most {limits.max_side}"
        )
    if width * height > limits.max_pixels:
        raise ImageResolutionExceedError(
            f"the image has {width * height} pixels ({width}x{height}); the maximum is {limits.max_pixels}"
        )


def _u8(arr: Any) -> NDArray[np.uint8]:
    """Type OpenCV's result (its stubs say any integer or float array) as the uint8 array it is."""
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _to_rgb8(decoded: NDArray[Any]) -> NDArray[np.uint8]:
    """Normalise an ``IMREAD_UNCHANGED`` result (BGR order, any depth, 1-4 channels) to RGB uint8."""
    arr: NDArray[Any] = decoded
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    if arr.dtype != np.uint8:
        raise UnsupportedImageFormatError(f"images with {arr.dtype} samples are not supported")
    if arr.ndim == 2:
        return _u8(cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB))
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, 2::-1].astype(np.float32)
        out = rgb * alpha + 255.0 * (1.0 - alpha)
        return np.ascontiguousarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    if arr.shape[2] == 2:  # gray + alpha
        gray = cv2.cvtColor(np.ascontiguousarray(arr[:, :, :1]), cv2.COLOR_GRAY2BGR)
        return _to_rgb8(np.dstack([gray, arr[:, :, 1]]))
    return _u8(cv2.cvtColor(arr, cv2.COLOR_BGR2RGB))


def _tiff_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of an EXIF/TIFF block's first IFD, 1 when absent or unreadable."""
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(min(count, 512)):
        entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind, _, value = struct.unpack(order + "HHI4s", entry)
        if tag == 0x0112 and kind == 3:  # SHORT
            (orientation,) = struct.unpack(order + "H", value[:2])
            return orientation if 1 <= orientation <= 8 else 1
    return 1


def _exif_orientation(data: bytes, fmt: str) -> int:
    """EXIF orientation of a PNG (``eXIf`` chunk) or WebP (``EXIF`` chunk); 1 when there is none."""
    if fmt == "png":
        pos = 8
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind = data[pos + 4 : pos + 8]
            if kind == b"eXIf":
                return _tiff_orientation(data[pos + 8 : pos + 8 + length])
            if kind in (b"IDAT", b"IEND"):
                break  # eXIf must come before the image data
            pos += 12 + length
    elif fmt == "webp":
        pos = 12
        while pos + 8 <= len(data):
            kind = data[pos : pos + 4]
            (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
            if kind == b"EXIF":
                return _tiff_orientation(data[pos + 8 : pos + 8 + length])
            pos += 8 + length + (length & 1)
    return 1


def _orient(rgb: NDArray[np.uint8], orientation: int) -> NDArray[np.uint8]:
    """Apply an EXIF orientation (1-8) so that the array is upright."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return rgb if op is None else np.ascontiguousarray(op(rgb))


def decode_image(data: bytes | bytearray | memoryview, *, limits: ImageLimits = DEFAULT_LIMITS) -> NDArray[np.uint8]:
    """Decode JPEG, PNG or WebP bytes to an RGB uint8 array ``(height, width, 3)``.

    Parameters
    ----------
    data
        The encoded image.
    limits
        Caps on encoded bytes, width, height and pixels, checked from the header before decoding.

    Raises
    ------
    ImageSizeExceedError
        More than ``limits.max_bytes`` bytes.
    ImageResolutionExceedError
        A side over ``limits.max_side`` or more than ``limits.max_pixels`` pixels.
    UnsupportedImageFormatError
        A format outside JPEG/PNG/WebP, or an animated WebP.
    ImageDecodeFailedError
        Empty, not an image, truncated or corrupt.
    """
    if len(data) > limits.max_bytes:
        raise ImageSizeExceedError(f"the image has {len(data)} bytes; the maximum is {limits.max_bytes}")
    info = probe_image(data)
    _check_size(info.width, info.height, limits)
    buf = np.frombuffer(data, dtype=np.uint8)
    if info.has_alpha:
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise _truncated(info.format.upper())
        # IMREAD_UNCHANGED ignores EXIF orientation; read it from the container and apply it here.
        rgb = _orient(_to_rgb8(decoded), _exif_orientation(bytes(data), info.format))
    else:
        flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
        decoded = cv2.imdecode(buf, flag if flag is not None else cv2.IMREAD_COLOR)
        if decoded is None:
            raise _truncated(info.format.upper())
        rgb = _u8(decoded if flag is not None else cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    if {rgb.shape[0], rgb.shape[1]} != {info.width, info.height}:
        raise ImageDecodeFailedError(
            f"the decoded size {rgb.shape[1]}x{rgb.shape[0]} disagrees with the header's {info.width}x{info.height}"
        )
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def load_image(
    source: ImageSource, *, limits: ImageLimits = DEFAULT_LIMITS, array_order: ChannelOrder = "rgb"
) -> NDArray[np.uint8]:
    """Return ``source`` as an RGB uint8 array ``(height, width, 3)``.

    Parameters
    ----------
    source
        A uint8 array ``(height, width, 3)``, encoded JPEG/PNG/WebP bytes, or a path to such a file.
    limits
        Caps checked before decoding (and on arrays, the same width/height/pixel caps).
    array_order
        The channel order of an array ``source``: ``"rgb"`` (returned as is, not copied) or ``"bgr"`` (as
        OpenCV's ``cv2.imread`` gives; converted to a new RGB array). Ignored for bytes and paths, which are
        always decoded to RGB.

    Raises
    ------
    ParameterValueError
        An array that is not ``(H, W, 3)`` uint8, or a source of another type.
    ImageSizeExceedError, ImageResolutionExceedError, UnsupportedImageFormatError, ImageDecodeFailedError
        See :func:`decode_image`; a missing file raises :class:`ImageDecodeFailedError`.
    """
    if array_order not in ("rgb", "bgr"):
        raise ParameterValueError(f"array_order must be 'rgb' or 'bgr', got {array_order!r}")
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise ParameterValueError(
                f"expected an RGB uint8 array of shape (height, width, 3), got {source.dtype} "
                f"{source.shape}; "
                "convert grayscale or RGBA first (fusionkit.imaging.decode_image does it for encoded images)"
            )
        if source.shape[0] == 0 or source.shape[1] == 0:
            raise ParameterValueError(f"the image array is empty: {source.shape}")
        _check_size(source.shape[1], source.shape[0], limits)
        if array_order == "bgr":
            return _u8(cv2.cvtColor(source, cv2.COLOR_BGR2RGB))
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(source, limits=limits)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImageDecodeFailedError(f"cannot read the image file {str(path)!r}: {exc.strerror}") from exc
        if size > limits.max_bytes:
            raise ImageSizeExceedError(
                f"the image file {str(path)!r} has {size} bytes; the maximum is {limits.max_bytes}"
            )
        return decode_image(path.read_bytes(), limits=limits)
    raise ParameterValueError(f"expected an RGB uint8 array, bytes or a path, got {type(source).__name__}")
