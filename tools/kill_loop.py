"""Kill a studio with SIGKILL at random points of a scripted session, reopen its folder, and check what was left.

Each iteration starts a child process that opens a studio on a fresh folder (video_workers=1) and runs a script:
create an activity, upload a picture, fuse into it (``response="url"``), upload a tiny video, submit a video job
and wait for it, upload into a second activity and delete that activity, delete the picture material (with its
result), and sweep. The child is killed with SIGKILL after a random delay (seeded) within the script's measured
duration. The folder is then reopened: a studio with a video worker finishes the jobs a restart picks up, and
tests/faults/invariants.py checks that every document parses and that a sweep two hours later leaves nothing
behind (temporary files, orphan material folders and markers, job inputs, job scratch folders), and the steps the
child reported done are still there (or gone, for what it deleted).

Usage::

    python tools/kill_loop.py --iterations 150 --encryption both --seed 1 [--keep DIR]
    python tools/kill_loop.py --seed 1 --only 37          # one iteration again, by its number

``make chaos`` runs it through tests/faults/test_kill_loop.py with ``FUSIONKIT_KILL_ITERATIONS`` (default 150);
the test suite runs a few iterations. Exit status 1 when an iteration found corrupt or leftover state.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Bugs of src/ this loop found and reported, not fixed yet: (name, a regex every problem of an iteration matches).
#: An iteration whose problems all match one is counted apart, not as a failure. Remove an entry once fixed.
KNOWN: tuple[tuple[str, str], ...] = ()  # every bug this loop found is fixed; a new one goes here

#: The script's steps, in order (what the child prints as it finishes each).
STEPS = ("open", "activity", "upload", "fuse", "video", "submit", "job", "other", "delete_activity",
         "delete_material", "sweep")


# -- the child ----------------------------------------------------------------------------------------------------


def child(folder: str, encryption: str | None, clip: str) -> None:
    """Run the script on ``folder``, printing ``step <name> <id>`` as each step ends (for the parent)."""
    import fusionkit
    from fusionkit.samples import sample_path
    from tests.photos import photo

    def done(step: str, value: str = "-") -> None:
        print(f"step {step} {value} {time.monotonic() - ready:.3f}", flush=True)

    user = photo("biden.jpg")
    picture = sample_path("obama.jpg").read_bytes()
    print("ready", flush=True)
    ready = time.monotonic()
    studio = fusionkit.open(folder, video_workers=1, sweep_every=None, job_lease=1, encryption=encryption)
    done("open")
    a = studio.activities.create("a")
    done("activity", a.id)
    m = studio.materials.upload(a.id, picture)
    done("upload", m.id)
    r = studio.fuse(a.id, m.id, user, response="url")
    done("fuse", r.id)
    v = studio.materials.upload(a.id, clip)
    done("video", v.id)
    job = studio.videos.submit(a.id, v.id, user)
    done("submit", job.id)
    finished = studio.videos.wait(job.id, timeout=120)
    done("job", f"{job.id}:{finished.status}")
    b = studio.activities.create("b")
    mb = studio.materials.upload(b.id, picture)
    done("other", f"{b.id}:{mb.id}")
    studio.activities.delete(b.id)
    done("delete_activity", b.id)
    studio.materials.delete(m.id)
    done("delete_material", m.id)
    studio.sweep()
    done("sweep")
    studio.close()
    print(f"done {time.monotonic() - ready:.3f}", flush=True)


# -- the parent ---------------------------------------------------------------------------------------------------


class Run:
    """One child: started, read until ``ready``, killed after ``delay`` seconds (never, with ``None``)."""

    def __init__(self, folder: Path, encryption: str | None, clip: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(folder), str(encryption), str(clip)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the child did not start: {line!r} {err[-4000:]}")
        self.started = time.monotonic()

    def finish(self, delay: float | None) -> tuple[dict[str, str], bool, float]:
        """(the steps done with their ids, whether it ran to the end, seconds from ready to the script's end)."""
        killed = False
        if delay is not None:
            try:
                self.proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                killed = True
        out, err = self.proc.communicate(timeout=300)
        took = time.monotonic() - self.started
        steps = {}
        complete = False
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "step":
                steps[parts[1]] = parts[2]
            elif len(parts) == 2 and parts[0] == "done":
                complete, took = True, float(parts[1])
        if not killed and not complete:
            raise RuntimeError(f"the child failed (status {self.proc.returncode}):\n{err[-4000:]}")
        return steps, complete, took


def expectations(steps: dict[str, str]) -> Callable[[Any], list[str]]:
    """What the studio must still show of the steps the child reported done."""
    from fusionkit.errors import ActivityIdNotFoundError, MaterialIdNotFoundError, ResultIdNotFoundError

    def check(s: Any) -> list[str]:
        out: list[str] = []
        started = set(STEPS[: len(steps) + 1])  # the steps done and the one it was killed in

        def material_whole(mid: str) -> None:
            try:
                m = s.materials.get(mid)
                s.store.read(f"materials/{mid}/source.{'jpg' if m.source_format == 'jpeg' else m.source_format}")
            except Exception as exc:
                out.append(f"material {mid} does not read: {type(exc).__name__}: {exc}")

        def material_gone(mid: str) -> None:
            try:
                s.materials.get(mid)
                out.append(f"the deleted material {mid} still reads")
            except MaterialIdNotFoundError:
                pass

        if "activity" in steps:
            try:
                s.activities.get(steps["activity"])
            except ActivityIdNotFoundError:
                out.append(f"activity {steps['activity']} is gone")
        if "upload" in steps:
            mid = steps["upload"]
            if "delete_material" in steps:
                material_gone(mid)
            elif "delete_material" not in started:
                material_whole(mid)
        if "fuse" in steps and "delete_material" not in started:
            try:
                s.results.read(steps["fuse"])
            except ResultIdNotFoundError as exc:
                out.append(f"result {steps['fuse']} does not read: {exc}")
        if "fuse" in steps and "delete_material" in steps:
            try:
                s.results.get(steps["fuse"])
                out.append(f"the result {steps['fuse']} of the deleted material still reads")
            except ResultIdNotFoundError:
                pass
        if "video" in steps:
            material_whole(steps["video"])
        if "submit" in steps:
            jid = steps["submit"]
            try:
                job = s.videos.get(jid)
                if job.status != "completed":
                    out.append(f"job {jid} ended {job.status} ({job.error_code}: {job.error_message})")
            except Exception as exc:
                out.append(f"job {jid} does not read: {type(exc).__name__}: {exc}")
        if "other" in steps:
            bid, mbid = steps["other"].split(":")
            if "delete_activity" in steps:
                material_gone(mbid)
                try:
                    s.activities.get(bid)
                    out.append(f"the deleted activity {bid} still reads")
                except ActivityIdNotFoundError:
                    pass
            elif "delete_activity" not in started:
                material_whole(mbid)
        return out

    return check


def iteration_seed(seed: int, i: int) -> int:
    return seed * 100_003 + i


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("FUSIONKIT_KILL_ITERATIONS", "150")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUSIONKIT_KILL_SEED", "1")))
    parser.add_argument("--only", type=int, default=None, help="run only this iteration (by its number)")
    parser.add_argument("--encryption", choices=("auto", "none", "both"), default="both")
    parser.add_argument("--keep", type=Path, default=None, help="copy each failing iteration's folder here")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "ENCRYPTION", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        folder, enc, clip = args.child
        child(folder, None if enc == "None" else enc, clip)
        return 0
    failures, known = loop(args.iterations, seed=args.seed, encryption=args.encryption, keep=args.keep,
                           only=args.only, log=print)
    return 1 if failures or known else 0


def loop(iterations: int, *, seed: int = 1, encryption: str = "both", keep: Path | None = None,
         only: int | None = None, log: Callable[[str], None] = print) -> tuple[list[str], list[str]]:
    """Run the iterations; the failures found (one paragraph each, with its seed) and the iterations that failed
    by a :data:`KNOWN` bug, after logging a summary."""
    from tests.faults.invariants import recover_and_check, scratch_folders
    from tests.video.clips import make_clip

    work = Path(tempfile.mkdtemp(prefix="fusionkit-kill-loop-"))
    tmp = work / "tmp"  # the children's temporary folder: their job scratch folders, and nobody else's
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    env.setdefault("FUSIONKIT_KEY_FILE", str(work / "keys" / "master.key"))
    env.pop("FUSIONKIT_MASTER_KEY", None)
    saved = {k: os.environ.get(k) for k in ("FUSIONKIT_KEY_FILE", "FUSIONKIT_MASTER_KEY")}
    os.environ["FUSIONKIT_KEY_FILE"] = env["FUSIONKIT_KEY_FILE"]
    os.environ.pop("FUSIONKIT_MASTER_KEY", None)
    old_tempdir, tempfile.tempdir = tempfile.tempdir, str(tmp)
    modes: list[str | None] = {"auto": ["auto"], "none": [None], "both": ["auto", None]}[encryption]  # type: ignore[assignment]
    failures: list[str] = []
    known: list[str] = []
    counts: Counter[str] = Counter()
    try:
        clip = make_clip(work / "tiny.mp4", width=320, height=180, fps=10, seconds=0.5)
        # The script's duration, from the child's "ready" to its end, once run whole (and checked).
        durations = {}
        for enc in modes:
            folder = work / f"whole-{enc}"
            steps, complete, took = Run(folder, enc, clip, env).finish(None)
            assert complete, steps
            report = recover_and_check(folder, now=datetime.now(timezone.utc), encryption=enc, tmpdir=str(tmp),
                                       run_jobs=True, expect=expectations(steps))
            if not report.ok:
                failures.append(f"the whole script ({enc}) leaves: " + "; ".join(report.lines()))
            durations[enc] = took
            shutil.rmtree(folder, ignore_errors=True)
        log(f"script duration: {', '.join(f'{e}: {d:.2f} s' for e, d in durations.items())}")
        numbers = [only] if only is not None else list(range(iterations))
        for i in numbers:
            enc = modes[i % len(modes)]
            rng = random.Random(iteration_seed(seed, i))
            delay = rng.uniform(0.0, durations[enc])
            folder = work / f"it-{i}"
            steps, complete, _ = Run(folder, enc, clip, env).finish(delay)
            killed_in = "end" if complete else STEPS[min(len(steps), len(STEPS) - 1)]
            counts[killed_in] += 1
            report = recover_and_check(folder, now=datetime.now(timezone.utc), encryption=enc, tmpdir=str(tmp),
                                       run_jobs=True, expect=expectations(steps))
            counts["corrupt"] += len(report.corrupt)
            counts["leftovers"] += len(report.leftovers)
            counts["unmet"] += len(report.unmet)
            counts["notes"] += len(report.notes)
            lines = report.lines()
            bug = next((name for name, pattern in KNOWN if all(re.search(pattern, p) for p in lines)), None)
            if lines and bug is not None:
                counts["known"] += 1
                known.append(f"{bug}: iteration {i} (--seed {seed} --only {i}; encryption {enc})")
            elif not report.ok:
                failures.append(f"iteration {i} (--seed {seed} --only {i}; encryption {enc}; killed after "
                                f"{delay:.3f} s, in step {killed_in}):\n    " + "\n    ".join(report.lines()))
            if lines and keep is not None:
                shutil.copytree(folder, keep / f"seed{seed}-it{i}-{enc}", dirs_exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            for scratch in scratch_folders(str(tmp)):  # checked (none) above; a failing one is reported
                shutil.rmtree(scratch, ignore_errors=True)
        killed = {s: counts[s] for s in (*STEPS, "end") if counts[s]}
        log(f"{len(numbers)} iterations (seed {seed}, encryption {encryption}): killed in {killed}; "
            f"{counts['corrupt']} corrupt, {counts['leftovers']} leftovers, {counts['unmet']} unmet, "
            f"{counts['notes']} notes; {len(failures)} failing, {counts['known']} failing by known bugs")
        for failure in failures + known:
            log(failure)
    finally:
        tempfile.tempdir = old_tempdir
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(work, ignore_errors=True)
    return failures, known


if __name__ == "__main__":
    sys.exit(main())
