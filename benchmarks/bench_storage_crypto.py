"""What encryption at rest costs: plain stores against the same stores through EncryptedStore.

Usage::

    .venv/bin/python benchmarks/bench_storage_crypto.py [--json] [--repeats N] [--dir PATH] [--fsync]

For each backend (``memory://`` and a LocalStore on local disk, without fsync unless ``--fsync``: fsync's
milliseconds would hide the cipher) and each case, the median time per operation of the plain store and the
encrypted one, and their ratio (the issue's target: 1.10 or less):

- ``write+read 1MB`` / ``100KB`` / ``2KB``: one ``write`` then one ``read`` of a fresh object (a source video or
  image, a result, a document);
- ``append 200B``: one JSONL line appended to an hour's log (the request log);
- ``read log 1000 lines``: reading an hour's log of 1,000 appended lines back.

The data key is cached (the studio's steady state); the master key is a LocalKeyFile. Medians over interleaved
repeats, never means: the machine is shared and timings are noisy; compare the ratios, not the times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fusionkit.storage import BlobStore, LocalStore, keys, open_store
from fusionkit.storage.crypto import EncryptedStore, LocalKeyFile

MT = "mt_0123456789ab"
SIZES = {"1MB": 1 << 20, "100KB": 100 << 10, "2KB": 2 << 10}


def per_op(fn: Callable[[int], None], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n


def cases(store: BlobStore, tag: str) -> dict[str, Callable[[int], None]]:
    out: dict[str, Callable[[int], None]] = {}
    for name, size in SIZES.items():
        data = os.urandom(size)

        def write_read(i: int, data: bytes = data, name: str = name) -> None:
            key = f"materials/{MT}/{tag}-{name}-{i % 8}.bin"
            store.write(key, data)
            assert len(store.read(key)) == len(data)

        out[f"write+read {name}"] = write_read
    line = (json.dumps({"request_id": "rq_0123456789ab", "action": "fuse", "material_id": MT, "ms": 41.5,
                        "code": "Success", "padding": "x" * 60}) + "\n").encode()[:200]
    hour = [0]

    def append(i: int) -> None:
        if i % 1000 == 0:  # a fresh hour every 1,000 lines, as the studio's hourly files
            hour[0] += 1
        store.append(f"logs/2026-01-02/{tag}-{hour[0]:04d}.jsonl", line)

    out["append 200B"] = append
    log = keys.log_file(datetime(2026, 1, 3, 0)).replace("00.jsonl", f"{tag}.jsonl")
    for _ in range(1000):
        store.append(log, line)

    def read_log(i: int) -> None:
        assert store.read(log).count(b"\n") == 1000

    out["read log 1000 lines"] = read_log
    return out


def measure(plain: BlobStore, encrypted: BlobStore, repeats: int) -> dict[str, dict[str, float]]:
    plain_cases, enc_cases = cases(plain, "p"), cases(encrypted, "e")
    counts = {"write+read 1MB": 20, "write+read 100KB": 100, "write+read 2KB": 300, "append 200B": 500,
              "read log 1000 lines": 20}
    results = {}
    for name in plain_cases:
        n = counts[name]
        per_op(plain_cases[name], max(1, n // 10))  # warm up: caches, the data key
        per_op(enc_cases[name], max(1, n // 10))
        p, e = [], []
        for _ in range(repeats):  # interleaved, so a busy moment of the machine hits both
            p.append(per_op(plain_cases[name], n))
            e.append(per_op(enc_cases[name], n))
        mp, me = statistics.median(p), statistics.median(e)
        results[name] = {"plain_us": mp * 1e6, "encrypted_us": me * 1e6, "ratio": me / mp}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", help="where the local stores go (a temporary folder by default)")
    parser.add_argument("--fsync", action="store_true", help="fsync every local write, as the studio does")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fk-bench-crypto-", dir=args.dir))
    try:
        provider = LocalKeyFile(work / "master.key")
        mem_plain = open_store(f"memory://fk-bench-{uuid.uuid4().hex}")
        mem_enc = EncryptedStore(open_store(f"memory://fk-bench-{uuid.uuid4().hex}"), provider)
        disk_plain = LocalStore(work / "plain", fsync=args.fsync)
        disk_enc = EncryptedStore(LocalStore(work / "encrypted", fsync=args.fsync), provider)
        report: dict[str, Any] = {
            "memory": measure(mem_plain, mem_enc, args.repeats),
            "local" + ("+fsync" if args.fsync else ""): measure(disk_plain, disk_enc, args.repeats),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for backend, rows in report.items():
        print(f"\n{backend}")
        print(f"  {'case':<22}{'plain us/op':>14}{'encrypted us/op':>18}{'ratio':>8}")
        for name, row in rows.items():
            print(f"  {name:<22}{row['plain_us']:>14.1f}{row['encrypted_us']:>18.1f}{row['ratio']:>8.2f}")


if __name__ == "__main__":
    main()
