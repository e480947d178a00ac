"""Walk the structure of PNG and JPEG bytes before a decoder sees them.

Decoders trust what a file declares: a PNG chunk length of 2 GiB makes OpenCV allocate 2 GiB for a 100-byte file,
and a JPEG may repeat a tiny progressive scan thousands of times, each one a pass over the whole image. These walks
read only the container (chunk and marker headers), so they cost time linear in the number of chunks or markers,
never in the pixels, and they turn such files into typed errors.
"""

from __future__ import annotations

import re
import struct

import attrs

from fusionkit.errors import ImageDecodeFailedError

__all__ = ["PngChunks", "jpeg_scan_count", "png_chunks"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The next marker after entropy-coded data: 0xFF followed by anything but 0x00 (a stuffed 0xFF byte), RST0-7
# (restart markers inside the scan) or 0xFF (a fill byte; the marker is the byte after the last fill).
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@attrs.frozen(kw_only=True)
class PngChunks:
    """What the chunk walk of a PNG found.

    Attributes
    ----------
    trns
        The body of the ``tRNS`` chunk (transparency of palette entries or of one colour), ``None`` without one.
    idat
        ``(start, end)`` byte offsets of each ``IDAT`` chunk's body, in order.
    pre_idat
        The complete ancillary and palette chunks before the first ``IDAT`` (``PLTE``, ``tRNS``...), as bytes.
    """

    trns: bytes | None
    idat: tuple[tuple[int, int], ...]
    pre_idat: bytes


def png_chunks(data: bytes) -> PngChunks:
    """Walk every chunk header of a PNG up to ``IEND``, checking that each declared length fits in the data.

    Raises
    ------
    ImageDecodeFailedError
        A chunk that declares more bytes than remain, or no ``IHDR``/``IDAT``/``IEND``.
    """
    if not data.startswith(_PNG_MAGIC):
        raise ImageDecodeFailedError("the data is not a PNG image (no PNG signature)")
    pos, n = len(_PNG_MAGIC), len(data)
    trns: bytes | None = None
    idat: list[tuple[int, int]] = []
    pre_start = pre_end = 0
    while True:
        if pos + 12 > n:
            raise ImageDecodeFailedError("the PNG data is truncated (no IEND chunk); send the complete file")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > n:
            raise ImageDecodeFailedError(
                f"the PNG chunk {kind.decode('latin-1')!r} at byte {pos} declares {length} bytes but only "
                f"{max(n - pos - 12, 0)} remain; the file is corrupt or hostile, send the original image"
            )
        if pos == len(_PNG_MAGIC):
            if kind != b"IHDR":
                raise ImageDecodeFailedError("the PNG data does not start with an IHDR chunk; send the original image")
            pre_start = pre_end = end
        elif kind == b"IEND":
            break
        elif kind == b"IDAT":
            idat.append((pos + 8, pos + 8 + length))
        elif not idat:
            pre_end = end
            if kind == b"tRNS":
                trns = data[pos + 8 : pos + 8 + length]
        pos = end
    if not idat:
        raise ImageDecodeFailedError("the PNG has no image data (no IDAT chunk); send the complete file")
    return PngChunks(trns=trns, idat=tuple(idat), pre_idat=data[pre_start:pre_end])


def jpeg_scan_count(data: bytes, *, stop_after: int) -> int:
    """Count the scans (``SOS`` markers) of a JPEG's first image, walking its marker segments.

    Segment bodies are skipped by their declared lengths and each scan's entropy-coded data up to the next marker,
    so bytes inside an EXIF thumbnail or a table never count. The walk stops at the end-of-image marker, at the end
    of the data, or as soon as the count passes ``stop_after`` (so a file of a million scans costs no more than one
    of ``stop_after + 1``).
    """
    pos, n, scans = 2, len(data), 0
    while pos + 2 <= n:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips to the next marker, so do we
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:  # end of image
            break
        if pos + 4 > n:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise ImageDecodeFailedError(f"the JPEG segment at byte {pos} has an invalid length {length}")
        pos += 2 + length
        if marker == 0xDA:
            scans += 1
            if scans > stop_after:
                break
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
    return scans
