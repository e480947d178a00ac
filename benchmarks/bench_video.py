"""Video fusion end to end (decode + track + fuse + encode, audio copied) at 720p and 1080p, against FFmpeg's own
decode + encode of the same video with the same settings, in the same run.

Usage::

    .venv/bin/python benchmarks/bench_video.py [--json] [--seconds S]

The template clips are made here with PyAV (tests/video/clips.py): a camera panning, zooming and turning over the
``biden.jpg`` sample (one face), 25 fps, with an AAC tone; the user is ``obama3.jpg``. Figures:

- ``fps_720p``, ``fps_1080p``: frames per second of a video job: :func:`fusionkit.fuse_video` replaying the
  face tracks that preprocessing stored with the material (what ``studio.videos`` runs for every request; x264
  ``veryfast``, CRF 20, ``thread_type='AUTO'`` on decoder and encoder), from opening the video to the renamed
  output;
- ``floor_fps_720p``, ``floor_fps_1080p``: the same decode and encode with nothing done to the frames (the floor);
  ``floor_ratio_720p``, ``floor_ratio_1080p``: our time divided by the floor's;
- ``fps_720p_live``, ``floor_ratio_720p_live`` (and 1080p): :func:`fusionkit.fuse_video` without stored tracks,
  following the faces with the landmark model on every frame (a one-off fusion outside the studio);
- ``preprocess_fps_720p``/``_1080p``: frames per second of :func:`fusionkit.track_video` (a material's
  preprocessing, done once per uploaded video);
- ``stages_ms_per_frame_720p``/``_1080p`` (and ``_live``): where the time goes, per frame;
- ``peak_rss_mb``: the process's peak resident memory after everything; ``rss_growth_mb_long``: how much the peak
  grew when a clip twice as long was fused afterwards (flat memory: about 0).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fusionkit.fusion.video import fuse_video, track_video
from fusionkit.samples import sample_path
from tests.video.clips import make_clip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(src: Path, out: Path, crf: int = 20, preset: str = "veryfast") -> float:
    """Seconds for PyAV/FFmpeg to decode the video and encode it again (same settings), audio copied."""
    import av

    t0 = time.perf_counter()
    with av.open(str(src)) as c, av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as o:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        a = c.streams.audio[0] if c.streams.audio else None
        ov = o.add_stream("libx264", rate=v.average_rate)
        ov.width, ov.height, ov.pix_fmt = v.width, v.height, "yuv420p"
        ov.options = {"preset": preset, "crf": str(crf)}
        ov.thread_type = "AUTO"
        oa = o.add_stream_from_template(a) if a is not None else None
        for packet in c.demux(*([v, a] if a is not None else [v])):
            if packet.stream is v:
                for frame in packet.decode():
                    frame.pict_type = av.video.frame.PictureType.NONE
                    for p in ov.encode(frame):
                        o.mux(p)
            elif packet.dts is not None:
                packet.stream = oa
                o.mux(packet)
        for p in ov.encode():
            o.mux(p)
    return time.perf_counter() - t0


def best_of(n: int, fn: Any) -> tuple[float, Any]:
    """(fastest wall time in seconds, its result) over ``n`` calls."""
    best: tuple[float, Any] | None = None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        t = time.perf_counter() - t0
        if best is None or t < best[0]:
            best = (t, result)
    assert best is not None
    return best


def run(size: tuple[int, int], seconds: float, work: Path) -> dict[str, Any]:
    w, h = size
    # One face on every frame (a grey border, not the photo mirrored into copies of the face).
    src = make_clip(work / f"tmpl_{h}p.mp4", sample="biden.jpg", width=w, height=h, seconds=seconds, reflect=False)
    frames = round(seconds * 25)
    user = sample_path("obama3.jpg")
    fuse_video(src, user, work / "warm.mp4")  # models loaded, caches warm
    t_track, tracks = best_of(1, lambda: track_video(src))
    t_floor, _ = best_of(2, lambda: floor(src, work / "floor.mp4"))
    t_job, job = best_of(2, lambda: fuse_video(src, user, work / "out.mp4", tracks=tracks))
    t_live, live = best_of(2, lambda: fuse_video(src, user, work / "out.mp4"))
    return {
        "fps": frames / t_job,
        "floor_fps": frames / t_floor,
        "floor_ratio": t_job / t_floor,
        "fps_live": frames / t_live,
        "floor_ratio_live": t_live / t_floor,
        "preprocess_fps": frames / t_track,
        "frames": job.frame_count,
        "frames_fused": job.frames_fused,
        "stages_ms_per_frame": {k: round(v / frames, 2) for k, v in job.timings_ms.items()},
        "stages_ms_per_frame_live": {k: round(v / frames, 2) for k, v in live.timings_ms.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length in seconds (default 4)")
    args = parser.parse_args()
    out = sys.stderr if args.json else sys.stdout
    figures: dict[str, Any] = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
            r = run(size, args.seconds, work)
            figures[f"fps_{name}"] = round(r["fps"], 1)
            figures[f"floor_fps_{name}"] = round(r["floor_fps"], 1)
            figures[f"floor_ratio_{name}"] = round(r["floor_ratio"], 2)
            figures[f"fps_{name}_live"] = round(r["fps_live"], 1)
            figures[f"floor_ratio_{name}_live"] = round(r["floor_ratio_live"], 2)
            figures[f"preprocess_fps_{name}"] = round(r["preprocess_fps"], 1)
            figures[f"stages_ms_per_frame_{name}"] = r["stages_ms_per_frame"]
            figures[f"stages_ms_per_frame_{name}_live"] = r["stages_ms_per_frame_live"]
            print(f"{name} job (stored tracks): {r['fps']:.1f} fps (floor {r['floor_fps']:.1f} fps, ratio "
                  f"{r['floor_ratio']:.2f}); {r['frames_fused']}/{r['frames']} frames fused; "
                  f"ms/frame {r['stages_ms_per_frame']}", file=out)
            print(f"{name} live (tracking every frame): {r['fps_live']:.1f} fps (ratio {r['floor_ratio_live']:.2f}); "
                  f"ms/frame {r['stages_ms_per_frame_live']}; preprocessing {r['preprocess_fps']:.1f} fps", file=out)
        before = peak_rss_mb()
        src = make_clip(work / "long_720p.mp4", sample="biden.jpg", width=1280, height=720, seconds=2 * args.seconds)
        fuse_video(src, sample_path("obama3.jpg"), work / "long.mp4")
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        figures["rss_growth_mb_long"] = round(peak_rss_mb() - before, 1)
        print(f"peak RSS {figures['peak_rss_mb']} MB; growth fusing a 720p clip twice as long: "
              f"{figures['rss_growth_mb_long']} MB", file=out)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
