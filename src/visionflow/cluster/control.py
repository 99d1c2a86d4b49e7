"""The REST API's controller for a Ray cluster run (``visionflow run PIPELINE --ray --api``).

:class:`ClusterController` gives the API (:func:`visionflow.serve.api.create_app`) and the
Prometheus metrics what :class:`~visionflow.serve.control.Controller` gives them for one process
(:class:`~visionflow.serve.protocol.RuntimeControl`), backed by a :class:`ClusterRunner`:
a stream added goes to the least-loaded worker, a removed one leaves its worker after its frames
in flight are written, the inference interval is set on every worker, and the figures are the
workers' own (sent with every poll of the driver) under cluster-wide stream ids. Every method is
safe to call from any thread; none waits for a worker (a removal runs in a thread of its own).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from visionflow.cluster.driver import ClusterRunner
from visionflow.config.pipeline import SourceConfig
from visionflow.errors import ConfigError, VisionflowError
from visionflow.serve.control import (
    StreamConflictError,
    StreamEntry,
    UnknownStreamError,
    _check_local,
    _Rate,
    find_entry,
)

_ACTIVE = ("running", "removing")


class ClusterStats:
    """The cluster's frames in and out per stream and drops per reason, summed over workers."""

    def __init__(self, runner: ClusterRunner) -> None:
        self.runner = runner

    def snapshot(self) -> tuple[dict[int, int], dict[int, int], dict[str, int]]:
        frames_in: Counter[int] = Counter()
        frames_out: Counter[int] = Counter()
        drops: Counter[str] = Counter()
        for figures in self.runner.figures().values():
            frames_in.update(figures.get("frames_in", {}))
            frames_out.update(figures.get("frames_out", {}))
            drops.update(figures.get("drops", {}))
        return dict(frames_in), dict(frames_out), dict(drops)


class ClusterPipeline:
    """What the API reads and stops of "the pipeline" (:class:`PipelineView`): the run."""

    def __init__(self, runner: ClusterRunner) -> None:
        self.runner = runner
        self.stats = ClusterStats(runner)

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def draining(self) -> bool:
        return self.runner.stopping

    def stop(self) -> None:
        self.runner.stop()

    def wait_flushed(self, source_id: int, timeout: float | None = None) -> bool:
        """Wait until the stream ended or left and its frames were written (or the run ended);
        False on timeout. KeyError for an unknown id."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.runner.stream_state(source_id) in _ACTIVE and not self.runner.ended:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def queue_depths(self) -> dict[str, int]:
        """Every worker's queues: ``source N`` (cluster-wide id) and ``<worker>/<element>``."""
        depths: dict[str, int] = {}
        for worker, figures in self.runner.figures().items():
            for queue, n in figures.get("queues", {}).items():
                key = queue if queue.startswith("source ") else f"{worker}/{queue}"
                depths[key] = depths.get(key, 0) + n
        return depths


