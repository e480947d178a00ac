"""``fusionkit --studio URL video``: submit, watch, cancel and run video fusion jobs."""

from __future__ import annotations

import argparse
import time
from typing import Any

from fusionkit.cli.common import (
    EXIT_OK,
    UsageError,
    carried_consent,
    check_plugins,
    guard,
    material_degrees,
    merges,
    need_input,
    open_studio,
    plugin_options,
    runtime,
)
from fusionkit.cli.output import Progress, emit, job_line
from fusionkit.errors import FusionKitError

__all__ = ["cmd_video"]


def cmd_video(args: argparse.Namespace) -> int:
    if args.action == "submit":
        if args.material is None:
            raise UsageError("give the video material to fuse into with --material ID (and USER pictures)")
        for user in args.users:
            need_input(user, "USER")
        into_faces = guard(lambda: merges(args.users))
        plugins = guard(lambda: plugin_options(args))
        options = None
        if plugins:
            from fusionkit.domain.options import FuseOptions

            with runtime(args):  # the models load on the providers asked for
                check_plugins(guard(lambda: FuseOptions(**plugins)))  # before anything is queued
        studio = open_studio(args, video_workers=1 if args.wait else 0)
        if plugins:
            # Options given to submit are used as they are, so they carry the degrees it would otherwise pick.
            material = studio.materials.get(args.material, activity_id=args.activity)
            found = studio.activities.get(args.activity or material.activity_id)
            face, profile = material_degrees(material, found)
            options = FuseOptions(fuse_face_degree=face, fuse_profile_degree=profile, **plugins)
            activity = found.id
        else:
            activity = args.activity or studio.materials.get(args.material).activity_id
        with runtime(args):
            job = studio.videos.submit(activity, args.material, into_faces, options=options,
                                       fuse_face_degree=args.face_degree, fuse_profile_degree=args.profile_degree,
                                       user_designated_url=args.url, consent=carried_consent(args))
            if args.wait:
                job = _wait_job(studio, job.id, args.timeout)
    elif args.action in ("status", "cancel"):
        studio = open_studio(args)
        job = studio.videos.get(args.job_id) if args.action == "status" else studio.videos.cancel(args.job_id)
    else:
        studio = open_studio(args, video_workers=1)
        with runtime(args):
            job = _wait_job(studio, args.job_id, args.timeout)
    if job.status == "failed" and (args.action == "wait" or (args.action == "submit" and args.wait)):
        from fusionkit.errors import error_for_code

        try:
            error = error_for_code(job.error_code or "")
        except KeyError:
            error = FusionKitError
        raise error(f"video job {job.id} failed: {job.error_message}")
    emit(args, job.to_dict(), [job_line(job)])
    return EXIT_OK


def _wait_job(studio: Any, job_id: str, timeout: float | None) -> Any:
    """Run the studio's queued jobs in this process until ``job_id`` is done (or ``timeout`` seconds pass)."""
    progress = Progress()
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
