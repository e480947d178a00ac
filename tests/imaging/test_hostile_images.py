"""Hostile images: memory and CPU bombs, paths that are not files, and transparency stored two ways.

Every hostile file is generated here by a small function (no binary fixtures). The memory checks decode in a
child process and read its peak resident memory (``VmHWM``): the budget for any input under the caps is three
times the decoded RGB image plus 100 MB, interpreter and libraries included. They are bounded checks, not timings.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from fusionkit.errors import (
    ImageDecodeFailedError,
    ImageResolutionExceedError,
    ImageScanCountExceedError,
    ParameterValueError,
)
from fusionkit.imaging import DEFAULT_LIMITS, ImageLimits, decode_image, load_image, probe_image

MB = 1 << 20

# --- generators -------------------------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return struct.pack(">I", length) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, colour: int, depth: int, raw_rows: bytes, extra: bytes = b"") -> bytes:
    """A PNG from filtered rows (each row: filter byte + samples), ``extra`` chunks between IHDR and IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw_rows))
        + _chunk(b"IEND", b"")
    )


def _png_chunk_length_bomb() -> bytes:
    """A 1x1 PNG whose tEXt chunk declares 0x7FFFFFFF bytes (OpenCV allocated 2.1 GB for it)."""
    good = _png(1, 1, 2, 8, b"\x00\x00\x00\x00")
    text = struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"Comment\x00" + b"A" * 60
    return good[:33] + text + good[33:]


