"""The studio commands: activities, materials, stored results, the request log, sweep and erase."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

from fusionkit.cli.common import EXIT_OK, UsageError, image_format, need_input, need_output, open_studio, write_atomic
from fusionkit.cli.output import (
    Progress,
    activity_line,
    emit,
    material_doc,
    material_line,
    receipt_lines,
)
from fusionkit.errors import FusionKitError

__all__ = ["cmd_activity", "cmd_encrypt", "cmd_erase", "cmd_logs", "cmd_material", "cmd_result", "cmd_sweep"]


def cmd_activity(args: argparse.Namespace) -> int:
    studio = open_studio(args, create=args.action == "create")
    acts = studio.activities
    if args.action == "create":
        a = acts.create(args.name, fuse_face_degree=args.face_degree, fuse_profile_degree=args.profile_degree)
        emit(args, a.to_dict(), [f"created activity {activity_line(a)}"])
    elif args.action == "list":
        items = acts.list()
        emit(args, [a.to_dict() for a in items], [activity_line(a) for a in items] or ["no activities"])
    elif args.action == "get":
        a = acts.get(args.activity_id)
        emit(args, a.to_dict(), [activity_line(a)])
    elif args.action == "rename":
        a = acts.rename(args.activity_id, args.name)
        emit(args, a.to_dict(), [f"renamed: {activity_line(a)}"])
    else:
        receipt = acts.delete(args.activity_id)
        emit(args, receipt.to_dict(), receipt_lines(receipt, f"deleted activity {args.activity_id}"))
    return EXIT_OK


def cmd_material(args: argparse.Namespace) -> int:
    if args.action == "upload":
        for path in args.files:
            need_input(path, "FILE", video=True)
    studio = open_studio(args)
    mats = studio.materials
    if args.action == "upload":
        progress = Progress()
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
        emit(args, [material_doc(m) for m in done], [f"uploaded {material_line(m)}" for m in done])
    elif args.action == "list":
        page = mats.list(args.activity_id, limit=args.limit, offset=args.offset)
        doc = {"total": page.total, "limit": page.limit, "offset": page.offset,
               "materials": [material_doc(m) for m in page.materials]}
        lines = [material_line(m) for m in page.materials]
        lines.append(f"{len(page.materials)} of {page.total} material(s) (from {page.offset})")
        emit(args, doc, lines)
    elif args.action == "get":
        m = mats.get(args.material_id)
        emit(args, material_doc(m), [material_line(m)])
    else:
        receipt = mats.delete(args.material_id)
        emit(args, receipt.to_dict(), receipt_lines(receipt, f"deleted material {args.material_id}"))
    return EXIT_OK


def cmd_result(args: argparse.Namespace) -> int:
    if args.out is not None:
        need_output(args.out, "-o")
    studio = open_studio(args)
    result = studio.results.get(args.result_id)
    if args.out is not None:
        if image_format(args.out) != result.format:
            raise UsageError(f"result {result.id} is a {result.format.upper()} picture: name -o with "
                             f"{'.jpg' if result.format == 'jpeg' else '.png'}")
        write_atomic(args.out, studio.results.read(result.id))
    doc = result.to_dict()
    doc["output"] = args.out
    expires = result.expires.isoformat(timespec="seconds") if result.expires else "never"
    lines = [f"result {result.id}  material {result.material_id}  {result.format} {result.size} bytes  "
             f"expires {expires}  {result.url}"]
    if args.out is not None:
        lines.append(f"wrote {args.out}")
    emit(args, doc, lines)
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    now = datetime.now(timezone.utc)
    until = args.until or now + timedelta(minutes=1)
    since = args.since or until - timedelta(hours=args.hours)
    if since >= until:
        raise UsageError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    studio = open_studio(args)
    records = studio.logs.query(since, until, args.interface)
    lines = []
    for r in records:
        ids = " ".join(f"{k}={v}" for k, v in (("activity", r.activity_id), ("material", r.material_id),
                                                ("result", r.result_id)) if v)
        status = r.error_code or "ok"
        lines.append(f"{r.timestamp.isoformat(timespec='seconds')}  {r.interface}  {status}  "
                     f"{r.time_cost_ms:.0f} ms  {r.request_id}  {ids}".rstrip())
    emit(args, [r.to_dict() for r in records], lines or ["no requests in that time"])
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    studio = open_studio(args)
    if args.every is None:
        counts = studio.sweep()
        emit(args, counts, ["swept: " + ", ".join(f"{k} {v}" for k, v in counts.items())])
        return EXIT_OK
    # Ctrl-C, or SIGTERM from a service manager, is how a periodic sweep ends (a round stopped half-way is finished
    # by the next sweep). Both are set here: a process started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            counts = studio.sweep()
            emit(args, counts, ["swept: " + ", ".join(f"{k} {v}" for k, v in counts.items())])
            sys.stdout.flush()
            time.sleep(args.every)
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_encrypt(args: argparse.Namespace) -> int:
    from fusionkit.storage.crypto import EnvironmentKey, LocalKeyFile
    from fusionkit.studio.encryption import encrypt_studio

    if args.studio is None:
        raise UsageError("this command works on a studio: give --studio URL (or set FUSIONKIT_STUDIO)")
    provider = (LocalKeyFile(args.key_file) if args.key_file else EnvironmentKey(args.key_env) if args.key_env
                else None)
    options = dict(args.storage_option or ())
    done = encrypt_studio(args.studio, provider, storage_options=options or None)
    emit(args, {"encrypted": done}, [f"encrypted {done} objects; the studio is encrypted at rest"])
    return EXIT_OK


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_erase(args: argparse.Namespace) -> int:
    if not (args.material or args.result or args.request):
        raise UsageError("name what to erase: --material ID, --result ID and/or --request ID (repeatable)")
    receipt = open_studio(args).erase(material_ids=args.material or (), result_ids=args.result or (),
                                      request_ids=args.request or ())
    emit(args, receipt.to_dict(), receipt_lines(receipt, "erased"))
    return EXIT_OK
