"""Fused-face realism on the sample photos, measured by models independent of fusionkit, beside the OpenCV recipe.

Every ordered pair of different people among the portrait samples (:data:`PEOPLE`) is fused by fusionkit (``ours``)
and by the OpenCV recipe of ``fusion_baseline.py`` (per-triangle warp + ``seamlessClone``, on fusionkit's meshes),
both in the same run. Each result ``F`` is judged against its template ``T`` and user photo ``U``.

Landmarks: dlib's 68 points (``shape_predictor_68_face_landmarks.dat``) on a dlib frontal face detection, found
separately on ``T``, ``U`` and ``F`` (near the known face box; the box itself when dlib detects nothing). IOD is the
inter-ocular distance, between the eye centres (means of points 36-41 and 42-47). Colour is CIELAB computed in float
(``cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)``: L* 0-100, a* b* in the usual units).

- ``identity``: distance of ``F``'s dlib face descriptor (128-d, the 5-point alignment dlib's network expects) to
  ``U``'s (``d_user``, passes < 0.6) and to ``T``'s (``d_tmpl``, passes > 0.6); a pair passes when both hold.
- ``sharp``: sharpness ratio, ``F``'s value / ``T``'s, each on its own landmarks: the grey image scaled so that
  IOD = 64 px, mean |Laplacian| inside the inner face (polygon of points 17-26, 16, 11-5, 0: brows, then down the
  jaw side and along the chin) eroded by 2 px.
- ``tone``: tone anomaly, the worst of three regions: brows (each brow's 5 points and the same points moved
  0.12 IOD towards the forehead, perpendicular to the eye line), eye surround (each eye contour scaled 1.9x about
  its centre, minus the eye) and lips (outer contour 48-59 minus inner 60-67). Per region, the median (a*, b*) in
  ``F``, and its distance to the segment between the region's medians in ``T`` and in ``U``.
- ``light``: light kept, mean |G(L*_F) - G(L*_T)| over the intersection of ``F``'s and ``T``'s inner faces
  (rasterised in image pixels, not eroded), G a Gaussian blur of sigma 0.25 IOD (``T``'s IOD).
- ``skin``: dE in (a*, b*) between the median of both cheeks pooled (points 1,2,3,4,48,31,40 and its mirror
  15,14,13,12,54,35,47) in ``F`` and in ``T``.

At the default options (``FuseOptions()``, with any ``--set`` overrides) it prints per-pair rows and a table of the
measures against their targets (ours marked pass/FAIL); for degrees 0/30/50/70/100 (face and profile alike) the
identity rows and per-degree medians, whether ``d_user`` grows with the degree, and whether 100/100 gives the template
back. ``--hard`` (on by default) adds, at the default options, harder users: ``small`` (downscaled so that the face's
IOD, fusionkit's outer-corner one, is about 28 px), ``soft`` (Gaussian blur of sigma 0.03 IOD, the eye-centre
one, then JPEG quality 40) and ``group`` (every portrait of
another person fused into each face of ``two_people.jpg``), in a second table. Identity and tone for the ``small``
and ``soft`` users are measured against the clean photo (the person, not the damage).

Contact sheets go to ``--out`` (default ``bench-out/quality/``): ``sheet_<face>-<profile>.png`` per degree setting
and ``sheet_hard.png``, each tile = template | ours | OpenCV recipe, cropped 1.6x the template face box. ``--pngs``
also writes every full-size result as before.

Needs the evaluation extra (``pip install -e ".[eval]"``: dlib-bin, face-recognition-models). Usage::

    .venv/bin/python benchmarks/quality.py                 # everything: default, degree sweep, hard users, sheets
    .venv/bin/python benchmarks/quality.py --quick         # default options only, no hard users, one sheet
    .venv/bin/python benchmarks/quality.py --set blend_mode=poisson colour_match=false --no-hard
    .venv/bin/python benchmarks/quality.py --json          # one JSON object on stdout (tables go to stderr)

Options: ``--degrees 0 30 50 70 100``, ``--default-only``, ``--hard/--no-hard``, ``--quick``, ``--out DIR``,
``--pngs``, ``--set NAME=VALUE ...`` (other FuseOptions fields), ``--json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import attrs
import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fusion_baseline import baseline_fuse

from fusionkit.domain.faces import FaceMesh
from fusionkit.domain.options import FuseOptions
from fusionkit.errors import FusionKitError
from fusionkit.fusion.api import Merge, fuse
from fusionkit.imaging.decode import load_image
from fusionkit.samples import sample_path
from fusionkit.vision import analyze, mesh_topology

cv2.setNumThreads(0)  # bench_core (imported by fusion_baseline) pins OpenCV to one thread for its timings

#: The portrait samples and who is in them.
PEOPLE = {"obama.jpg": "obama", "obama3.jpg": "obama", "biden.jpg": "biden", "astronaut.png": "collins"}
#: The group template (two faces: obama3 and biden, side by side).
GROUP = "two_people.jpg"

#: 68-point indices: the inner face (brows, then down the jaw side and along the chin), the cheeks, brows, eyes, lips.
INNER_FACE = [*range(17, 27), 16, 11, 10, 9, 8, 7, 6, 5, 0]
#: The second cheek is the first's mirror image (15-12 down the jaw): listed 12-15 it would cross itself (a bowtie).
CHEEKS = ([1, 2, 3, 4, 48, 31, 40], [15, 14, 13, 12, 54, 35, 47])
BROWS = (list(range(17, 22)), list(range(22, 27)))
EYES = (list(range(36, 42)), list(range(42, 48)))
LIPS_OUTER, LIPS_INNER = list(range(48, 60)), list(range(60, 68))

#: Measure constants.
SHARP_IOD = 64.0  # px: the scale the Laplacian is taken at
BROW_BAND = 0.12  # IOD
EYE_SURROUND = 1.9  # scale of the eye contour
LIGHT_SIGMA = 0.25  # IOD
IDENTITY_THRESHOLD = 0.6
#: Harder users.
SMALL_IOD = 28.0  # px, fusionkit's IOD (outer eye corners) of the downscaled user
SOFT_SIGMA = 0.03  # IOD
SOFT_JPEG = 40
#: dlib works on a crop around the face scaled so that the face box is about this many pixels.
DLIB_FACE_PX = 220
#: 100/100 gives the template back when d_tmpl stays under this.
TEMPLATE_BACK = 0.3
TILE_PX = 256

Box = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------------------- dlib judge


@dataclass(frozen=True)
class Face68:
    """dlib's view of one face: 68 landmarks in full-image pixels (pixel centres at integers), the descriptor."""

    points: np.ndarray  # (68, 2) float64
    descriptor: np.ndarray  # (128,)
    detected: bool  # False when dlib found no face near the box and the box was used

    @property
    def eyes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points[36:42].mean(axis=0), self.points[42:48].mean(axis=0)

    @property
    def iod(self) -> float:
        a, b = self.eyes
        return float(np.linalg.norm(b - a))


