"""/metrics: Prometheus' text format with fps per stream, latency, drops by reason, queue depths
and the spool of sinks that keep one."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.serving import ServeFactory, pipeline_config
from visionflow.app import App
from visionflow.core.batch import Batch
from visionflow.core.element import Sink
from visionflow.serve import Controller
from visionflow.serve.metrics import registry_for, render


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of a Prometheus text page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_of_a_running_pipeline(serve: ServeFactory, clips: list[Path]) -> None:
    s = serve(pipeline_config(clips[:2]))
    s.wait_for(lambda: s.frames_out(0) > 20 and s.frames_out(1) > 20, what="frames")
    page = s.client.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = scrape(page.text)
    assert m[("visionflow_up", ())] == 1
    for sid in ("0", "1"):
        assert m[("visionflow_stream_fps", (("stream", sid),))] > 0
        assert m[("visionflow_frames_out_total", (("stream", sid),))] > 20
        p50 = m[("visionflow_stream_latency_ms", (("quantile", "0.5"), ("stream", sid)))]
        p95 = m[("visionflow_stream_latency_ms", (("quantile", "0.95"), ("stream", sid)))]
        assert 0 < p50 <= p95
    queues = {dict(labels)["queue"] for name, labels in m if name == "visionflow_queue_depth"}
    assert queues >= {"source 0", "source 1", "infer", "osd", "fakesink0"}
    assert m[("visionflow_streams", (("state", "running"),))] == 2

    s.client.post("/api/v1/stream/remove", json={"source_id": 1})
    m = scrape(s.client.get("/metrics").text)
    assert m[("visionflow_streams", (("state", "removed"),))] == 1
    assert m[("visionflow_stream_fps", (("stream", "1"),))] == 0
    s.finish()


class SpoolingSink(Sink):
    """A sink that keeps a spool, as a broker sink does while its broker is away: the metrics
    read its ``spool_size`` / ``spool_bytes`` / ``spool_dropped``."""

    kind = "spooling"

    def __init__(self) -> None:
        super().__init__()
        self.spool: list[bytes] = []
        self.spool_dropped = 0

    @property
    def spool_size(self) -> int:
        return len(self.spool)

    def spool_bytes(self) -> int:
        return sum(len(m) for m in self.spool)

    def process(self, batch: Batch) -> Batch:
        for frame in batch.frames:
            if len(self.spool) >= 5:
                self.spool_dropped += 1
            else:
                self.spool.append(b"x" * (frame.frame_num + 1))
        return batch


def test_spool_figures_of_sinks_that_keep_one(clips: list[Path]) -> None:
    config = pipeline_config(clips[:1], loop=False).model_copy(update={"infer": [], "osd": None})
    app = App.from_config(config)
    sink = SpoolingSink()
    app.pipeline.elements.append(sink)
    controller = Controller(app.pipeline)
    app.run()
    m = scrape(render(registry_for(controller)).decode())
    assert m[("visionflow_spool_messages", (("sink", "spooling"),))] == 5
    assert m[("visionflow_spool_bytes", (("sink", "spooling"),))] == 1 + 2 + 3 + 4 + 5
    assert m[("visionflow_spool_dropped_total", (("sink", "spooling"),))] == 60 - 5


def test_drops_are_counted_by_reason_and_stream(clips: list[Path]) -> None:
    """A probe that drops every other batch: its drops appear under its reason."""
    config = pipeline_config(clips[:1], loop=False).model_copy(update={"infer": [], "osd": None})
    app = App.from_config(config)
    app.pipeline.add_probe("streammux", lambda b: b.index % 2 == 0, where="after")
    controller = Controller(app.pipeline)
    report = app.run()
    m = scrape(render(registry_for(controller)).decode())
    dropped = m[
        ("visionflow_frames_dropped_total", (("reason", "probe after streammux"), ("stream", "")))
    ]
    assert dropped == report.drops["probe after streammux"] > 0
    assert m[("visionflow_up", ())] == 0


def test_a_broker_sinks_spool_shows_in_the_metrics_while_its_broker_is_away(
    serve: ServeFactory, clips: list[Path], tmp_path: Path
) -> None:
    """A real MQTT broker sink whose broker is down: its messages go to the on-disk spool, and
    /metrics shows the spool growing while the pipeline runs."""
    import socket

    pytest.importorskip("paho.mqtt", reason="needs the brokers extra (paho-mqtt)")
    from visionflow.config.pipeline import SinkConfig

    with socket.socket() as sock:  # a port nothing listens on: the broker is away
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broker = SinkConfig.model_validate(
        {
            "type": "broker",
            "broker": {"protocol": "mqtt", "host": "127.0.0.1", "port": port, "topic": "t",
                       "spool": {"path": str(tmp_path / "spool.sqlite")}},
            "messages": {"payload": "visionflow-frame"},
        }
    )  # fmt: skip
    s = serve(pipeline_config(clips[:1]).model_copy(update={"sinks": [broker]}))
    name = next(e.name for e in s.pipeline.elements if e.kind != "infer" and "broker" in e.name)

    def spooled() -> float:
        m = scrape(s.client.get("/metrics").text)
        return m.get(("visionflow_spool_messages", (("sink", name),)), 0.0)

    s.wait_for(lambda: spooled() > 10, what="messages in the spool")
    m = scrape(s.client.get("/metrics").text)
    assert m[("visionflow_spool_bytes", (("sink", name),))] > 0
    assert m[("visionflow_output", (("figure", "spooled"), ("sink", name)))] > 10
    s.finish()
