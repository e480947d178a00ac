"""What the learned renderer plug-ins cost outside their models' own run time, per face at 1920x1080, and that the
default fusion (no plug-in) is unchanged.

Usage::

    .venv/bin/python benchmarks/bench_plugins.py [--json] [--quick] [--rounds N] [--providers NAME [NAME ...]]

The template is a 1920x1080 frame holding the ``obama.jpg`` sample scaled so that its face is about 280 pixels wide
(edges replicated, as in ``bench_fuse.py``); the user is ``biden.jpg``. Faces are analysed once, never timed. The
models are the tiny ONNX graphs of ``tests/renderers/tiny_models.py`` (swappers of 128, 256 and 512 px, the 112 px
recogniser, the 512 px enhancer), written to a temporary folder: their run time is small, so what is left of a call
is the plug-in path itself. The default options (``fuse_face_degree`` 10) are used throughout.

Each round calls every measured function once, in the reverse order every other round, so that the noise of a
shared machine falls on all of them; figures are medians over rounds in ms, never means. Per swapper size S:

- ``swapper_run_ms``, ``recogniser_run_ms``: ``UserModel.run`` of each model called directly with inputs of the
  contract's shapes (the models' own run time);
- ``render_ms``: the whole ``OnnxSwapper.render(request)``, with the request ``fuse_face`` built (caught by a
  recording renderer in one ``fuse_face`` call); ``render_over_mesh_ms``: that less the mesh renderer's ``render``
  of the same request (``mesh_render_ms``); ``warp_stage_ms``: the engine's ``warp`` stage from ``fuse_face`` runs
  every few rounds, next to ``warp_stage_mesh_ms`` (the default options'). That stage holds more than the renderer
  call: the pose check, the template's occluders and its reshaping to the target come first, whichever renders;
- ``models_in_render_ms``: the time spent inside ``UserModel.run`` during that ``render`` call (the cached sessions'
  ``run`` wrapped with a clock); ``overhead_ms``, the bar: the median over rounds of render time minus the model time
  of the same call [<= 3 ms]; ``overhead_direct_ms``: ``render_ms`` minus the direct runs of the models render runs
  (a cross-check);
- the parts of the path: ``five_points_ms`` (the template's and the user's five points), ``align_ms`` (the template
  crop at S px), ``template_crop_112_ms`` (the template's 112 px crop for its embedding, cut from the S px crop),
  ``user_crop_ms`` (the user's 112 px crop): made on a call's first render only (a video's first frame), later
  renders with the call's ``UserKey`` find the embedding under it, so it is not in ``render_ms``; ``convert_ms``
  (the crop to a float blob), ``paste_back_ms`` (the output to bytes and warped back, one pass); ``other_ms`` is
  the overhead less these (embedding mix, locks, the session look-ups).

The user's embedding is kept by the swapper under the call's ``UserKey``: after the first render of a call
``render`` runs the recogniser once (the template's embedding, ``fuse_face_degree`` > 0), not twice;
``recogniser_runs_first_render`` and ``recogniser_runs_per_render`` say what was counted. The enhancer likewise:
``run_ms`` (direct), ``enhance_ms`` (``OnnxEnhancer.enhance`` on the swapper's output), ``enhance_stage_ms`` (the
engine's ``enhance`` stage), ``overhead_ms`` and its parts (``composite_ms``: the template with the drawn face laid
in, and the restored face mixed back; ``five_points_ms``, ``align_ms`` at 512 px, ``convert_ms``,
``paste_back_ms``); ``overhead_of_stage_ms`` is the stage less the model's direct run.

Default fusion unchanged: ``fusionkit.fuse`` with ``FuseOptions()`` and with ``FuseOptions(renderer="mesh")``
spelled out, the template's meshes given (the user's detection and mesh are in both), interleaved; their medians,
ratio and whether the pictures are equal. The comparison with the commit before the plug-ins is made by running
``bench_fuse.py`` in both trees on the same machine (``git worktree add /tmp/fk-a8331f0 a8331f0``, build its core,
run each tree's benchmark with ``PYTHONPATH=<tree>/src`` in one session).

``--providers`` runs every model (the face analysis included) under ``fusionkit.using_runtime(RuntimeOptions(
providers=...))``, e.g. ``--providers CUDAExecutionProvider`` on a GPU machine: the same measurements through that
provider (the models' run times then include the copies to and from the device, as ``render`` pays them);
``providers_used`` gives each user model session's ``get_providers()``. Single thread otherwise (onnxruntime, OpenCV
and BLAS pinned to one). ``--quick`` is a smoke test (< 30 s).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tiny graphs live with the tests
from fusionkit.core import composite  # noqa: E402
from fusionkit.domain.options import FuseOptions  # noqa: E402
from fusionkit.fusion.api import FusionResult, fuse  # noqa: E402
from fusionkit.fusion.engine import fuse_face  # noqa: E402
from fusionkit.fusion.engine.geometry import to_core  # noqa: E402
from fusionkit.fusion.engine.renderer import MeshRenderer, RenderedFace, RenderRequest, UserKey  # noqa: E402
from fusionkit.fusion.renderers import OnnxEnhancer, OnnxSwapper  # noqa: E402
from fusionkit.fusion.renderers.align import (  # noqa: E402
    ARCFACE_112,
    FFHQ_512,
    align,
    arcface_112_from,
    arcface_template,
    five_points,
    lay_back,
    paste_back,
    planar_blob,
)
from fusionkit.imaging.decode import load_image  # noqa: E402
from fusionkit.samples import sample_path  # noqa: E402
from fusionkit.vision import RuntimeOptions, analyze, mesh_topology, using_runtime  # noqa: E402
from fusionkit.vision.user_models import UserModel, load_user_model  # noqa: E402
from tests.renderers import tiny_models  # noqa: E402

cv2.setNumThreads(1)

SIZES = (128, 256, 512)
BAR_MS = 3.0
#: ``obama.jpg`` is scaled to this height (its face then about 280 px wide), then cropped to 1080 rows.
PORTRAIT_HEIGHT = 1200


def template_1080p() -> np.ndarray:
    """1920x1080 with ``obama.jpg`` in the middle, its face about 280 px wide, edges replicated."""
    portrait = load_image(sample_path("obama.jpg"))
    width = round(portrait.shape[1] * PORTRAIT_HEIGHT / portrait.shape[0])
    body = cv2.resize(portrait, (width, PORTRAIT_HEIGHT), interpolation=cv2.INTER_AREA)
    top = (PORTRAIT_HEIGHT - 1080) // 2
    body = body[top:top + 1080]
    left = (1920 - width) // 2
    # replicated edges, not mirrored ones: a mirror would add half faces at the sides
    frame = cv2.copyMakeBorder(body, 0, 0, left, 1920 - width - left, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(frame)


class ModelClock:
    """Wraps the ``run`` of cached user model sessions: the time spent in them and the calls, since :meth:`reset`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls: dict[str, int] = {}
        self._wrapped: list[UserModel] = []

    def wrap(self, model: UserModel) -> None:
        if model in self._wrapped:
            return
        inner = model.run

        def run(feeds: dict[str, Any]) -> list[Any]:
            t0 = time.perf_counter()
            try:
                return inner(feeds)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls[model.role] = self.calls.get(model.role, 0) + 1

        model.run = run  # type: ignore[method-assign]
        self._wrapped.append(model)

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls = {}

    def unwrap(self) -> None:
        for model in self._wrapped:
            del model.run
        self._wrapped.clear()


