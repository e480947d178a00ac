"""Runtime options (execution providers, threads) reach every model: the face models and the user's plug-in models,
in batches on worker threads, and in a studio's uploads, fusions and video jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

import fusionkit
from fusionkit.domain.models import PluginSpec
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import ParameterValueError, ProviderUnavailableError
from fusionkit.vision import RuntimeOptions, _runtime, user_models, using_runtime
from fusionkit.vision._runtime import single_threaded
from tests.photos import photo
from tests.renderers import tiny_models as tm
from tests.renderers.conftest import Models
from tests.studio.conftest import clock  # noqa: F401 - the studio tests' fake clock
from tests.studio.test_video_materials import studio_clip  # noqa: F401 - session fixture

MISSING = RuntimeOptions(providers=("NoSuchExecutionProvider",))


def swapper(models: Models) -> FuseOptions:
    return FuseOptions(renderer=PluginSpec(name="onnx-swapper", models={"swapper": models.swapper,
                                                                         "recogniser": models.recogniser}))


def runtimes_used() -> set[RuntimeOptions]:
    """The runtime options of every session made so far: the face models' and the user's models'."""
    return {key[1] for key in _runtime._sessions} | {key[3] for key in user_models._models}


def test_a_batch_runs_on_the_callers_providers_single_threaded(models: Models) -> None:
    with using_runtime(MISSING):
        items = list(fusionkit.fuse_many([(photo("obama.jpg"), photo("biden.jpg"))] * 2, swapper(models), workers=2))
    assert [type(item.error) for item in items] == [ProviderUnavailableError] * 2
    mine = RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=2)
    with using_runtime(mine):
        items = list(fusionkit.fuse_many([(photo("obama.jpg"), photo("biden.jpg"))], swapper(models), workers=1))
    assert items[0].ok
    assert RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=2, intra_op_threads=1) \
        in runtimes_used()


def test_a_studio_runs_every_model_with_its_runtime(models: Models, tmp_path: Path, clock,  # noqa: F811
                                                   studio_clip: Path) -> None:  # noqa: F811
    with pytest.raises(ProviderUnavailableError, match="NoSuchExecutionProvider"):
        fusionkit.open(str(tmp_path / "nope"), runtime=MISSING)
    runtime = RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=3)
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock, runtime=runtime)
    act = studio.activities.create("runtime")
    picture = studio.materials.upload(act.id, photo("obama.jpg"))
    detector_sessions = {key for key in _runtime._sessions if key[1] == runtime}
    assert detector_sessions  # the upload's face detection and meshes ran with the studio's runtime
    studio.fuse(act.id, picture.id, photo("biden.jpg"), options=swapper(models))
    assert {key for key in user_models._models if key[3] == runtime}  # and the plug-in's models too
    video = studio.materials.upload(act.id, studio_clip)
    done = studio.videos.wait(studio.videos.submit(act.id, video.id, photo("biden.jpg"), options=swapper(models)).id,
                              timeout=120)
    assert done.status == "completed", done.error_message
    assert studio.spec is not None and studio.spec.runtime == runtime  # cluster workers open it with it too
    # A caller's own block wins over the studio's.
    with using_runtime(MISSING), pytest.raises(ProviderUnavailableError):
        studio.fuse(act.id, picture.id, photo("biden.jpg"))


def test_faces_fused_on_threads_keep_the_callers_runtime(models: Models) -> None:
    # A swapper file of its own, so the sessions made for it are this test's alone.
    own = models.write("threads_swapper.onnx", tm.swapper(seed=7))
    opts = FuseOptions(renderer=PluginSpec(name="onnx-swapper", models={"swapper": own,
                                                                         "recogniser": models.recogniser}))
    mine = RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=5)
    merges = [fusionkit.Merge(image=photo("biden.jpg"), template_face=0),
              fusionkit.Merge(image=photo("obama.jpg"), template_face=1)]
    with using_runtime(mine):
        fusionkit.fuse(photo("two_people.jpg"), merges, opts, threads=2)
    assert {key[3] for key in user_models._models if key[0] == own.path} == {mine}


def test_video_frames_fused_on_threads_keep_the_callers_runtime(models: Models, tmp_path: Path,
                                                                studio_clip: Path) -> None:  # noqa: F811
    # fuse_video fuses frames on a pool of threads: the plug-in's models are made there, with the caller's runtime.
    own = models.write("video_threads_swapper.onnx", tm.swapper(seed=9))
    opts = FuseOptions(renderer=PluginSpec(name="onnx-swapper", models={"swapper": own,
                                                                         "recogniser": models.recogniser}))
    mine = RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=7)
    with using_runtime(mine):
        from fusionkit.fusion.video import fuse_video

        result = fuse_video(studio_clip, photo("biden.jpg"), tmp_path / "out.mp4", opts, workers=2)
    assert result.frames_fused > 0
    assert {key[3] for key in user_models._models if key[0] == own.path} == {mine}


def test_a_studio_batch_on_threads_keeps_the_callers_runtime(models: Models, tmp_path: Path,
                                                              clock) -> None:  # noqa: F811
    own = models.write("studio_threads_swapper.onnx", tm.swapper(seed=8))
    opts = FuseOptions(renderer=PluginSpec(name="onnx-swapper", models={"swapper": own,
                                                                         "recogniser": models.recogniser}))
    studio = fusionkit.open(str(tmp_path / "studio"), clock=clock)
    act = studio.activities.create("threads")
    picture = studio.materials.upload(act.id, photo("obama.jpg"))
    mine = RuntimeOptions(providers=("CPUExecutionProvider",), inter_op_threads=6)
    with using_runtime(mine):
        # Studio.fuse_many takes its options from the material: the swapper goes through fuse on a worker thread.
        items = list(studio.fuse_many([(act.id, picture.id, photo("biden.jpg"))], workers=1))
        studio.fuse(act.id, picture.id, photo("biden.jpg"), options=opts)
    assert items[0].ok
    assert {key[3] for key in user_models._models if key[0] == own.path} == {mine}
    assert any(key[1] == single_threaded(mine) for key in _runtime._sessions)  # the batch's face models


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"providers": 5}, "execution provider names"), ({"providers": ()}, "execution provider names"),
    ({"intra_op_threads": -1}, "intra_op_threads"), ({"inter_op_threads": True}, "inter_op_threads"),
])
def test_runtime_options_refuse_what_onnxruntime_cannot_take(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ParameterValueError, match=match):
        RuntimeOptions(**kwargs)  # type: ignore[arg-type]


def test_the_face_models_run_on_one_thread_unless_asked_and_never_spin() -> None:
    # The default is one thread inside a model run (the face models are small: onnxruntime's pool cost more than it
    # gave and took the cores from concurrent callers); a caller who asks for more gets a pool whose threads sleep
    # between runs instead of spinning.
    img = photo("obama.jpg")
    assert RuntimeOptions().intra_op_threads == 1
    default_faces = fusionkit.analyze(img)
    session = _runtime.get_session("face_landmark.onnx", RuntimeOptions())
    assert session.get_session_options().intra_op_num_threads == 1
    pooled = RuntimeOptions(intra_op_threads=0)
    pooled_faces = fusionkit.analyze(img, options=pooled)
    assert len(pooled_faces) == len(default_faces) == 1
    assert abs(pooled_faces[0].points - default_faces[0].points).max() < 1e-3
    options = _runtime.get_session("face_landmark.onnx", pooled).get_session_options()
    assert options.intra_op_num_threads == 0
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
