"""Plug-in renderers in batches: on threads (one session per model, shared) and on a cluster's worker processes
(each rebuilds the plug-in from its spec and loads its own sessions)."""

from __future__ import annotations

import numpy as np

import fusionkit
from fusionkit.domain.options import FuseOptions
from fusionkit.fusion.renderers import OnnxSwapper
from fusionkit.vision import user_models
from tests.cluster import process_cluster, wait_for_workers  # noqa: F401 - the session's cluster
from tests.photos import photo
from tests.renderers.conftest import Models


def test_threads_share_one_session_per_model_and_fuse_as_one_call_does(models: Models) -> None:
    opts = FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser))
    users = ["biden.jpg", "obama3.jpg", "astronaut.png", "biden.jpg"]
    requests = [(photo("obama.jpg"), photo(name)) for name in users]
    items = sorted(fusionkit.fuse_many(requests, opts, workers=2), key=lambda item: item.index)
    assert all(item.ok for item in items)
    for item, name in zip(items, users, strict=True):
        assert np.array_equal(item.result.image, fusionkit.fuse(photo("obama.jpg"), photo(name), opts).image)
    swappers = [key for key in user_models._models if key[0] == models.swapper.path]
    assert len({key[3] for key in swappers}) == len(swappers)  # one session per runtime, never one per thread


def test_cluster_workers_rebuild_the_plugin_from_its_spec(models: Models, process_cluster) -> None:  # noqa: F811
    wait_for_workers(process_cluster)
    opts = FuseOptions(renderer=OnnxSwapper(models.swapper, models.recogniser))
    requests = [(photo("obama.jpg"), photo("biden.jpg"))] * 3
    items = list(fusionkit.fuse_many(requests, opts, executor=process_cluster, chunk=1))
    assert all(item.ok for item in items), [item.error for item in items]
    here = fusionkit.fuse(photo("obama.jpg"), photo("biden.jpg"), opts)
    for item in items:
        assert item.result.model_licences == here.model_licences
        assert np.abs(item.result.image.astype(int) - here.image.astype(int)).max() <= 1