class Recorder:
    """A renderer that hands the request to ``inner`` and keeps the request and what it drew."""

    name = "recorder"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.request: RenderRequest | None = None
        self.rendered: RenderedFace | None = None

    def render(self, request: RenderRequest) -> RenderedFace:
        self.request = request
        self.rendered = self.inner.render(request)
        return RenderedFace(texture=self.rendered.texture.copy(), coverage=self.rendered.coverage.copy(),
                            identity_mixed=self.rendered.identity_mixed)


class Rounds:
    """Named samples (ms), one per round per name."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, ms: float) -> None:
        self.samples.setdefault(name, []).append(ms)

    def timed(self, name: str, fn: Callable[[], Any]) -> Callable[[], None]:
        def call() -> None:
            t0 = time.perf_counter()
            fn()
            self.add(name, (time.perf_counter() - t0) * 1e3)
        return call

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def image_port(model: UserModel) -> str:
    return next(p.name for p in model.inputs if p.rank == 4)


def providers_of(model: UserModel) -> list[str]:
    # UserModel has no public accessor for its session's providers.
    return list(model._session.get_providers())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--quick", action="store_true", help="a smoke test: few rounds (< 30 s)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the plug-in measurements (default 800, "
                                                                   "30 with --quick)")
    parser.add_argument("--providers", nargs="+", default=None, metavar="NAME",
                        help="onnxruntime execution providers for every model, e.g. CUDAExecutionProvider")
    args = parser.parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    rounds = args.rounds if args.rounds is not None else (30 if args.quick else 800)
    fuse_rounds = 3 if args.quick else 31
    engine_every = 5
    runtime = RuntimeOptions(intra_op_threads=1, inter_op_threads=1,
                             **({"providers": tuple(args.providers)} if args.providers else {}))
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_plugins_") as tmp, using_runtime(runtime):
        figures = run(Path(tmp), rounds, fuse_rounds, engine_every, runtime, stream)
    figures["seconds"] = time.perf_counter() - t_start
    if args.json:
        print(json.dumps(figures))
    return 0


def run(tmp: Path, rounds: int, fuse_rounds: int, engine_every: int, runtime: RuntimeOptions,
        stream: Any) -> dict[str, Any]:
    template = template_1080p()
    user = load_image(sample_path("biden.jpg"))
    tmeshes = analyze(template, model="auto", options=runtime)
    umesh = analyze(user, model="short", options=runtime)[0]
    topo = mesh_topology()

    recogniser_spec = tiny_models.save(tiny_models.recogniser(), tmp / "recogniser.onnx")
    enhancer_spec = tiny_models.save(tiny_models.enhancer(), tmp / "enhancer.onnx")
    swappers = {size: OnnxSwapper(tiny_models.save(tiny_models.swapper(size), tmp / f"swapper_{size}.onnx"),
                                  recogniser_spec) for size in SIZES}
    enhancer = OnnxEnhancer(enhancer_spec, strength=0.8)
    clock = ModelClock()
    rec = Rounds()
    first_render_calls: dict[str, int] = {}
    steady_calls: dict[str, int] = {}
    requests: dict[int, RenderRequest] = {}
    drawn: dict[int, RenderedFace] = {}
    # One user face for the whole run, as for every frame of a video: the swapper keeps its embedding under it.
    user_key = UserKey()
    engine_options: dict[int, FuseOptions] = {}
    recogniser_model = load_user_model(recogniser_spec, "recogniser")
    enhancer_model = load_user_model(enhancer_spec, "enhancer")
    swapper_models = {size: load_user_model(sw._swapper_spec, "swapper") for size, sw in swappers.items()}
    try:
        for model in (recogniser_model, enhancer_model, *swapper_models.values()):
            clock.wrap(model)
        for size, swapper in swappers.items():
            recorder = Recorder(swapper)
            engine_options[size] = FuseOptions(renderer=swapper, enhancer=enhancer)
            clock.reset()
            fuse_face(template.copy(), tmeshes[0], user, umesh, engine_options[size], topo, recorder,
                      user_key=user_key)
            if size == SIZES[0]:
                first_render_calls = dict(clock.calls)  # the first render embeds the user too
            assert recorder.request is not None and recorder.rendered is not None
            requests[size], drawn[size] = recorder.request, recorder.rendered
            clock.reset()
            swapper.render(requests[size])
            steady_calls = dict(clock.calls)
        recogniser_runs = steady_calls.get("recogniser", 0)

        steps: list[Callable[[], None]] = []
        recogniser_blob = np.random.default_rng(0).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
        steps.append(rec.timed("recogniser_run", lambda: recogniser_model.run(
            {image_port(recogniser_model): recogniser_blob})))
        mesh = MeshRenderer()
        steps.append(rec.timed("mesh_render", lambda: mesh.render(requests[SIZES[0]])))
        for size in SIZES:
            steps += swapper_steps(rec, clock, size, swappers[size], swapper_models[size], requests[size], topo)
        steps += enhancer_steps(rec, clock, enhancer, enhancer_model, requests[SIZES[0]], drawn[SIZES[0]], topo)

        def engine(size: int) -> None:
            report = fuse_face(template.copy(), tmeshes[0], user, umesh, engine_options[size], topo, swappers[size],
                               enhancer, user_key)
            rec.add(f"warp_stage_{size}", report.timings_ms["warp"])
            rec.add("enhance_stage", report.timings_ms["enhance"])

        for step in steps:  # warm-up, not kept
            step()
        rec.samples.clear()
        for r in range(rounds):
            for step in (steps if r % 2 == 0 else steps[::-1]):
                step()
            if r % engine_every == 0:
                for size in SIZES:
                    engine(size)
                mesh_report = fuse_face(template.copy(), tmeshes[0], user, umesh, FuseOptions(), topo)
                rec.add("warp_stage_mesh", mesh_report.timings_ms["warp"])
        providers = {f"swapper_{size}": providers_of(m) for size, m in swapper_models.items()}
        providers["recogniser"] = providers_of(recogniser_model)
        providers["enhancer"] = providers_of(enhancer_model)
    finally:
        clock.unwrap()

    default = default_fusion(template, user, tmeshes, fuse_rounds)

    recogniser_ms = rec.median("recogniser_run")
    swapper_figures: dict[str, dict[str, float]] = {}
    for size in SIZES:
        f = {name: rec.median(f"{name}_{size}") for name in (
            "swapper_run", "render", "models_in_render", "overhead", "five_points", "align", "template_crop_112",
            "user_crop", "convert", "paste_back", "warp_stage")}
        f = {f"{k}_ms": v for k, v in f.items()}
        f["recogniser_run_ms"] = recogniser_ms
        f["render_over_mesh_ms"] = f["render_ms"] - rec.median("mesh_render")
        f["overhead_direct_ms"] = f["render_ms"] - f["swapper_run_ms"] - recogniser_runs * recogniser_ms
        parts = ("five_points_ms", "align_ms", "template_crop_112_ms", "convert_ms", "paste_back_ms")  # in render
        f["other_ms"] = f["overhead_ms"] - sum(f[p] for p in parts)
        swapper_figures[str(size)] = f
    enh = {f"{name}_ms": rec.median(f"enhancer_{name}") for name in (
        "run", "enhance", "models_in_enhance", "overhead", "composite", "five_points", "align", "convert",
        "paste_back")}
    enh["enhance_stage_ms"] = rec.median("enhance_stage")
    enh["overhead_of_stage_ms"] = enh["enhance_stage_ms"] - enh["run_ms"]
    enh["overhead_direct_ms"] = enh["enhance_ms"] - enh["run_ms"]
    enh["other_ms"] = enh["overhead_ms"] - sum(enh[p] for p in ("composite_ms", "five_points_ms", "align_ms",
                                                                 "convert_ms", "paste_back_ms"))
    bar_pass = {f"swapper_{size}": swapper_figures[str(size)]["overhead_ms"] <= BAR_MS for size in SIZES}
    bar_pass["enhancer"] = enh["overhead_ms"] <= BAR_MS
    plan = requests[SIZES[0]].plan
    figures: dict[str, Any] = {
        "template": "1920x1080",
        "face_width_px": float(tmeshes[0].face.width),
        "face_region_px": [int(plan.shape[1]), int(plan.shape[0])],
        "rounds": rounds,
        "fuse_face_degree": FuseOptions().fuse_face_degree,
        "providers_requested": list(runtime.providers),
        "providers_used": providers,
        "recogniser_runs_first_render": first_render_calls.get("recogniser", 0),
        "recogniser_runs_per_render": recogniser_runs,
        "mesh_render_ms": rec.median("mesh_render"),
        "warp_stage_mesh_ms": rec.median("warp_stage_mesh"),
        "swapper": swapper_figures,
        "enhancer": enh,
        "bar_ms": BAR_MS,
        "bar_pass": bar_pass,
        **default,
    }
    report(figures, stream)
    return figures


def swapper_steps(rec: Rounds, clock: ModelClock, size: int, swapper: OnnxSwapper, model: UserModel,
                  request: RenderRequest, topo: Any) -> list[Callable[[], None]]:
    """One call each of: the swapper's model run, render (with its model time and overhead), and each part."""
    plan, tmpl = request.plan, np.asarray(request.template)
    tfive = five_points(plan.in_inner(plan.target), topo)
    ufive = five_points(to_core(plan.user_points), topo)
    image, identity = image_port(model), next(p.name for p in model.inputs if p.rank == 2)
    latent = np.random.default_rng(1).normal(size=(1, 512)).astype(np.float32)
    latent /= np.linalg.norm(latent)
    crop, alignment = align(tmpl, tfive, arcface_template(size), size)
    blob = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], np.float32) * np.float32(1 / 255)
    out = np.asarray(model.run({image: blob, identity: latent})[0], np.float32)

    def render() -> None:
        clock.reset()
        t0 = time.perf_counter()
        swapper.render(request)
        ms = (time.perf_counter() - t0) * 1e3
        rec.add(f"render_{size}", ms)
        rec.add(f"models_in_render_{size}", clock.seconds * 1e3)
        rec.add(f"overhead_{size}", ms - clock.seconds * 1e3)

    def convert() -> None:
        planar_blob(crop, 1 / 255, 0.0)

    return [
        rec.timed(f"swapper_run_{size}", lambda: model.run({image: blob, identity: latent})),
        render,
        rec.timed(f"five_points_{size}", lambda: (five_points(plan.in_inner(plan.target), topo),
                                                  five_points(to_core(plan.user_points), topo))),
        rec.timed(f"align_{size}", lambda: align(tmpl, tfive, arcface_template(size), size)),
        rec.timed(f"template_crop_112_{size}", lambda: arcface_112_from(crop, size)),
        rec.timed(f"user_crop_{size}", lambda: align(request.user, ufive, ARCFACE_112, 112)),
        rec.timed(f"convert_{size}", convert),
        rec.timed(f"paste_back_{size}", lambda: paste_back(out[0], alignment, plan.shape, (0.0, 1.0))),
    ]


