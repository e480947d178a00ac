"""The studio on local disk: listing and getting among 10,000 materials, sweeping 10,000 expired results, and
what ``studio.fuse`` adds to the functional ``fusionkit.fuse``.

Usage::

    .venv/bin/python benchmarks/bench_studio.py [--json] [--materials N] [--results N] [--repeats N] [--dir PATH]
        [--encryption both|plain|encrypted]

Each figure is measured on a plain studio (``encryption=None``) and on one encrypted at rest (the default: AES-GCM
under a data key per material, a master key file), in the same run; the bars hold for both.

Figures (the bar from issue 6 in brackets):

- ``list_page_ms``: ``studio.materials.list(activity, limit=20, offset=...)`` with N materials in the activity,
  the median over offsets spread across the listing [<= 50 ms];
- ``get_material_ms``: ``studio.materials.get(id)`` of a random one of them, median [<= 5 ms];
- ``sweep_10k_s``: ``studio.sweep()`` removing N expired results created over three days (so one day folder is
  only partly expired and is swept result by result) [<= 5 s];
- ``upload_min_ms``: ``studio.materials.upload`` of a real picture (decoded, faces found, stored), minimum;
- ``fuse_overhead_ms``: what ``studio.fuse(..., response="array")`` spends outside the functional
  ``fusionkit.fuse`` it calls (reading the activity and material documents, the cached template, ids, the request
  log line), median over calls, measured inside each call so that the noise of the 30-100 ms fusion cancels
  [<= 5 ms]; ``fuse_overhead_interleaved_ms`` is the cruder minimum of ``studio.fuse`` minus the minimum of
  ``fusionkit.fuse(template_array, user, template_meshes=...)``, calls interleaved (noisy on a shared machine).

The N materials are one real upload (obama.jpg, faces found by the models) copied N times by writing their
documents and listing markers directly, as a studio that had received N uploads would hold them: running face
detection 10,000 times would measure the models, not the studio. Minimums and medians, never means: the machine is
shared and timings are noisy.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from typing import Any  # noqa: E402

import fusionkit  # noqa: E402
from fusionkit.domain import ids  # noqa: E402
from fusionkit.fusion import api as fusion_api  # noqa: E402
from fusionkit.imaging.decode import load_image  # noqa: E402
from fusionkit.samples import sample_path  # noqa: E402
from fusionkit.storage import BlobStore, LocalStore, keys  # noqa: E402
from fusionkit.storage.crypto import EncryptedStore, LocalKeyFile  # noqa: E402


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed_materials(store: BlobStore, template_doc: str, template_id: str, activity_id: str, n: int,
                   start: datetime) -> list[str]:
    """Write ``n`` copies of a material document (new ids) and their listing markers straight to the store."""
    out = []
    for i in range(n):
        mid = ids.new_id(ids.MATERIAL, start + timedelta(milliseconds=i))
        store.write(keys.material_doc(mid), template_doc.replace(template_id, mid).encode())
        store.write(keys.material_marker(activity_id, mid), b"")
        out.append(mid)
    return out


def seed_results(store: BlobStore, template: Any, n: int, start: datetime, span: timedelta) -> None:
    """Write ``n`` results (document and a small blob) created uniformly over ``span`` from ``start``."""
    blob = b"\xff\xd8\xff" + b"\x00" * 2048
    for i in range(n):
        created = start + span * (i / n)
        rid = ids.new_id(ids.RESULT, created)
        doc = fusionkit.domain.FusedResult(
            id=rid, activity_id=template.activity_id, material_id=template.id, created=created,
            expires=created + timedelta(days=7), format="jpeg", size=len(blob), url="file:///x")
        store.write(keys.result_blob(created.date(), template.id, rid, "jpeg"), blob)
        store.write(keys.result_doc(created.date(), template.id, rid), doc.to_json().encode())


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def run(args: argparse.Namespace, encrypted: bool) -> dict[str, Any]:
    """The figures of one studio on local disk, plain or encrypted."""
    work = tempfile.mkdtemp(prefix="bench-studio-", dir=args.dir)
    try:
        clock = Clock(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
        provider = LocalKeyFile(os.path.join(work, "master.key")) if encrypted else None
        studio = fusionkit.open(os.path.join(work, "studio"), clock=clock, encryption=provider, sweep_every=None)
        activity = studio.activities.create("bench")
        material = studio.materials.upload(activity.id, sample_path("obama.jpg"))
        doc = material.to_json()
        # Seeded as the studio writes: through the same encryption when it encrypts.
        raw: BlobStore = LocalStore(os.path.join(work, "studio"), fsync=False)
        seed: BlobStore = EncryptedStore(raw, provider, keys.scope_of) if provider is not None else raw

        t0 = time.perf_counter()
        mids = seed_materials(seed, doc, material.id, activity.id, args.materials - 1, clock.now + timedelta(seconds=1))
        seed_s = time.perf_counter() - t0
        total = studio.materials.list(activity.id, limit=1).total
        assert total == args.materials, total

        offsets = [0, total // 4, total // 2, 3 * total // 4, max(0, total - 20)]
        page_ms = []
        for _ in range(args.repeats):
            for off in offsets:
                page_ms.append(timed(lambda off=off: studio.materials.list(activity.id, limit=20, offset=off)))
        rng = random.Random(0)
        get_ms = [timed(lambda: studio.materials.get(rng.choice(mids))) for _ in range(args.repeats * 20)]

        # Fusion overhead: the same template, meshes and user image through both APIs, interleaved.
        template = load_image(sample_path("obama.jpg"))
        user = load_image(sample_path("biden.jpg"))
        meshes = [f.mesh for f in material.faces]
        studio.fuse(activity.id, material.id, user, response="array")  # warm the models and the template cache
        functional_ms, studio_ms, inner_ms = [], [], []
        real_fuse = fusion_api.fuse

        def timed_fuse(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            out = real_fuse(*a, **k)
            inner_ms.append((time.perf_counter() - t0) * 1e3)
            return out

        for _ in range(args.repeats * 2):
            functional_ms.append(timed(lambda: real_fuse(template, user, template_meshes=meshes)))
            fusion_api.fuse = timed_fuse
            try:
                studio_ms.append(timed(lambda: studio.fuse(activity.id, material.id, user, response="array")))
            finally:
                fusion_api.fuse = real_fuse
        own_ms = [outer - inner for outer, inner in zip(studio_ms, inner_ms, strict=True)]

        # Upload: a real picture, its faces found, stored (encrypted or not); the minimum over repeats.
        photo = sample_path("obama.jpg").read_bytes()
        upload_ms = [timed(lambda: studio.materials.upload(activity.id, photo)) for _ in range(args.repeats)]

        # Sweep: results created over three days; the clock then stands 7 days + 1 s after the last one.
        start = clock.now
        seed_results(seed, material, args.results, start, timedelta(days=3))
        clock.now = start + timedelta(days=10, seconds=1)
        t0 = time.perf_counter()
        counts = studio.sweep()
        sweep_s = time.perf_counter() - t0
        assert counts["results"] == args.results, counts

        figures = {
            "materials": args.materials,
            "seed_materials_s": round(seed_s, 2),
            "list_page_ms": round(statistics.median(page_ms), 2),
            "list_page_min_ms": round(min(page_ms), 2),
            "get_material_ms": round(statistics.median(get_ms), 3),
            "get_material_min_ms": round(min(get_ms), 3),
            "results": args.results,
            "sweep_10k_s": round(sweep_s, 3),
            "functional_fuse_min_ms": round(min(functional_ms), 1),
            "studio_fuse_min_ms": round(min(studio_ms), 1),
            "fuse_overhead_ms": round(statistics.median(own_ms), 2),
            "fuse_overhead_min_ms": round(min(own_ms), 2),
            "fuse_overhead_interleaved_ms": round(min(studio_ms) - min(functional_ms), 2),
            "upload_min_ms": round(min(upload_ms), 1),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


BARS = {"list_page_ms": 50.0, "get_material_ms": 5.0, "sweep_10k_s": 5.0, "fuse_overhead_ms": 5.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--materials", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", default=None, help="a local directory to work in (default: a temporary one)")
    parser.add_argument("--encryption", choices=("both", "plain", "encrypted"), default="both")
    args = parser.parse_args()
    kinds = {"both": ("plain", "encrypted"), "plain": ("plain",), "encrypted": ("encrypted",)}[args.encryption]
    figures = {kind: run(args, kind == "encrypted") for kind in kinds}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{'figure':30s} " + " ".join(f"{k:>12s}" for k in kinds) + ("   encrypted/plain   bar" if len(kinds) == 2
                                                                            else "   bar"))
    for name in figures[kinds[0]]:
        values = [figures[k][name] for k in kinds]
        line = f"{name:30s} " + " ".join(f"{v!s:>12s}" for v in values)
        if len(kinds) == 2 and isinstance(values[0], float) and values[0] > 0:
            line += f"   {values[1] / values[0]:15.2f}"
        if name in BARS:
            line += f"   <= {BARS[name]:g}: {'ok' if all(v <= BARS[name] for v in values) else 'OVER'}"
        print(line)


if __name__ == "__main__":
    main()