def _blank_png(width: int, height: int, colour: int, depth: int) -> bytes:
    """A large, fully transparent (or black) PNG compressed row by row, never built whole in memory."""
    samples = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = bytes(1 + width * samples * depth // 8)
    deflate = zlib.compressobj(6)
    body = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _blank_rgba_webp(width: int, height: int) -> bytes:
    ok, buf = cv2.imencode(".webp", np.zeros((height, width, 4), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    return buf.tobytes()


def _scan_ends(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan (SOS segment + entropy-coded data) of a JPEG written by OpenCV."""
    pos, scans = 2, []
    while data[pos + 1] != 0xD9:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if data[pos + 1] == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
            scans.append((pos, end))
        pos = end
    return scans


def _progressive_jpeg(scans: int, size: int = 64) -> bytes:
    """A valid progressive JPEG whose last scan is repeated until the file has ``scans`` scans."""
    gray = np.full((size, size), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    data = buf.tobytes()
    found = _scan_ends(data)
    start, end = found[-1]
    return data[:end] + data[start:end] * (scans - len(found)) + data[end:]


# --- peak memory in a child process -----------------------------------------------------------------------------

_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # a regression fails here instead of eating the host
from fusionkit.errors import FusionKitError
from fusionkit.imaging import load_image
def kb(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))
try:
    shape, code = list(load_image(sys.argv[1]).shape), None
except FusionKitError as err:
    shape, code = None, err.code
print(json.dumps({"shape": shape, "code": code, "peak_mb": kb("VmHWM") / 1024}))
"""


def _load_in_child(path: Path | str, timeout: float = 120) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _budget_mb(width: int, height: int) -> float:
    return 3 * width * height * 3 / MB + 100


@pytest.mark.parametrize(
    ("name", "make", "size"),
    [
        ("16-bit RGBA PNG", lambda: _blank_png(8000, 5000, 6, 16), (8000, 5000)),
        ("8-bit RGBA PNG", lambda: _blank_png(8000, 5000, 6, 8), (8000, 5000)),
        ("RGBA WebP", lambda: _blank_rgba_webp(8000, 5000), (8000, 5000)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_images_with_alpha_at_the_pixel_cap_stay_within_the_memory_budget(
    tmp_path: Path, name: str, make: object, size: tuple[int, int]
) -> None:
    width, height = size
    assert width * height == DEFAULT_LIMITS.max_pixels
    path = tmp_path / "image"
    path.write_bytes(make())  # type: ignore[operator]
    result = _load_in_child(path)
    assert result["shape"] == [height, width, 3], result
    assert float(result["peak_mb"]) <= _budget_mb(width, height), (name, result)  # type: ignore[arg-type]


def test_png_chunk_length_bomb_is_refused_before_any_allocation(tmp_path: Path) -> None:
    data = _png_chunk_length_bomb()
    with pytest.raises(ImageDecodeFailedError, match=r"tEXt.*declares 2147483647 bytes"):
        decode_image(data)
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    result = _load_in_child(path)
    assert result["code"] == ImageDecodeFailedError.code
    assert float(result["peak_mb"]) <= _budget_mb(1, 1), result  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["IDAT", "IEND"])
def test_png_chunk_longer_than_the_data_is_refused(where: str) -> None:
    good = _png(1, 1, 2, 8, b"\x00\x00\x00\x00")
    at = good.index(where.encode()) - 4
    bad = good[:at] + struct.pack(">I", len(good)) + good[at + 4 :]
    with pytest.raises(ImageDecodeFailedError, match="declares"):
        decode_image(bad)
    with pytest.raises(ImageDecodeFailedError):
        probe_image(bad)


def test_device_file_is_refused_without_reading_it() -> None:
    result = _load_in_child("/dev/zero", timeout=60)
    assert result["code"] == ImageDecodeFailedError.code, result
    assert float(result["peak_mb"]) <= _budget_mb(1, 1), result  # type: ignore[arg-type]
    with pytest.raises(ImageDecodeFailedError, match=r"character device.*give the path of a JPEG, PNG or WebP"):
        load_image("/dev/zero")


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = _load_in_child(fifo, timeout=60)  # the old code blocked in open() forever
    assert result["code"] == ImageDecodeFailedError.code, result
    with pytest.raises(ImageDecodeFailedError, match="named pipe"):
        load_image(fifo)


def test_directory_socket_and_nul_paths_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeFailedError, match=r"is a directory.*give the path of a JPEG, PNG or WebP file"):
        load_image(tmp_path)
    with pytest.raises(ParameterValueError, match=r"NUL character.*give the path"):
        load_image(str(tmp_path / "a\x00b.png"))
    short = Path(f"/tmp/fk-sock-{os.getpid()}")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(short))
        try:
            with pytest.raises(ImageDecodeFailedError, match="is a socket"):
                load_image(short)
        finally:
            short.unlink()


def test_file_read_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_blank_png(64, 64, 2, 8) + bytes(5000))
    limits = ImageLimits(max_bytes=4000)
    with pytest.raises(Exception, match="maximum is 4000"):
        load_image(path, limits=limits)
    assert load_image(path).shape == (64, 64, 3)


# --- CPU bombs ----------------------------------------------------------------------------------------------------


def test_jpeg_with_thousands_of_scans_is_refused_before_decoding() -> None:
    bomb = _progressive_jpeg(20_000)
    assert len(bomb) < 500_000
    with pytest.raises(ImageScanCountExceedError, match="more than 100 scans"):
        decode_image(bomb)


def test_scan_limit_is_a_field_of_the_limits() -> None:
    assert DEFAULT_LIMITS.max_jpeg_scans == 100
    just_over = _progressive_jpeg(101)
    with pytest.raises(ImageScanCountExceedError):
        decode_image(just_over)
    assert decode_image(just_over, limits=ImageLimits(max_jpeg_scans=101)).shape == (64, 64, 3)
    assert decode_image(_progressive_jpeg(100)).shape == (64, 64, 3)


def test_ordinary_progressive_jpeg_and_bytes_that_look_like_markers_decode() -> None:
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)  # plenty of 0xFF 0x00 stuffing in the scans
    ok, buf = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 4])
    assert ok
    data = buf.tobytes()
    assert 5 <= len(_scan_ends(data)) <= 20
    # A comment full of SOS-looking bytes is skipped by its length, not counted.
    comment = b"\xff\xda" * 300
    tricky = data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]
    assert decode_image(tricky).shape == (240, 320, 3)


# --- transparency: one rule for alpha channels and tRNS ---------------------------------------------------------

_PLTE = _chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 0, 255]))


