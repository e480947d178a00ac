"""Fusion quality on the sample photos, measured, beside the OpenCV baseline.

For every ordered pair of different people among the portrait samples and for degrees 0/30/50/70/100 (face and
profile degree alike) it writes the fused PNGs (ours and the baseline's) to ``bench-out/quality/`` and prints:

- ``d_user`` / ``d_tmpl``: identity distance of the fused face to the user and to the template person, by an
  independent model (dlib's 128-d face recognition network; < 0.6 means "same person");
- ``lmk%``: landmark error of the fused face (fusionkit's mesh of the result) against the target mesh, as a
  percentage of the inter-ocular distance;
- ``seam``: mean absolute step between 4-neighbours straddling the target face oval's boundary, in grey levels
  (the lower, the less visible the edge; the template's own value is the floor).

Needs the evaluation extra (``pip install -e ".[eval]"``: dlib-bin, face-recognition-models). Usage::

    .venv/bin/python benchmarks/quality.py [--json] [--degrees 0 30 50 70 100] [--out bench-out/quality]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import attrs
import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusion_baseline import baseline_fuse, target_for

from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.api import fuse
from fusionkit.imaging.decode import load_image
from fusionkit.samples import sample_path
from fusionkit.vision import analyze, mesh_topology

#: The portrait samples and who is in them.
PEOPLE = {"obama.jpg": "obama", "obama3.jpg": "obama", "biden.jpg": "biden", "astronaut.png": "collins"}


class Identity:
    """dlib's face recognition network (the models come from the face-recognition-models package)."""

    def __init__(self) -> None:
        import dlib  # the evaluation extra; never a runtime dependency

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("install the evaluation extra: pip install -e '.[eval]'")
        models = Path(next(iter(spec.submodule_search_locations))) / "models"  # found without importing (pkg_resources)
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.dlib = dlib

    def descriptor(self, rgb: np.ndarray, near: tuple[float, float, float, float] | None = None) -> np.ndarray:
        """The 128-d descriptor of the face nearest ``near`` (a box), or of the largest face."""
        rgb = np.ascontiguousarray(rgb)
        dets = list(self.detector(rgb, 1)) or list(self.detector(rgb, 2))
        if not dets:
            x0, y0, x1, y1 = near if near is not None else (0, 0, rgb.shape[1], rgb.shape[0])
            dets = [self.dlib.rectangle(int(x0), int(y0), int(x1), int(y1))]

        def score(d: Any) -> float:
            if near is None:
                return float(d.width() * d.height())
            ix = max(0, min(d.right(), near[2]) - max(d.left(), near[0]))
            iy = max(0, min(d.bottom(), near[3]) - max(d.top(), near[1]))
            return float(ix * iy)

        det = max(dets, key=score)
        return np.array(self.net.compute_face_descriptor(rgb, self.shape(rgb, det)))


