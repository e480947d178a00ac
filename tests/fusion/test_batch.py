"""fuse_many: many fusions stream back as they finish (each with its index), a failure stays on its item, requests
are read a few ahead of the work (flat memory), on threads or on a Dask cluster (real models, real C core)."""

from __future__ import annotations

import numpy as np
import pytest

import fusionkit
from fusionkit.errors import NoFaceDetectedError, ParameterValueError
from fusionkit.fusion.batch import BatchItem, FuseRequest, _gathers_direct, _on_loopback, fuse_many
from tests.cluster import process_cluster, wait_for_workers  # noqa: F401 - the session's cluster
from tests.photos import photo

BLANK = np.full((200, 200, 3), 128, np.uint8)  # no face: this request fails, the batch goes on


def requests() -> list[tuple[object, object]]:
    return [(photo("obama.jpg"), photo("biden.jpg")), (photo("biden.jpg"), photo("obama.jpg")),
            (BLANK, photo("biden.jpg")), (photo("obama3.jpg"), photo("astronaut.png"))]


def check(items: list[BatchItem]) -> None:
    assert sorted(item.index for item in items) == [0, 1, 2, 3]
    by_index = {item.index: item for item in items}
    assert not by_index[2].ok and isinstance(by_index[2].error, NoFaceDetectedError)
    for index, (template, user) in enumerate(requests()):
        if index != 2:
            assert by_index[index].ok
            assert np.array_equal(by_index[index].result.image, fusionkit.fuse(template, user).image)


def test_threads_stream_every_result_with_its_index_and_keep_failures_per_item() -> None:
    check(list(fuse_many(requests(), workers=2)))


def test_requests_are_read_only_a_few_ahead_of_the_work() -> None:
    pulled: list[int] = []

    def lazily():
        for i in range(40):
            pulled.append(i)
            yield FuseRequest(photo("obama.jpg"), photo("biden.jpg"))

    stream = fuse_many(lazily(), workers=1, in_flight=2)
    first = next(stream)
    assert first.ok and len(pulled) <= 3  # two in flight, one more once the first finished
    stream.close()  # the rest are never read or fused
    assert len(pulled) <= 3


def test_bad_requests_and_executors_are_refused() -> None:
    with pytest.raises(ParameterValueError, match="FuseRequest"):
        list(fuse_many(["not a request"]))
    with pytest.raises(ParameterValueError, match="dask"):
        list(fuse_many(requests(), executor="dask"))
    with pytest.raises(ParameterValueError, match="workers"):
        list(fuse_many(requests(), workers=0))
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(ParameterValueError, match="chunk"):
            list(fuse_many(requests(), chunk=bad))  # type: ignore[arg-type]


def test_chunks_of_requests_come_back_each_as_its_item_read_lazily() -> None:
    pulled: list[int] = []

    def lazily():
        for i in range(9):
            pulled.append(i)
            yield requests()[i % 4]

    stream = fuse_many(lazily(), workers=1, chunk=3, in_flight=6)
    first = next(stream)
    assert len(pulled) <= 9 and first.index in (0, 1, 2)  # two tasks of three were sent before the first came back
    items = [first, *stream]
    assert sorted(item.index for item in items) == list(range(9))
    assert [item.ok for item in sorted(items, key=lambda item: item.index)] == [i % 4 != 2 for i in range(9)]


def test_a_dask_cluster_runs_the_same_fusions() -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        check(list(fuse_many(requests(), executor=client)))


def test_a_studio_fuses_many_into_its_materials_each_a_logged_call() -> None:
    from datetime import timedelta

    from fusionkit.errors import MaterialIdNotFoundError
    from fusionkit.studio import RequestContext

    studio = fusionkit.open("memory://batch-studio", video_workers=0, sweep_every=None)
    activity = studio.activities.create("batch")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    asks = [(activity.id, material.id, photo("biden.jpg")), (activity.id, "mt_0123456789ab", photo("biden.jpg")),
            (activity.id, material.id, photo("astronaut.png")), "not a request"]
    ctx = RequestContext(app_id="app-batch")
    other = studio.activities.create("batch", context=ctx)
    stored = studio.materials.upload(other.id, photo("obama.jpg"), context=ctx)
    items = {item.index: item for item in studio.fuse_many(asks, workers=2)}
    assert sorted(items) == [0, 1, 2, 3]
    assert items[0].ok and items[2].ok and items[0].result.url is not None
    assert isinstance(items[1].error, MaterialIdNotFoundError) and isinstance(items[3].error, ParameterValueError)
    assert studio.results.read(items[2].result.id)
    (tenant,) = list(studio.fuse_many([(other.id, stored.id, photo("biden.jpg"))], context=ctx))
    assert tenant.ok and studio.results.get(tenant.result.id, context=ctx).id == tenant.result.id  # its tenant's
    now = studio.now()
    fused = studio.logs.query(now - timedelta(minutes=1), now + timedelta(minutes=1), interface="FuseFace")
    assert len(fused) == 3  # one logged call a request (failed ones too; a malformed one never reached the studio)


