"""The broker sink inside a pipeline: a broken configuration fails it alone; figures are live."""

from __future__ import annotations

from pathlib import Path

from support.brokers import events_pipeline, free_port
from visionflow.brokers import BrokerConfig, BrokerSink, MessagesConfig, SpoolConfig


def test_a_sink_that_cannot_start_fails_alone_and_frames_flow_on(tmp_path: Path) -> None:
    sink = BrokerSink(
        BrokerConfig(protocol="redis", port=free_port()),
        MessagesConfig(payload="custom", function="nowhere_module:f"),
        name="broken",
    )
    report = events_pipeline(sink, sources=2, frames=10).run()
    assert [f.name for f in report.sink_failures] == ["broken"]
    assert "cannot load 'nowhere_module:f'" in report.sink_failures[0].error
    assert report.frames_out == 20
    assert report.outcome == "failed"  # its only sink failed: the exit status says so


def test_a_spool_that_cannot_be_created_fails_the_sink_at_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    sink = BrokerSink(
        BrokerConfig(
            protocol="redis", port=free_port(), spool=SpoolConfig(path=tmp_path / "file" / "s")
        ),
        name="nospool",
    )
    report = events_pipeline(sink, sources=1, frames=5).run()
    assert "cannot open the message spool" in report.sink_failures[0].error


def test_figures_before_and_after_a_run() -> None:
    sink = BrokerSink(BrokerConfig(protocol="redis", port=free_port(), drain_timeout=0), name="r")
    assert sink.figures()["messages"] == 0
    report = events_pipeline(sink, sources=1, frames=12).run()
    assert report.outputs["r"]["messages"] == 12
    assert report.outputs["r"]["undelivered"] == 12
    assert sink.figures() == report.outputs["r"]


def test_live_figures_reach_the_pipeline_stats_while_it_runs() -> None:
    sink = BrokerSink(BrokerConfig(protocol="redis", port=free_port(), drain_timeout=0), name="r")
    pipeline = events_pipeline(sink, sources=1, frames=60, fps=30)  # 2 s
    seen: list[int] = []
    pipeline.add_probe(  # type: ignore[attr-defined]
        "r", lambda _b: seen.append(pipeline.stats.outputs.get("r", {}).get("messages", -1))
    )
    pipeline.run()  # type: ignore[attr-defined]
    assert max(seen) > 0  # a running count was there before the end
