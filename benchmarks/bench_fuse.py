"""End-to-end fusion latency at 1920x1080, by stage, against the OpenCV baseline in the same run.

Usage::

    .venv/bin/python benchmarks/bench_fuse.py [--json] [--repeats N]

Single thread (onnxruntime, OpenCV and BLAS pinned to one). The template is a 1920x1080 frame holding the
``obama.jpg`` sample (its face about 330 pixels wide); the user is ``biden.jpg``. Figures are medians in ms:

- ``fuse_cached_ms``: ``fusionkit.fuse`` with the template's analysis given (as studio materials have it): the
  user's detection and mesh, then the fusion;
- ``fuse_uncached_ms``: the same, analysing the template too;
- ``engine_ms``: the fusion alone (both meshes known), and ``baseline_ms``: the OpenCV recipe (per-triangle
  ``warpAffine`` + ``seamlessClone``, see ``fusion_baseline.py``) on the same meshes; ``engine_speedup`` is their
  ratio. ``baseline_roi_ms`` and ``baseline_roi_threads_ms``: the same recipe as a careful user writes it, on the
  face's region only, with OpenCV's threads off and on; ``engine_speedup_roi`` takes the faster;
- ``campaign_batch_ms``: one user photo (a JPEG file) into six copies of the template by ``fusionkit.fuse_many`` on
  one thread, which decodes and analyses a shared user photo once, and ``campaign_loop_ms``: the loop of
  ``fusionkit.fuse`` calls a user would otherwise write; ``campaign_speedup`` is their ratio;
- ``audience_batch_ms`` and ``audience_loop_ms``: the other way round, six user photos (arrays, each request's own)
  into one template given as a JPEG file, as an activity runs; ``fuse_many`` decodes the template and finds its
  faces once for the batch; ``audience_speedup`` is their ratio.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusion_baseline import baseline_fuse, baseline_fuse_roi  # noqa: E402

from fusionkit.domain.options import FuseOptions  # noqa: E402
from fusionkit.fusion.api import fuse  # noqa: E402
from fusionkit.fusion.batch import fuse_many  # noqa: E402
from fusionkit.fusion.engine import fuse_face  # noqa: E402
from fusionkit.imaging.decode import load_image  # noqa: E402
from fusionkit.imaging.encode import encode_image  # noqa: E402
from fusionkit.samples import sample_path  # noqa: E402
from fusionkit.vision import RuntimeOptions, analyze, mesh_topology  # noqa: E402

cv2.setNumThreads(1)


CAMPAIGN = 6  # requests of the one-user batch


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def template_1080p() -> np.ndarray:
    portrait = load_image(sample_path("obama.jpg"))
    scale = 1080 / portrait.shape[0]
    body = cv2.resize(portrait, (round(portrait.shape[1] * scale), 1080), interpolation=cv2.INTER_AREA)
    left = (1920 - body.shape[1]) // 2
    # replicated edges, not mirrored ones: a mirror would add half faces at the sides
    frame = cv2.copyMakeBorder(body, 0, 0, left, 1920 - body.shape[1] - left, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    stream = sys.stderr if args.json else sys.stdout
    runtime = RuntimeOptions(intra_op_threads=1, inter_op_threads=1)
    template = template_1080p()
    user = load_image(sample_path("biden.jpg"))
    tmeshes = analyze(template, model="auto", options=runtime)
    umesh = analyze(user, model="short", options=runtime)[0]
    topo = mesh_topology()
    opts = FuseOptions()

    import fusionkit.fusion.api as api_module

    original = api_module.analyze
    api_module.analyze = lambda image, **kw: original(image, **{**kw, "options": runtime})  # type: ignore[assignment]
    # One user (a JPEG file) into a batch of templates, as a campaign runs: fuse_many on one thread, which analyses
    # a shared user photo once, against the loop of fuse calls a user would otherwise write.
    campaign = [(template, sample_path("biden.jpg"))] * CAMPAIGN
    # Many users into one template file, as an activity runs: fuse_many decodes and analyses the template once.
    work = tempfile.TemporaryDirectory()
    template_file = Path(work.name) / "template.jpg"
    template_file.write_bytes(encode_image(template, "jpeg"))
    audience = [(template_file, load_image(sample_path(name)))
                for name in ("biden.jpg", "obama3.jpg") * (CAMPAIGN // 2)]
    try:
        cached = median_ms(lambda: fuse(template, user, opts, template_meshes=tmeshes), args.repeats)
        uncached = median_ms(lambda: fuse(template, user, opts), args.repeats)
        loop_ms = median_ms(lambda: [fuse(t, u, opts) for t, u in campaign], max(3, args.repeats // 3))
        batch_ms = median_ms(lambda: list(fuse_many(campaign, opts, workers=1)), max(3, args.repeats // 3))
        audience_loop_ms = median_ms(lambda: [fuse(t, u, opts) for t, u in audience], max(3, args.repeats // 3))
        audience_batch_ms = median_ms(lambda: list(fuse_many(audience, opts, workers=1)), max(3, args.repeats // 3))
    finally:
        api_module.analyze = original  # type: ignore[assignment]
        work.cleanup()
    reports = []

    def engine() -> None:
        canvas = template.copy()
        reports.append(fuse_face(canvas, tmeshes[0], user, umesh, opts, topo))

    engine_ms = median_ms(engine, args.repeats)
    base_ms = median_ms(lambda: baseline_fuse(template, tmeshes[0], user, umesh, opts.fuse_face_degree,
                                              opts.fuse_profile_degree, topo), args.repeats)

    def careful() -> None:
        baseline_fuse_roi(template, tmeshes[0], user, umesh, opts.fuse_face_degree, opts.fuse_profile_degree, topo)

    roi_ms = median_ms(careful, args.repeats)
    cv2.setNumThreads(-1)  # OpenCV's own threads on: the careful user's default
    try:
        roi_threads_ms = median_ms(careful, args.repeats)
    finally:
        cv2.setNumThreads(1)
    stages = {k: statistics.median(r.timings_ms.get(k, 0.0) for r in reports) for k in reports[-1].timings_ms}
    analysis_ms = median_ms(lambda: analyze(user, model="short", options=runtime), args.repeats)
    figures: dict[str, Any] = {
        "fuse_cached_ms": cached,
        "fuse_uncached_ms": uncached,
        "user_analysis_ms": analysis_ms,
        "engine_ms": engine_ms,
        "baseline_ms": base_ms,
        "engine_speedup": base_ms / engine_ms,
        "baseline_roi_ms": roi_ms,
        "baseline_roi_threads_ms": roi_threads_ms,
        "engine_speedup_roi": min(roi_ms, roi_threads_ms) / engine_ms,
        "campaign_requests": CAMPAIGN,
        "campaign_loop_ms": loop_ms,
        "campaign_batch_ms": batch_ms,
        "campaign_speedup": loop_ms / batch_ms,
        "audience_loop_ms": audience_loop_ms,
        "audience_batch_ms": audience_batch_ms,
        "audience_speedup": audience_loop_ms / audience_batch_ms,
        "stages_ms": stages,
        "face_width_px": float(tmeshes[0].face.width),
        "template": "1920x1080",
    }
    print(f"1920x1080 template, one face ({figures['face_width_px']:.0f} px wide), single thread, median of "
          f"{args.repeats}:", file=stream)
    print(f"  fuse, template analysis cached : {cached:7.1f} ms", file=stream)
    print(f"  fuse, template analysed too    : {uncached:7.1f} ms", file=stream)
    print(f"  user detection + mesh          : {analysis_ms:7.1f} ms", file=stream)
    print(f"  engine alone (meshes known)    : {engine_ms:7.1f} ms   by stage: "
          + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()), file=stream)
    print(f"  OpenCV baseline, same meshes   : {base_ms:7.1f} ms   -> engine {base_ms / engine_ms:.1f}x faster",
          file=stream)
    print(f"  the same on the face's region  : {roi_ms:7.1f} ms, {roi_threads_ms:.1f} ms with OpenCV's threads on   "
          f"-> engine {figures['engine_speedup_roi']:.1f}x faster", file=stream)
    print(f"  one user file, {CAMPAIGN} templates : fuse_many {batch_ms:7.1f} ms, a loop of fuse calls "
          f"{loop_ms:.1f} ms   -> {loop_ms / batch_ms:.2f}x faster", file=stream)
    print(f"  {CAMPAIGN} users, one template file : fuse_many {audience_batch_ms:7.1f} ms, a loop of fuse calls "
          f"{audience_loop_ms:.1f} ms   -> {audience_loop_ms / audience_batch_ms:.2f}x faster", file=stream)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
