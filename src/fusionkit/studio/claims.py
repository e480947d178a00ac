"""Who runs a video job: a claim with a lease, kept in the store, so that any number of studios and workers on one
store run each job exactly once, and a job whose worker died is taken over within one lease period.

A claim is the object ``jobs/{job_id}/claims/{generation}.json``, created with :meth:`BlobStore.create` (a hard
link on local disk, a conditional put on S3): of everyone who tries to create a generation, exactly one succeeds.
The holder rewrites its own object every third of the lease (its *beat* goes up, with the job's progress); nobody
else ever writes it. Someone who sees the newest generation's beat stand still for a whole lease, by its own
monotonic clock, takes the job over by creating the next generation; the old holder, at its next beat, finds a
newer generation and stops without writing anything. No two machines' clocks are compared.

A holder that stops beating for a whole lease while alive (a process frozen by a debugger, a VM paused) can find
its job taken over; it checks before each write it makes, so the only window is between that check and the write
(milliseconds against a lease of seconds), as with every lease without fencing tokens.

The claims live in the job's folder, so everything that deletes a job's folder (its end, a cancel, an erasure, the
sweep of an ended job's leftovers) deletes its claims; a holder deletes its own object when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import attrs

from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound

__all__ = ["DEFAULT_LEASE", "Claim", "Claims", "Lease", "TakenOver", "job_claims"]

#: Seconds a claim holds without a beat before another worker may take the job over.
DEFAULT_LEASE = 30.0


def job_claims(job_id: str) -> str:
    """The folder of a video job's claims (inside the job's folder, so they go with it)."""
    return f"{keys.job_folder(job_id)}/claims"


class TakenOver(Exception):
    """Raised in a run whose claim may be another worker's now (taken over, or not renewed or checked for a whole
    lease): it stops and writes nothing, and leaves the job as it is, photos and all, to whoever holds it."""


@attrs.frozen
class Claim:
    """One holder's claim on a subject (a job's id): the generation it created, who it is (``host:pid:token``)
    and a token of this take (a generation number comes back once a folder is empty: the token tells two claims of
    one number apart)."""

    subject: str
    generation: int
    holder: str
    token: str = attrs.field(factory=lambda: secrets.token_hex(6))


def _record(claim: Claim, lease_s: float, beat: int, progress: float, renewed: str | None) -> bytes:
    return json.dumps({"holder": claim.holder, "token": claim.token, "lease_s": lease_s, "beat": beat,
                       "progress": round(progress, 3), "renewed": renewed}).encode()


class Claims:
    """Claims on the video jobs of a store, made and kept by one studio.

    Parameters
    ----------
    lease_s
        Seconds a claim holds without a beat (default 30); holders beat every third of it.
    folder
        The folder of a subject's claims (default :func:`job_claims`: subjects are video job ids).
    clock
        The studio's clock: each beat records when it was made by it (what retention reads: a job still being
        run is not one that waited too long); never used to decide a lapse.
    """

    def __init__(self, lease_s: float = DEFAULT_LEASE, folder: Callable[[str], str] = job_claims,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.lease_s = float(lease_s)
        self._folder = folder
        self._clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        # What this studio saw of others' claims: (subject, generation, token) -> (beat, monotonic time first seen).
        self._seen: dict[tuple[str, int, str], tuple[int, float]] = {}
        self._kept: set[tuple[str, int]] = set()  # the claims taken here and not released

    def key(self, subject: str, generation: int) -> str:
        """The object of ``subject``'s claim of ``generation``."""
        return f"{self._folder(subject)}/{generation:08d}.json"

    def _generations(self, store: BlobStore, subject: str) -> list[int]:
        names = store.list(self._folder(subject))
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def _read(self, store: BlobStore, subject: str, generation: int) -> dict[str, object] | None:
        try:
            value = json.loads(store.read(self.key(subject, generation)))
        except (KeyNotFound, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _lapsed(self, subject: str, generation: int, record: dict[str, object] | None) -> bool:
        """Whether the claim's beat has stood still for its whole lease, as this studio watched it."""
        if record is None:  # unreadable or gone between the listing and the read: look again next time
            return False
        if record.get("holder") == self.holder:  # ours, and released: a delete that failed; nobody holds it
            with self._lock:
                return (subject, generation) not in self._kept
        beat = int(record.get("beat", 0))  # type: ignore[call-overload]
        lease = float(record.get("lease_s", self.lease_s))  # type: ignore[arg-type]
        watched = (subject, generation, str(record.get("token", "")))
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(watched)
            if seen is None or seen[0] != beat:
                self._seen[watched] = (beat, now)
                return False
            return now - seen[1] >= lease

    def take(self, store: BlobStore, subject: str) -> Claim | None:
        """Claim ``subject`` when nobody holds it, or when its holder's lease has lapsed (watched here for a whole
        lease); ``None`` when someone else holds it, or won the race to take it."""
        generations = self._generations(store, subject)
        latest = generations[-1] if generations else 0
        if latest and not self._lapsed(subject, latest, self._read(store, subject, latest)):
            return None
        claim = Claim(subject, latest + 1, self.holder)
        if not store.create(self.key(subject, claim.generation), self.record(claim, 0, 0.0)):
            return None
        with self._lock:
            self._kept.add((subject, claim.generation))
        self.forget(subject)
        for older in generations:  # a dead holder's claim would stay forever (one alive and late deletes its own)
            with contextlib.suppress(Exception):
                store.delete(self.key(subject, older))
        return claim

    def record(self, claim: Claim, beat: int, progress: float) -> bytes:
        """The claim's object at ``beat``."""
        renewed = None if self._clock is None else self._clock().isoformat()
        return _record(claim, self.lease_s, beat, progress, renewed)

    def renewed(self, store: BlobStore, subject: str) -> datetime | None:
        """When (by the studio clock of its holder) the newest claim on ``subject`` last beat, or ``None``."""
        generations = self._generations(store, subject)
        record = self._read(store, subject, generations[-1]) if generations else None
        value = None if record is None else record.get("renewed")
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def forget(self, subject: str) -> None:
        """Drop what this studio watched of ``subject``'s claims (the job ended: nobody will claim it again)."""
        with self._lock:
            for seen in [k for k in self._seen if k[0] == subject]:
                del self._seen[seen]

    def holds(self, store: BlobStore, claim: Claim) -> bool:
        """Whether ``claim`` is still the newest claim on its job (no one took the job over)."""
        generations = self._generations(store, claim.subject)
        return bool(generations) and generations[-1] == claim.generation

    def release(self, store: BlobStore, claim: Claim) -> None:
        """Delete ``claim``'s object (the holder stopped, whatever the job became)."""
        with self._lock:
            self._kept.discard((claim.subject, claim.generation))
        with contextlib.suppress(Exception):
            store.delete(self.key(claim.subject, claim.generation))

    def progress(self, store: BlobStore, subject: str) -> float | None:
        """The progress (0-1) the newest holder of ``subject`` last reported, or ``None``."""
        generations = self._generations(store, subject)
        record = self._read(store, subject, generations[-1]) if generations else None
        if record is None:
            return None
        return float(record.get("progress", 0.0))  # type: ignore[arg-type]

    @contextlib.contextmanager
    def kept(self, store: BlobStore, claim: Claim, wanted: Callable[[], bool],
             check_every: float = 2.0) -> Iterator[Lease]:
        """Keep ``claim`` alive while the block runs: a thread beats every third of the lease and, every
        ``check_every`` seconds, asks ``wanted()`` (the job is still running: not cancelled, not erased). The
        :class:`Lease` says when the job was lost (taken over, or no longer wanted); the block checks it."""
        lease = Lease(self, store, claim, wanted, min(check_every, self.lease_s / 3))
        try:
            lease.start()
            yield lease
        finally:
            lease.stop()
            self.release(store, claim)


class Lease:
    """A claim being kept: :attr:`lost` is set once the job is no longer wanted (cancelled, erased) or may be
    another worker's (:attr:`taken_over`: taken over, or the claim could not be renewed or checked: then the job is
    left as it is); :meth:`report` hands the job's progress to the next beat."""

    def __init__(self, claims: Claims, store: BlobStore, claim: Claim, wanted: Callable[[], bool],
                 tick: float) -> None:
        self.claim = claim
        self.lost = threading.Event()
        self.taken_over = False
        self.why = ""
        self._claims = claims
        self._store = store
        self._wanted = wanted
        self._tick = tick
        self._progress = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fusionkit-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join()

    def report(self, progress: float) -> None:
        """The job's progress (0-1), written with the next beat."""
        self._progress = progress

    def still_held(self) -> bool:
        """Check now, in the store, that the job is still wanted and the claim still the newest: before a write.
        A store that does not answer three times in a row counts as a lost claim (write nothing; the job is run
        again once the claim lapses)."""
        for attempt in range(3):
            if self.lost.is_set() or self._check():
                break
            if attempt == 2:
                self.taken_over = True  # as far as this worker can tell: the job is left as it is, for a retry
                self._lose("the store did not answer whether the claim still holds")
            time.sleep(0.2)
        return not self.lost.is_set()

    def _check(self) -> bool:
        """Look in the store; whether it answered. The job's state first: a cancel or an erasure deletes the
        claims with the job's folder, and is not a takeover."""
        try:
            if not self._wanted():
                self._lose("the job was cancelled or erased")
            elif not self._claims.holds(self._store, self.claim):
                self.taken_over = True
                self._lose("another worker took the job over")
        except Exception:  # a store that fails now may answer at the next tick; the lease says how long we have
            return False
        return True

    def _lose(self, why: str) -> None:
        self.why = why
        self.lost.set()

    def _run(self) -> None:
        beat = 0
        every = self._claims.lease_s / 3
        last_beat = time.monotonic()
        while not self._stop.wait(self._tick):
            self._check()
            if self.lost.is_set():
                return
            if time.monotonic() - last_beat >= self._claims.lease_s:
                # No beat landed for a whole lease: another worker may hold the job by now. Stop, and leave the job
                # as it is to whoever holds it (or to the next claim).
                self.taken_over = True
                self._lose("the claim could not be renewed for a whole lease")
                return
            if time.monotonic() - last_beat >= every:
                try:
                    self._store.write(self._claims.key(self.claim.subject, self.claim.generation),
                                      self._claims.record(self.claim, beat + 1, self._progress))
                except Exception:  # a missed beat is tried again at the next tick
                    continue
                beat += 1
                last_beat = time.monotonic()
