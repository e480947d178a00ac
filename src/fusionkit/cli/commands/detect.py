"""``fusionkit detect``: list the faces of a picture and draw them on a copy."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from fusionkit.cli.common import EXIT_OK, image_format, need_input, need_output, write_atomic
from fusionkit.cli.output import emit, face_doc

__all__ = ["cmd_detect"]


def cmd_detect(args: argparse.Namespace) -> int:
    need_input(args.image, "IMAGE")
    if args.draw is not None:
        need_output(args.draw, "--draw")

    from fusionkit.errors import NoFaceDetectedError
    from fusionkit.imaging.decode import load_image
    from fusionkit.vision import analyze

    image = load_image(args.image)
    meshes = analyze(image, model=args.model)
    if not meshes:
        hint = "" if args.model == "auto" else " (or try --model auto, which also finds small faces)"
        raise NoFaceDetectedError(f"no face was found in {args.image}: use a picture with a clear, frontal face{hint}")
    if args.draw is not None:
        write_atomic(args.draw, _drawn(image, meshes, image_format(args.draw)))
    faces = [face_doc(m.face, i) for i, m in enumerate(meshes)]
    doc = {"image": args.image, "width": int(image.shape[1]), "height": int(image.shape[0]), "faces": faces,
           "drawn": args.draw}
    lines = [f"{args.image}: {len(faces)} face(s), largest first"]
    lines += [f"  face {f['index']}: box {f['box']}  size {f['size']} px  score {f['score']}" for f in faces]
    if args.draw is not None:
        lines.append(f"wrote {args.draw}")
    emit(args, doc, lines)
    return EXIT_OK


def _drawn(image: Any, meshes: Sequence[Any], fmt: str) -> bytes:
    """A copy of ``image`` with each face's box, mesh triangles and numbers, encoded as ``fmt``."""
    import cv2
    import numpy as np

    from fusionkit.vision import mesh_topology

    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    scale = max(1, round(max(image.shape[:2]) / 800))
    topo = mesh_topology()
    for i, mesh in enumerate(meshes):
        pts = np.round(mesh.points[:, :2]).astype(np.int32)
        # The topology's triangles also span points added around the mesh for warping; draw the mesh's own.
        triangles = topo.triangles[(topo.triangles < len(pts)).all(axis=1)]
        cv2.polylines(canvas, list(pts[triangles]), True, (80, 200, 80), 1, cv2.LINE_AA)
        for pairs in topo.connections.values():
            cv2.polylines(canvas, list(pts[pairs]), False, (255, 80, 40), scale, cv2.LINE_AA)
        x0, y0, x1, y1 = (round(float(v)) for v in mesh.face.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 160, 255), scale + 1)
        cv2.putText(canvas, str(i), (x0 + 4, max(y0 - 6, 14 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                    (0, 160, 255), scale + 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", canvas)
    if not ok:
        raise OSError("the drawing could not be encoded")
    return bytes(buf)
