"""``fusionkit fuse``: user faces into a template picture, each picture of a folder, or (with --studio) into a
stored material."""

from __future__ import annotations

import argparse
import os
from typing import Any

from fusionkit.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    carried_consent,
    check_plugins,
    fuse_options,
    guard,
    material_degrees,
    merges,
    need_input,
    need_output,
    open_studio,
    runtime,
    write_atomic,
)
from fusionkit.cli.output import Progress, emit, fail
from fusionkit.errors import FusionKitError

__all__ = ["cmd_fuse", "cmd_studio_fuse"]


def cmd_fuse(args: argparse.Namespace) -> int:
    if args.studio is not None:
        return cmd_studio_fuse(args)
    if args.activity is not None or args.material is not None:
        raise UsageError("--activity and --material fuse into a studio material: add --studio URL")
    if len(args.pictures) < 2:
        raise UsageError("give a TEMPLATE and at least one USER picture")
    if args.out is None:
        raise UsageError("give the output file with -o OUT (.jpg or .png)")
    template, users = args.pictures[0], args.pictures[1:]
    if len(users) == 1 and os.path.isdir(users[0]):
        return _fuse_folder(args, template, users[0])
    need_input(template, "TEMPLATE")
    for user in users:
        need_input(user, "USER")
    need_output(args.out, "-o")
    options = guard(lambda: fuse_options(args, args.out))
    into_faces = guard(lambda: merges(users))
    with runtime(args):  # the models load on the providers asked for
        check_plugins(options)

    from fusionkit.fusion.api import fuse

    progress = Progress()
    try:
        progress.note(f"fusing {len(users)} face(s) into {template} ...")
        with runtime(args):
            result = fuse(template, into_faces, options)
        result.save(args.out)
    finally:
        progress.done()
    pairs = list(zip(users, result.merges, strict=True))
    doc = {"output": args.out, "template": template,
           "merges": [{"user": u, "template_face": m.template_face_index} for u, m in pairs],
           "fuse_face_degree": options.fuse_face_degree, "fuse_profile_degree": options.fuse_profile_degree,
           "blend_mode": options.blend_mode.value, "expression": options.expression.value,
           "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()}}
    into = ", ".join(f"{u} -> face {m.template_face_index}" for u, m in pairs)
    lines = [f"wrote {args.out}  ({into}, {result.timings_ms['total']:.0f} ms)"]
    _add_licences(doc, lines, options)
    emit(args, doc, lines)
    return EXIT_OK


def _add_licences(doc: dict[str, Any], lines: list[str], options: Any) -> None:
    """With a learned renderer or enhancer: its name and each model's licence in ``doc`` (``model_licences``), and
    a line per model (its file and the licence its authors give it) in ``lines``."""
    from fusionkit.domain.models import licences

    pairs = [list(pair) for pair in licences(options.renderer, options.enhancer)]
    if pairs:
        doc.update(renderer=options.renderer.name, model_licences=pairs)
        lines += [f"model {file}: licence {licence}" for file, licence in pairs]


def _fuse_folder(args: argparse.Namespace, template: str, folder: str) -> int:
    """``fuse TEMPLATE FOLDER -o OUT_FOLDER``: each picture of FOLDER into the template's largest face, written as
    OUT_FOLDER/<its name>.<the template's format>; a picture that fails is reported and skipped."""
    need_input(template, "TEMPLATE")
    users = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                   if os.path.splitext(n)[1].lower() in (".jpg", ".jpeg", ".png", ".webp") and not n.startswith("."))
    if not users:
        raise UsageError(f"USER folder {folder!r} holds no .jpg, .jpeg, .png or .webp pictures")
    out = args.out
    if not os.path.isdir(out):
        raise UsageError(f"-o {out!r} must be an existing folder when USER is a folder: create it first")
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"-o {out!r} is not writable: write elsewhere")
    ext = ".jpg" if os.path.splitext(template)[1].lower() in (".jpg", ".jpeg") else ".png"
    if os.path.abspath(out) == os.path.abspath(folder):
        raise UsageError("-o must not be the USER folder: the results would mix with the pictures")
    options = guard(lambda: fuse_options(args, "out" + ext))
    with runtime(args):  # the models load on the providers asked for
        check_plugins(options)
    with runtime(args):
        return _fuse_each(args, template, users, options, ext)


def _fuse_each(args: argparse.Namespace, template: str, users: list[str], options: Any, ext: str) -> int:
    from fusionkit.fusion.api import find_faces, fuse
    from fusionkit.imaging.decode import load_image

    out = args.out
    tmpl = load_image(template)
    meshes = find_faces(tmpl)  # once for the whole folder
    if not meshes:
        from fusionkit.errors import NoFaceDetectedError

        raise NoFaceDetectedError(f"no face was found in the template {template}: use a template with a clear, "
                                  "frontal face")
    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    progress = Progress()
    try:
        for i, user in enumerate(users):
            progress.note(f"[{i + 1}/{len(users)}] {os.path.basename(user)}")
            target = os.path.join(out, os.path.splitext(os.path.basename(user))[0] + ext)
            try:
                fuse(tmpl, user, options, template_meshes=meshes).save(target)
            except FusionKitError as err:
                progress.done()
                fail(f"fusionkit fuse: [{err.code}] {user}: {err.message}")
                failed.append({"user": user, "code": err.code, "message": err.message})
                continue
            done.append({"user": user, "output": target})
    finally:
        progress.done()
    lines = [f"wrote {d['output']}" for d in done]
    lines.append(f"{len(done)} of {len(users)} picture(s) fused into {template}" + (
        f"; {len(failed)} failed (see above)" if failed else ""))
    doc: dict[str, Any] = {"template": template, "outputs": done, "failed": failed}
    _add_licences(doc, lines, options)
    emit(args, doc, lines)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_studio_fuse(args: argparse.Namespace) -> int:
    """``fusionkit --studio URL fuse --material ID USER...``: fuse into a stored material and store the result."""
    if args.material is None:
        raise UsageError("with --studio, give the material to fuse into with --material ID (and USER pictures)")
    users = args.pictures
    for user in users:
        need_input(user, "USER")
    if args.out is not None:
        need_output(args.out, "-o")
    into_faces = guard(lambda: merges(users))
    with runtime(args):  # the models load on the providers asked for
        check_plugins(guard(lambda: fuse_options(args, args.out)))  # every option, before the studio is touched
    studio = open_studio(args)
    material = studio.materials.get(args.material, activity_id=args.activity)
    activity = studio.activities.get(args.activity or material.activity_id)
    options = fuse_options(args, args.out, material_degrees(material, activity))
    progress = Progress()
    try:
        progress.note(f"fusing {len(users)} face(s) into material {material.id} ...")
        with runtime(args):
            result = studio.fuse(activity.id, material.id, into_faces, response="url", options=options,
                                 consent=carried_consent(args))
        if args.out is not None:
            write_atomic(args.out, studio.results.read(result.id))
    finally:
        progress.done()
    doc = result.to_dict()
    doc["output"] = args.out
    lines = [f"result {result.id}  {result.url}  expires {result.expires.isoformat(timespec='seconds')}"]
    if args.out is not None:
        lines.append(f"wrote {args.out}")
    _add_licences(doc, lines, options)
    emit(args, doc, lines)
    return EXIT_OK
