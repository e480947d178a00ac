"""Plug-in renderers beyond one picture: videos, the studio (its log, results and video jobs), and plug-ins that
packages register by entry point."""

from __future__ import annotations

import io
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest

import fusionkit
from fusionkit.domain.models import ModelSpec, PluginSpec
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import ModelHashMismatchError, RendererNotFoundError
from fusionkit.fusion.renderers import OnnxSwapper, available, renderer_for
from fusionkit.imaging.xmp import read_video_metadata
from fusionkit.storage import keys
from tests.photos import mesh
from tests.renderers.conftest import Models
from tests.studio.conftest import clock, photo, stored_keys  # noqa: F401 - the studio tests' fake clock
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture


def swapper_spec(models: Models) -> PluginSpec:
    return PluginSpec(name="onnx-swapper", models={"swapper": models.swapper, "recogniser": models.recogniser})


def frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_a_video_fused_by_a_plugin_carries_its_licences(models: Models, studio_clip: Path,  # noqa: F811
                                                        tmp_path: Path) -> None:
    out_plugin, out_mesh = tmp_path / "plugin.mp4", tmp_path / "mesh.mp4"
    result = fusionkit.fuse_video(studio_clip, photo("biden.jpg"), out_plugin,
                                  FuseOptions(renderer=swapper_spec(models)))
    fusionkit.fuse_video(studio_clip, photo("biden.jpg"), out_mesh)
    assert result.frames_fused == result.frame_count == 10
    assert result.model_licences == (("recogniser.onnx", "test recogniser licence"),
                                     ("swapper_128.onnx", "test swapper licence"))
    assert "swapper_128.onnx: test swapper licence" in json.dumps(read_video_metadata(str(out_plugin)))
    drawn, meshed = frames(out_plugin.read_bytes()), frames(out_mesh.read_bytes())
    assert len(drawn) == len(meshed) == 10
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() > 0.05 for a, b in zip(drawn, meshed, strict=True))


def test_a_bad_model_fails_a_video_before_any_frame(models: Models, studio_clip: Path,  # noqa: F811
                                                    tmp_path: Path) -> None:
    wrong = ModelSpec(path=models.swapper.path, sha256="3" * 64, licence="x")
    out = tmp_path / "never.mp4"
    with pytest.raises(ModelHashMismatchError):
        fusionkit.fuse_video(studio_clip, photo("biden.jpg"), out,
                             FuseOptions(renderer=OnnxSwapper(wrong, models.recogniser)))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_the_studio_logs_and_records_the_licences_and_runs_plugin_video_jobs(models: Models, tmp_path: Path,
                                                                             clock, studio_clip: Path) -> None:  # noqa: F811
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock)
    act = studio.activities.create("plug-ins")
    picture = studio.materials.upload(act.id, photo("obama.jpg"))
    video = studio.materials.upload(act.id, studio_clip)
    opts = FuseOptions(renderer=swapper_spec(models))

    fused = studio.fuse(act.id, picture.id, photo("biden.jpg"), options=opts)
    assert fused.parameters["model_licences"] == [["recogniser.onnx", "test recogniser licence"],
                                                  ["swapper_128.onnx", "test swapper licence"]]
    assert b"swapper_128.onnx: test swapper licence" in studio.results.read(fused.id)

    job = studio.videos.submit(act.id, video.id, photo("biden.jpg"), options=opts)
    done = studio.videos.wait(job.id, timeout=120)
    assert done.status == "completed", done.error_message
    data = studio.store.read(keys.video_result(done.updated.date(), job.id))
    assert "test swapper licence" in json.dumps(read_video_metadata(data))

    # A bad model fails the submit: nothing is queued, nothing stored.
    wrong = PluginSpec(name="onnx-swapper", models={"swapper": ModelSpec(path=models.swapper.path, sha256="4" * 64,
                                                                         licence="x"),
                                                    "recogniser": models.recogniser})
    deadline = time.monotonic() + 60
    while studio.videos._workers.keys() and time.monotonic() < deadline:  # completed first, then the inputs go
        time.sleep(0.01)
    jobs_before = stored_keys(studio, "jobs")
    with pytest.raises(ModelHashMismatchError):
        studio.videos.submit(act.id, video.id, photo("biden.jpg"), options=FuseOptions(renderer=wrong))
    assert stored_keys(studio, "jobs") == jobs_before

    now = studio.now()
    records = studio.logs.query(now - timedelta(hours=1), now + timedelta(hours=1))
    by_interface = {r.interface: r for r in records if r.error_code is None}
    expected = "recogniser.onnx: test recogniser licence; swapper_128.onnx: test swapper licence"
    assert by_interface["FuseFace"].models == expected
    assert by_interface["SubmitVideoFaceFusionJob"].models == expected
    refused = [r for r in records if r.error_code == "FailedOperation.ModelHashMismatch"]
    assert len(refused) == 1 and refused[0].interface == "SubmitVideoFaceFusionJob"
    plain = studio.fuse(act.id, picture.id, photo("biden.jpg"))
    assert "model_licences" not in plain.parameters
    assert [r.models for r in studio.logs.query(now - timedelta(hours=1), now + timedelta(hours=1), "FuseFace")
            if r.result_id == plain.id] == [None]


PLUGIN_MODULE = '''
import numpy as np
from fusionkit.fusion.engine import MeshRenderer


class Tinted:
    """The mesh renderer's face, tinted blue: a stand-in for a package's renderer."""

    name = "tinted"

    def __init__(self, spec):
        self.spec = spec
        self.blue = float(spec.setting("blue", 12))

    def render(self, request):
        face = MeshRenderer().render(request)
        face.texture[..., 2] = np.clip(face.texture[..., 2] + self.blue, 0, 255).astype(np.uint8)
        return face
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package on sys.path that registers a renderer ``tinted`` (and a broken one) by entry point, as
    ``pip install`` would leave it."""
    (tmp_path / "fk_tinted.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "fk_tinted-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fk-tinted\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[fusionkit.renderers]\ntinted = fk_tinted:Tinted\n"
                                           "broken = fk_missing_module:Renderer\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "tinted"
    sys.modules.pop("fk_tinted", None)


def test_a_package_registers_a_renderer_by_entry_point(installed_plugin: str) -> None:
    assert {"tinted", "broken"} <= set(available())
    spec = PluginSpec(name="tinted", settings={"blue": 12})  # more turns the skin blue: a cover, to the engine
    assert type(renderer_for(spec)).__name__ == "Tinted" and renderer_for(spec) is renderer_for(spec)
    template, user = photo("obama.jpg"), photo("biden.jpg")
    # Colour matching would give the face the template's complexion back: off, to see the plug-in's own drawing.
    tinted = fusionkit.fuse(template, user, FuseOptions(renderer=spec, colour_match=False)).image.astype(int)
    plain = fusionkit.fuse(template, user, FuseOptions(colour_match=False)).image.astype(int)
    x0, y0, x1, y1 = (int(v) for v in mesh("obama.jpg").face.box)
    shift = (tinted - plain)[y0:y1, x0:x1]
    assert (shift[..., 2] - shift[..., 0]).mean() > 3
    # Stored options name it, and a worker rebuilds it from that name.
    assert FuseOptions.from_json(FuseOptions(renderer=spec).to_json()).renderer == spec
    with pytest.raises(RendererNotFoundError, match=r"'broken'.*cannot be imported.*fk_missing_module"):
        fusionkit.fuse(template, user, FuseOptions(renderer="broken"))
