"""fuse_video: frames, rates, audio copied, the face fused in place, steady over time, atomic output."""

from __future__ import annotations

import io
from pathlib import Path

import attrs
import av
import numpy as np
import pytest

from fusionkit import errors
from fusionkit.domain.options import AigcLabel, FuseOptions, LabelOptions, LogoParam
from fusionkit.fusion.video import OneEuroFilter, VideoFusionResult, fuse_video, read_video_metadata, track_video
from fusionkit.imaging import DIGITAL_SOURCE_TYPE, probe_video
from fusionkit.samples import sample_path
from tests.photos import photo as sample_photo


def frames_rgb(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in indices:
                out[i] = frame.to_ndarray(format="rgb24").astype(np.int16)
    return out


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.fixture(scope="module")
def fused(clip_360p: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, VideoFusionResult]:
    out = tmp_path_factory.mktemp("fused") / "fused.mp4"
    seen: list[float] = []
    result = fuse_video(clip_360p, sample_path("biden.jpg"), out, progress=seen.append)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    return out, result


def test_frames_rates_and_audio(clip_360p: Path, fused: tuple[Path, VideoFusionResult]) -> None:
    out, result = fused
    src, info = probe_video(clip_360p), probe_video(out)
    assert (info.width, info.height) == (640, 360)
    assert info.frame_count == src.frame_count == result.frame_count == 50
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(src.duration_s, abs=0.05)
    assert result.frames_fused == 50 and result.has_audio
    assert (info.audio_codec, info.audio_channels, info.audio_sample_rate) == ("aac", 2, 44100)
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert float(a.duration * a.time_base) == pytest.approx(2.0, abs=0.05)
    # The audio is copied bit for bit, not re-encoded.
    assert audio_packets(out) == audio_packets(clip_360p)
    assert set(result.timings_ms) >= {"analysis", "decode", "fuse", "encode", "total"}
    # One shot, one person fused on every frame, nothing skipped.
    assert result.shots == (0,) and len(result.faces) == 1
    face = result.faces[0]
    assert (face.template_face, face.frames_present, face.fused, face.skipped) == (0, 50, ((0, 50),), {})


def test_face_fused_in_place(clip_360p: Path, fused: tuple[Path, VideoFusionResult]) -> None:
    out, _ = fused
    tracks = track_video(clip_360p, smoothing=False)
    picks = {0, 24, 49}
    before, after = frames_rgb(clip_360p, picks), frames_rgb(out, picks)
    for i in picks:
        x0, y0, x1, y1 = (int(v) for v in np.r_[np.nanmin(tracks.points[i, 0, :, :2], axis=0),
                                               np.nanmax(tracks.points[i, 0, :, :2], axis=0)])
        inner = (slice(y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4), slice(x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4))
        face_diff = np.abs(after[i][inner] - before[i][inner]).mean()
        far_diff = np.abs(after[i][:60, :60] - before[i][:60, :60]).mean()  # top-left corner: background
        assert face_diff > 8 and face_diff > 3 * far_diff, (i, face_diff, far_diff)
        assert far_diff < 8, (i, far_diff)  # re-encoding noise only (x264 at CRF 20 over a detailed background)


def jitter(points: np.ndarray) -> float:
    """Mean size of the landmarks' frame-to-frame acceleration (pixels), the camera's own motion being smooth."""
    xy = points[:, :, :2].astype(np.float64)
    return float(np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1).mean())


def test_temporal_stability(clip_360p: Path, fused: tuple[Path, VideoFusionResult]) -> None:
    out, _ = fused
    template = track_video(clip_360p, smoothing=False)
    result = track_video(out, smoothing=False)
    centre = np.nanmean(template.points[0, 0, :, :2], axis=0)
    k = int(np.argmin([np.linalg.norm(np.nanmean(result.points[0, j, :, :2], axis=0) - centre)
                       for j in range(result.face_count)]))
    assert result.present[:, k].all()
    j_template, j_fused = jitter(template.points[:, 0]), jitter(result.points[:, k])
    assert j_fused <= 1.25 * j_template + 0.25, (j_fused, j_template)


def test_replayed_tracks_file_object_and_no_label(clip_360p: Path, tmp_path: Path) -> None:
    tracks = track_video(clip_360p)
    assert tracks.frame_count == 50 and tracks.present[:, 0].all()
    buf = io.BytesIO()
    # Without the visible label the implicit one stays; the studio's app id and result id fill it.
    label = AigcLabel(content_producer="app_7Kd92", produce_id="rs_0OqXr1bTa9Zf3kLm2PqR")
    opts = attrs.evolve(FuseOptions(label=LabelOptions(enabled=False), metadata={"campaign": "spring"}), aigc=label)
    result = fuse_video(clip_360p, sample_path("biden.jpg"), buf, tracks=tracks, options=opts)
    assert result.frame_count == 50 and result.frames_fused == 50 and result.aigc == label
    assert probe_video(buf.getvalue()).frame_count == 50
    assert read_video_metadata(buf.getvalue()) == {"AIGC": label.fields(), "DigitalSourceType": DIGITAL_SOURCE_TYPE,
                                                   "campaign": "spring"}
    assert not list(tmp_path.iterdir())


