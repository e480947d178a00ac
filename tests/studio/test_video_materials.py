"""Video materials: MP4 uploads with caps checked from the container, tracks stored per frame, erased with it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import fusionkit
from fusionkit.errors import VideoDecodeFailedError, VideoDurationExceedError, VideoResolutionExceedError
from fusionkit.imaging.video import VideoLimits
from fusionkit.storage import keys
from tests.studio.conftest import stored_keys
from tests.video.clips import make_clip


@pytest.fixture(scope="session")
def studio_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s, 320x180, 10 fps, H.264 + AAC."""
    return make_clip(tmp_path_factory.mktemp("studio_clips") / "obama_180p.mp4", width=320, height=180, fps=10,
                     seconds=1.0)


@pytest.fixture(scope="session")
def faceless_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s, 320x180, 10 fps of flat grey: no face."""
    path = tmp_path_factory.mktemp("studio_clips") / "grey.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 320, 180, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((180, 320, 3), 128, np.uint8), format="rgb24")
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return path


def test_upload_video_stores_source_metadata_and_tracks(studio, studio_clip):
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, studio_clip)
    assert mat.kind == "video" and mat.status == "ready" and mat.source_format == "mp4"
    assert (mat.width, mat.height) == (320, 180)
    v = mat.video
    assert v is not None
    assert v["frame_count"] == 10 and v["fps"] == pytest.approx(10.0)
    assert v["duration_s"] == pytest.approx(1.0, abs=0.15)
    assert v["video_codec"] == "h264" and v["audio_codec"] == "aac"
    assert v["audio_channels"] == 2 and v["audio_sample_rate"] == 44100 and v["bit_rate"] > 0
    assert v["tracked_faces"] >= 1 and len(mat.faces) == v["tracked_faces"]
    assert studio.materials.get(mat.id) == mat
    assert studio.store.read(keys.material_source(mat.id, "mp4")) == studio_clip.read_bytes()
    with np.load(__import__("io").BytesIO(studio.store.read(keys.material_tracks(mat.id)))) as npz:
        assert npz["points"].shape[:1] == (10,) and npz["points"].shape[2:] == (468, 3)
        assert npz["present"].shape == (10, npz["points"].shape[1]) and npz["present"][0].all()
    # bytes work as well as a path
    again = studio.materials.upload(act.id, studio_clip.read_bytes(), name="again")
    assert again.status == "ready" and again.name == "again"


def test_delete_video_material_deletes_tracks(studio, studio_clip):
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, studio_clip)
    receipt = studio.materials.delete(mat.id)
    assert receipt.counts["tracks"] == 1 and receipt.counts["sources"] == 1 and receipt.counts["materials"] == 1
    assert stored_keys(studio, "materials") == []


def test_video_without_face_is_role_not_in_video(studio, faceless_clip):
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, faceless_clip)
    assert mat.status == "role_not_in_video" and mat.faces == ()
    assert mat.video is not None and "NoFaceDetected" in mat.video["error"]
    assert not studio.store.exists(keys.material_tracks(mat.id))
    assert studio.materials.delete(mat.id).counts["tracks"] == 0


def test_caps_are_checked_before_anything_is_stored(studio_url, clock, studio_clip):
    studio = fusionkit.open(studio_url, clock=clock, video_limits=VideoLimits(max_duration_s=0.5))
    act = studio.activities.create("video")
    with pytest.raises(VideoDurationExceedError):
        studio.materials.upload(act.id, studio_clip)
    studio2 = fusionkit.open(studio_url, clock=clock, video_limits=VideoLimits(max_long_side=300))
    with pytest.raises(VideoResolutionExceedError):
        studio2.materials.upload(act.id, studio_clip.read_bytes())
    with pytest.raises(VideoDecodeFailedError):
        studio.materials.upload(act.id, studio_clip.read_bytes()[:4000])  # truncated
    assert stored_keys(studio, "materials") == []


def test_video_limits_must_be_video_limits(studio_url):
    with pytest.raises(fusionkit.errors.ParameterValueError):
        fusionkit.open(studio_url, video_limits="big")  # type: ignore[arg-type]


def test_preprocessing_failure_is_a_status(studio, studio_clip, monkeypatch):
    import fusionkit.fusion.video as fv

    def broken(*args, **kwargs):
        raise RuntimeError("tracker broke")

    monkeypatch.setattr(fv, "track_video", broken)
    act = studio.activities.create("video")
    mat = studio.materials.upload(act.id, studio_clip)
    assert mat.status == "preprocessing_failed" and mat.faces == ()
    assert mat.video is not None and "tracker broke" in mat.video["error"]
    assert not studio.store.exists(keys.material_tracks(mat.id))
    with pytest.raises(fusionkit.errors.ParameterValueError):
        studio.videos.submit(act.id, mat.id, np.zeros((64, 64, 3), np.uint8))
