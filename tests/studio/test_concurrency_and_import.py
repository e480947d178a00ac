"""Concurrent uploads and fusions lose nothing; sweeps during reads never yield a torn object; opening a studio
and importing fusionkit stay light."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

import fusionkit
from fusionkit.errors import ResultIdNotFoundError
from tests.photos import photo

from .conftest import photo_bytes


def _work(studio, activity_id: str, n: int) -> tuple[list[str], list[str]]:
    mids, rids = [], []
    for _ in range(n):
        m = studio.materials.upload(activity_id, photo_bytes("obama.jpg"))
        mids.append(m.id)
        rids.append(studio.fuse(activity_id, m.id, photo("biden.jpg")).id)
    return mids, rids


def test_two_threads_upload_and_fuse_without_loss(studio):
    a = studio.activities.create("threads")
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: _work(studio, a.id, 2), range(2)))
    mids = sorted(m for o in outcomes for m in o[0])
    rids = [r for o in outcomes for r in o[1]]
    assert len(set(mids)) == 4
    assert sorted(m.id for m in studio.materials.list(a.id).materials) == mids
    assert all(studio.results.get(r).id == r for r in rids)
    since = studio.now() - timedelta(hours=1)
    records = studio.logs.query(since, studio.now() + timedelta(hours=1))
    assert sum(r.interface == "FuseFace" for r in records) == 4
    assert sum(r.interface == "UploadMaterial" for r in records) == 4


CHILD = textwrap.dedent("""
    import json, sys
    import fusionkit
    from fusionkit.imaging.decode import load_image
    from fusionkit.samples import sample_path
    studio = fusionkit.open(sys.argv[1])
    user = load_image(sample_path("biden.jpg"))
    out = []
    for _ in range(2):
        m = studio.materials.upload(sys.argv[2], sample_path("obama.jpg"))
        out.append([m.id, studio.fuse(sys.argv[2], m.id, user).id])
    print(json.dumps(out))
""")


def test_two_processes_upload_and_fuse_without_loss(tmp_path):
    import json

    url = str(tmp_path / "shared")
    studio = fusionkit.open(url)
    a = studio.activities.create("processes")
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, url, a.id], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    pairs = []
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0
        pairs += json.loads(out)
    assert sorted(m.id for m in studio.materials.list(a.id).materials) == sorted(m for m, _ in pairs)
    assert all(studio.results.get(r).material_id == m for m, r in pairs)
    records = studio.logs.query(studio.now() - timedelta(hours=1), studio.now() + timedelta(hours=1))
    assert sum(r.interface == "FuseFace" for r in records) == 4  # no log line lost to interleaved appends


def test_a_sweep_during_reads_yields_whole_results_or_not_found(studio, clock):
    a = studio.activities.create("sweep")
    m = studio.materials.upload(a.id, photo_bytes("obama.jpg"))
    r = studio.fuse(a.id, m.id, photo("biden.jpg"), response="bytes", )
    stored = studio.fuse(a.id, m.id, photo("biden.jpg"))
    whole = studio.results.read(stored.id)
    # Many copies of the stored result, all expired once the clock moves on.
    day = stored.created.date()
    names = [n for n in studio.store.list(f"results/image/{day}") if n.endswith(".json")]
    assert len(names) == 1 and r.size > 0
    from fusionkit.domain import ids

    copies = []
    for _ in range(40):
        rid = ids.new_id(ids.RESULT, stored.created)
        doc = stored.to_json().replace(stored.id, rid)
        studio.store.write(f"results/image/{day}/{m.id}.{rid}.jpg", whole)
        studio.store.write(f"results/image/{day}/{m.id}.{rid}.json", doc.encode())
        copies.append(rid)
    clock.advance(days=6, hours=23, minutes=59)
    outcomes: list[str] = []
    stop = threading.Event()
    passes = [0]

    def reader() -> None:
        while not stop.is_set():
            passes[0] += 1
            for rid in copies:
                try:
                    data = studio.results.read(rid)
                except ResultIdNotFoundError:
                    outcomes.append("gone")
                    continue
                outcomes.append("whole" if data == whole else "TORN")

    t = threading.Thread(target=reader)
    t.start()
    clock.advance(minutes=2)
    seen_before = passes[0]
    counts = studio.sweep()
    deadline = time.monotonic() + 60
    while passes[0] < seen_before + 2 and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)  # at least one whole pass of reads after the clock moved
    stop.set()
    t.join()
    assert counts["results"] == 41
    assert "TORN" not in outcomes and "gone" in outcomes


def test_import_and_open_stay_light(tmp_path):
    code = textwrap.dedent(f"""
        import sys, fusionkit
        assert "fsspec" not in sys.modules and "onnxruntime" not in sys.modules and "cv2" not in sys.modules
        studio = fusionkit.open({str(tmp_path / "light")!r})
        studio.activities.create("a")
        assert "onnxruntime" not in sys.modules and "fusionkit.fusion" not in sys.modules, sorted(sys.modules)
        assert "fsspec" not in sys.modules  # local disk needs no fsspec
        fusionkit.open("memory://light")
        assert "fsspec" in sys.modules
        assert fusionkit.Studio is fusionkit.studio.Studio
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_docstring_example():
    studio = fusionkit.open("memory://docstring-example")
    assert studio.activities.create("spring campaign").name == "spring campaign"


@pytest.mark.parametrize("bad", ["", 5, None])
def test_open_refuses_bad_urls(bad):
    with pytest.raises(ValueError):
        fusionkit.open(bad)
