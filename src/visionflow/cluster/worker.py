"""A cluster worker: the normal pipeline, run on the streams the driver gives it.

The driver makes each worker a Ray actor (``ray.remote(PipelineWorker)``); this module itself does
not import Ray. A worker builds its pipeline from the run's :class:`PipelineConfig` with no source
and keeps it alive; sources join (:meth:`PipelineWorker.add`, resuming a file at a given frame)
and leave (:meth:`~PipelineWorker.remove`) while it runs. Its JSON Lines sinks do not write files:
they hand every frame's line, under the stream's cluster-wide id, to the driver
(:meth:`~PipelineWorker.poll`), which writes them once, in frame order per stream. Video sinks
write one file per worker (``out.mp4`` → ``out.<worker>.mp4``); other sinks run per worker.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionflow.config.pipeline import PipelineConfig, SinkConfig, SourceConfig
from visionflow.core.batch import Batch
from visionflow.core.meta import FrameMeta
from visionflow.core.pipeline import PipelineReport
from visionflow.sinks.metadata import JsonLinesSink

log = logging.getLogger(__name__)

#: A frame's result as the driver receives it: (stream id, frame number, JSON line).
Line = tuple[int, int, str]

_SOURCE = re.compile(r"^source (\d+)\b")
LATENCY_EVERY_S = 1.0
"""Seconds between the latency quantiles a worker sends (its counters go with every poll):
the quantiles of 32 streams cost about 4 ms, too much for every 0.1 s poll."""


class _Collect(JsonLinesSink):
    """A JSON Lines sink that keeps its lines for the driver instead of writing a file.

    The lines are exactly those a :class:`JsonLinesSink` writes, with the stream's cluster-wide
    id as ``source_id``.
    """

    def __init__(self, sink: JsonLinesSink, ids: Mapping[int, int]) -> None:
        super().__init__(io.StringIO(), include_tensors=sink.include_tensors, name=sink.name)
        self.ids = ids
        self.text = True  # False: frame numbers only (the driver's progress marks)
        self.lines: list[Line] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        self.frames_written = 0

    def process(self, batch: Batch) -> Batch:
        lines = [self._global_line(meta) for meta in batch.meta.frames]
        with self.lock:
            self.lines.extend(lines)
        self.frames_written += len(lines)
        return batch

    def take(self) -> list[Line]:
        with self.lock:
            lines, self.lines = self.lines, []
        return lines

    def stop(self) -> None:
        pass

    def _global_line(self, meta: FrameMeta) -> Line:
        local = meta.source_id
        stream = self.ids[local]
        meta.source_id = stream
        try:
            return stream, meta.frame_num, self._line(meta) if self.text else ""
        finally:
            meta.source_id = local


def worker_sinks(sinks: list[SinkConfig], worker: str) -> list[SinkConfig]:
    """The sinks of a worker: video files get the worker's name before their suffix."""
    out = []
    for sink in sinks:
        if sink.type == "video" and sink.path is not None:
            path = Path(sink.path)
            named = path.with_name(f"{path.stem}.{worker}{path.suffix}")
            sink = sink.model_copy(update={"path": named})
        out.append(sink)
    return out


