"""One Dask cluster of worker processes for the whole test session (starting one takes seconds): the scaling-out
example, batch fusion and video jobs on workers, and the killed-worker fault test share it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def process_cluster() -> Iterator[Any]:
    """A ``distributed.Client`` on a LocalCluster of two worker processes with one thread each (restarted by their
    nannies when a test kills one)."""
    import distributed  # the dask extra, part of the test extra: a missing one fails here, never skips
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def wait_for_workers(client: Any, count: int = 2, timeout: float = 60) -> None:
    """Block until ``count`` workers are up (after a test killed one, its nanny starts another)."""
    client.wait_for_workers(count, timeout=timeout)
