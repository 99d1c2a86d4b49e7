"""The broker sink on a real mosquitto: stopped and restarted mid-run, down at the start, never
back (bounded spool, counted drops), a spool file carried over to the next run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from support.brokers import Mosquitto, MqttCollector, events_pipeline, frames_span, sequence_check
from visionflow.brokers import BrokerConfig, BrokerSink, SpoolConfig

pytestmark = pytest.mark.slow


def _sink(server: Mosquitto, **settings: object) -> BrokerSink:
    config = BrokerConfig(
        protocol="mqtt", host="127.0.0.1", port=server.port, topic="ev", retry_interval=0.2,
        **settings,  # type: ignore[arg-type]
    )  # fmt: skip
    return BrokerSink(config, name="mqtt")


def _later(delay: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def _wait_for(collector: MqttCollector, count: int, timeout: float = 20) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while len(got := collector.received()) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return got


def test_broker_stopped_mid_run_loses_nothing_and_keeps_order(mosquitto: Mosquitto) -> None:
    collector = MqttCollector(mosquitto.port, "ev")
    sink = _sink(mosquitto)
    pipeline = events_pipeline(sink, sources=2, frames=120, fps=40)
    outage = _later(0.8, mosquitto.stop)
    back = _later(2.0, mosquitto.start)
    report = pipeline.run()
    elapsed = frames_span(pipeline)
    outage.join()
    back.join()
    figures = report.outputs["mqtt"]
    check = sequence_check(_wait_for(collector, 240), pipeline.emitted)
    collector.close()
    assert check["complete"], check
    assert check["in_order"], check
    assert check["unique"] == report.frames_out
    assert figures["sent"] == figures["messages"] == report.frames_out
    assert figures["spooled"] > 0, "the outage did not reach the spool"
    assert figures["dropped"] == 0
    assert figures["outages"] == 1
    assert figures["spool_messages"] == 0
    assert elapsed < 120 / 40 + 1.5, "the pipeline waited for the broker"
    assert report.outcome == "ok"


def test_broker_down_at_the_start_gets_everything_once_it_comes(tmp_path: Path) -> None:
    server = Mosquitto(tmp_path / "late")  # not started yet: its port is closed
    sink = _sink(server)
    pipeline = events_pipeline(sink, sources=1, frames=60, fps=60)
    holder: dict[str, MqttCollector] = {}

    def start() -> None:
        server.start()
        holder["c"] = MqttCollector(server.port, "ev")

    _later(0.5, start)
    try:
        report = pipeline.run()
        figures = report.outputs["mqtt"]
        # the collector subscribed after some messages were sent: count what the sink says
        assert figures["sent"] == figures["messages"] == report.frames_out
        assert figures["spooled"] >= 1
        assert figures["outages"] == 1
    finally:
        if "c" in holder:
            holder["c"].close()
        server.kill()


def test_a_broker_that_never_returns_keeps_the_spool_bound_and_counts_drops(
    tmp_path: Path,
) -> None:
    server = Mosquitto(tmp_path / "never")  # never started
    sink = _sink(server, drain_timeout=0.3, spool=SpoolConfig(max_messages=50))
    pipeline = events_pipeline(sink, sources=2, frames=90, fps=60)
    report = pipeline.run()
    elapsed = frames_span(pipeline)
    figures = report.outputs["mqtt"]
    assert figures["messages"] == report.frames_out  # a live source may drop frames when late
    assert figures["sent"] == 0
    assert figures["spool_peak_messages"] == 50
    assert figures["dropped_spool_full"] == report.frames_out - 50
    assert figures["undelivered"] == 50  # a temporary spool: what is left is lost, and said so
    [failure] = report.sink_failures  # … and the run's outcome (exit status) says so too
    assert failure.name == "mqtt"
    assert failure.error.startswith(f"{report.frames_out} of {report.frames_out} messages lost")
    assert elapsed < 90 / 60 + 1.5, "the pipeline waited for the broker"


def test_a_spool_file_left_by_one_run_is_sent_first_by_the_next(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    spool = SpoolConfig(path=tmp_path / "spool.sqlite")
    closed = Mosquitto(tmp_path / "closed")  # never started
    first = BrokerSink(
        BrokerConfig(
            protocol="mqtt",
            host="127.0.0.1",
            port=closed.port,
            topic="ev",
            retry_interval=0.2,
            drain_timeout=0,
            spool=spool,
        ),
        name="mqtt",
    )
    report = events_pipeline(first, sources=1, frames=20).run()
    assert report.outputs["mqtt"]["spool_messages"] == 20
    assert report.outputs["mqtt"]["undelivered"] == 0
    assert report.sink_failures == []  # kept for the next run: nothing lost
    assert (tmp_path / "spool.sqlite").exists()

    collector = MqttCollector(mosquitto.port, "ev")
    second = _sink(mosquitto, spool=spool)
    report = events_pipeline(second, sources=1, frames=20).run()
    payloads = _wait_for(collector, 40)
    collector.close()
    assert report.outputs["mqtt"]["sent"] == 40
    check = sequence_check(payloads[:20])  # the first run's messages come first …
    assert check["complete"]
    assert check["unique"] == 20
    assert sequence_check(payloads)["duplicates"] == 20  # … then the second run's (same seqs)


def test_tls_to_a_tls_only_mosquitto(tmp_path: Path) -> None:
    from support.brokers import MosquittoTLS, tls_files

    files = tls_files(tmp_path / "tls")
    server = MosquittoTLS(tmp_path / "tls-broker", files).start()
    try:
        plain = _sink(server, drain_timeout=0.5)
        report = events_pipeline(plain, sources=1, frames=10).run()
        assert report.outputs["mqtt"]["sent"] == 0  # no TLS: the broker does not answer
        secure = _sink(server, tls=True, tls_ca_file=files["ca"])
        report = events_pipeline(secure, sources=1, frames=10).run()
        assert report.outputs["mqtt"]["sent"] == 10
        assert report.outputs["mqtt"]["outages"] == 0
    finally:
        server.kill()
