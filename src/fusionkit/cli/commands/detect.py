"""``fusionkit detect``: list the faces of a picture and draw them on a copy."""

from __future__ import annotations

import argparse
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
    from fusionkit.vision import analyze, draw_faces

    image = load_image(args.image)
    meshes = analyze(image, model=args.model)
    if not meshes:
        hint = "" if args.model == "auto" else " (or try --model auto, which also finds small faces)"
        raise NoFaceDetectedError(f"no face was found in {args.image}: use a picture with a clear, frontal face{hint}")
    if args.draw is not None:
        write_atomic(args.draw, _encoded(draw_faces(image, meshes), image_format(args.draw)))
    faces = [face_doc(m.face, i) for i, m in enumerate(meshes)]
    doc = {"image": args.image, "width": int(image.shape[1]), "height": int(image.shape[0]), "faces": faces,
           "drawn": args.draw}
    lines = [f"{args.image}: {len(faces)} face(s), largest first"]
    lines += [f"  face {f['index']}: box {f['box']}  size {f['size']} px  score {f['score']}" for f in faces]
    if args.draw is not None:
        lines.append(f"wrote {args.draw}")
    emit(args, doc, lines)
    return EXIT_OK


def _encoded(image: Any, fmt: str) -> bytes:
    """``image`` (RGB) as a plain ``fmt`` file: OpenCV's defaults, no AI-generated marker (nothing was fused)."""
    import cv2

    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError("the drawing could not be encoded")
    return bytes(buf)