def seam_score(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute step |f_p - f_q| over 4-neighbour pairs straddling the boundary of ``mask >= 128``."""
    f = img.astype(np.float32)
    om = mask >= 128
    steps = [np.abs(f[:, :-1] - f[:, 1:])[om[:, :-1] != om[:, 1:]], np.abs(f[:-1] - f[1:])[om[:-1] != om[1:]]]
    return float(np.concatenate([s.ravel() for s in steps]).mean())


def landmark_error(result: np.ndarray, target: np.ndarray, box: tuple[float, ...]) -> float:
    """Mean distance of the result's mesh to the target mesh, in % of the target's inter-ocular distance."""
    meshes = analyze(result, model="auto")
    if not meshes:
        return float("nan")
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    mesh = min(meshes, key=lambda m: abs(m.face.center[0] - cx) + abs(m.face.center[1] - cy))
    iod = float(np.linalg.norm(target[263] - target[33]))
    return float(np.linalg.norm(mesh.points[:, :2] - target[:468], axis=1).mean() / iod * 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the table as one JSON object")
    parser.add_argument("--degrees", type=int, nargs="+", default=[0, 30, 50, 70, 100])
    parser.add_argument("--default-only", action="store_true", help="only the default degrees")
    parser.add_argument("--out", default="bench-out/quality", help="folder for the fused PNGs")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="other FuseOptions fields, e.g. blend_mode=multiband colour_match=false")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ident = Identity()
    topo = mesh_topology()
    images = {name: load_image(sample_path(name)) for name in PEOPLE}
    meshes = {name: analyze(img, model="auto")[0] for name, img in images.items()}
    refs = {name: ident.descriptor(img) for name, img in images.items()}
    extra: dict[str, Any] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
        if isinstance(parsed, str) and parsed.replace(".", "", 1).isdigit():
            parsed = float(parsed) if "." in parsed else int(parsed)
        extra[name] = parsed
    defaults = FuseOptions(**extra)
    settings = [(defaults.fuse_face_degree, defaults.fuse_profile_degree)]
    if not args.default_only:
        settings += [(d, d) for d in args.degrees]
    rows: list[dict[str, Any]] = []
    stream = sys.stderr if args.json else sys.stdout
    print(f"{'template':<14}{'user':<14}{'face/prof':>10} | {'d_user':>7}{'d_tmpl':>7}{'lmk%':>6}{'seam':>6} | "
          f"{'base d_u':>8}{'d_t':>6}{'lmk%':>6}{'seam':>6}", file=stream)
    for tname, tperson in PEOPLE.items():
        for uname, uperson in PEOPLE.items():
            if tperson == uperson:
                continue
            template, user = images[tname], images[uname]
            box = tuple(float(v) for v in meshes[tname].face.box)
            for fd, pd in settings:
                opts = attrs.evolve(defaults, fuse_face_degree=fd, fuse_profile_degree=pd)
                ours = fuse(template, user, opts, template_meshes=[meshes[tname]]).image
                base = baseline_fuse(template, meshes[tname], user, meshes[uname], fd, pd, topo)
                _, _, target = target_for(meshes[tname], meshes[uname], fd, pd, topo)
                oval = np.zeros(template.shape[:2], np.uint8)
                cv2.fillPoly(oval, [np.round((target[topo.region("face_oval")] - 0.5) * 16).astype(np.int32)], 255,
                             cv2.LINE_8, 4)
                row: dict[str, Any] = {"template": tname, "user": uname, "face_degree": fd, "profile_degree": pd}
                for label, img in (("ours", ours), ("baseline", base)):
                    d = ident.descriptor(img, box)
                    row[label] = {
                        "d_user": float(np.linalg.norm(d - refs[uname])),
                        "d_template": float(np.linalg.norm(d - refs[tname])),
                        "landmark_error_pct": landmark_error(img, target, box),
                        "seam": seam_score(img, oval),
                    }
                    stem = f"{Path(tname).stem}__{Path(uname).stem}__{fd:g}-{pd:g}__{label}.png"
                    cv2.imwrite(str(out / stem), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                row["template_seam"] = seam_score(template, oval)
                rows.append(row)
                o, b = row["ours"], row["baseline"]
                print(f"{tname:<14}{uname:<14}{f'{fd:g}/{pd:g}':>10} | {o['d_user']:7.3f}{o['d_template']:7.3f}"
                      f"{o['landmark_error_pct']:6.1f}{o['seam']:6.2f} | {b['d_user']:8.3f}{b['d_template']:6.3f}"
                      f"{b['landmark_error_pct']:6.1f}{b['seam']:6.2f}", file=stream)
    summary: dict[str, Any] = {}
    for fd, pd in sorted(set(settings)):
        sel = [r for r in rows if r["face_degree"] == fd and r["profile_degree"] == pd]
        key = f"{fd:g}/{pd:g}"
        summary[key] = {
            m: {
                "median_d_user": statistics.median(r[m]["d_user"] for r in sel),
                "worst_d_user": max(r[m]["d_user"] for r in sel),
                "min_d_template": min(r[m]["d_template"] for r in sel),
                "median_landmark_error_pct": statistics.median(r[m]["landmark_error_pct"] for r in sel),
                "median_seam": statistics.median(r[m]["seam"] for r in sel),
            }
            for m in ("ours", "baseline")
        }
        s = summary[key]
        print(f"degrees {key:>7}: ours median d_user {s['ours']['median_d_user']:.3f} (worst "
              f"{s['ours']['worst_d_user']:.3f}), min d_tmpl {s['ours']['min_d_template']:.3f}, lmk "
              f"{s['ours']['median_landmark_error_pct']:.1f}%, seam {s['ours']['median_seam']:.2f} | baseline "
              f"d_user {s['baseline']['median_d_user']:.3f}, seam {s['baseline']['median_seam']:.2f}", file=stream)
    print(f"PNGs in {out}/", file=stream)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