class PipelineWorker:
    """One worker of a cluster run (a Ray actor; its methods are called by the driver).

    Args:
        name: the worker's name (``worker-0`` …), used in file names and the report.
        config: the run's pipeline; its sources are ignored (the driver adds them).
    """

    def __init__(self, name: str, config: PipelineConfig) -> None:
        from visionflow.app import App

        self.name = name
        self.config = config
        shard = config.model_copy(
            update={"sources": [], "sinks": worker_sinks(list(config.sinks), name)}
        )
        self.app = App.from_config(shard, keep_alive=True)
        self.pipeline = self.app.pipeline
        self._ids: dict[int, int] = {}  # local source id → cluster-wide stream id
        self._local: dict[int, int] = {}  # cluster-wide → local
        self._collect: list[_Collect] = []
        for i, element in enumerate(self.pipeline.elements):
            if isinstance(element, JsonLinesSink):
                collect = _Collect(element, self._ids)
                self.pipeline.elements[i] = collect
                self._collect.append(collect)
        if not self._collect:  # no metadata output: still tell the driver how far streams are
            progress = _Collect(JsonLinesSink(io.StringIO(), name="cluster-progress"), self._ids)
            progress.text = False
            self.pipeline.elements.append(progress)
            self._collect.append(progress)
        self._report: PipelineReport | None = None
        self._error: str | None = None
        self._latency: dict[int, tuple[float | None, float | None]] = {}
        self._latency_at = -LATENCY_EVERY_S
        self._answered = time.monotonic()  # when the last poll answered
        self._wake = threading.Event()  # set: a waiting poll answers now
        self._thread = threading.Thread(target=self._run, name=f"visionflow-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._report = self.pipeline.run()
        except Exception as exc:  # reported to the driver by poll()
            log.exception("%s: the pipeline failed", self.name)
            self._error = f"{type(exc).__name__}: {exc}"

    def ready(self) -> dict[str, Any]:
        """Where the worker runs (its node, host and process)."""
        import ray

        return {
            "name": self.name,
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "inference": self.inference_names(),
        }

    def add(self, stream: int, source: SourceConfig, start_frame: int = 0) -> None:
        """Start ``stream`` here; a file resumes at ``start_frame``."""
        from visionflow.media.select import open_device_source

        opened = open_device_source(
            source.uri,
            device=self.config.device,
            decoder=source.decoder,
            loop=source.loop,
            live=source.live,
            timeout=source.timeout,
            reconnect_attempts=source.reconnect_attempts,
        )
        if start_frame and hasattr(opened, "start_frame"):
            opened.start_frame = start_frame
        # the id is known before any frame can reach a sink: add_source starts the reader last
        local = len(self.pipeline.sources)
        self._ids[local] = stream
        self._local[stream] = local
        added = self.pipeline.add_source(opened)
        if added != local:  # cannot happen: ids are given in order and never reused
            raise RuntimeError(f"{self.name}: stream {stream} got id {added}, expected {local}")
        log.info("%s: stream %d (%s) from frame %d", self.name, stream, source.uri, start_frame)

    def remove(self, stream: int, timeout: float = 30.0) -> bool:
        """Stop ``stream`` here; returns once its frames have left the pipeline (False on
        timeout). Its last lines are in the next :meth:`poll`."""
        local = self._local[stream]
        self.pipeline.remove_source(local)
        flushed = self.pipeline.wait_flushed(local, timeout)
        self._wake.set()  # the driver collects the last lines next: no waiting
        return flushed

    def poll(self, wait: float = 0.0) -> dict[str, Any]:
        """The lines written since the last poll (per JSON Lines sink), each stream's state,
        and the pipeline's error if it failed.

        ``wait``: seconds that must pass since the previous poll answered before this one
        answers (it sleeps here, the pipeline running on). The driver keeps one such poll in
        flight per worker and blocks until one answers, so it wakes once per collection, and at
        once when a worker dies (its poll fails), instead of waking on a timer to ask.
        :meth:`finish` and :meth:`remove` cut the wait short.
        """
        if wait > 0:
            self._wake.wait(self._answered + wait - time.monotonic())
        self._wake.clear()
        self._answered = time.monotonic()
        states = self.pipeline.stream_states()
        return {
            "lines": [c.take() for c in self._collect],
            "states": {self._ids[local]: state for local, state in states.items()},
            "error": self._error,
            "stats": self.figures(),
        }

    def figures(self) -> dict[str, Any]:
        """The pipeline's live figures with cluster-wide stream ids: frames in and out per
        stream, drops per reason (``source N: …`` naming the cluster-wide id), latency p50 /
        p95 per stream (None before a frame), queue depths and the sinks' own figures."""
        stats = self.pipeline.stats
        frames_in, frames_out, drops = stats.snapshot()
        ids = self._ids

        def latency(local: int, q: float) -> float | None:
            value = stats.latency(local, q)
            return None if math.isnan(value) else round(value, 3)

        now = time.monotonic()
        if now - self._latency_at >= LATENCY_EVERY_S:
            self._latency_at = now
            self._latency = {
                ids[s]: (latency(s, 0.5), latency(s, 0.95)) for s in frames_out if s in ids
            }
        return {
            "frames_in": {ids[s]: n for s, n in frames_in.items() if s in ids},
            "frames_out": {ids[s]: n for s, n in frames_out.items() if s in ids},
            "drops": {self._global_reason(r): n for r, n in drops.items()},
            "latency": dict(self._latency),
            "queues": {self._global_reason(q): n for q, n in self.pipeline.queue_depths().items()},
            "outputs": {name: dict(f) for name, f in dict(stats.outputs).items()},
        }

    def _global_reason(self, text: str) -> str:
        """``source 3…`` (a local id) → ``source 17…`` (its cluster-wide id)."""
        match = _SOURCE.match(text)
        if match is None or int(match.group(1)) not in self._ids:
            return text
        return f"source {self._ids[int(match.group(1))]}{text[match.end() :]}"

    def set_interval(self, element: str | None, interval: int) -> str:
        """Set an inference element's interval (None: the first one); returns its name."""
        if element is None:
            names = self.inference_names()
            if not names:
                from visionflow.errors import VisionflowError

                raise VisionflowError("the pipeline has no inference element")
            element = names[0]
        self.pipeline.set_interval(element, interval)
        return element

    def inference_names(self) -> list[str]:
        """Names of the elements that have an inference ``interval``."""
        return [
            e.name
            for e in self.pipeline.elements
            if hasattr(getattr(e, "config", None), "interval")
        ]

    def finish(self, timeout: float = 60.0) -> dict[str, Any]:
        """Drain and stop the pipeline; its report, with cluster-wide stream ids."""
        self._wake.set()
        self.pipeline.stop()
        self._thread.join(timeout)
        report = self._report
        lines = [c.take() for c in self._collect]
        if report is None:
            return {"name": self.name, "error": self._error or "no report", "lines": lines}
        return {
            "name": self.name,
            "error": self._error,
            "lines": lines,
            "elapsed_s": report.elapsed_s,
            "frames_in": report.frames_in,
            "frames_out": report.frames_out,
            "drops": dict(report.drops),
            "streams": {
                self._ids[s.source_id]: {
                    "frames": s.frames,
                    "fps": s.fps,
                    "latency_p50_ms": s.latency_p50_ms,
                    "latency_p95_ms": s.latency_p95_ms,
                }
                for s in report.streams
                if s.source_id in self._ids
            },
            "source_failures": [
                {"stream": self._ids.get(f.source_id, f.source_id), "error": f.error}
                for f in report.source_failures
            ],
        }

    def pid(self) -> int:
        return os.getpid()


def prepare_engines(config: PipelineConfig) -> str:
    """Build (or find in the engine cache) every inference stage's engine on this node, so the
    workers that start here next take them from the cache; returns the node's host name."""
    from visionflow.app import App
    from visionflow.infer.element import Infer

    app = App.from_config(config.model_copy(update={"sources": []}), keep_alive=True)
    for element in app.pipeline.elements:
        if isinstance(element, Infer):
            element.start()
            element.stop()
    return socket.gethostname()
