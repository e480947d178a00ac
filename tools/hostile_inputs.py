"""Hand-written generators of hostile pictures and videos, run through fusionkit's decoders under a memory and time
cap; prints what each class of input got (a typed error, a decoded image, or a finding) and its peak memory.

Each generator takes a small valid file and breaks one thing at a time: every length field of a PNG chunk, a JPEG
marker segment, a RIFF chunk or an MP4 box set to 0, 1, one short, one long, 2^31-1 and 2^32-1; cuts at spread
offsets; huge declared sizes; repeated scans; bad checksums. Every input runs in a worker process with RLIMIT_AS
and a timeout, so a bomb is a finding, not a dead machine.

Usage::

    .venv/bin/python tools/hostile_inputs.py [--limit N] [--jobs 2] [--json]

A finding is an input that crashed the worker (a signal), ran past the timeout, raised an exception that is not a
fusionkit error, or went over the memory budget (3x the decoded RGB size at the caps + 100 MB).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import resource
import signal
import struct
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator

import numpy as np

LENGTHS = (0, 1, -1, +1, 0x7FFFFFFF, 0xFFFFFFFF)  # absolute values, or deltas for -1/+1
MEMORY_CAP = 3 << 30  # address space of a worker
TIMEOUT_S = 20.0


def _png(width: int = 32, height: int = 24, colour: int = 2, alpha: bool = False) -> bytes:
    import cv2

    img = np.random.default_rng(0).integers(0, 255, (height, width, 4 if alpha else 3), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return bytes(buf)


def _jpeg(progressive: bool = False) -> bytes:
    import cv2

    img = np.random.default_rng(1).integers(0, 255, (40, 48, 3), np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return bytes(buf)


def _webp() -> bytes:
    import cv2

    img = np.random.default_rng(2).integers(0, 255, (30, 40, 4), np.uint8)
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 80])
    assert ok
    return bytes(buf)


def _mp4() -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _patched(data: bytes, offset: int, width: int, value: int, order: str = ">") -> bytes:
    fmt = order + ("I" if width == 4 else "H")
    old = struct.unpack(fmt, data[offset: offset + width])[0]
    if value in (-1, +1):
        value = old + value
    value &= (1 << (8 * width)) - 1
    return data[:offset] + struct.pack(fmt, value) + data[offset + width:]


def _cuts(data: bytes, n: int = 12) -> Iterator[bytes]:
    for i in range(1, n + 1):
        yield data[: len(data) * i // (n + 1)]


def png_inputs() -> Iterator[tuple[str, bytes]]:
    for base in (_png(), _png(alpha=True), _png(64, 48)):
        pos = 8
        while pos + 8 <= len(base):
            (length,) = struct.unpack(">I", base[pos: pos + 4])
            kind = base[pos + 4: pos + 8].decode("latin-1")
            for value in LENGTHS:
                yield f"png:{kind}-length", _patched(base, pos, 4, value)
            yield f"png:{kind}-crc", base[: pos + 8 + length] + b"\0\0\0\0" + base[pos + 12 + length:]
            pos += 12 + length
        for cut in _cuts(base):
            yield "png:cut", cut
        for w, h in ((0, 10), (10, 0), (1 << 31, 1), (65535, 65535), (100_000, 100_000)):
            ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
            chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            yield "png:huge-ihdr", base[:8] + chunk + base[33:]
        text = b"tEXt" + b"k\0" + b"v"
        for n in (1, 100, 10_000):
            yield "png:many-text", base[:33] + (struct.pack(">I", 3) + text + b"\0\0\0\0") * n + base[33:]


def jpeg_inputs() -> Iterator[tuple[str, bytes]]:
    for base in (_jpeg(), _jpeg(progressive=True)):
        pos = 2
        while pos + 4 <= len(base) and base[pos] == 0xFF:
            marker = base[pos + 1]
            if marker == 0xDA:
                break
            (length,) = struct.unpack(">H", base[pos + 2: pos + 4])
            for value in (0, 1, 2, -1, +1, 0xFFFF):
                yield f"jpeg:{marker:02x}-length", _patched(base, pos + 2, 2, value)
            if marker in (0xC0, 0xC2):
                for dims in ((0, 0), (65535, 65535), (1, 65535)):
                    data = bytearray(base)
                    data[pos + 5: pos + 9] = struct.pack(">HH", *dims)
                    yield "jpeg:huge-sof", bytes(data)
            pos += 2 + length
        for cut in _cuts(base):
            yield "jpeg:cut", cut
        sos = base.find(b"\xff\xda")
        if sos > 0:
            scan = base[sos: base.find(b"\xff", sos + 2 + struct.unpack(">H", base[sos + 2: sos + 4])[0]) or sos + 30]
            for n in (50, 99, 101, 1000, 20_000):
                yield "jpeg:scan-bomb", base[:sos] + scan * n + b"\xff\xd9"
        for junk in (b"\xff" * 5000, b"\xff\x00" * 5000, os.urandom(4000)):
            yield "jpeg:junk-body", base[:20] + junk


def webp_inputs() -> Iterator[tuple[str, bytes]]:
    base = _webp()
    for value in LENGTHS:
        yield "webp:riff-length", _patched(base, 4, 4, value, "<")
        yield "webp:chunk-length", _patched(base, 16, 4, value, "<")
    for cut in _cuts(base):
        yield "webp:cut", cut
    for w, h in ((1 << 24, 1 << 24), (16383, 16383)):
        vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x10\0\0\0" + (w - 1).to_bytes(3, "little")[:3] + \
            (h - 1).to_bytes(3, "little")[:3]
        yield "webp:huge-canvas", base[:12] + vp8x + base[12:]


def mp4_inputs() -> Iterator[tuple[str, bytes]]:
    base = _mp4()

    def boxes(data: bytes, start: int, end: int, depth: int = 0) -> Iterator[tuple[int, bytes]]:
        pos = start
        while pos + 8 <= end:
            (size,) = struct.unpack(">I", data[pos: pos + 4])
            kind = data[pos + 4: pos + 8]
            yield pos, kind
            if size < 8:
                return
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl") and depth < 6:
                yield from boxes(data, pos + 8, pos + size, depth + 1)
            pos += size

    for pos, kind in boxes(base, 0, len(base)):
        name = kind.decode("latin-1")
        for value in LENGTHS:
            yield f"mp4:{name}-size", _patched(base, pos, 4, value)
        if kind in (b"mvhd", b"mdhd", b"tkhd", b"stsz", b"stts", b"stco", b"stsc"):
            for offset in (12, 16, 20, 24):
                for value in (0, 1, 0x7FFFFFFF, 0xFFFFFFFF):
                    yield f"mp4:{name}-field", _patched(base, pos + offset, 4, value)
    for cut in _cuts(base, 20):
        yield "mp4:cut", cut


def png_headers() -> Iterator[tuple[str, bytes]]:
    """Every bit depth and colour type pair (valid or not) with either interlace, with a correct checksum."""
    base = _png()
    for depth in (0, 1, 2, 3, 4, 8, 16, 32):
        for colour in (0, 1, 2, 3, 4, 5, 6, 7):
            for interlace in (0, 1):
                ihdr = struct.pack(">IIBBBBB", 32, 24, depth, colour, 0, 0, interlace)
                chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
                yield "png:ihdr-fields", base[:8] + chunk + base[33:]


def smashed(fmt: str, base: bytes) -> Iterator[tuple[str, bytes]]:
    """The first 256 bytes (the headers), every other byte set to 0x00 and to 0xFF in turn."""
    for i in range(0, min(len(base), 256), 2):
        for value in (0x00, 0xFF):
            yield f"{fmt}:smashed", base[:i] + bytes([value]) + base[i + 1:]


def all_png() -> Iterator[tuple[str, bytes]]:
    yield from png_inputs()
    yield from png_headers()
    yield from smashed("png", _png())


def all_jpeg() -> Iterator[tuple[str, bytes]]:
    yield from jpeg_inputs()
    yield from smashed("jpeg", _jpeg(progressive=True))


def all_webp() -> Iterator[tuple[str, bytes]]:
    yield from webp_inputs()
    yield from smashed("webp", _webp())


def all_mp4() -> Iterator[tuple[str, bytes]]:
    yield from mp4_inputs()
    yield from smashed("mp4", _mp4())


GENERATORS: dict[str, Callable[[], Iterator[tuple[str, bytes]]]] = {
    "png": all_png, "jpeg": all_jpeg, "webp": all_webp, "mp4": all_mp4}


def _run(kind: str, data: bytes) -> tuple[str, str, int]:
    """In a worker: decode ``data``; (outcome, detail, the worker's peak kB so far: an upper bound, as a worker
    runs up to 40 inputs)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    from fusionkit.errors import FusionKitError

    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(int(TIMEOUT_S))
    try:
        if kind == "mp4":
            from fusionkit.imaging.video import probe_video

            probe_video(data)
        else:
            from fusionkit.imaging.decode import load_image

            load_image(data)
        outcome, detail = "decoded", ""
    except FusionKitError as exc:
        outcome, detail = "typed", exc.code
    except MemoryError:
        outcome, detail = "finding", "MemoryError"
    except TimeoutError:
        outcome, detail = "finding", f"ran past {TIMEOUT_S:.0f} s"
    except Exception as exc:  # anything but a fusionkit error is a finding
        outcome, detail = "finding", f"{type(exc).__name__}: {exc}"[:200]
    finally:
        signal.alarm(0)
    return outcome, detail, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="at most N inputs per format (0: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    inputs: list[tuple[str, str, bytes]] = []
    for fmt, generate in GENERATORS.items():
        made = list(generate())
        inputs += [(fmt, name, data) for name, data in (made[: args.limit] if args.limit else made)]
    outcomes: Counter[tuple[str, str]] = Counter()
    peak: dict[str, int] = defaultdict(int)
    findings: list[str] = []
    # A fresh worker every 40 inputs; a worker that dies or hangs shows as a result that never comes.
    with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=40) as pool:
        pending = [(fmt, name, pool.apply_async(_run, (fmt, data))) for fmt, name, data in inputs]
        for fmt, name, result in pending:
            try:
                outcome, detail, kb = result.get(timeout=TIMEOUT_S * 3)
            except multiprocessing.TimeoutError:
                outcome, detail, kb = "finding", "the worker died or hung", 0
            except Exception as exc:
                outcome, detail, kb = "finding", f"{type(exc).__name__}: {exc}"[:200], 0
            outcomes[(fmt, outcome)] += 1
            peak[name.split("-")[0]] = max(peak[name.split("-")[0]], kb)
            if outcome == "finding":
                findings.append(f"{name}: {detail}")
    counts = {f"{f}/{o}": n for (f, o), n in sorted(outcomes.items())}
    peaks = {k: round(v / 1024) for k, v in sorted(peak.items())}
    if args.json:
        print(json.dumps({"inputs": len(inputs), "outcomes": counts, "peak_rss_mb": peaks, "findings": findings},
                         indent=1))
    else:
        print(f"hostile inputs: {len(inputs)}")
        for key, n in counts.items():
            print(f"  {key:20s} {n}")
        print("peak RSS per class (MB):", ", ".join(f"{k} {v}" for k, v in peaks.items()))
        print(f"findings: {len(findings)}")
        for line in findings:
            print("  " + line)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
