"""Decode JPEG, PNG and WebP bytes to RGB uint8 with the limits checked from the header first.

The format is chosen by the magic bytes only (never by a file name or a declared MIME type). The
header is parsed here, in Python, to read the width and height, and the limits are enforced before OpenCV decodes
anything, so an oversized or hostile image is refused before any large allocation.

Normalisation: grayscale becomes RGB; 16-bit samples keep their high byte; CMYK/YCCK JPEGs are converted by
libjpeg; transparent pixels are composited onto white, whatever stores the transparency: an alpha channel (PNG
colour types 4 and 6, WebP with alpha) or a PNG ``tRNS`` chunk (transparent palette entries or one transparent
colour). EXIF orientation is applied: by OpenCV while decoding, or, for transparent images (which OpenCV decodes
without it), from the PNG ``eXIf`` or WebP ``EXIF`` chunk read here.

Hostile input: every path is bounded by the limits before a decoder runs. Files are read with a size cap and only
when they are regular files; PNG chunk lengths and JPEG scan counts are checked by walking the container
(:mod:`fusionkit.imaging.sniff`); transparency is composited in integers, a strip of rows at a time, and 16-bit
PNGs with transparency are decoded a strip of rows at a time, so the peak memory stays within about three times
the decoded RGB image.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, Literal, Union

import attrs
import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.errors import (
    ImageDecodeFailedError,
    ImageResolutionExceedError,
    ImageScanCountExceedError,
    ImageSizeExceedError,
    ParameterValueError,
    UnsupportedImageFormatError,
)
from fusionkit.imaging.files import read_image_file
from fusionkit.imaging.orientation import exif_orientation, orient
from fusionkit.imaging.sniff import PngChunks, jpeg_scan_count, png_chunks

__all__ = [
    "DEFAULT_LIMITS",
    "JPEG_REDUCTIONS",
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
    max_jpeg_scans
        Most scans a JPEG may hold (default 100). Each progressive scan is a pass over the whole image; ordinary
        progressive JPEGs have about 10, and a file repeating a tiny scan thousands of times decodes for minutes.
    """

    max_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=attrs.validators.gt(0))
    max_side: int = attrs.field(default=8000, validator=attrs.validators.gt(0))
    max_pixels: int = attrs.field(default=40_000_000, validator=attrs.validators.gt(0))
    max_jpeg_scans: int = attrs.field(default=100, validator=attrs.validators.gt(0))


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


def _probe_png(data: bytes) -> tuple[ImageInfo, PngChunks]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _truncated("PNG")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or width == 0 or height == 0:
        raise ImageDecodeFailedError(f"the PNG header is invalid (colour type {colour}, size {width}x{height})")
    if depth not in (1, 2, 4, 8, 16):
        raise ImageDecodeFailedError(f"the PNG header is invalid (bit depth {depth})")
    chunks = png_chunks(data)  # every chunk length checked against the data before any decoder trusts one
    info = ImageInfo(
        format="png",
        width=width,
        height=height,
        channels=channels,
        bit_depth=depth,
        has_alpha=colour in (4, 6),
    )
    return info, chunks


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
    return _probe(bytes(data))[0]


def _probe(buf: bytes) -> tuple[ImageInfo, PngChunks | None]:
    head = buf[:64]
    if not head:
        raise ImageDecodeFailedError("the image is empty (0 bytes)")
    if head.startswith(b"\xff\xd8\xff"):
        return _probe_jpeg(buf), None
    if head.startswith(_PNG_MAGIC):
        return _probe_png(buf)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _probe_webp(buf), None
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


# Rows per strip when compositing or strip-decoding: about this many bytes of samples at a time.
_STRIP_BYTES = 2 << 20


