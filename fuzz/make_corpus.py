"""Write the fuzz targets' seed corpora into ``fuzz/corpus/<target>/`` (``python fuzz/make_corpus.py``).

Seeds come from what the tests use: the sample photos (``src/fusionkit/samples``, scaled down so each seed decodes
in milliseconds), small generated images in every shape the decoder handles (JPEG baseline, progressive, grey,
CMYK, with an EXIF orientation; PNG grey, grey+alpha, RGB, RGBA, palette with tRNS, 16-bit with and without alpha,
a tRNS colour; WebP lossy, lossless, with alpha), tiny MP4s made with PyAV (H.264, H.265, with AAC audio), the
stored JSON of domain values built like the tests build them, and for the C core one input per function made of
seeded random bytes.

Files named ``seed-*`` are small and committed; ``gen-*`` files are written here on every run (``make fuzz`` runs
this first) and ignored by git. Everything is deterministic: the same files on every run.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT.parent / "src" / "fusionkit" / "samples"
# Seeds at most this size are committed (named seed-*); the committed corpus stays well under 2 MB.
COMMIT_MAX_BYTES = 24 * 1024

Writer = Callable[[str, bytes], None]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _face_like(h: int, w: int, channels: int, seed: int) -> np.ndarray:
    """A smooth image with an edge or two (compresses like a photo, not like noise)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 80 * np.sin(xx / max(w, 1) * 3.1) * np.cos(yy / max(h, 1) * 2.3)
    img = np.stack([base + 30 * k for k in range(channels)], axis=-1)
    img += _rng(seed).normal(0, 6, img.shape)
    img[h // 3: 2 * h // 3, w // 3: 2 * w // 3] -= 60
    return np.clip(img, 0, 255).astype(np.uint8)


def images(write: Writer) -> None:
    import cv2
    from PIL import Image

    def pil_bytes(im: Image.Image, fmt: str, **kw: object) -> bytes:
        buf = io.BytesIO()
        im.save(buf, fmt, **kw)
        return buf.getvalue()

    for path in sorted(SAMPLES.glob("*.jpg")) + sorted(SAMPLES.glob("*.png")):
        im = Image.open(path).convert("RGB")
        for side in (48, 160):
            small = im.copy()
            small.thumbnail((side, side))
            stem = f"{path.stem}-{side}"
            write(f"{stem}.jpg", pil_bytes(small, "JPEG", quality=80))
            write(f"{stem}-progressive.jpg", pil_bytes(small, "JPEG", quality=80, progressive=True))
            write(f"{stem}.png", pil_bytes(small, "PNG"))
            write(f"{stem}.webp", pil_bytes(small, "WEBP", quality=70))

    rgb = _face_like(24, 32, 3, 1)
    rgba = np.dstack([rgb, np.linspace(0, 255, 24 * 32).reshape(24, 32).astype(np.uint8)])
    grey = rgb[..., 0]
    write("rgb.png", pil_bytes(Image.fromarray(rgb), "PNG"))
    write("rgba.png", pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
    write("grey.png", pil_bytes(Image.fromarray(grey, "L"), "PNG"))
    write("grey-alpha.png", pil_bytes(Image.fromarray(np.dstack([grey, grey[::-1]]), "LA"), "PNG"))
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    write("palette.png", pil_bytes(pal, "PNG"))
    write("palette-trns.png", pil_bytes(pal, "PNG", transparency=bytes([0, 128] + [255] * 14)))
    write("grey-trns.png", pil_bytes(Image.fromarray(grey, "L"), "PNG", transparency=int(grey[0, 0])))
    write("rgb-trns.png", pil_bytes(Image.fromarray(rgb), "PNG", transparency=tuple(int(v) for v in rgb[0, 0])))
    write("bilevel.png", pil_bytes(Image.fromarray(grey > 128), "PNG"))
    rgb16 = rgb.astype(np.uint16) * 257
    write("rgb16.png", cv2.imencode(".png", rgb16[..., ::-1])[1].tobytes())
    rgba16 = np.dstack([rgb16[..., ::-1], np.full((24, 32), 40000, np.uint16)])
    write("rgba16.png", cv2.imencode(".png", rgba16)[1].tobytes())
    write("grey16.png", cv2.imencode(".png", rgb16[..., 0])[1].tobytes())
    write("rgb.jpg", pil_bytes(Image.fromarray(rgb), "JPEG", quality=90))
    write("rgb-progressive.jpg", pil_bytes(Image.fromarray(rgb), "JPEG", quality=90, progressive=True))
    write("grey.jpg", pil_bytes(Image.fromarray(grey, "L"), "JPEG"))
    write("cmyk.jpg", pil_bytes(Image.fromarray(rgb).convert("CMYK"), "JPEG"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    write("rgb-exif6.jpg", pil_bytes(Image.fromarray(rgb), "JPEG", exif=exif.tobytes()))
    write("rgba-exif6.png", pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG", exif=exif.tobytes()))
    write("rgb.webp", pil_bytes(Image.fromarray(rgb), "WEBP", quality=60))
    write("rgb-lossless.webp", pil_bytes(Image.fromarray(rgb), "WEBP", lossless=True))
    write("rgba.webp", pil_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", quality=60))
    write("rgba-lossless.webp", pil_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True))
    write("rgba-exif6.webp", pil_bytes(Image.fromarray(rgba, "RGBA"), "WEBP", lossless=True, exif=exif.tobytes()))
    write("tiny.gif", pil_bytes(Image.fromarray(grey, "L"), "GIF"))  # refused formats start here too
    write("tiny.bmp", pil_bytes(Image.fromarray(rgb), "BMP"))


def _mp4(codec: str, frames: int, size: tuple[int, int], fps: int, audio: bool) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none"}
        a_stream = out.add_stream("aac", rate=8000) if audio else None
        for i in range(frames):
            img = np.roll(_face_like(size[1], size[0], 3, i), 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if a_stream is not None:
            samples = (np.sin(np.arange(8000 * frames // fps) / 5.0) * 3000).astype(np.int16)[None, :]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in a_stream.encode(frame):
                out.mux(packet)
            for packet in a_stream.encode():
                out.mux(packet)
    return buf.getvalue()


def videos(write: Writer) -> None:
    write("h264-16x16.mp4", _mp4("libx264", 3, (16, 16), 10, False))
    write("h264-32x24-audio.mp4", _mp4("libx264", 4, (32, 24), 8, True))
    write("hevc-32x32.mp4", _mp4("libx265", 2, (32, 32), 5, False))
    write("playlist.m3u8", b"#EXTM3U\n#EXTINF:1,\nclip.mp4\n")


def documents(write: Writer) -> None:
    from fusionkit.domain import (
        Activity,
        ErasureReceipt,
        Face,
        FaceMesh,
        FusedResult,
        LogRecord,
        Material,
        MaterialFace,
        MaterialVideo,
        RetentionPolicy,
        VideoJob,
    )
    from fusionkit.domain.audit import AuditRecord

    now = datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)
    mid, aid = "mt_0VDT14gSzTjPB9CSjfxg", "ac_0VDT14gS8UeyxxLnBuV6"
    rng = _rng(0)
    face = Face(box=[10, 20, 110, 140], keypoints=rng.uniform(10, 100, (6, 2)).round(2), score=0.9, roll=1.5)
    # A short mesh keeps the seed small; the validators decide whether 468 points are required.
    try:
        mesh = FaceMesh(face=face, points=np.round(rng.uniform(0, 100, (468, 3)), 1), presence=0.99)
    except Exception:
        mesh = None
    material = dict(id=mid, activity_id=aid, name="m", source_format="jpeg", width=640, height=480,
                    source_bytes=1234, source_sha256="a" * 64, created=now, updated=now)
    values: dict[str, object] = {
        "activity": Activity(id=aid, name="spring", created=now, updated=now, fuse_face_degree=40),
        "activity-min": Activity(id=aid, name="a", created=now, updated=now),
        "material-noface": Material(**material, faces=[]),
        "material-video": Material(**{**material, "source_format": "mp4"}, kind="video", faces=[],
                                   video=MaterialVideo(size_bytes=150576, duration_s=0.4, fps=25.0, frame_count=10,
                                                       width=640, height=480, bit_rate=3011520, video_codec="h264",
                                                       audio_codec=None, audio_channels=0, audio_sample_rate=0,
                                                       tracked_faces=2, progress=0.5, attempts=1)),
        "result": FusedResult(id="rs_0VDT14gS5MRfHzClbllg", activity_id=aid, material_id=mid,
                              request_id="rq_0123456789ab", created=now, expires=now + timedelta(days=7),
                              format="png", size=10, url="memory:///x.png",
                              parameters={"fuse_face_degree": 50, "template_faces": [0]}),
        "job": VideoJob(id="jb_0VDT14gSzTjPB9CSjfxg", activity_id=aid, material_id=mid,
                        request_id="rq_0VDT14gSzTjPB9CSjfxg", status="completed", created=now, updated=now),
        "job-params": VideoJob(id="jb_0123456789ab", activity_id="ac_0123456789ab", material_id="mt_0123456789ab",
                               request_id="rq_0123456789ab", created=now, updated=now, parameters={"users": 1}),
        "log": LogRecord(timestamp=now, request_id="rq_0123456789ab", interface="FuseFace", time_cost_ms=12.5,
                         client_ip="203.0.113.1", error_code="FailedOperation.NoFaceDetected"),
        "retention": RetentionPolicy(logs=timedelta(days=3)),
        "retention-default": RetentionPolicy(),
        "audit": AuditRecord(time=now, kind="erasure", request_id="rq_0123456789ab", tenant="t_acme",
                             subject_ids=[mid, aid], counts={"materials": 1}, receipt_id="er_0123456789ab"),
        "audit-retention": AuditRecord(time=now, kind="retention_changed",
                                       detail={"old": {"logs": 604800.0}, "new": {"logs": 259200.0}}),
        "receipt": ErasureReceipt(id="er_0123456789ab", completed=now, subject_ids=[mid],
                                  counts={"materials": 1, "results": 4}),
    }
    if mesh is not None:
        values["material-face"] = Material(**material, faces=[MaterialFace(id=f"{mid}_0", index=0, mesh=mesh)])
    for name, value in values.items():
        write(f"{name}.json", value.to_json().encode())  # type: ignore[attr-defined]
    # Shapes the readers must refuse: other schema, other kind, not an object, broken JSON, NaN.
    write("schema-2.json", json.dumps({"schema": 2, "kind": "activity"}).encode())
    write("list.json", b"[1, 2, 3]")
    write("broken.json", b'{"schema": 1, "kind": "activity", "id": ')
    write("nan.json", b'{"schema": 1, "kind": "log_record", "time_cost_ms": NaN}')


def core_inputs(write: Writer) -> None:
    import fuzz_core

    for i, op in enumerate(fuzz_core.OPS):
        name = getattr(op, "__name__", "op")
        for k in range(6):
            body = _rng(1000 * i + k).integers(0, 256, 32 + 48 * k, dtype=np.uint8).tobytes()
            write(f"{i:02d}-{name}-{k}.bin", bytes([i]) + body)


TARGETS: dict[str, Callable[[Writer], None]] = {
    "decode": images,
    "video": videos,
    "domain": documents,
    "core": core_inputs,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=list(TARGETS), help="targets to write (default all)")
    parser.add_argument("--out", type=Path, default=ROOT / "corpus", help="corpus root (default fuzz/corpus)")
    parser.add_argument("--clean", action="store_true", help="delete the gen-* seeds first")
    args = parser.parse_args(argv)
    for target in args.targets:
        folder = args.out / target
        folder.mkdir(parents=True, exist_ok=True)
        if args.clean:
            for old in folder.glob("gen-*"):
                old.unlink()
        written = []

        def write(name: str, data: bytes, folder: Path = folder, written: list[str] = written) -> None:
            prefix = "seed-" if len(data) <= COMMIT_MAX_BYTES else "gen-"
            path = folder / f"{prefix}{name}"
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
            written.append(path.name)

        TARGETS[target](write)
        print(f"{target}: {len(written)} seeds in {folder}")


if __name__ == "__main__":
    main()
