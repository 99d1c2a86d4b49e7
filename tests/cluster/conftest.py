"""A real multi-node Ray cluster on this machine for the cluster tests (``ray.cluster_utils``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

#: Resources of a worker node: one CPU (one worker each), a small object store.
NODE: dict[str, Any] = {"num_cpus": 1, "object_store_memory": 80 * 1024**2}


@pytest.fixture
def cluster() -> Iterator[Any]:
    """A head node that runs no worker (0 CPUs) and two nodes of one CPU each; the test's
    process is connected to it."""
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'visionflow[ray]'")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={**NODE, "num_cpus": 0})
    for _ in range(2):
        c.add_node(**NODE)
    ray.init(address=c.address, log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
