"""What the commands print: one JSON document or human-readable lines on stdout, one-line errors and progress on
stderr, and the documents and lines of each kind of thing (faces, activities, materials, receipts, video jobs)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "Progress",
    "activity_line",
    "emit",
    "face_doc",
    "fail",
    "job_line",
    "material_doc",
    "material_line",
    "receipt_lines",
]


def fail(line: str) -> None:
    """Print an error as one line on stderr (its whitespace, newlines included, folded to single spaces)."""
    print(" ".join(line.split()), file=sys.stderr)


def emit(args: argparse.Namespace, doc: Any, lines: Sequence[str]) -> None:
    """Print ``doc`` as one JSON document with ``--json``, else ``lines``."""
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


class Progress:
    """A one-line progress note on stderr, only when stderr is a terminal (quiet in pipes, logs and CI)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._shown = False

    def note(self, text: str) -> None:
        if self.enabled:
            self._shown = True  # first: a Ctrl-C while the note is written still has done() clear the line
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()

    def done(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


def face_doc(face: Any, index: int) -> dict[str, Any]:
    """A detected face for JSON: box, size and keypoints in pixels (0.1 px), score, roll in degrees."""
    return {"index": index, "box": [round(float(v), 1) for v in face.box], "score": round(float(face.score), 3),
            "size": round(float(face.size), 1), "roll": round(float(face.roll), 1),
            "keypoints": [[round(float(x), 1), round(float(y), 1)] for x, y in face.keypoints]}


def material_doc(material: Any) -> dict[str, Any]:
    doc: dict[str, Any] = material.to_dict()
    # The 468-point meshes are for the library; a script wants the face ids and boxes.
    doc["faces"] = [{"id": f.id, "index": f.index, "box": [round(v, 1) for v in f.box]} for f in material.faces]
    return doc


def material_line(m: Any) -> str:
    return f"{m.id}  {m.name!r}  {m.width}x{m.height} {m.source_format}  faces: {', '.join(m.face_ids)}"


def activity_line(a: Any) -> str:
    degrees = ""
    if a.fuse_face_degree is not None or a.fuse_profile_degree is not None:
        degrees = f"  degrees: face {a.fuse_face_degree}, profile {a.fuse_profile_degree}"
    return f"{a.id}  {a.name!r}  created {a.created.isoformat(timespec='seconds')}{degrees}"


def receipt_lines(receipt: Any, what: str) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(receipt.counts.items())) or "nothing"
    return [f"{what}: removed {counts} (receipt {receipt.id})"]


def job_line(job: Any) -> str:
    line = f"job {job.id}  {job.status} ({job.status_code})  progress {job.progress:.0%}  material {job.material_id}"
    if job.status == "queued" and job.attempts == 0:
        line += f"  queue {job.queue_length}, about {job.estimated_seconds:g} s"
    if job.error_code:
        line += f"  [{job.error_code}] {job.error_message}"
    if job.status == "completed":
        line += (f"  {job.width}x{job.height} {job.fps:g} fps {job.frame_count} frames {job.duration_s:.2f} s  "
                 f"md5 {job.md5}  {job.url}")
    return line
