"""Write docs/notebooks/quickstart.ipynb (without outputs) from the cells below.

    python tools/make_quickstart.py

Edit the cells here, not in the notebook; tests/test_notebook.py executes the notebook and checks that it matches.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "quickstart.ipynb"

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
# fusionkit quickstart

Find faces, fuse a face into a template, compare fusion degrees, and keep templates and results in a studio.
Everything runs on this machine, on the sample photos that ship with fusionkit."""),
    ("code", """\
import cv2
import numpy as np
from IPython.display import Image

import fusionkit
from fusionkit.samples import sample_path


def show(rgb: np.ndarray, width: int = 900) -> Image:
    \"\"\"An RGB array as a PNG for the notebook, scaled to ``width`` pixels.\"\"\"
    scale = width / rgb.shape[1]
    small = cv2.resize(rgb, (width, round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return Image(data=cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))[1].tobytes())"""),
    ("markdown", """\
## Find the faces

`detect_faces` gives boxes and scores, largest face first; `analyze` adds the 468-point mesh of each face."""),
    ("code", """\
group = fusionkit.load_image(sample_path("two_people.jpg"))
faces = fusionkit.detect_faces(group, model="auto")
for i, face in enumerate(faces):
    print(i, np.round(face.box), round(face.score, 2))
meshes = fusionkit.analyze(group, model="auto")
assert len(meshes) == len(faces) == 2 and meshes[0].points.shape == (468, 3)"""),
    ("markdown", """\
## Fuse a face

`fuse(template, user)` puts the user's face into the template's largest face. The result carries the picture,
the timings and `save()`, which writes the file whole or not at all."""),
    ("code", """\
result = fusionkit.fuse(sample_path("obama.jpg"), sample_path("biden.jpg"))
print({stage: round(ms) for stage, ms in result.timings_ms.items()})
show(result.image, 400)"""),
    ("markdown", """\
## Compare degrees

Degrees run 0-100, higher = closer to the template: `fuse_face_degree` for the eyes, brows, nose and mouth,
`fuse_profile_degree` for the outline and jaw. Here both move together, left to right 0, 30, 50, 70 and 100; the
label is off to see the faces."""),
    ("code", """\
template = fusionkit.load_image(sample_path("obama.jpg"))
box = fusionkit.detect_faces(template)[0].box
x0, y0, x1, y1 = (int(v) for v in box)
pad = (x1 - x0) // 3
crops = []
for degree in (0, 30, 50, 70, 100):
    opts = fusionkit.FuseOptions(fuse_face_degree=degree, fuse_profile_degree=degree,
                                 label=fusionkit.LabelOptions(enabled=False))
    fused = fusionkit.fuse(template, sample_path("biden.jpg"), opts).image
    crops.append(fused[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad])
grid = np.hstack(crops)
assert grid.shape[1] == 5 * crops[0].shape[1]
show(grid)"""),
    ("markdown", """\
## A studio

A studio keeps *activities* and their *materials* (templates whose faces are found once, at upload), stores
results that expire, and logs every request. `memory://` keeps it in memory; give a folder or any fsspec URL to
keep it. The clock is set by hand here to show retention."""),
    ("code", """\
from datetime import datetime, timedelta, timezone

now = [datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)]
studio = fusionkit.open("memory://quickstart", clock=lambda: now[0])
activity = studio.activities.create("spring campaign", fuse_face_degree=30)
material = studio.materials.upload(activity.id, sample_path("two_people.jpg"))
print(material.id, material.face_ids)"""),
    ("code", """\
merges = [fusionkit.Merge(image=sample_path("obama.jpg"), template_face=material.face_ids[0]),
          fusionkit.Merge(image=sample_path("astronaut.png"), template_face=material.face_ids[1])]
stored = studio.fuse(activity.id, material.id, merges, response="url")
print(stored.id, stored.url, "expires", stored.expires)
show(studio.fuse(activity.id, material.id, merges, response="array").payload)"""),
    ("markdown", """\
## Retention

Results expire after seven days (the default `RetentionPolicy`); `sweep()` deletes what has expired."""),
    ("code", """\
now[0] += timedelta(days=8)
counts = studio.sweep()
print(counts)
assert counts["results"] == 1
try:
    studio.results.get(stored.id)
except fusionkit.errors.ResultIdNotFoundError as err:
    print(err.code)"""),
]


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in CELLS]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def main() -> int:
    NOTEBOOK.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), NOTEBOOK)
    print(f"wrote {NOTEBOOK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
