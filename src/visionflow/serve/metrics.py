"""Prometheus metrics of a running pipeline, read from it at each scrape (no thread of its own).

Metric names (all prefixed ``visionflow_``):

* ``frames_in_total{stream}``, ``frames_out_total{stream}`` — counters;
* ``stream_fps{stream}`` — frames out per second over the last few seconds;
* ``stream_latency_ms{stream,quantile}`` — decode → end of pipeline, quantiles 0.5 and 0.95;
* ``frames_dropped_total{stream,reason}`` — every drop, by reason (``stream`` empty when the
  reason names no stream);
* ``queue_depth{queue}`` — frames waiting per source queue (``source N``) and batches waiting
  in each element's inbox (the element's name);
* ``streams{state}`` — streams by state (running, removing, ended, removed, failed);
* ``spool_messages{sink}``, ``spool_bytes{sink}``, ``spool_dropped_total{sink}`` — for sinks
  that keep an on-disk spool (a broker sink while its broker is away);
* ``output{sink,figure}`` — every number a sink publishes of itself (``PipelineStats.outputs``:
  a broker sink's ``sent``, ``spooled``, ``dropped``, ``outages``, ``outage_s`` …);
* ``up`` — 1 while the pipeline runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from visionflow.serve.control import split_reason
from visionflow.serve.protocol import RuntimeControl

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class PipelineCollector(Collector):
    """Collects a controller's figures as Prometheus metrics."""

    def __init__(self, controller: RuntimeControl) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        c = self.controller
        up = GaugeMetricFamily("visionflow_up", "1 while the pipeline runs.")
        up.add_metric([], 1.0 if c.pipeline.running and not c.pipeline.draining else 0.0)
        yield up

        stats = c.stream_stats()
        frames_in = CounterMetricFamily(
            "visionflow_frames_in", "Frames a source handed to the pipeline.", labels=["stream"]
        )
        frames_out = CounterMetricFamily(
            "visionflow_frames_out", "Frames that left the last element.", labels=["stream"]
        )
        fps = GaugeMetricFamily(
            "visionflow_stream_fps", "Frames out per second, last seconds.", labels=["stream"]
        )
        latency = GaugeMetricFamily(
            "visionflow_stream_latency_ms",
            "Decode to end of pipeline, milliseconds.",
            labels=["stream", "quantile"],
        )
        states: Counter[str] = Counter()
        for s in stats:
            sid = str(s["source_id"])
            states[s["state"]] += 1
            frames_in.add_metric([sid], s["frames_in"])
            frames_out.add_metric([sid], s["frames_out"])
            fps.add_metric([sid], s["fps"])
            for q, key in (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms")):
                if s[key] is not None:
                    latency.add_metric([sid, q], s[key])
        yield from (frames_in, frames_out, fps, latency)

        streams = GaugeMetricFamily("visionflow_streams", "Streams by state.", labels=["state"])
        for state in ("running", "removing", "ended", "removed", "failed"):
            streams.add_metric([state], states[state])
        yield streams

        drops = CounterMetricFamily(
            "visionflow_frames_dropped", "Frames dropped, by reason.", labels=["stream", "reason"]
        )
        for reason, count in c.pipeline.stats.snapshot()[2].items():
            drops.add_metric(list(split_reason(reason)), count)
        yield drops

        depth = GaugeMetricFamily(
            "visionflow_queue_depth", "Items waiting in a queue.", labels=["queue"]
        )
        for queue, n in c.pipeline.queue_depths().items():
            depth.add_metric([queue], n)
        yield depth

        spool = GaugeMetricFamily(
            "visionflow_spool_messages", "Messages waiting in a sink's spool.", labels=["sink"]
        )
        spool_bytes = GaugeMetricFamily(
            "visionflow_spool_bytes", "Bytes of a sink's spool on disk.", labels=["sink"]
        )
        spool_dropped = CounterMetricFamily(
            "visionflow_spool_dropped", "Messages a full spool dropped.", labels=["sink"]
        )
        for sink, values in c.spools().items():
            spool.add_metric([sink], values["spool_size"])
            if "spool_bytes" in values:
                spool_bytes.add_metric([sink], values["spool_bytes"])
            if "spool_dropped" in values:
                spool_dropped.add_metric([sink], values["spool_dropped"])
        yield from (spool, spool_bytes, spool_dropped)

        output = GaugeMetricFamily(
            "visionflow_output",
            "A sink's own figures (a broker sink's messages sent, spooled, dropped, outages).",
            labels=["sink", "figure"],
        )
        for sink, figures in c.outputs().items():
            for figure, value in sorted(figures.items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    output.add_metric([sink, figure], float(value))
        yield output


def registry_for(controller: RuntimeControl) -> CollectorRegistry:
    """A registry of its own (not the process-wide default) holding the pipeline's metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(controller))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(registry)
