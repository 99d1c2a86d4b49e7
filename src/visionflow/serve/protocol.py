"""What the REST API and the metrics need of a controller: one process's
:class:`~visionflow.serve.control.Controller` and a Ray cluster's
:class:`~visionflow.cluster.control.ClusterController` both give it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from visionflow.serve.control import StreamEntry


class StatsView(Protocol):
    def snapshot(self) -> tuple[dict[int, int], dict[int, int], dict[str, int]]:
        """Frames in and out per stream and drops per reason."""
        ...


class PipelineView(Protocol):
    """The pipeline (or what stands for it) as the API reads and stops it."""

    @property
    def running(self) -> bool: ...

    @property
    def draining(self) -> bool: ...

    @property
    def stats(self) -> StatsView: ...

    def stop(self) -> None: ...

    def wait_flushed(self, source_id: int, timeout: float | None = None) -> bool: ...

    def queue_depths(self) -> dict[str, int]: ...


class RuntimeControl(Protocol):
    """The controller behind :func:`~visionflow.serve.api.create_app` and the metrics."""

    @property
    def pipeline(self) -> PipelineView: ...

    def add_stream(
        self,
        uri: str,
        *,
        camera_id: str | None = None,
        camera_name: str | None = None,
        live: bool | None = None,
        loop: bool = False,
    ) -> StreamEntry: ...

    def find(
        self, *, source_id: int | None = None, camera_id: str | None = None, uri: str | None = None
    ) -> StreamEntry: ...

    def remove_stream(self, source_id: int) -> StreamEntry: ...

    def state(self, source_id: int) -> str: ...

    def streams(self, *, all_states: bool = False) -> list[StreamEntry]: ...

    def stream_stats(self, source_id: int | None = None) -> list[dict[str, Any]]: ...

    def health(self) -> dict[str, Any]: ...

    def set_interval(self, element: str | None, interval: int) -> str: ...

    def spools(self) -> dict[str, Mapping[str, float]]: ...

    def outputs(self) -> dict[str, dict[str, Any]]: ...