def enhancer_steps(rec: Rounds, clock: ModelClock, enhancer: OnnxEnhancer, model: UserModel, request: RenderRequest,
                   rendered: RenderedFace, topo: Any) -> list[Callable[[], None]]:
    """One call each of: the enhancer's model run, enhance (with its model time and overhead), and each part."""
    plan, tmpl = request.plan, np.asarray(request.template)
    tfive = five_points(plan.in_inner(plan.target), topo)
    image = image_port(model)
    crop, alignment = align(tmpl, tfive, FFHQ_512, 512)
    blob = (crop.transpose(2, 0, 1)[None].astype(np.float32) - 127.5) / 127.5
    out = np.asarray(model.run({image: blob})[0], np.float32)
    laid, (x0, y0, x1, y1) = lay_back(out[0], alignment, plan.shape, (-1.0, 1.0))
    # enhance() mixes into the texture it is given: each call gets its own copy, made outside the clock

    def enhance() -> None:
        face = RenderedFace(texture=rendered.texture.copy(), coverage=rendered.coverage,
                            identity_mixed=rendered.identity_mixed)
        clock.reset()
        t0 = time.perf_counter()
        enhancer.enhance(request, face)
        ms = (time.perf_counter() - t0) * 1e3
        rec.add("enhancer_enhance", ms)
        rec.add("enhancer_models_in_enhance", clock.seconds * 1e3)
        rec.add("enhancer_overhead", ms - clock.seconds * 1e3)

    scratch = rendered.texture.copy()

    def composites() -> None:  # as enhance() does them: the face it is shown, then the restored one mixed in
        seen = np.array(tmpl)
        composite(rendered.texture, rendered.coverage, seen, (0, 0))
        weight = np.asarray(cv2.convertScaleAbs(np.ascontiguousarray(laid[..., 3]), alpha=enhancer.strength))
        np.minimum(weight, rendered.coverage[y0:y1, x0:x1], out=weight)
        composite(np.asarray(cv2.cvtColor(laid, cv2.COLOR_RGBA2RGB)), weight, scratch, (x0, y0))

    def convert() -> None:
        planar_blob(crop, 1 / 127.5, -1.0)

    return [
        rec.timed("enhancer_run", lambda: model.run({image: blob})),
        rec.timed("enhancer_convert", convert),
        enhance,
        rec.timed("enhancer_composite", composites),
        rec.timed("enhancer_five_points", lambda: five_points(plan.in_inner(plan.target), topo)),
        rec.timed("enhancer_align", lambda: align(tmpl, tfive, FFHQ_512, 512)),
        rec.timed("enhancer_paste_back", lambda: lay_back(out[0], alignment, plan.shape, (-1.0, 1.0))),
    ]


