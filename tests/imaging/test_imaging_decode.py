"""Decoding with limits: formats by magic bytes, normalisation to RGB uint8, typed errors before "
"allocation."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import fusionkit.samples
from fusionkit.errors import (
    ImageDecodeFailedError,
    ImageResolutionExceedError,
    ImageSizeExceedError,
    InputError,
    ParameterValueError,
    UnsupportedImageFormatError,
)
from fusionkit.imaging import ImageLimits, decode_image, load_image, probe_image

DATA = Path(fusionkit.samples.__file__).resolve().parent


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(DATA / "astronaut.png")), cv2.COLOR_BGR2RGB)


def _png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG signature + IHDR claiming a size, with one tiny IDAT and IEND."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def _jpeg_header_only(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + b"\xff\xda\x00\x02\xff\xd9"


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_allowed_formats_decode_to_rgb(astronaut: np.ndarray, ext: str) -> None:
    ok, buf = cv2.imencode(ext, astronaut[:, :, ::-1], [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else [])
    assert ok
    info = probe_image(buf.tobytes())
    assert (info.width, info.height) == (512, 512)
    rgb = decode_image(buf.tobytes())
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    assert np.abs(rgb.astype(int) - astronaut).mean() < 3  # RGB order, not BGR


def test_photos_from_paths_bytes_and_arrays(astronaut: np.ndarray) -> None:
    path = DATA / "astronaut.png"
    assert np.array_equal(load_image(path), astronaut)
    assert np.array_equal(load_image(str(path)), astronaut)
    assert np.array_equal(load_image(path.read_bytes()), astronaut)
    assert np.array_equal(load_image(bytearray(path.read_bytes())), astronaut)
    assert load_image(astronaut) is astronaut
    bgr = cv2.imread(str(path))
    assert np.array_equal(load_image(bgr, array_order="bgr"), astronaut)
    with pytest.raises(ParameterValueError, match="array_order"):
        load_image(astronaut, array_order="rgba")  # type: ignore[arg-type]
    for bad in (astronaut[:, :, 0], astronaut.astype(np.float32), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ParameterValueError):
            load_image(bad)
    with pytest.raises(ParameterValueError):
        load_image(12345)  # type: ignore[arg-type]


def test_grayscale_rgba_16bit_and_cmyk_are_normalised(astronaut: np.ndarray) -> None:
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    out = decode_image(cv2.imencode(".png", gray)[1].tobytes())
    assert out.shape == (512, 512, 3) and np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)

    rgba = np.dstack([astronaut, np.full((512, 512), 255, np.uint8)])
    rgba[:100, :100, 3] = 0  # transparent corner -> white
    out = decode_image(cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))[1].tobytes())
    assert np.array_equal(out[:100, :100], np.full((100, 100, 3), 255, np.uint8))
    assert np.array_equal(out[200:], astronaut[200:])

    sixteen = astronaut.astype(np.uint16) * 257
    out = decode_image(cv2.imencode(".png", sixteen[:, :, ::-1].copy())[1].tobytes())
    assert probe_image(cv2.imencode(".png", sixteen)[1].tobytes()).bit_depth == 16
    assert np.abs(out.astype(int) - astronaut).max() <= 1

    la = io.BytesIO()
    Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA").save(la, "PNG")
    assert np.array_equal(decode_image(la.getvalue())[:, :, 1], gray)

    cmyk = io.BytesIO()
    Image.fromarray(astronaut).convert("CMYK").save(cmyk, "JPEG", quality=95)
    assert probe_image(cmyk.getvalue()).channels == 4
    out = decode_image(cmyk.getvalue())
    assert out.shape == (512, 512, 3) and np.abs(out.astype(int) - astronaut).mean() < 8


def test_exif_orientation_is_applied() -> None:
    img = np.zeros((40, 60, 3), np.uint8)
    img[:10, :10] = (255, 0, 0)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(buf.getvalue())
    assert out.shape == (60, 40, 3)
    assert out[:10, -10:, 0].mean() > 200 and out[:10, :10, 0].mean() < 50  # now at the top-right


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", ImageDecodeFailedError),
        (b"hello, this is not an image at all" * 4, ImageDecodeFailedError),
        (b"\xff\xd8\xff", ImageDecodeFailedError),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ImageDecodeFailedError),
        (b"GIF89a" + b"\0" * 64, UnsupportedImageFormatError),
        (b"II*\x00" + b"\0" * 64, UnsupportedImageFormatError),
        (b"\x00\x00\x00\x1cftypheic" + b"\0" * 64, UnsupportedImageFormatError),
    ],
)
def test_not_an_image_empty_and_refused_formats(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as err:
        decode_image(data)
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)


def test_bmp_and_tiff_are_refused_by_magic_bytes(astronaut: np.ndarray) -> None:
    for ext in (".bmp", ".tiff"):
        data = cv2.imencode(ext, astronaut)[1].tobytes()
        with pytest.raises(UnsupportedImageFormatError) as err:
            load_image(data)
        assert err.value.code == "FailedOperation.ImageFormatNotSupport"


@pytest.mark.parametrize("name", ["obama.jpg", "astronaut.png"])
@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.999])
def test_truncated_files_are_refused(name: str, fraction: float) -> None:
    data = (DATA / name).read_bytes()
    with pytest.raises(ImageDecodeFailedError) as err:
        decode_image(data[: int(len(data) * fraction)])
    assert err.value.code == "FailedOperation.ImageDecodeFailed"


def test_truncated_webp_is_refused(astronaut: np.ndarray) -> None:
    data = cv2.imencode(".webp", astronaut)[1].tobytes()
    with pytest.raises(ImageDecodeFailedError):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("data", "limits", "error"),
    [
        (_png_header_only(100_000, 100_000), ImageLimits(), ImageResolutionExceedError),
        (_png_header_only(8001, 10), ImageLimits(), ImageResolutionExceedError),
        (_png_header_only(7000, 7000), ImageLimits(), ImageResolutionExceedError),  # 49 MP > 40 MP
        (_jpeg_header_only(60000, 60000), ImageLimits(), ImageResolutionExceedError),
        (_png_header_only(64, 64), ImageLimits(max_side=32), ImageResolutionExceedError),
        (_png_header_only(64, 64), ImageLimits(max_pixels=1000), ImageResolutionExceedError),
        (_png_header_only(64, 64), ImageLimits(max_bytes=50), ImageSizeExceedError),
    ],
)
def test_caps_are_checked_from_the_header_before_decoding(data: bytes, limits: ImageLimits, error: type) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(error) as err:
            decode_image(data, limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing close to the claimed size was allocated
    assert err.value.code in ("FailedOperation.ImageResolutionExceed", "FailedOperation.ImageSizeExceed")


def test_file_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes((DATA / "obama.jpg").read_bytes())
    with pytest.raises(ImageSizeExceedError, match=r"big\.jpg"):
        load_image(path, limits=ImageLimits(max_bytes=1000))
    with pytest.raises(ImageDecodeFailedError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png")


def test_default_limits() -> None:
    limits = ImageLimits()
    assert (limits.max_side, limits.max_pixels) == (8000, 40_000_000)
    assert decode_image(cv2.imencode(".png", np.zeros((10, 8000, 3), np.uint8))[1].tobytes()).shape == (
        10,
        8000,
        3,
    )


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_with_alpha(fmt: str, orientation: int) -> None:
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    rgba = np.dstack([rng.integers(0, 256, (30, 50, 3), dtype=np.uint8), np.full((30, 50), 255, np.uint8)])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, fmt, exif=exif.tobytes(), **({"lossless": True} if fmt == "WEBP" else {}))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    out = decode_image(buf.getvalue())
    assert out.shape == expected.shape and np.array_equal(out, expected)


@pytest.mark.parametrize("reduce", [2, 4, 8])
def test_a_jpeg_decodes_reduced_by_libjpeg_s_scaled_dct(reduce: int) -> None:
    # Odd sides round up, as libjpeg's scaled output does; the picture is the whole one, filtered down.
    rng = np.random.default_rng(reduce)
    img = cv2.resize(rng.integers(0, 256, (13, 10, 3), dtype=np.uint8), (451, 613), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    small = decode_image(data, reduce=reduce)
    assert small.shape == (-(-613 // reduce), -(-451 // reduce), 3) and small.dtype == np.uint8
    whole = cv2.resize(decode_image(data), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    off = np.abs(small.astype(int) - whole).mean()  # the same picture (the DCT's blocks and an area filter differ)
    assert off < reduce and off < np.abs(small[..., ::-1].astype(int) - whole).mean() / 2  # in RGB order
    assert np.array_equal(load_image(data, reduce=reduce), small)


def test_a_reduced_jpeg_keeps_its_exif_orientation_and_other_formats_come_whole() -> None:
    img = np.zeros((200, 300, 3), np.uint8)
    img[:, :50] = 255  # a white band on the left, which lands on top once turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    turned = decode_image(buf.getvalue(), reduce=2)
    assert turned.shape == (150, 100, 3)
    assert turned[:20].mean() > 240 and turned[-20:].mean() < 15
    png = cv2.imencode(".png", img)[1].tobytes()
    assert decode_image(png, reduce=2).shape == (200, 300, 3)
    with pytest.raises(ParameterValueError, match="reduce"):
        decode_image(png, reduce=3)