def _strip_rows(row_bytes: int) -> int:
    return max(1, _STRIP_BYTES // max(row_bytes, 1))


def _high_byte(arr: NDArray[Any]) -> NDArray[np.uint8]:
    return (arr >> 8).astype(np.uint8) if arr.dtype == np.uint16 else _u8(arr)


def _composite_onto_white(arr: NDArray[Any], out: NDArray[np.uint8]) -> None:
    """Composite BGRA or gray+alpha samples (uint8 or uint16) onto white into ``out`` (RGB uint8, same rows).

    Integer arithmetic a strip of rows at a time: ``(colour * a + 255 * (255 - a)) / 255`` rounded, which fits in
    uint16 (at most 65025), so the temporaries are a few strip-sized arrays, never a float copy of the image.
    """
    height, width, channels = arr.shape
    rows = _strip_rows(width * channels * 2)
    for y in range(0, height, rows):
        strip = _high_byte(arr[y : y + rows])
        alpha = strip[:, :, channels - 1 : channels].astype(np.uint16)
        colour = strip[:, :, 2::-1] if channels == 4 else strip[:, :, :1]
        mixed = colour * alpha  # uint8 * uint16 -> uint16
        alpha = 255 - alpha
        alpha *= 255
        alpha += 128
        mixed += alpha
        mixed += mixed >> 8  # (x + 128 + ((x + 128) >> 8)) >> 8 == round(x / 255) for 0 <= x <= 65025
        mixed >>= 8
        out[y : y + rows] = mixed


def _to_rgb8(decoded: NDArray[Any], transparent_gray: int | None = None) -> NDArray[np.uint8]:
    """Normalise an ``IMREAD_UNCHANGED`` result (BGR order, any depth, 1-4 channels) to RGB uint8.

    Alpha is composited onto white; ``transparent_gray`` is a gray PNG's ``tRNS`` sample value (at the decoded
    depth), whose pixels become white too.
    """
    arr: NDArray[Any] = decoded
    if arr.dtype not in (np.uint8, np.uint16):
        raise UnsupportedImageFormatError(f"images with {arr.dtype} samples are not supported")
    if arr.ndim == 2:
        gray = _high_byte(arr)
        if transparent_gray is not None:
            gray[arr == transparent_gray] = 255
        return _u8(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))
    if arr.shape[2] in (2, 4):
        out = np.empty((arr.shape[0], arr.shape[1], 3), np.uint8)
        _composite_onto_white(arr, out)
        return out
    return _u8(cv2.cvtColor(_high_byte(arr), cv2.COLOR_BGR2RGB))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def _inflater(data: bytes, chunks: PngChunks) -> Any:
    """A function ``take(n)`` returning the next ``n`` bytes of the PNG's inflated image data (fewer at its end)."""
    view = memoryview(data)
    spans = iter(chunks.idat)
    inflate = zlib.decompressobj()

    def take(n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n and not inflate.eof:
            if inflate.unconsumed_tail:
                source: bytes | memoryview = inflate.unconsumed_tail
            else:
                span = next(spans, None)
                if span is None:
                    break
                source = view[span[0] : span[1]]
            try:
                part = inflate.decompress(source, n - got)
            except zlib.error as exc:
                raise ImageDecodeFailedError(f"the PNG image data is corrupt ({exc}); send the original image") from exc
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    return take


def _png16_in_strips(data: bytes, info: ImageInfo, chunks: PngChunks) -> NDArray[np.uint8]:
    """Decode a non-interlaced 16-bit PNG with transparency a strip of rows at a time, composited onto white.

    Decoded whole, such an image takes 8 bytes a pixel, twice over inside OpenCV: 640 MB at 40 megapixels. Here
    the image data is inflated a strip at a time and each strip handed to OpenCV as a small PNG of its own, with
    the strip's previous row (already decoded, stored unfiltered) in front so that the rows' filters still find
    the row above them. Peak memory: the RGB result plus a few strips.
    """
    colour = data[25]
    samples = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    width, height = info.width, info.height
    row_bytes = 1 + width * samples * 2
    rows = _strip_rows(row_bytes)
    key = _transparent_gray(info, colour, chunks)
    take = _inflater(data, chunks)
    out = np.empty((height, width, 3), np.uint8)
    previous = b""
    y = 0
    while y < height:
        n = min(rows, height - y)
        body = take(n * row_bytes)
        if len(body) != n * row_bytes:
            raise _truncated("PNG")
        strip_rows = n + (1 if previous else 0)
        ihdr = struct.pack(">IIBBBBB", width, strip_rows, 16, colour, 0, 0, 0)
        strip_png = b"".join(
            [
                _PNG_MAGIC,
                _png_chunk(b"IHDR", ihdr),
                chunks.pre_idat,
                _png_chunk(b"IDAT", zlib.compress(previous + body, 0)),
                _png_chunk(b"IEND", b""),
            ]
        )
        decoded = cv2.imdecode(np.frombuffer(strip_png, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None or decoded.shape[0] != strip_rows or decoded.dtype != np.uint16:
            raise _truncated("PNG")
        last = decoded[-1]
        decoded = decoded[strip_rows - n :]
        if decoded.ndim == 2:
            out[y : y + n] = _to_rgb8(decoded, key)
        else:
            _composite_onto_white(decoded, out[y : y + n])
        # The last row's samples in the PNG's own order (OpenCV gives BGR(A), gray as 1 or 4 channels).
        order = {0: [0], 2: [2, 1, 0], 4: [0, 3], 6: [2, 1, 0, 3]}[colour]
        original = last if last.ndim == 1 else last[:, order]
        previous = b"\x00" + np.ascontiguousarray(original, dtype=">u2").tobytes()
        y += n
    return out


# An interlaced PNG cannot be decoded in strips; with 16-bit samples and transparency it is decoded whole (8 bytes
# a pixel, twice over inside OpenCV), so it is held to fewer pixels to keep the peak memory bounded.
_MAX_PIXELS_WHOLE_PNG16 = 12_000_000


def _transparent_gray(info: ImageInfo, colour: int, chunks: PngChunks | None) -> int | None:
    """A gray PNG's transparent sample value as OpenCV decodes it (low depths scaled up to 8 bits), if any."""
    if chunks is None or chunks.trns is None or colour != 0 or len(chunks.trns) < 2:
        return None
    depth = info.bit_depth
    key = int.from_bytes(chunks.trns[:2], "big") & ((1 << depth) - 1)
    return key * (255 // ((1 << depth) - 1)) if depth < 8 else key


#: Scales a JPEG can be decoded at, smaller by: libjpeg's scaled inverse DCT (see :func:`decode_image`).
JPEG_REDUCTIONS = (1, 2, 4, 8)
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_image(data: bytes | bytearray | memoryview, *, limits: ImageLimits = DEFAULT_LIMITS,
                 reduce: int = 1) -> NDArray[np.uint8]:
    """Decode JPEG, PNG or WebP bytes to an RGB uint8 array ``(height, width, 3)``.

    Parameters
    ----------
    data
        The encoded image.
    limits
        Caps on encoded bytes, width, height, pixels and JPEG scans, checked from the headers before decoding.
    reduce
        1, 2, 4 or 8: a JPEG comes out that many times smaller a side (rounded up), decoded by libjpeg's scaled
        inverse DCT, which filters as it shrinks and takes a fraction of the time (a 12-megapixel photo: about a
        quarter at 2). Other formats ignore it and come out whole.

    Raises
    ------
    ImageSizeExceedError
        More than ``limits.max_bytes`` bytes.
    ImageResolutionExceedError
        A side over ``limits.max_side`` or more than ``limits.max_pixels`` pixels.
    ImageScanCountExceedError
        A JPEG with more than ``limits.max_jpeg_scans`` scans.
    UnsupportedImageFormatError
        A format outside JPEG/PNG/WebP, or an animated WebP.
    ImageDecodeFailedError
        Empty, not an image, truncated or corrupt (a PNG chunk longer than the data included).
    """
    if reduce not in JPEG_REDUCTIONS:
        raise ParameterValueError(f"reduce must be one of {JPEG_REDUCTIONS}, got {reduce!r}")
    if len(data) > limits.max_bytes:
        raise ImageSizeExceedError(f"the image has {len(data)} bytes; the maximum is {limits.max_bytes}")
    raw = data if isinstance(data, bytes) else bytes(data)
    info, chunks = _probe(raw)
    _check_size(info.width, info.height, limits)
    if info.format == "jpeg":
        scans = jpeg_scan_count(raw, stop_after=limits.max_jpeg_scans)
        if scans > limits.max_jpeg_scans:
            raise ImageScanCountExceedError(
                f"the JPEG has more than {limits.max_jpeg_scans} scans (the maximum); so many would take minutes "
                "to decode: re-save the image as an ordinary JPEG"
            )
    colour = raw[25] if info.format == "png" else -1
    transparent = info.has_alpha or (chunks is not None and chunks.trns is not None)
    if transparent and chunks is not None and info.bit_depth == 16:
        if raw[28] == 0:  # not interlaced
            rgb = _png16_in_strips(raw, info, chunks)
        elif info.width * info.height > min(limits.max_pixels, _MAX_PIXELS_WHOLE_PNG16):
            raise ImageResolutionExceedError(
                f"the image is an interlaced 16-bit PNG with transparency of {info.width * info.height} pixels; "
                f"such images may have at most {_MAX_PIXELS_WHOLE_PNG16}: save it non-interlaced or with 8-bit "
                "samples"
            )
        else:
            rgb = _decode_whole_transparent(raw, info, colour, chunks)
        rgb = orient(rgb, exif_orientation(raw, info.format))
    elif transparent:
        rgb = orient(_decode_whole_transparent(raw, info, colour, chunks), exif_orientation(raw, info.format))
    elif info.format == "jpeg" and reduce > 1:
        decoded = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), _REDUCED_FLAGS[reduce])  # EXIF orientation applied
        if decoded is None:
            raise _truncated("JPEG")
        rgb = _u8(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    else:
        reduce = 1
        buf = np.frombuffer(raw, dtype=np.uint8)
        flag = getattr(cv2, "IMREAD_COLOR_RGB", None)
        decoded = cv2.imdecode(buf, flag if flag is not None else cv2.IMREAD_COLOR)
        if decoded is None:
            raise _truncated(info.format.upper())
        rgb = _u8(decoded if flag is not None else cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
    if transparent:
        reduce = 1
    expected = {-(-info.width // reduce), -(-info.height // reduce)}
    if {rgb.shape[0], rgb.shape[1]} != expected:
        raise ImageDecodeFailedError(
            f"the decoded size {rgb.shape[1]}x{rgb.shape[0]} disagrees with the header's {info.width}x{info.height}"
            + (f" (decoded at 1/{reduce})" if reduce > 1 else "")
        )
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _decode_whole_transparent(raw: bytes, info: ImageInfo, colour: int, chunks: PngChunks | None) -> NDArray[np.uint8]:
    # IMREAD_UNCHANGED keeps the alpha channel (and turns a palette's or a colour's tRNS into one).
    decoded = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise _truncated(info.format.upper())
    return _to_rgb8(decoded, _transparent_gray(info, colour, chunks))


def load_image(
    source: ImageSource, *, limits: ImageLimits = DEFAULT_LIMITS, array_order: ChannelOrder = "rgb", reduce: int = 1
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
    reduce
        A JPEG's reduction when it is decoded (see :func:`decode_image`); arrays and other formats come whole.

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
        return decode_image(source, limits=limits, reduce=reduce)
    if isinstance(source, (str, os.PathLike)):
        return decode_image(read_image_file(source, limits.max_bytes), limits=limits, reduce=reduce)
    raise ParameterValueError(f"expected an RGB uint8 array, bytes or a path, got {type(source).__name__}")