def test_a_local_cluster_of_processes_runs_the_scaling_out_example(process_cluster) -> None:  # noqa: F811
    # docs/scaling.md's example on the session's LocalCluster (two worker processes, one thread each, as there).
    wait_for_workers(process_cluster)
    items = list(fusionkit.fuse_many(requests(), executor=process_cluster))
    workers = {w["name"] for w in process_cluster.scheduler_info()["workers"].values()}
    check(items)
    check(list(fusionkit.fuse_many(requests(), executor=process_cluster, chunk=1)))  # one request a task
    assert len(workers) == 2
    assert _gathers_direct(process_cluster)  # its workers listen on loopback: results skip the scheduler


@pytest.mark.parametrize(("address", "reachable"), [
    ("tcp://127.0.0.1:40123", True), ("tcp://localhost:1", True), ("tcp://[::1]:8786", True),
    ("inproc://10.0.0.3/123/4", True), ("tcp://10.0.0.3:40123", False), ("tls://worker-7.cluster:8786", False),
    ("tcp://[2001:db8::1]:8786", False),
])
def test_results_come_straight_from_workers_only_this_host_surely_reaches(address: str, reachable: bool) -> None:
    assert _on_loopback(address) is reachable


def test_a_studio_fuses_many_on_a_cluster_of_processes(process_cluster, tmp_path) -> None:  # noqa: F811
    from datetime import timedelta

    from fusionkit.errors import MaterialIdNotFoundError
    from fusionkit.studio import RequestContext

    wait_for_workers(process_cluster)
    studio = fusionkit.open(str(tmp_path / "studio"), video_workers=0, sweep_every=None)
    activity = studio.activities.create("batch")
    material = studio.materials.upload(activity.id, photo("obama.jpg"))
    asks = [(activity.id, material.id, photo("biden.jpg")), (activity.id, "mt_0123456789ab", photo("biden.jpg")),
            (activity.id, material.id, photo("astronaut.png"))]
    ctx = RequestContext(client_ip="203.0.113.9")
    items = {item.index: item for item in studio.fuse_many(asks, executor=process_cluster, context=ctx)}
    assert sorted(items) == [0, 1, 2] and items[0].ok and items[2].ok
    assert isinstance(items[1].error, MaterialIdNotFoundError)
    assert studio.results.read(items[0].result.id)  # written by a worker process, read here
    now = studio.now()
    fused = studio.logs.query(now - timedelta(minutes=1), now + timedelta(minutes=1), interface="FuseFace")
    assert len(fused) == 3 and {r.client_ip for r in fused} == {"203.0.113.9"}  # logged by the workers, as the caller
    with pytest.raises(ParameterValueError, match="executor"):
        list(studio.fuse_many(asks, executor="dask"))


def test_cluster_workers_keep_freed_memory_for_the_next_fusion(process_cluster) -> None:  # noqa: F811
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536: without tune_worker_memory every large array
    # was mapped afresh, about 13,700 page faults a fusion (62 ms instead of 34).
    wait_for_workers(process_cluster)
    template, user = photo("obama.jpg"), photo("biden.jpg")

    def faults_per_fusion() -> tuple[bool, float]:
        import os
        import resource

        from fusionkit.fusion.batch import FuseRequest, _fuse_one
        from fusionkit.imaging.decode import DEFAULT_LIMITS
        from fusionkit.vision import BATCH_RUNTIME

        request = FuseRequest(template, user)
        _fuse_one(0, request, None, DEFAULT_LIMITS, BATCH_RUNTIME)  # the models loaded, the memory tuned
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for index in range(3):
            _fuse_one(index, request, None, DEFAULT_LIMITS, BATCH_RUNTIME)
        return "MALLOC_TRIM_THRESHOLD_" in os.environ, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3

    dask_set_it, faults = process_cluster.submit(faults_per_fusion, pure=False).result()
    assert dask_set_it and faults < 2000, faults
