"""The EXIF orientation of a picture (JPEG's is applied by the decoder; PNG's ``eXIf`` and WebP's ``EXIF`` chunks are
read here) and turning a decoded array upright by it."""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

__all__ = ["exif_orientation", "orient"]


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


def exif_orientation(data: bytes, fmt: str) -> int:
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


def orient(rgb: NDArray[np.uint8], orientation: int) -> NDArray[np.uint8]:
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
