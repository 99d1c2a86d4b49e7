"""Scale-out on Ray: the same pipeline file run by many workers on many machines.

``visionflow run PIPELINE --ray [--ray-address ADDRESS]`` runs :class:`ClusterRunner`: workers
(Ray actors) each run the normal pipeline on a share of the sources; the driver places the
sources by cost, writes every worker's metadata into the configured JSON Lines sinks, and moves
the streams of a lost worker to the survivors, resuming files after the last frame whose results
were written. Ray is imported only here, on first use (``pip install visionflow[ray]``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visionflow.cluster.config import ClusterConfig
    from visionflow.cluster.driver import ClusterReport, ClusterRunner

_WHERE = {
    "ClusterConfig": "visionflow.cluster.config",
    "ClusterReport": "visionflow.cluster.driver",
    "ClusterRunner": "visionflow.cluster.driver",
}

__all__ = ["ClusterConfig", "ClusterReport", "ClusterRunner"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'visionflow.cluster' has no attribute '{name}'")
    return getattr(import_module(_WHERE[name]), name)
