"""Make the documentation's pictures from the bundled sample faces (never drawn by hand).

    python tools/make_doc_pictures.py [--out docs/images]

Writes ``fusion.jpg`` (template, user, result) and ``degrees.jpg`` (the face degree, then the profile degree, at
0, 30, 50, 70 and 100, the other one at its default). Fusion is deterministic, so rerunning gives the same pictures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

import fusionkit
from fusionkit.domain.options import DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE
from fusionkit.samples import sample_path

ROOT = Path(__file__).resolve().parents[1]
DEGREES = (0, 30, 50, 70, 100)
TILE = 180  # pixels, the side of one face tile


def _tile(image: NDArray[np.uint8], box: tuple[int, int, int, int], caption: str) -> NDArray[np.uint8]:
    x0, y0, x1, y1 = box
    crop = image[max(y0, 0):y1, max(x0, 0):x1]
    tile = cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA)
    band = np.full((24, TILE, 3), 255, np.uint8)
    cv2.putText(band, caption, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def _face_box(image: NDArray[np.uint8]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (float(v) for v in fusionkit.detect_faces(image)[0].box)
    side = max(x1 - x0, y1 - y0) * 1.7
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.05 * side
    return round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2)


def _write(path: Path, rgb: NDArray[np.uint8]) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    path.write_bytes(buf.tobytes())
    print(f"wrote {path}")


def make(out: Path) -> list[Path]:
    """Write the pictures into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    template = fusionkit.load_image(sample_path("obama.jpg"))
    user = fusionkit.load_image(sample_path("biden.jpg"))
    box = _face_box(template)
    no_label = fusionkit.LabelOptions(enabled=False)

    def fused(face: float, profile: float) -> NDArray[np.uint8]:
        opts = fusionkit.FuseOptions(fuse_face_degree=face, fuse_profile_degree=profile, label=no_label)
        return fusionkit.fuse(template, user, opts).image

    default = fused(DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE)
    fusion = np.hstack([_tile(template, box, "template"), _tile(user, _face_box(user), "user"),
                        _tile(default, box, f"fused (face {DEFAULT_FACE_DEGREE}, profile {DEFAULT_PROFILE_DEGREE})")])
    rows = [np.hstack([_tile(fused(d, DEFAULT_PROFILE_DEGREE), box, f"face degree {d}") for d in DEGREES]),
            np.hstack([_tile(fused(DEFAULT_FACE_DEGREE, d), box, f"profile degree {d}") for d in DEGREES])]
    paths = [out / "fusion.jpg", out / "degrees.jpg"]
    _write(paths[0], fusion)
    _write(paths[1], np.vstack(rows))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the pictures")
    make(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