def test_the_video_carries_the_ai_markers(fused: tuple[Path, VideoFusionResult]) -> None:
    out, result = fused
    meta = read_video_metadata(out)
    assert meta["AIGC"] == result.aigc.fields() and meta["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert meta["AIGC"]["Label"] == "1" and meta["AIGC"]["ContentProducer"] == "fusionkit"
    assert len(meta["AIGC"]["ProduceID"]) == 32 and set(meta["AIGC"]) == set(result.aigc.fields())
    # The packet sits in the last top-level box; every frame still decodes.
    assert out.read_bytes()[-2048:].rstrip().endswith(b'<?xpacket end="w"?>')
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == result.frame_count == 50


def test_label_on_by_default(clip_360p: Path, fused: tuple[Path, VideoFusionResult]) -> None:
    out, _ = fused
    before, after = frames_rgb(clip_360p, {10}), frames_rgb(out, {10})
    corner = (slice(330, 355), slice(540, 635))  # the bottom-right label
    assert np.abs(after[10][corner] - before[10][corner]).mean() > 20


def test_a_logo_replaces_the_label(clip_360p: Path, tmp_path: Path) -> None:
    tracks = track_video(clip_360p)
    logo = np.zeros((20, 40, 3), np.uint8)
    logo[:, :, 1] = 255  # pure green, nowhere in the clip
    out = tmp_path / "logo.mp4"
    fuse_video(clip_360p, sample_path("biden.jpg"), out, tracks=tracks,
               options=FuseOptions(logo=LogoParam(image=logo, rect=(10, -10, 80, 40))))
    frame = frames_rgb(out, {0, 30})
    for f in frame.values():
        patch = f[312:348, 14:86]  # the logo's rectangle: x 10-90, y 310-350 (it fills the width: 80 x 40)
        assert patch[..., 1].mean() > 200 and patch[..., 0].mean() < 60
    before = frames_rgb(clip_360p, {30})[30]
    corner = (slice(330, 355), slice(540, 635))  # where the label would be: untouched but for re-encoding
    assert np.abs(frame[30][corner] - before[corner]).mean() < 6
    with pytest.raises(errors.ParameterValueError, match="logo rect"):  # outside the frame: before any decoding
        fuse_video(clip_360p, sample_path("biden.jpg"), tmp_path / "no.mp4", tracks=tracks,
                   options=FuseOptions(logo=LogoParam(image=logo, rect=(600, 0, 80, 40))))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logo.mp4"]


def test_an_odd_sized_video_loses_its_last_column_and_row(tmp_path: Path) -> None:
    # H.264 4:4:4 allows odd sides; x264's 4:2:0 output does not, so the output is 320x180 (cropped, not scaled).

    from tests.video.clips import render_frame

    photo = sample_photo("obama.jpg")
    clip = tmp_path / "odd.mp4"
    with av.open(str(clip), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 321, 181, "yuv444p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(render_frame(photo, 321, 181, i / 10, 1.0), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    target = tmp_path / "odd_out.mp4"
    result = fuse_video(clip, sample_path("biden.jpg"), target)
    assert (result.width, result.height, result.frame_count, result.frames_fused) == (320, 180, 10, 10)
    info = probe_video(target.read_bytes())
    assert (info.width, info.height, info.frame_count) == (320, 180, 10)
    before, after = frames_rgb(clip, {5}), frames_rgb(target, {5})
    # Top right, away from the face and the label: the same pixels in the same place (a rescale would have moved
    # them by most of a pixel there, a difference of about 13 grey levels; re-encoding alone leaves about 3).
    luma = np.array([0.299, 0.587, 0.114])
    corner = (slice(0, 40), slice(250, 310))
    assert np.abs((after[5][corner] - before[5][corner]) @ luma).mean() < 6


def test_bad_inputs_leave_nothing(clip_360p: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    blank = np.full((200, 200, 3), 127, np.uint8)
    with pytest.raises(errors.NoFaceDetectedError):
        fuse_video(clip_360p, blank, target)
    with pytest.raises(errors.VideoDecodeFailedError):
        fuse_video(sample_path("obama.jpg").read_bytes(), sample_path("biden.jpg"), target)
    with pytest.raises(errors.ParameterValueError):
        fuse_video(clip_360p, sample_path("biden.jpg"), target, crf=99)
    for workers in (0, 65, True, 1.5, "2"):
        with pytest.raises(errors.ParameterValueError, match="workers"):
            fuse_video(clip_360p, sample_path("biden.jpg"), target, workers=workers)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_frames_fused_on_several_threads_come_out_the_same(clip_360p: Path, tmp_path: Path) -> None:
    # Threads fuse successive frames at once and the frames are encoded in order: the pictures, the reports and
    # the progress are those of one thread.
    tracks = track_video(clip_360p)
    runs = {}
    for workers in (1, 3):
        seen: list[float] = []
        out = tmp_path / f"w{workers}.mp4"
        result = fuse_video(clip_360p, sample_path("biden.jpg"), out, tracks=tracks, workers=workers,
                            progress=seen.append)
        with av.open(str(out)) as c:
            pictures = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
        runs[workers] = (pictures, result, seen)
    (one, r1, seen1), (three, r3, seen3) = runs[1], runs[3]
    assert len(one) == len(three) == 50
    assert all(np.array_equal(a, b) for a, b in zip(one, three, strict=True))
    assert (r1.faces, r1.frames_fused, r1.frame_count) == (r3.faces, r3.frames_fused, r3.frame_count)
    assert seen1 == seen3 == sorted(seen3)


def test_one_euro_filter_smooths_noise_and_follows_motion() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter()
    still = [f(np.array([[100.0, 100.0, 0.0]], np.float32) + rng.normal(0, 1, (1, 3)).astype(np.float32), 0.04, 100)
             for _ in range(50)]
    assert np.std([p[0, 0] for p in still[10:]]) < 0.5
    f.reset()
    moving = [f(np.array([[100.0 + 10 * i, 100.0, 0.0]], np.float32), 0.04, 100) for i in range(50)]
    assert abs(moving[-1][0, 0] - 590) < 30


def test_720p_without_audio(clip_720p_short: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused_720p.mp4"
    result = fuse_video(clip_720p_short, sample_path("obama3.jpg"), out)
    info = probe_video(out)
    assert (info.width, info.height, info.frame_count) == (1280, 720, 25)
    assert info.audio_codec is None and not result.has_audio
    assert result.frames_fused == 25
    assert [p.name for p in tmp_path.iterdir()] == ["fused_720p.mp4"]  # no temporary file left beside it


def test_a_video_without_any_face(tmp_path: Path) -> None:
    blank = tmp_path / "blank.mp4"
    with av.open(str(blank), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 90, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    target = tmp_path / "out" / "fused.mp4"
    target.parent.mkdir()
    with pytest.raises(errors.NoFaceDetectedError, match="no face was found in the video"):
        fuse_video(blank, sample_path("biden.jpg"), target)
    assert not list(target.parent.iterdir())


def test_a_progress_callback_can_cancel(clip_360p: Path, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def progress(done: float) -> None:
        if done >= 0.2:
            raise Cancelled

    with pytest.raises(Cancelled):
        fuse_video(clip_360p, sample_path("biden.jpg"), tmp_path / "out.mp4", progress=progress)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (6, 3), (16, 4), (64, 4)])
def test_default_workers_are_one_per_two_usable_cores(monkeypatch: pytest.MonkeyPatch, cores: int,
                                                      workers: int) -> None:
    # x264's threads and the decoder want half the cores: on two cores one fusion thread beats two.
    from fusionkit.fusion import video

    monkeypatch.setattr(video, "_cgroup_cores", lambda: None)  # no container quota
    monkeypatch.setattr(video.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert video.default_video_workers() == workers
    monkeypatch.delattr(video.os, "sched_getaffinity", raising=False)  # a platform without affinity
    monkeypatch.setattr(video.os, "cpu_count", lambda: cores)
    assert video.default_video_workers() == workers
    # a container given fewer CPUs than the host shows (docker run --cpus=2.5) counts what it was given
    monkeypatch.setattr(video, "_cgroup_cores", lambda: 2.5)
    assert video.default_video_workers() == 1


def test_container_quotas_are_read_from_cgroup_v2_then_v1(tmp_path: Path) -> None:
    from fusionkit.fusion.video import _cgroup_cores

    v2, q1, p1 = tmp_path / "cpu.max", tmp_path / "cfs_quota_us", tmp_path / "cfs_period_us"
    missing = (str(tmp_path / "none"), str(tmp_path / "none2"))
    v2.write_text("200000 100000\n")
    assert _cgroup_cores(str(v2), missing) == 2.0
    v2.write_text("max 100000\n")
    assert _cgroup_cores(str(v2), missing) is None
    q1.write_text("150000\n")
    p1.write_text("100000\n")
    assert _cgroup_cores(str(tmp_path / "absent"), (str(q1), str(p1))) == 1.5
    q1.write_text("-1\n")
    assert _cgroup_cores(str(tmp_path / "absent"), (str(q1), str(p1))) is None
    v2.write_text("garbage")
    assert _cgroup_cores(str(v2), missing) is None
    assert _cgroup_cores(*((str(tmp_path / "absent"),) + (missing,))) is None