class Identity:
    """dlib's face detector, 68- and 5-point shape predictors and face recognition network (face-recognition-models)."""

    def __init__(self) -> None:
        import dlib  # the evaluation extra; never a runtime dependency

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("install the evaluation extra: pip install -e '.[eval]'")
        models = Path(next(iter(spec.submodule_search_locations))) / "models"  # found without importing (pkg_resources)
        self.detector = dlib.get_frontal_face_detector()
        self.shape68 = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self.shape5 = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.dlib = dlib

    def analyse(self, rgb: np.ndarray, near: Box) -> Face68:
        """The face nearest the box ``near`` (x0, y0, x1, y1): dlib runs on a crop around it, scaled so that the box
        is about :data:`DLIB_FACE_PX` pixels (faster on big photos, and small faces become detectable)."""
        x0, y0, x1, y1 = near
        size = max(x1 - x0, y1 - y0, 1.0)
        h, w = rgb.shape[:2]
        cx0, cy0 = max(int(x0 - 0.6 * size), 0), max(int(y0 - 0.6 * size), 0)
        cx1, cy1 = min(int(np.ceil(x1 + 0.6 * size)), w), min(int(np.ceil(y1 + 0.6 * size)), h)
        s = DLIB_FACE_PX / size
        crop = rgb[cy0:cy1, cx0:cx1]
        dw, dh = max(round((cx1 - cx0) * s), 1), max(round((cy1 - cy0) * s), 1)
        crop = cv2.resize(crop, (dw, dh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        sx, sy = dw / (cx1 - cx0), dh / (cy1 - cy0)
        crop = np.ascontiguousarray(crop)
        # the known box in crop pixels
        nb = ((x0 - cx0) * sx, (y0 - cy0) * sy, (x1 - cx0) * sx, (y1 - cy0) * sy)

        def overlap(d: Any) -> float:
            ix = max(0.0, min(d.right(), nb[2]) - max(d.left(), nb[0]))
            iy = max(0.0, min(d.bottom(), nb[3]) - max(d.top(), nb[1]))
            return float(ix * iy)

        dets = [d for d in self.detector(crop, 0) if overlap(d) > 0] or \
            [d for d in self.detector(crop, 1) if overlap(d) > 0]
        detected = bool(dets)
        det = max(dets, key=overlap) if dets else self.dlib.rectangle(*(round(v) for v in nb))
        shape = self.shape68(crop, det)
        pts = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        pts = (pts + 0.5) / [sx, sy] - 0.5 + [cx0, cy0]
        desc = np.array(self.net.compute_face_descriptor(crop, self.shape5(crop, det)))
        return Face68(points=pts, descriptor=desc, detected=detected)


# ------------------------------------------------------------------------------------------------------ measures


def poly_mask(shape: tuple[int, int], *polys: np.ndarray) -> np.ndarray:
    """Boolean mask of the union of polygons (pixel-index coordinates, sub-pixel precise)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(p) * 16).astype(np.int32) for p in polys], 255, cv2.LINE_8, 4)
    return mask > 0


def to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)


def roi_of(face: Face68, shape: tuple[int, ...], margin: float = 1.2) -> tuple[int, int, int, int]:
    """The landmarks' bounding box grown by ``margin`` IOD (room for the light measure's blur), clipped."""
    m = margin * face.iod
    x0, y0 = np.floor(face.points.min(axis=0) - m).astype(int)
    x1, y1 = np.ceil(face.points.max(axis=0) + m).astype(int) + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), shape[1]), min(int(y1), shape[0])


def sharpness(rgb: np.ndarray, face: Face68) -> float:
    """Mean |Laplacian| of the grey image scaled to IOD = 64 px, inside the inner face eroded by 2 px."""
    s = SHARP_IOD / face.iod
    poly = face.points[INNER_FACE]
    pad = 8 / s
    x0, y0 = (max(int(v), 0) for v in np.floor(poly.min(axis=0) - pad))
    x1, y1 = np.ceil(poly.max(axis=0) + pad).astype(int) + 1
    x1, y1 = min(int(x1), rgb.shape[1]), min(int(y1), rgb.shape[0])
    full = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    dw, dh = max(round((x1 - x0) * s), 1), max(round((y1 - y0) * s), 1)
    grey = cv2.resize(full, (dw, dh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    scaled = (poly - [x0, y0] + 0.5) * [dw / (x1 - x0), dh / (y1 - y0)] - 0.5
    mask = cv2.erode(poly_mask(grey.shape, scaled).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                                                 (5, 5))) > 0
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    return float(lap[mask].mean()) if mask.any() else float("nan")


def region_masks(face: Face68, shape: tuple[int, int], offset: tuple[int, int]) -> dict[str, np.ndarray]:
    """Masks of the tone regions and the cheeks in a frame whose top-left pixel is ``offset`` of the image."""
    p = face.points - offset
    a, b = face.eyes
    e = (b - a) / max(np.linalg.norm(b - a), 1e-6)
    up = np.array([e[1], -e[0]])  # perpendicular to the eye line, towards the forehead (y down)
    band = BROW_BAND * face.iod * up
    brows = [np.concatenate([p[idx], (p[idx] + band)[::-1]]) for idx in BROWS]
    eyes = [p[idx] for idx in EYES]
    surround = [q.mean(axis=0) + EYE_SURROUND * (q - q.mean(axis=0)) for q in eyes]
    return {
        "brows": poly_mask(shape, *brows),
        "eyes": poly_mask(shape, *surround) & ~poly_mask(shape, *eyes),
        "lips": poly_mask(shape, p[LIPS_OUTER]) & ~poly_mask(shape, p[LIPS_INNER]),
        "cheeks": poly_mask(shape, *(p[idx] for idx in CHEEKS)),
    }


def median_ab(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.median(lab[mask][:, 1:], axis=0) if mask.any() else np.full(2, np.nan)


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


@dataclass
class Reference:
    """A template face or a user photo, analysed once: dlib's face, the Lab medians of its regions, its sharpness,
    and (templates) the frame, Lab L* and inner-face mask the light measure compares against."""

    face: Face68
    medians: dict[str, np.ndarray]
    sharp: float
    roi: tuple[int, int, int, int]
    blurred_l: np.ndarray = field(repr=False)
    inner: np.ndarray = field(repr=False)


def reference(ident: Identity, rgb: np.ndarray, near: Box) -> Reference:
    face = ident.analyse(rgb, near)
    roi = roi_of(face, rgb.shape)
    x0, y0, x1, y1 = roi
    lab = to_lab(rgb[y0:y1, x0:x1])
    masks = region_masks(face, lab.shape[:2], (x0, y0))
    sigma = LIGHT_SIGMA * face.iod
    return Reference(face=face, medians={k: median_ab(lab, m) for k, m in masks.items()}, sharp=sharpness(rgb, face),
                     roi=roi, blurred_l=cv2.GaussianBlur(lab[..., 0], (0, 0), sigma),
                     inner=poly_mask(lab.shape[:2], face.points[INNER_FACE] - [x0, y0]))


def measure(ident: Identity, fused: np.ndarray, tref: Reference, uref: Reference, near: Box) -> dict[str, Any]:
    """Every measure of one fused picture against its template face and user photo."""
    face = ident.analyse(fused, near)
    x0, y0, x1, y1 = tref.roi  # F has the template's size and pose: measured in the template's frame
    lab = to_lab(fused[y0:y1, x0:x1])
    masks = region_masks(face, lab.shape[:2], (x0, y0))
    med = {k: median_ab(lab, m) for k, m in masks.items()}
    tone = {k: segment_distance(med[k], tref.medians[k], uref.medians[k]) for k in ("brows", "eyes", "lips")}
    inner = poly_mask(lab.shape[:2], face.points[INNER_FACE] - [x0, y0]) & tref.inner
    light_map = np.abs(cv2.GaussianBlur(lab[..., 0], (0, 0), LIGHT_SIGMA * tref.face.iod) - tref.blurred_l)
    d_user = float(np.linalg.norm(face.descriptor - uref.face.descriptor))
    d_tmpl = float(np.linalg.norm(face.descriptor - tref.face.descriptor))
    return {
        "d_user": d_user,
        "d_template": d_tmpl,
        "identity_pass": d_user < IDENTITY_THRESHOLD < d_tmpl,
        "sharpness_ratio": sharpness(fused, face) / tref.sharp,
        "tone_anomaly": max(tone.values()),
        "tone_worst_region": max(tone, key=lambda k: tone[k]),
        "tone_by_region": tone,
        "light_kept": float(light_map[inner].mean()) if inner.any() else float("nan"),
        "skin_de": float(np.linalg.norm(med["cheeks"] - tref.medians["cheeks"])),
        "dlib_detected": face.detected,
    }


# ------------------------------------------------------------------------------------------------------- summary


def _vals(rows: Sequence[dict[str, Any]], method: str, key: str) -> list[float]:
    return [float(r[method][key]) for r in rows if r[method] is not None and np.isfinite(r[method][key])]


def summarise(rows: Sequence[dict[str, Any]], method: str) -> dict[str, Any]:
    """Aggregates of one method's measures over rows (a failed fusion counts as an identity failure)."""
    def agg(key: str, fn: Callable[[list[float]], float]) -> float:
        v = _vals(rows, method, key)
        return fn(v) if v else float("nan")

    def worst(key: str, fn: Callable[..., Any]) -> str:
        """The pair (template<user) of the worst value, and for tone its region."""
        ok = [r for r in rows if r[method] is not None and np.isfinite(r[method][key])]
        if not ok:
            return ""
        r = fn(ok, key=lambda r: r[method][key])
        region = f" {r[method]['tone_worst_region']}" if key == "tone_anomaly" else ""
        return f"{r['template_label']}<{Path(r['user']).stem}{region}"

    return {
        "pairs": len(rows),
        "errors": sum(r[method] is None for r in rows),
        "identity_passes": sum(bool(r[method] and r[method]["identity_pass"]) for r in rows),
        "median_d_user": agg("d_user", statistics.median),
        "worst_d_user": agg("d_user", max),
        "min_d_template": agg("d_template", min),
        "median_d_template": agg("d_template", statistics.median),
        "median_sharpness_ratio": agg("sharpness_ratio", statistics.median),
        "worst_sharpness_ratio": agg("sharpness_ratio", min),
        "median_tone_anomaly": agg("tone_anomaly", statistics.median),
        "worst_tone_anomaly": agg("tone_anomaly", max),
        "median_light_kept": agg("light_kept", statistics.median),
        "worst_light_kept": agg("light_kept", max),
        "median_skin_de": agg("skin_de", statistics.median),
        "worst_skin_de": agg("skin_de", max),
        "worst_pair": {"d_user": worst("d_user", max), "sharpness_ratio": worst("sharpness_ratio", min),
                       "tone_anomaly": worst("tone_anomaly", max), "light_kept": worst("light_kept", max),
                       "skin_de": worst("skin_de", max)},
    }


def judged(s: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(measure, figures, meets the target) for one summary."""
    n, ok = s["pairs"], s["identity_passes"]
    err = f", {s['errors']} failed" if s["errors"] else ""
    w = s["worst_pair"]
    return [
        ("identity", f"{ok}/{n} pass{err}, median d_user {s['median_d_user']:.3f} (worst {s['worst_d_user']:.3f} "
                     f"{w['d_user']}; min d_tmpl {s['min_d_template']:.3f})", ok == n and s["median_d_user"] <= 0.35),
        ("sharpness ratio", f"median {s['median_sharpness_ratio']:.2f}, worst {s['worst_sharpness_ratio']:.2f} "
                            f"({w['sharpness_ratio']})",
         s["median_sharpness_ratio"] >= 0.90 and s["worst_sharpness_ratio"] >= 0.75),
        ("tone anomaly", f"worst {s['worst_tone_anomaly']:.2f} ({w['tone_anomaly']}), median "
                         f"{s['median_tone_anomaly']:.1f}", s["worst_tone_anomaly"] <= 5),
        ("light kept", f"worst {s['worst_light_kept']:.2f} ({w['light_kept']}), median {s['median_light_kept']:.1f}",
         s["worst_light_kept"] <= 5),
        ("skin dE", f"worst {s['worst_skin_de']:.2f} ({w['skin_de']}), median {s['median_skin_de']:.1f}",
         s["worst_skin_de"] <= 4),
    ]


TARGETS = {
    "identity": "every pair passes, median d_user <= 0.35",
    "sharpness ratio": "median >= 0.90, worst >= 0.75",
    "tone anomaly": "worst <= 5",
    "light kept": "worst <= 5",
    "skin dE": "worst <= 4",
}


def target_table(groups: Sequence[tuple[str, Sequence[dict[str, Any]]]], stream: TextIO) -> None:
    """The markdown table of the measures against their targets, one block of rows per group."""
    named = len(groups) > 1 or bool(groups[0][0])
    head = "| measure | " + ("set | " if named else "") + "ours | OpenCV recipe | target |"
    print(head, file=stream)
    print("|" + "---|" * (head.count(" | ") + 1), file=stream)
    for name, rows in groups:
        ours, base = judged(summarise(rows, "ours")), judged(summarise(rows, "baseline"))
        for (measure_name, o, passed), (_, b, _) in zip(ours, base, strict=True):
            label = "pass" if passed else "FAIL"
            print(f"| {measure_name} | " + (f"{name} | " if named else "") + f"{o} **{label}** | {b} | "
                  f"{TARGETS[measure_name]} |", file=stream)


def pair_table(rows: Sequence[dict[str, Any]], stream: TextIO, identity_only: bool = False) -> None:
    cols = [("d_user", "d_user", 7, ".3f"), ("d_template", "d_tmpl", 7, ".3f")]
    if not identity_only:
        cols += [("sharpness_ratio", "sharp", 6, ".2f"), ("tone_anomaly", "tone", 6, ".1f"),
                 ("light_kept", "light", 6, ".1f"), ("skin_de", "skin", 6, ".1f")]
    head = "".join(f"{c[1]:>{c[2]}}" for c in cols)
    print(f"{'set':<8}{'template':<17}{'user':<14}{'deg':>6} | {head} | {head}", file=stream)
    print(f"{'':<8}{'':<17}{'':<14}{'':>6} | {'ours':<{len(head)}} | OpenCV recipe", file=stream)

    def cells(m: dict[str, Any] | None) -> str:
        if m is None:
            return "".join(f"{'error':>{c[2]}}" if i == 0 else " " * c[2] for i, c in enumerate(cols))
        text = "".join(f"{m[c[0]]:{c[2] - 1}{c[3]}}{m['tone_worst_region'][0]}" if c[0] == "tone_anomaly"
                       else f"{m[c[0]]:{c[2]}{c[3]}}" for c in cols)
        return text + ("" if m["dlib_detected"] else "*")

    for r in rows:
        print(f"{r['set']:<8}{r['template_label']:<17}{r['user']:<14}{r['degrees']:>6} | {cells(r['ours'])} | "
              f"{cells(r['baseline'])}", file=stream)


# ------------------------------------------------------------------------------------------------ contact sheets


def face_crop(img: np.ndarray, box: Box) -> np.ndarray:
    """A square 1.6x the face box around its centre (padded grey outside the picture), TILE_PX a side."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = 0.8 * max(box[2] - box[0], box[3] - box[1])
    x0, y0, x1, y1 = round(cx - half), round(cy - half), round(cx + half), round(cy + half)
    h, w = img.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    src = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(64, 64, 64)) if pad else img
    crop = src[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    interp = cv2.INTER_AREA if crop.shape[0] > TILE_PX else cv2.INTER_CUBIC
    return cv2.resize(crop, (TILE_PX, TILE_PX), interpolation=interp)


def put_text(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.55) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def tile(template: np.ndarray, ours: np.ndarray | None, base: np.ndarray, box: Box, label: str) -> np.ndarray:
    panels = [face_crop(template, box), face_crop(ours, box) if ours is not None else
              np.full((TILE_PX, TILE_PX, 3), 32, np.uint8), face_crop(base, box)]
    for panel, name in zip(panels, ("template", "ours", "OpenCV recipe"), strict=True):
        put_text(panel, name, (6, TILE_PX - 8), 0.45)
    out = np.ascontiguousarray(np.hstack(panels))
    put_text(out, label, (6, 20))
    return out


def write_sheet(path: Path, tiles: Sequence[np.ndarray]) -> None:
    if not tiles:
        return
    cols = 2 if len(tiles) <= 12 else 3
    rows = -(-len(tiles) // cols)
    th, tw = tiles[0].shape[:2]
    sheet = np.full((rows * th + (rows - 1) * 4, cols * tw + (cols - 1) * 4, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * (th + 4):r * (th + 4) + th, c * (tw + 4):c * (tw + 4) + tw] = t
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


# ---------------------------------------------------------------------------------------------------------- main


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
        if isinstance(parsed, str) and parsed.replace(".", "", 1).isdigit():
            parsed = float(parsed) if "." in parsed else int(parsed)
        extra[name] = parsed
    return extra


def box_of(mesh: FaceMesh) -> Box:
    x0, y0, x1, y1 = (float(v) for v in mesh.face.box)
    return x0, y0, x1, y1


def soften(img: np.ndarray, iod: float) -> np.ndarray:
    """Gaussian blur of sigma 0.03 IOD (eye centres), then JPEG at quality 40 (a soft, compressed phone picture)."""
    blurred = cv2.GaussianBlur(img, (0, 0), SOFT_SIGMA * iod)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(blurred, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, SOFT_JPEG])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise RuntimeError("OpenCV could not round-trip a JPEG")
    return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))


def shrink(img: np.ndarray, iod: float) -> np.ndarray:
    """Downscaled so that the face's IOD (fusionkit's: outer eye corners) is about 28 px."""
    s = SMALL_IOD / iod
    h, w = img.shape[:2]
    return np.ascontiguousarray(cv2.resize(img, (max(round(w * s), 1), max(round(h * s), 1)),
                                           interpolation=cv2.INTER_AREA))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object (rows, summary); tables to stderr")
    parser.add_argument("--degrees", type=int, nargs="+", default=[0, 30, 50, 70, 100],
                        help="degree sweep, face and profile alike")
    parser.add_argument("--default-only", action="store_true", help="only the default degrees")
    parser.add_argument("--hard", action=argparse.BooleanOptionalAction, default=True,
                        help="also small, soft and group-photo users at the default options (default: on)")
    parser.add_argument("--quick", action="store_true",
                        help="default options only, no hard users, only the default contact sheet")
    parser.add_argument("--out", default="bench-out/quality", help="folder for the contact sheets")
    parser.add_argument("--pngs", action="store_true", help="also write every full-size result as a PNG")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="other FuseOptions fields, e.g. blend_mode=poisson colour_match=false")
    args = parser.parse_args(argv)
    if args.quick:
        args.default_only, args.hard = True, False
    t_start = time.perf_counter()
    stream = sys.stderr if args.json else sys.stdout
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ident = Identity()
    topo = mesh_topology()
    defaults = FuseOptions(**parse_set(args.set))
    default_deg = (defaults.fuse_face_degree, defaults.fuse_profile_degree)
    settings = [default_deg]
    if not args.default_only:
        settings += [(d, d) for d in args.degrees if (d, d) != default_deg]

    images = {name: load_image(sample_path(name)) for name in PEOPLE}
    meshes: dict[str, FaceMesh] = {name: analyze(img, model="auto")[0] for name, img in images.items()}
    refs = {name: reference(ident, images[name], box_of(meshes[name])) for name in PEOPLE}  # once each, T and U alike

    rows: list[dict[str, Any]] = []
    sheets: dict[str, list[np.ndarray]] = {}

    def run(set_name: str, template: np.ndarray, tmesh: FaceMesh, tlabel: str, tref: Reference, tmeshes: list[FaceMesh],
            tindex: int, user: np.ndarray, umesh: FaceMesh | None, uname: str, uref: Reference, fd: float,
            pd: float, sheet: str, tile_label: str) -> None:
        opts = attrs.evolve(defaults, fuse_face_degree=fd, fuse_profile_degree=pd)
        box = box_of(tmesh)
        row: dict[str, Any] = {"set": set_name, "template": tlabel.split("#")[0], "template_face": tindex,
                               "template_label": tlabel, "user": uname, "face_degree": fd, "profile_degree": pd,
                               "degrees": f"{fd:g}/{pd:g}", "error": None}
        try:
            ours: np.ndarray | None = fuse(template, Merge(image=user, template_face=tindex), opts,
                                           template_meshes=tmeshes).image
        except FusionKitError as exc:
            ours, row["error"] = None, f"{type(exc).__name__}: {exc}"
        base = baseline_fuse(template, tmesh, user, umesh, fd, pd, topo) if umesh is not None else template
        row["ours"] = measure(ident, ours, tref, uref, box) if ours is not None else None
        row["baseline"] = measure(ident, base, tref, uref, box) if umesh is not None else None
        rows.append(row)
        if sheet:
            sheets.setdefault(sheet, []).append(tile(template, ours, base, box, tile_label))
        if args.pngs:
            stem = f"{set_name}__{tlabel.replace('#', '-')}__{Path(uname).stem}__{fd:g}-{pd:g}"
            for label, img in (("ours", ours), ("baseline", base)):
                if img is not None:
                    cv2.imwrite(str(out / f"{stem}__{label}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))

    pairs = [(t, u) for t in PEOPLE for u in PEOPLE if PEOPLE[t] != PEOPLE[u]]
    for fd, pd in settings:
        sheet = f"sheet_{fd:g}-{pd:g}.png" if (not args.quick or (fd, pd) == default_deg) else ""
        for tname, uname in pairs:
            run("default" if (fd, pd) == default_deg else "sweep", images[tname], meshes[tname], Path(tname).stem,
                refs[tname], [meshes[tname]], 0, images[uname], meshes[uname], uname, refs[uname], fd, pd, sheet,
                f"{Path(tname).stem} < {Path(uname).stem}  {fd:g}/{pd:g}")

    fd, pd = default_deg
    if args.hard:
        for variant in ("small", "soft"):
            for uname in PEOPLE:
                if variant == "small":  # fusionkit's IOD (outer eye corners), as the engine sees the face
                    user = shrink(images[uname], meshes[uname].inter_ocular_distance)
                else:  # the measures' IOD (eye centres)
                    user = soften(images[uname], refs[uname].face.iod)
                found = analyze(user, model="auto")
                umesh = found[0] if found else None
                for tname, u2 in pairs:
                    if u2 != uname:
                        continue
                    run(variant, images[tname], meshes[tname], Path(tname).stem, refs[tname], [meshes[tname]], 0,
                        user, umesh, uname, refs[uname], fd, pd, "sheet_hard.png",
                        f"{variant}: {Path(tname).stem} < {Path(uname).stem} ({user.shape[1]}x{user.shape[0]})")
        gpath = sample_path(GROUP)
        if not gpath.exists():
            gpath = Path(__file__).resolve().parents[1] / ".." / "shared" / "faces" / GROUP
        group = load_image(gpath)
        gmeshes = analyze(group, model="auto")
        for i, gm in enumerate(gmeshes):
            gref = reference(ident, group, box_of(gm))
            dist = {n: float(np.linalg.norm(gref.face.descriptor - refs[n].face.descriptor)) for n in PEOPLE}
            who = PEOPLE[min(dist, key=lambda n: dist[n])]
            for uname in PEOPLE:
                if PEOPLE[uname] == who:
                    continue
                run("group", group, gm, f"{Path(GROUP).stem}#{i}", gref, gmeshes, i, images[uname], meshes[uname],
                    uname, refs[uname], fd, pd, "sheet_hard.png",
                    f"group: {who} (face {i}) < {Path(uname).stem}")

    # ---------------------------------------------------------------------------------------------- report
    default_rows = [r for r in rows if r["set"] == "default"]
    print(f"## Per pair, default options ({fd:g}/{pd:g}{', ' + ' '.join(args.set) if args.set else ''}); tone's "
          "letter = its worst region (brows, eyes, lips); * = dlib found no face in F, the known box was used",
          file=stream)
    pair_table(default_rows, stream)
    summary: dict[str, Any] = {"options": defaults.to_dict(), "default": {
        m: summarise(default_rows, m) for m in ("ours", "baseline")}}

    sweep: dict[str, Any] = {}
    if not args.default_only:
        print("\n## Degree sweep: identity per pair", file=stream)
        sweep_rows = [r for r in rows if r["set"] in ("default", "sweep")]
        pair_table([r for r in sweep_rows if r["set"] == "sweep"], stream, identity_only=True)
        print("\n## Degree sweep: medians", file=stream)
        keys = [("d_user", "d_user", ".3f"), ("d_template", "d_tmpl", ".3f"), ("sharpness_ratio", "sharp", ".2f"),
                ("tone_anomaly", "tone", ".1f"), ("light_kept", "light", ".1f"), ("skin_de", "skin", ".1f")]
        print("| degrees | " + " | ".join(f"ours {k[1]}" for k in keys) + " | "
              + " | ".join(f"base {k[1]}" for k in keys) + " |", file=stream)
        print("|---|" + "---|" * (2 * len(keys)), file=stream)
        for sfd, spd in sorted(settings):
            sel = [r for r in sweep_rows if (r["face_degree"], r["profile_degree"]) == (sfd, spd)]
            med = {m: {k[0]: statistics.median(_vals(sel, m, k[0]) or [float("nan")]) for k in keys}
                   for m in ("ours", "baseline")}
            sweep[f"{sfd:g}/{spd:g}"] = med
            print(f"| {sfd:g}/{spd:g} | " + " | ".join(f"{med['ours'][k[0]]:{k[2]}}" for k in keys) + " | "
                  + " | ".join(f"{med['baseline'][k[0]]:{k[2]}}" for k in keys) + " |", file=stream)
        degs = sorted(d for d in args.degrees)
        checks: dict[str, Any] = {}
        for m in ("ours", "baseline"):
            seq = [sweep[f"{d:g}/{d:g}"][m]["d_user"] for d in degs if f"{d:g}/{d:g}" in sweep]
            per_pair = 0
            for tname, uname in pairs:
                vals = [next(r[m]["d_user"] for r in sweep_rows if r["template"] == Path(tname).stem
                             and r["user"] == uname and r["face_degree"] == d and r["profile_degree"] == d)
                        for d in degs]
                per_pair += all(b >= a for a, b in itertools.pairwise(vals))
            full = [r[m]["d_template"] for r in sweep_rows if r["face_degree"] == 100 and r["profile_degree"] == 100]
            checks[m] = {"median_d_user_by_degree": dict(zip([f"{d:g}" for d in degs], seq, strict=True)),
                         "monotone_median": all(b >= a for a, b in itertools.pairwise(seq)),
                         "monotone_pairs": per_pair, "pairs": len(pairs),
                         "max_d_template_at_100": max(full) if full else None,
                         "template_back": bool(full) and max(full) <= TEMPLATE_BACK}
            c = checks[m]
            back = (f"100/100 max d_tmpl {c['max_d_template_at_100']:.3f} -> "
                    f"{'template back' if c['template_back'] else 'NOT the template'} (<= {TEMPLATE_BACK})"
                    if full else "100/100 not run")
            print(f"{m:>8}: d_user by degree " + " ".join(f"{d:g}:{v:.3f}" for d, v in zip(degs, seq, strict=True))
                  + f" -> {'monotone' if c['monotone_median'] else 'NOT monotone'} (median), {per_pair}/{len(pairs)}"
                  f" pairs monotone; {back}", file=stream)
        summary["sweep"] = {"medians": sweep, "checks": checks}

    print(f"\n## Default options ({fd:g}/{pd:g}), {len(default_rows)} portrait pairs", file=stream)
    target_table([("", default_rows)], stream)

    if args.hard:
        hard_rows = [r for r in rows if r["set"] in ("small", "soft", "group")]
        print("\n## Hard users, per pair (default options)", file=stream)
        pair_table(hard_rows, stream)
        for r in hard_rows:
            if r["error"]:
                print(f"  {r['set']} {r['template_label']} < {r['user']}: ours failed: {r['error']}", file=stream)
        print("\n## Hard users (default options)", file=stream)
        groups = [(v, [r for r in hard_rows if r["set"] == v]) for v in ("small", "soft", "group")]
        target_table(groups, stream)
        summary["hard"] = {v: {m: summarise(g, m) for m in ("ours", "baseline")} for v, g in groups}

    for name, tiles in sheets.items():
        write_sheet(out / name, tiles)
    elapsed = time.perf_counter() - t_start
    print(f"\ncontact sheets in {out}/: {', '.join(sheets)}; {elapsed:.0f} s", file=stream)
    summary["seconds"] = elapsed
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, default=_json_default))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
