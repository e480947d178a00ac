"""The ``fusionkit`` command: face fusion and the studio from the shell.

    fusionkit fuse TEMPLATE USER [USER...] -o OUT        fuse user faces into a template picture (no studio)
    fusionkit fuse TEMPLATE USER_FOLDER -o OUT_FOLDER    each picture of a folder into the template
    fusionkit detect IMAGE [--draw OUT]                  list the faces of a picture, draw them on a copy
    fusionkit --studio URL activity|material|fuse|result|logs|sweep|erase ...
    fusionkit --studio URL video submit|status|cancel|wait ...   video fusion jobs into video materials

Exit status: 0 done, 1 the operation failed, 2 the command line was wrong (nothing was done), 130 interrupted.
Errors are one line on stderr: ``fusionkit COMMAND: [code] what went wrong and what to change``. ``--json`` prints
one JSON document on stdout. ``video submit`` only queues a job; ``video wait`` (or ``submit --wait``) runs the
studio's queued jobs in this process and waits for the job. Other commands never run video jobs.

Start-up imports only the standard library (and ``fusionkit.errors``); NumPy, OpenCV, onnxruntime and the C core
are imported when a subcommand runs, so ``fusionkit --help`` answers at once. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from fusionkit._version import __version__
from fusionkit.errors import FusionKitError, ParameterValueError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
USAGE_CODE = ParameterValueError.code
DESCRIPTION = """\
Face fusion on your own machine.

  fusionkit fuse TEMPLATE USER [USER...] -o OUT      fuse user faces into a template picture
  fusionkit detect IMAGE [--draw OUT]                list the faces of a picture, draw them on a copy
  fusionkit --studio URL activity|material|fuse|result|logs|sweep|erase ...   work on a studio
  fusionkit --studio URL video submit|status|cancel|wait ...                 video fusion jobs

Exit status: 0 done, 1 the operation failed, 2 the command line was wrong (nothing was done).
Errors are one line on stderr: "fusionkit COMMAND: [code] what went wrong and what to change".
"""
IMAGE_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
STUDIO_ENV = "FUSIONKIT_STUDIO"
STORAGE_HELP = "an option of the studio's fsspec filesystem (e.g. anon=true); repeatable; values are JSON or text"
STUDIO_HELP = f"the studio: a folder, file://PATH, memory://NAME or an fsspec URL (default ${STUDIO_ENV})"


class UsageError(Exception):
    """A command-line argument that cannot be used (exit status 2, nothing done)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors carrying the usage code and a pointer to ``--help``."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{self.prog}: [{USAGE_CODE}] {message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_USAGE)


def _fail(line: str) -> None:
    print(" ".join(line.split()), file=sys.stderr)


# -- argument types (run while parsing, before any work) -------------------------------------------------------------