@pytest.mark.parametrize(
    ("name", "png"),
    [
        ("palette + tRNS", _png(3, 1, 3, 8, b"\x00\x00\x01\x02", _PLTE + _chunk(b"tRNS", bytes([0, 255, 128])))),
        ("RGB + tRNS", _png(3, 1, 2, 8, b"\x00" + bytes([0, 0, 0, 255, 0, 0, 0, 0, 255]), _chunk(b"tRNS", bytes(6)))),
        ("gray + tRNS", _png(3, 1, 0, 8, b"\x00" + bytes([0, 76, 29]), _chunk(b"tRNS", bytes(2)))),
        (
            "gray 2-bit + tRNS",
            _png(3, 1, 0, 2, b"\x00" + bytes([0b00010100]), _chunk(b"tRNS", struct.pack(">H", 0))),
        ),
        (
            "RGBA",
            _png(3, 1, 6, 8, b"\x00" + bytes([0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 255, 255])),
        ),
        (
            "RGB 16-bit + tRNS",
            _png(
                3, 1, 2, 16, b"\x00" + struct.pack(">9H", 0, 0, 0, 65535, 0, 0, 0, 0, 65535), _chunk(b"tRNS", bytes(6))
            ),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_transparent_pixels_are_white_however_transparency_is_stored(name: str, png: bytes) -> None:
    rgb = decode_image(png)
    assert rgb[0, 0].tolist() == [255, 255, 255], name  # the transparent black pixel composited onto white
    assert rgb[0, 1].tolist() in ([255, 0, 0], [85, 85, 85], [76, 76, 76]), name  # opaque pixels keep their colour


def test_half_transparent_palette_entry_is_blended_like_an_alpha_channel() -> None:
    palette = _png(1, 1, 3, 8, b"\x00\x02", _PLTE + _chunk(b"tRNS", bytes([0, 255, 128])))
    rgba = _png(1, 1, 6, 8, b"\x00" + bytes([0, 0, 255, 128]))
    assert decode_image(palette).tolist() == decode_image(rgba).tolist() == [[[127, 127, 255]]]


def test_16_bit_transparency_decoded_in_strips_matches_a_whole_decode() -> None:
    rng = np.random.default_rng(7)
    width, height = 500, 1300  # several strips of rows, every PNG filter (OpenCV picks them per row)
    smooth = cv2.resize(rng.integers(0, 65535, (13, 5, 4)).astype(np.uint16), (width, height))
    bgra = (smooth + rng.integers(0, 2000, smooth.shape)).clip(0, 65535).astype(np.uint16)
    bgra[:200, :100, 3] = 0
    ok, buf = cv2.imencode(".png", bgra)
    assert ok
    rgb = decode_image(buf.tobytes())
    high = (bgra >> 8).astype(np.float64)
    alpha = high[:, :, 3:] / 255
    expected = np.floor(high[:, :, 2::-1] * alpha + 255 * (1 - alpha) + 0.5)
    assert np.abs(rgb.astype(np.float64) - expected).max() <= 1
    assert (rgb[:200, :100] == 255).all()
    # Gray + alpha and gray + tRNS at 16 bits take the same strip path.
    gray = np.ascontiguousarray(bgra[:, :, [0, 3]])
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in gray)
    ga = decode_image(_png(width, height, 4, 16, raw))
    ga_alpha = (gray[:, :, 1] >> 8).astype(np.float64) / 255
    ga_expected = np.floor((gray[:, :, 0] >> 8) * ga_alpha + 255 * (1 - ga_alpha) + 0.5)
    assert np.abs(ga[:, :, 0].astype(np.float64) - ga_expected).max() <= 1
    key = int(gray[5, 5, 0])
    graykey = _png(
        width,
        height,
        0,
        16,
        b"".join(b"\x00" + row.astype(">u2").tobytes() for row in gray[:, :, 0]),
        _chunk(b"tRNS", struct.pack(">H", key)),
    )
    decoded = decode_image(graykey)
    assert (decoded[gray[:, :, 0] == key] == 255).all()
    assert (decoded[:, :, 0] == np.where(gray[:, :, 0] == key, 255, gray[:, :, 0] >> 8)).all()


def test_interlaced_16_bit_transparency_is_held_to_fewer_pixels() -> None:
    ihdr = struct.pack(">IIBBBBB", 4000, 4000, 16, 6, 0, 0, 1)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")
    with pytest.raises(ImageResolutionExceedError, match="interlaced 16-bit"):
        decode_image(data)
