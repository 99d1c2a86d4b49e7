"""The ``cluster:`` section of a pipeline file: how the pipeline runs on Ray (``--ray``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClusterConfig(BaseModel):
    """Workers and their resources for ``visionflow run PIPELINE --ray``.

    Each worker is a Ray actor running the normal pipeline on its share of the sources. Without
    ``--ray`` this section is read and checked, and nothing else happens.
    """

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, description="Ray actors running the pipeline.")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each worker.")
    gpus_per_worker: float | None = Field(
        None,
        ge=0,
        description="GPUs Ray reserves for each worker; default: 1 when an inference stage runs "
        "on cuda, else 0.",
    )
    streams_per_worker: int | None = Field(
        None, ge=1, description="Most streams a worker takes; default: no limit."
    )
    restart_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a lost worker's streams may take to flow again on the survivors "
        "before the run reports them as failed.",
    )
    poll_interval: float = Field(
        0.1, gt=0, description="Seconds between the driver's collections of results."
    )