class ClusterController:
    """Runtime control and figures of a cluster run, for the REST API and the metrics.

    Args:
        runner: the run (started, or started later; streams added before it starts are placed
            with the pipeline file's).
    """

    def __init__(self, runner: ClusterRunner) -> None:
        self.runner = runner
        self.pipeline = ClusterPipeline(runner)
        self._lock = threading.Lock()
        self._entries: dict[int, StreamEntry] = {}
        self._rates: dict[int, _Rate] = {}
        self.started = time.monotonic()
        for sid, source in enumerate(runner.config.sources):
            self._entries[sid] = StreamEntry(sid, str(sid), f"source{sid}", source.uri)
            self._rates[sid] = _Rate(self.started)

    # -- streams -----------------------------------------------------------------------------
    def add_stream(
        self,
        uri: str,
        *,
        camera_id: str | None = None,
        camera_name: str | None = None,
        live: bool | None = None,
        loop: bool = False,
    ) -> StreamEntry:
        """Place a new stream on the least-loaded worker; returns it. Raises
        StreamConflictError (camera id running), ConfigError (a URI no worker can open),
        SourceNotFoundError (a local file that does not exist), VisionflowError (the run has
        ended)."""
        from visionflow.media.uri import open_source

        with self._lock:
            if camera_id is not None and any(
                e.camera_id == camera_id and self.runner.stream_state(sid) in _ACTIVE
                for sid, e in self._entries.items()
            ):
                raise StreamConflictError(f"a stream with camera_id '{camera_id}' is running")
            _check_local(uri)
            open_source(uri, live=live, loop=loop)  # opens nothing: checks the URI's scheme
            try:
                source = SourceConfig(uri=uri, live=live, loop=loop)
            except ValidationError as exc:
                raise ConfigError(str(exc), key="uri", value=uri) from None
            sid = self.runner.add_source(source)
            entry = StreamEntry(
                sid,
                camera_id if camera_id is not None else str(sid),
                camera_name if camera_name is not None else f"source{sid}",
                uri,
            )
            self._entries[sid] = entry
            self._rates[sid] = _Rate(time.monotonic())
            return entry

    def find(
        self, *, source_id: int | None = None, camera_id: str | None = None, uri: str | None = None
    ) -> StreamEntry:
        """The stream with this id, or the running one with this camera id (and URI).
        Raises UnknownStreamError."""
        with self._lock:
            return find_entry(self._entries, self.runner.stream_state, source_id, camera_id, uri)

    def remove_stream(self, source_id: int) -> StreamEntry:
        """Ask a stream to leave its worker; its frames in flight are written, then it is
        ``removed`` (:meth:`ClusterPipeline.wait_flushed` tells when). Does not wait."""
        entry = self.find(source_id=source_id)
        thread = threading.Thread(
            target=self.runner.remove_source,
            args=(source_id,),
            name=f"visionflow-remove-{source_id}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 1.0  # the stream reads "removing" from the answer on
        while self.runner.stream_state(source_id) == "running" and time.monotonic() < deadline:
            time.sleep(0.005)
        return entry

    def state(self, source_id: int) -> str:
        return self.runner.stream_state(source_id)

    def streams(self, *, all_states: bool = False) -> list[StreamEntry]:
        """The streams running (or leaving); every stream ever added with ``all_states``."""
        with self._lock:
            return [
                e
                for sid, e in sorted(self._entries.items())
                if all_states or self.runner.stream_state(sid) in _ACTIVE
            ]

    # -- figures -----------------------------------------------------------------------------
    def stream_stats(self, source_id: int | None = None) -> list[dict[str, Any]]:
        """Per-stream figures as one process gives them (state, frames in/out, fps, latency,
        drops, queued), plus the stream's ``worker`` and ``frames_written`` (lines the driver
        wrote). Frames in/out and drops are summed over the workers it ran on."""
        info = self.runner.stream_info()
        now = time.monotonic()
        out = []
        with self._lock:
            for sid, entry in sorted(self._entries.items()):
                if (source_id is not None and sid != source_id) or sid not in info:
                    continue
                s = info[sid]
                rate = self._rates.setdefault(sid, _Rate(now)).update(now, s["frames_out"])
                out.append(
                    {
                        "source_id": sid,
                        "camera_id": entry.camera_id,
                        "camera_name": entry.camera_name,
                        "uri": entry.uri,
                        "state": s["state"],
                        "worker": s["worker"],
                        "frames_in": s["frames_in"],
                        "frames_out": s["frames_out"],
                        "frames_written": s["frames_written"],
                        "fps": round(rate, 3) if s["state"] in _ACTIVE else 0.0,
                        "latency_p50_ms": s["latency_p50_ms"],
                        "latency_p95_ms": s["latency_p95_ms"],
                        "drops": s["drops"],
                        "queued": s["queued"],
                    }
                )
        if source_id is not None and not out:
            raise UnknownStreamError(f"no stream with source_id {source_id}")
        return out

    def health(self) -> dict[str, Any]:
        """Whether the run goes on, its totals, and its workers (node, host, pid, streams)."""
        runner = self.runner
        frames_in, frames_out, drops = self.pipeline.stats.snapshot()
        info = runner.stream_info()
        if runner.running:
            state = "draining" if runner.stopping else "running"
        else:
            state = "ended" if runner.ended else "starting"
        total_in, total_out, dropped = (
            sum(frames_in.values()),
            sum(frames_out.values()),
            sum(drops.values()),
        )
        return {
            "state": state,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "streams_running": sum(1 for s in info.values() if s["state"] in _ACTIVE),
            "streams_total": len(info),
            "frames_in": total_in,
            "frames_out": total_out,
            "frames_dropped": dropped,
            "frames_written": sum(s["frames_written"] for s in info.values()),
            "balanced": total_in == total_out + dropped,
            "threads": threading.active_count(),
            "drops": dict(drops),
            "queues": self.pipeline.queue_depths(),
            "workers": runner.workers,
        }

    def set_interval(self, element: str | None, interval: int) -> str:
        """Set an inference element's interval on every worker (and on those that start
        later); None: the first inference element. VisionflowError for an unknown element."""
        try:
            return self.runner.set_interval(element, interval)
        except ValueError as exc:
            raise VisionflowError(str(exc)) from None

    def outputs(self) -> dict[str, dict[str, Any]]:
        """The figures each worker's sinks publish, as ``<worker>/<sink>``."""
        return {
            f"{worker}/{sink}": dict(values)
            for worker, figures in self.runner.figures().items()
            for sink, values in figures.get("outputs", {}).items()
        }

    def spools(self) -> dict[str, Mapping[str, float]]:
        """Spool figures of the workers' sinks that keep one (``spool_messages`` published),
        as ``<worker>/<sink>``: ``spool_size``, ``spool_bytes``, ``spool_dropped``."""
        found: dict[str, Mapping[str, float]] = {}
        for name, figures in self.outputs().items():
            size = figures.get("spool_messages")
            if not isinstance(size, int | float) or isinstance(size, bool):
                continue
            values = {"spool_size": float(size)}
            for key, source in (
                ("spool_bytes", "spool_bytes"),
                ("spool_dropped", "dropped_spool_full"),
            ):
                if _is_number(figures.get(source)):
                    values[key] = float(figures[source])
            found[name] = values
        return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