def _degree(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise argparse.ArgumentTypeError(f"must be a number within 0-100 (higher = closer to the template), "
                                         f"got {text!r}")
    return value


def _quality(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be a whole number within 1-100, got {text!r}")
    return int(text)


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number within {low}-{high}, got {text!r}")
        return int(text)

    return parse


def _meta(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    return key, value


def _storage_option(text: str) -> tuple[str, Any]:
    key, value = _meta(text)
    try:
        return key, json.loads(value)  # numbers, true/false, null and JSON objects keep their type
    except ValueError:
        return key, value


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO 8601 time such as 2026-11-30T08:00Z, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


# -- checks on paths (after parsing, before any work) ----------------------------------------------------------------

def _need_input(path: str, what: str, video: bool = False) -> str:
    if not os.path.exists(path):
        raise UsageError(f"{what} {path!r} does not exist: give the path of a JPEG, PNG or WebP picture")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a folder: give the path of a picture file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as err:
        raise UsageError(f"{what} {path!r} cannot be read ({err.strerror}): check its permissions") from None
    if video and head[4:8] == b"ftyp":
        return path
    if not (head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (head[:4] == b"RIFF" and head[8:] == b"WEBP")):
        raise UsageError(f"{what} {path!r} is not a JPEG, PNG or WebP picture: give one of those")
    return path


def _need_output(path: str, option: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise UsageError(f"{option} {path!r} must end in .jpg, .jpeg or .png (the extension picks the format)")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder: give a file name such as {os.path.join(path, 'out' + ext)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} does not exist: create it or write elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} is not writable: write elsewhere")
    return path


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (imported here: the command starts without imaging)."""
    from fusionkit.imaging.files import write_bytes_atomic

    write_bytes_atomic(path, data)


# -- output ----------------------------------------------------------------------------------------------------------

class _Progress:
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


def _emit(args: argparse.Namespace, doc: Any, lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for line in lines:
            print(line)


def _face_doc(face: Any, index: int) -> dict[str, Any]:
    return {"index": index, "box": [round(float(v), 1) for v in face.box], "score": round(float(face.score), 3),
            "size": round(float(face.size), 1), "roll": round(float(face.roll), 1),
            "keypoints": [[round(float(x), 1), round(float(y), 1)] for x, y in face.keypoints]}


def _material_doc(material: Any) -> dict[str, Any]:
    doc: dict[str, Any] = material.to_dict()
    # The 468-point meshes are for the library; a script wants the face ids and boxes.
    doc["faces"] = [{"id": f.id, "index": f.index, "box": [round(v, 1) for v in f.box]} for f in material.faces]
    return doc


def _material_line(m: Any) -> str:
    return f"{m.id}  {m.name!r}  {m.width}x{m.height} {m.source_format}  faces: {', '.join(m.face_ids)}"


def _activity_line(a: Any) -> str:
    degrees = ""
    if a.fuse_face_degree is not None or a.fuse_profile_degree is not None:
        degrees = f"  degrees: face {a.fuse_face_degree}, profile {a.fuse_profile_degree}"
    return f"{a.id}  {a.name!r}  created {a.created.isoformat(timespec='seconds')}{degrees}"


def _receipt_lines(receipt: Any, what: str) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(receipt.counts.items())) or "nothing"
    return [f"{what}: removed {counts} (receipt {receipt.id})"]


# -- functional commands ---------------------------------------------------------------------------------------------

def _options(args: argparse.Namespace, out: str | None, degrees: tuple[float, float] | None = None) -> Any:
    """The FuseOptions the arguments ask for (constructing them validates them, before any work)."""
    from fusionkit.domain.options import DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE, FuseOptions, LabelOptions

    face, profile = degrees if degrees is not None else (DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE)
    kwargs: dict[str, Any] = {
        "fuse_face_degree": args.face_degree if args.face_degree is not None else face,
        "fuse_profile_degree": args.profile_degree if args.profile_degree is not None else profile,
        "label": LabelOptions(enabled=not args.no_label),
        "metadata": args.meta or (),
    }
    if args.blend is not None:
        kwargs["blend_mode"] = args.blend
    if args.expression is not None:
        kwargs["expression"] = args.expression
    if args.quality is not None:
        kwargs["jpeg_quality"] = args.quality
    if out is not None:
        kwargs["output_format"] = IMAGE_EXTENSIONS[os.path.splitext(out)[1].lower()]
    return FuseOptions(**kwargs)


def _merges(users: Sequence[str]) -> list[Any]:
    from fusionkit.fusion.api import MAX_MERGES, Merge

    if len(users) > MAX_MERGES:
        raise UsageError(f"give 1 to {MAX_MERGES} USER pictures, got {len(users)}")
    if len(users) == 1:
        return [Merge(image=users[0])]  # into the template's largest face
    return [Merge(image=u, template_face=i) for i, u in enumerate(users)]


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
    _need_input(template, "TEMPLATE")
    for user in users:
        _need_input(user, "USER")
    _need_output(args.out, "-o")
    options = _guard(lambda: _options(args, args.out))
    merges = _guard(lambda: _merges(users))

    from fusionkit.fusion.api import fuse

    progress = _Progress()
    try:
        progress.note(f"fusing {len(users)} face(s) into {template} ...")
        result = fuse(template, merges, options)
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
    _emit(args, doc, [f"wrote {args.out}  ({into}, {result.timings_ms['total']:.0f} ms)"])
    return EXIT_OK


def _fuse_folder(args: argparse.Namespace, template: str, folder: str) -> int:
    """``fuse TEMPLATE FOLDER -o OUT_FOLDER``: each picture of FOLDER into the template's largest face, written as
    OUT_FOLDER/<its name>.<the template's format>; a picture that fails is reported and skipped."""
    _need_input(template, "TEMPLATE")
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
    options = _guard(lambda: _options(args, "out" + ext))

    from fusionkit.fusion.api import find_faces, fuse
    from fusionkit.imaging.decode import load_image

    tmpl = load_image(template)
    meshes = find_faces(tmpl)  # once for the whole folder
    if not meshes:
        from fusionkit.errors import NoFaceDetectedError

        raise NoFaceDetectedError(f"no face was found in the template {template}: use a template with a clear, "
                                  "frontal face")
    done: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    progress = _Progress()
    try:
        for i, user in enumerate(users):
            progress.note(f"[{i + 1}/{len(users)}] {os.path.basename(user)}")
            target = os.path.join(out, os.path.splitext(os.path.basename(user))[0] + ext)
            try:
                fuse(tmpl, user, options, template_meshes=meshes).save(target)
            except FusionKitError as err:
                progress.done()
                _fail(f"fusionkit fuse: [{err.code}] {user}: {err.message}")
                failed.append({"user": user, "code": err.code, "message": err.message})
                continue
            done.append({"user": user, "output": target})
    finally:
        progress.done()
    lines = [f"wrote {d['output']}" for d in done]
    lines.append(f"{len(done)} of {len(users)} picture(s) fused into {template}" + (
        f"; {len(failed)} failed (see above)" if failed else ""))
    _emit(args, {"template": template, "outputs": done, "failed": failed}, lines)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    _need_input(args.image, "IMAGE")
    if args.draw is not None:
        _need_output(args.draw, "--draw")

    from fusionkit.errors import NoFaceDetectedError
    from fusionkit.imaging.decode import load_image
    from fusionkit.vision import analyze

    image = load_image(args.image)
    meshes = analyze(image, model=args.model)
    if not meshes:
        hint = "" if args.model == "auto" else " (or try --model auto, which also finds small faces)"
        raise NoFaceDetectedError(f"no face was found in {args.image}: use a picture with a clear, frontal face{hint}")
    if args.draw is not None:
        _write_atomic(args.draw, _drawn(image, meshes, IMAGE_EXTENSIONS[os.path.splitext(args.draw)[1].lower()]))
    faces = [_face_doc(m.face, i) for i, m in enumerate(meshes)]
    doc = {"image": args.image, "width": int(image.shape[1]), "height": int(image.shape[0]), "faces": faces,
           "drawn": args.draw}
    lines = [f"{args.image}: {len(faces)} face(s), largest first"]
    lines += [f"  face {f['index']}: box {f['box']}  size {f['size']} px  score {f['score']}" for f in faces]
    if args.draw is not None:
        lines.append(f"wrote {args.draw}")
    _emit(args, doc, lines)
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


# -- studio commands -------------------------------------------------------------------------------------------------

def _studio(args: argparse.Namespace, create: bool = False, video_workers: int = 0) -> Any:
    url = args.studio
    if url is None:
        raise UsageError(f"this command works on a studio: give --studio URL (or set {STUDIO_ENV})")
    local = url.startswith("file://") or ("://" not in url and "::" not in url)
    if local:
        path = url[len("file://"):] if url.startswith("file://") else url
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"--studio {url!r} is a file, not a studio folder: give a folder")
        if not create and not os.path.isdir(path):
            raise UsageError(f"--studio {url!r}: there is no studio there (check the path; 'activity create' "
                             "starts a new one)")
    import fusionkit

    options = dict(args.storage_option or ())
    try:
        return fusionkit.open(url, storage_options=options or None, video_workers=video_workers)
    except FusionKitError as err:
        raise UsageError(err.message) from None
    except (ValueError, ImportError) as err:
        raise UsageError(f"--studio {url!r} cannot be opened ({err}): give a folder, file://PATH, memory://NAME or "
                         "the URL of an installed fsspec filesystem") from None


def cmd_activity(args: argparse.Namespace) -> int:
    studio = _studio(args, create=args.action == "create")
    acts = studio.activities
    if args.action == "create":
        a = acts.create(args.name, fuse_face_degree=args.face_degree, fuse_profile_degree=args.profile_degree)
        _emit(args, a.to_dict(), [f"created activity {_activity_line(a)}"])
    elif args.action == "list":
        items = acts.list()
        _emit(args, [a.to_dict() for a in items], [_activity_line(a) for a in items] or ["no activities"])
    elif args.action == "get":
        a = acts.get(args.activity_id)
        _emit(args, a.to_dict(), [_activity_line(a)])
    elif args.action == "rename":
        a = acts.rename(args.activity_id, args.name)
        _emit(args, a.to_dict(), [f"renamed: {_activity_line(a)}"])
    else:
        receipt = acts.delete(args.activity_id)
        _emit(args, receipt.to_dict(), _receipt_lines(receipt, f"deleted activity {args.activity_id}"))
    return EXIT_OK


def cmd_material(args: argparse.Namespace) -> int:
    if args.action == "upload":
        for path in args.files:
            _need_input(path, "FILE", video=True)
    studio = _studio(args)
    mats = studio.materials
    if args.action == "upload":
        progress = _Progress()
        done = []
        try:
            for i, path in enumerate(args.files):
                progress.note(f"[{i + 1}/{len(args.files)}] finding the faces of {path} ...")
                try:
                    done.append(mats.upload(args.activity_id, path, name=args.name,
                                            fuse_face_degree=args.face_degree, fuse_profile_degree=args.profile_degree))
                except FusionKitError as err:
                    kept = f" ({len(done)} uploaded before it: {', '.join(m.id for m in done)})" if done else ""
                    err.message = f"{path}: {err.message}{kept}"
                    raise
        finally:
            progress.done()
        _emit(args, [_material_doc(m) for m in done], [f"uploaded {_material_line(m)}" for m in done])
    elif args.action == "list":
        page = mats.list(args.activity_id, limit=args.limit, offset=args.offset)
        doc = {"total": page.total, "limit": page.limit, "offset": page.offset,
               "materials": [_material_doc(m) for m in page.materials]}
        lines = [_material_line(m) for m in page.materials]
        lines.append(f"{len(page.materials)} of {page.total} material(s) (from {page.offset})")
        _emit(args, doc, lines)
    elif args.action == "get":
        m = mats.get(args.material_id)
        _emit(args, _material_doc(m), [_material_line(m)])
    else:
        receipt = mats.delete(args.material_id)
        _emit(args, receipt.to_dict(), _receipt_lines(receipt, f"deleted material {args.material_id}"))
    return EXIT_OK


def cmd_studio_fuse(args: argparse.Namespace) -> int:
    if args.material is None:
        raise UsageError("with --studio, give the material to fuse into with --material ID (and USER pictures)")
    users = args.pictures
    for user in users:
        _need_input(user, "USER")
    if args.out is not None:
        _need_output(args.out, "-o")
    merges = _guard(lambda: _merges(users))
    _guard(lambda: _options(args, args.out))  # validates every option before the studio is touched
    studio = _studio(args)
    material = studio.materials.get(args.material, activity_id=args.activity)
    activity = studio.activities.get(args.activity or material.activity_id)
    from fusionkit.domain.options import DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE

    def first(*values: float | None) -> float:
        return next(v for v in values if v is not None)

    degrees = (first(material.fuse_face_degree, activity.fuse_face_degree, DEFAULT_FACE_DEGREE),
               first(material.fuse_profile_degree, activity.fuse_profile_degree, DEFAULT_PROFILE_DEGREE))
    options = _options(args, args.out, degrees)
    progress = _Progress()
    try:
        progress.note(f"fusing {len(users)} face(s) into material {material.id} ...")
        result = studio.fuse(activity.id, material.id, merges, response="url", options=options)
        if args.out is not None:
            _write_atomic(args.out, studio.results.read(result.id))
    finally:
        progress.done()
    doc = result.to_dict()
    doc["output"] = args.out
    lines = [f"result {result.id}  {result.url}  expires {result.expires.isoformat(timespec='seconds')}"]
    if args.out is not None:
        lines.append(f"wrote {args.out}")
    _emit(args, doc, lines)
    return EXIT_OK


def cmd_result(args: argparse.Namespace) -> int:
    if args.out is not None:
        _need_output(args.out, "-o")
    studio = _studio(args)
    result = studio.results.get(args.result_id)
    if args.out is not None:
        if IMAGE_EXTENSIONS[os.path.splitext(args.out)[1].lower()] != result.format:
            raise UsageError(f"result {result.id} is a {result.format.upper()} picture: name -o with "
                             f"{'.jpg' if result.format == 'jpeg' else '.png'}")
        _write_atomic(args.out, studio.results.read(result.id))
    doc = result.to_dict()
    doc["output"] = args.out
    expires = result.expires.isoformat(timespec="seconds") if result.expires else "never"
    lines = [f"result {result.id}  material {result.material_id}  {result.format} {result.size} bytes  "
             f"expires {expires}  {result.url}"]
    if args.out is not None:
        lines.append(f"wrote {args.out}")
    _emit(args, doc, lines)
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    until = args.until or now + timedelta(minutes=1)
    since = args.since or until - timedelta(hours=args.hours)
    if since >= until:
        raise UsageError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    studio = _studio(args)
    records = studio.logs.query(since, until, args.interface)
    lines = []
    for r in records:
        ids = " ".join(f"{k}={v}" for k, v in (("activity", r.activity_id), ("material", r.material_id),
                                                ("result", r.result_id)) if v)
        status = r.error_code or "ok"
        lines.append(f"{r.timestamp.isoformat(timespec='seconds')}  {r.interface}  {status}  "
                     f"{r.time_cost_ms:.0f} ms  {r.request_id}  {ids}".rstrip())
    _emit(args, [r.to_dict() for r in records], lines or ["no requests in that time"])
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    counts = _studio(args).sweep()
    _emit(args, counts, ["swept: " + ", ".join(f"{k} {v}" for k, v in counts.items())])
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    if not (args.material or args.result or args.request):
        raise UsageError("name what to erase: --material ID, --result ID and/or --request ID (repeatable)")
    receipt = _studio(args).erase(material_ids=args.material or (), result_ids=args.result or (),
                                  request_ids=args.request or ())
    _emit(args, receipt.to_dict(), _receipt_lines(receipt, "erased"))
    return EXIT_OK


def _job_line(job: Any) -> str:
    line = f"job {job.id}  {job.status} ({job.status_code})  progress {job.progress:.0%}  material {job.material_id}"
    if job.status == "queued" and job.attempts == 0:
        line += f"  queue {job.queue_length}, about {job.estimated_seconds:g} s"
    if job.error_code:
        line += f"  [{job.error_code}] {job.error_message}"
    if job.status == "completed":
        line += (f"  {job.width}x{job.height} {job.fps:g} fps {job.frame_count} frames {job.duration_s:.2f} s  "
                 f"md5 {job.md5}  {job.url}")
    return line


def _wait_job(studio: Any, job_id: str, timeout: float | None) -> Any:
    progress = _Progress()
    try:
        if not progress.enabled:
            return studio.videos.wait(job_id, timeout=timeout)
        # On a terminal: wait in one-second steps and show the job's progress (each step is one logged call).
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            job = studio.videos.wait(job_id, timeout=step)
            progress.note(f"job {job.id}: {job.status} {job.progress:.0%}")
            if job.done or (deadline is not None and time.monotonic() >= deadline):
                return job
    finally:
        progress.done()
        studio.videos.close(wait=True)


def cmd_video(args: argparse.Namespace) -> int:
    if args.action == "submit":
        if args.material is None:
            raise UsageError("give the video material to fuse into with --material ID (and USER pictures)")
        for user in args.users:
            _need_input(user, "USER")
        merges = _guard(lambda: _merges(args.users))
        studio = _studio(args, video_workers=1 if args.wait else 0)
        activity = args.activity or studio.materials.get(args.material).activity_id
        job = studio.videos.submit(activity, args.material, merges, fuse_face_degree=args.face_degree,
                                   fuse_profile_degree=args.profile_degree, user_designated_url=args.url)
        if args.wait:
            job = _wait_job(studio, job.id, args.timeout)
    elif args.action in ("status", "cancel"):
        studio = _studio(args)
        job = studio.videos.get(args.job_id) if args.action == "status" else studio.videos.cancel(args.job_id)
    else:
        studio = _studio(args, video_workers=1)
        job = _wait_job(studio, args.job_id, args.timeout)
    if job.status == "failed" and (args.action == "wait" or (args.action == "submit" and args.wait)):
        from fusionkit.errors import error_for_code

        try:
            error = error_for_code(job.error_code or "")
        except KeyError:
            error = FusionKitError
        raise error(f"video job {job.id} failed: {job.error_message}")
    _emit(args, job.to_dict(), [_job_line(job)])
    return EXIT_OK


def _guard(make: Callable[[], Any]) -> Any:
    """Run a validation step: a fusionkit input error there is a usage error (exit 2, nothing done)."""
    try:
        return make()
    except FusionKitError as err:
        raise UsageError(err.message) from None


# -- the parser ------------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``fusionkit`` argument parser (standard library only)."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document on stdout (for scripts)")
    common.add_argument("--studio", metavar="URL", default=argparse.SUPPRESS,
                        help=STUDIO_HELP)

    common.add_argument("--storage-option", type=_storage_option, action="append", metavar="KEY=VALUE",
                        default=argparse.SUPPRESS, help=STORAGE_HELP)

    parser = _Parser(prog="fusionkit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fusionkit {__version__}")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout (for scripts)")
    parser.add_argument("--studio", metavar="URL", default=os.environ.get(STUDIO_ENV) or None,
                        help=STUDIO_HELP)
    parser.add_argument("--storage-option", type=_storage_option, action="append", metavar="KEY=VALUE",
                        help=STORAGE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def fuse_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--face-degree", type=_degree, metavar="N",
                       help="0-100: how much of the template's eyes, brows, nose and mouth to keep (default 10)")
        p.add_argument("--profile-degree", type=_degree, metavar="N",
                       help="0-100: how much of the template's face outline and jaw to keep (default 30)")

    p = sub.add_parser("fuse", parents=[common], help="fuse user faces into a template picture or a studio material",
                       description="Fuse one to six user faces into a TEMPLATE picture and write OUT. Several USER "
                       "pictures go into the template's faces 0, 1, ... (largest first); one goes into the largest. "
                       "A USER folder fuses each of its pictures into the template, one by one, into the folder OUT. "
                       "With --studio, fuse into a stored material instead: fusionkit --studio URL fuse --material ID "
                       "USER [USER...] [-o OUT].")
    p.add_argument("pictures", nargs="+", metavar="PICTURE", help="TEMPLATE USER [USER...] (with --studio: USER...)")
    p.add_argument("-o", "--out", metavar="OUT", help="the fused picture (.jpg or .png; written whole or not at all)")
    fuse_options(p)
    p.add_argument("--blend", choices=("poisson", "multiband", "alpha"),
                   help="how the face is laid in (default multiband)")
    p.add_argument("--expression", choices=("template", "user"),
                   help="whose mouth and eyelids the fused face wears (default template)")
    p.add_argument("--no-label", action="store_true", help="no visible 'AI-generated' label (the file's metadata "
                   "marker stays)")
    p.add_argument("--quality", type=_quality, metavar="Q", help="JPEG quality 1-100 (default 92)")
    p.add_argument("--meta", type=_meta, action="append", metavar="KEY=VALUE",
                   help="text written into the file's metadata (repeatable)")
    p.add_argument("--material", metavar="ID", help="with --studio: the material to fuse into")
    p.add_argument("--activity", metavar="ID", help="with --studio: the material's activity (default: its own)")
    p.set_defaults(func=cmd_fuse)

    p = sub.add_parser("detect", parents=[common], help="find the faces of a picture and draw them on a copy",
                       description="List the faces of IMAGE (largest first) with their boxes; --draw writes a copy "
                       "with each face's box, index and 468-point mesh.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--draw", metavar="OUT", help="write a copy with the faces drawn (.jpg or .png)")
    p.add_argument("--model", choices=("auto", "thorough", "short", "full"), default="auto",
                   help="face detector: auto (every face from 34 px; default), thorough (small faces behind a "
                   "large one too), short or full (one model, once)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("activity", parents=[common], help="studio activities: create, list, get, rename, delete",
                       description="Manage the studio's activities (named groups of materials).")
    acts = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    a = acts.add_parser("create", parents=[common], help="create an activity; prints its id")
    a.add_argument("name", metavar="NAME")
    fuse_options(a)
    acts.add_parser("list", parents=[common], help="every activity, oldest first")
    for action, text in (("get", "one activity"), ("delete", "delete an activity with its materials and results")):
        a = acts.add_parser(action, parents=[common], help=text)
        a.add_argument("activity_id", metavar="ACTIVITY_ID")
    a = acts.add_parser("rename", parents=[common], help="give an activity a new name")
    a.add_argument("activity_id", metavar="ACTIVITY_ID")
    a.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_activity)

    p = sub.add_parser("material", parents=[common], help="studio materials: upload, list, get, delete",
                       description="Manage the template pictures (materials) of an activity.")
    mats = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    m = mats.add_parser("upload", parents=[common], help="upload template pictures; their faces are found now")
    m.add_argument("activity_id", metavar="ACTIVITY_ID")
    m.add_argument("files", nargs="+", metavar="FILE", help="JPEG or PNG pictures")
    m.add_argument("--name", help="a name for people (default: the file name)")
    fuse_options(m)
    m = mats.add_parser("list", parents=[common], help="a page of an activity's materials")
    m.add_argument("activity_id", metavar="ACTIVITY_ID")
    m.add_argument("--limit", type=_count(1, 100), default=20, help="page size, 1-100 (default 20)")
    m.add_argument("--offset", type=_count(0, 10**9), default=0, help="materials to skip (default 0)")
    for action, text in (("get", "one material and its face ids"),
                         ("delete", "delete a material with its faces and results")):
        m = mats.add_parser(action, parents=[common], help=text)
        m.add_argument("material_id", metavar="MATERIAL_ID")
    p.set_defaults(func=cmd_material)

    p = sub.add_parser("result", parents=[common], help="a stored fusion result: its record, or its picture",
                       description="Show a stored result of 'fuse --studio' (until it expires); -o writes its picture.")
    res = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    r = res.add_parser("get", parents=[common], help="the result's record; -o OUT writes its picture")
    r.add_argument("result_id", metavar="RESULT_ID")
    r.add_argument("-o", "--out", metavar="OUT", help="write the picture here (.jpg for JPEG results, .png for PNG)")
    p.set_defaults(func=cmd_result)

    p = sub.add_parser("video", parents=[common], help="video fusion jobs: submit, status, cancel, wait",
                       description="Fuse user faces into a video material (upload an MP4 with 'material upload'). "
                       "'submit' queues a job and prints its id; 'wait' runs the studio's queued jobs here and "
                       "waits for one (exit 1 if it failed).")
    vids = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    v = vids.add_parser("submit", parents=[common], help="queue a video fusion job; prints its id")
    v.add_argument("users", nargs="+", metavar="USER", help="user pictures, into the video's faces 0, 1, ...")
    v.add_argument("--material", metavar="ID", help="the video material")
    v.add_argument("--activity", metavar="ID", help="the material's activity (default: its own)")
    fuse_options(v)
    v.add_argument("--url", metavar="URL", help="write the result to this fsspec URL instead of the studio")
    v.add_argument("--wait", action="store_true", help="run the job now and wait for it")
    v.add_argument("--timeout", type=_seconds, metavar="S", help="with --wait: give up waiting after S seconds")
    for action, text in (("status", "the job's status, progress, error or output"),
                         ("cancel", "cancel a queued or running job"),
                         ("wait", "run the studio's queued jobs here and wait for this one")):
        v = vids.add_parser(action, parents=[common], help=text)
        v.add_argument("job_id", metavar="JOB_ID")
        if action == "wait":
            v.add_argument("--timeout", type=_seconds, metavar="S", help="give up waiting after S seconds")
    p.set_defaults(func=cmd_video)

    p = sub.add_parser("logs", parents=[common], help="the studio's request log",
                       description="Print the studio's logged requests, oldest first (default: the last 24 hours).")
    p.add_argument("--since", type=_when, metavar="TIME", help="ISO 8601 start (default: --hours before --until)")
    p.add_argument("--until", type=_when, metavar="TIME", help="ISO 8601 end (default: now)")
    p.add_argument("--hours", type=_hours, default=24.0, metavar="H", help="how far back, when --since is not given")
    p.add_argument("--interface", metavar="NAME", help="only this call, e.g. FuseFace or UploadMaterial")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("sweep", parents=[common], help="delete everything in the studio that has expired",
                       description="Delete expired results and log lines (and leftovers of interrupted uploads).")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("erase", parents=[common], help="erase results and log lines that name the given ids",
                       description="Serve a data-subject request: remove every stored result and log line that "
                       "refers to one of the ids.")
    p.add_argument("--material", action="append", metavar="ID", help="a material id (repeatable)")
    p.add_argument("--result", action="append", metavar="ID", help="a result id (repeatable)")
    p.add_argument("--request", action="append", metavar="ID", help="a request id (repeatable)")
    p.set_defaults(func=cmd_erase)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 done, 1 failed, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    prog = " ".join(["fusionkit", args.command, *([args.action] if getattr(args, "action", None) else [])])
    try:
        return int(args.func(args))
    except UsageError as err:
        _fail(f"{prog}: [{USAGE_CODE}] {err} (see '{prog} --help')")
        return EXIT_USAGE
    except FusionKitError as err:
        _fail(f"{prog}: {err}")
        return EXIT_FAILED
    except OSError as err:
        where = f" {err.filename!r}" if err.filename else ""
        _fail(f"{prog}: [OSError] could not use{where}: {err.strerror or err}: check the path and its permissions")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _fail(f"{prog}: interrupted; no output was written")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