def default_fusion(template: np.ndarray, user: np.ndarray, tmeshes: Any, fuse_rounds: int) -> dict[str, Any]:
    """``fuse`` with the default options and with the mesh renderer spelled out, interleaved: medians, pixels."""
    spelled = FuseOptions(renderer="mesh")
    calls: dict[str, Callable[[], FusionResult]] = {
        "default": lambda: fuse(template, user, FuseOptions(), template_meshes=tmeshes),
        "explicit_mesh": lambda: fuse(template, user, spelled, template_meshes=tmeshes)}
    pictures = {name: fn().image for name, fn in calls.items()}  # warm-up, and the pictures compared
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(fuse_rounds):
        for name in (list(calls) if r % 2 == 0 else list(calls)[::-1]):
            t0 = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - t0) * 1e3)
    default_ms, explicit_ms = (statistics.median(times[n]) for n in calls)
    return {
        "default_fuse_ms": default_ms,
        "explicit_mesh_fuse_ms": explicit_ms,
        "explicit_over_default": explicit_ms / default_ms,
        "default_pixels_equal": bool(np.array_equal(pictures["default"], pictures["explicit_mesh"])),
        "default_options_equal": FuseOptions() == spelled,
        "fuse_rounds": fuse_rounds,
    }


def report(f: dict[str, Any], stream: Any) -> None:
    def p(*parts: Any) -> None:
        print(*parts, file=stream)

    w, h = f["face_region_px"]
    p(f"1920x1080 template, one face ({f['face_width_px']:.0f} px wide, region {w}x{h}), tiny graphs, "
      f"fuse_face_degree {f['fuse_face_degree']:g}, medians of {f['rounds']} rounds, ms")
    p(f"providers requested {f['providers_requested']}; sessions use "
      + ", ".join(f"{k} {v}" for k, v in f["providers_used"].items()))
    p(f"recogniser runs per render: {f['recogniser_runs_per_render']} (first render: "
      f"{f['recogniser_runs_first_render']}, the user's embedding is kept for the call); mesh renderer: render "
      f"{f['mesh_render_ms']:.2f}, warp stage {f['warp_stage_mesh_ms']:.2f}")
    p("")
    cols = ("swapper_run", "recogniser_run", "models_in_render", "render", "render_over_mesh", "warp_stage", "overhead",
            "overhead_direct", "five_points", "align", "template_crop_112", "user_crop", "convert",
            "paste_back", "other")
    p(f"{'swapper':>20} " + " ".join(f"{s:>8}" for s in f["swapper"]))
    for c in cols:
        p(f"{c:>20} " + " ".join(f"{sw[c + '_ms']:8.2f}" for sw in f["swapper"].values()))
    p("")
    e = f["enhancer"]
    p("enhancer (512):  " + ", ".join(f"{k[:-3]} {v:.2f}" for k, v in e.items()))
    p("")
    verdict = ", ".join(f"{k} {('pass' if ok else 'FAIL')}" for k, ok in f["bar_pass"].items())
    p(f"bar: overhead outside the models <= {f['bar_ms']:g} ms per face: {verdict}")
    p("")
    p(f"default fusion: fuse() default {f['default_fuse_ms']:.1f} ms, renderer='mesh' spelled out "
      f"{f['explicit_mesh_fuse_ms']:.1f} ms (x{f['explicit_over_default']:.3f}, median of {f['fuse_rounds']}); "
      f"pixels {'equal' if f['default_pixels_equal'] else 'DIFFERENT'}, options "
      f"{'equal' if f['default_options_equal'] else 'DIFFERENT'}")


if __name__ == "__main__":
    raise SystemExit(main())
