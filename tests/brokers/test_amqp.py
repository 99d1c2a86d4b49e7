"""The broker sink on a real RabbitMQ (one per session): stopped mid-run and restarted; messages
kept in a durable queue bound to amq.topic."""

from __future__ import annotations

import threading
import time

import pytest

from support.brokers import (
    RabbitMQ,
    amqp_bind,
    amqp_payloads,
    events_pipeline,
    frames_span,
    sequence_check,
)
from visionflow.brokers import BrokerConfig, BrokerSink

pytestmark = pytest.mark.slow


def test_rabbitmq_stopped_mid_run_loses_nothing_and_keeps_order(rabbitmq: RabbitMQ) -> None:
    amqp_bind(rabbitmq.port, "vf-test", "vf.events")
    sink = BrokerSink(
        BrokerConfig(
            protocol="amqp",
            host="127.0.0.1",
            port=rabbitmq.port,
            topic="vf.events",
            retry_interval=0.3,
            drain_timeout=60,
        ),
        name="amqp",
    )
    pipeline = events_pipeline(sink, sources=2, frames=300, fps=30)  # 10 s

    def outage() -> None:
        time.sleep(1.0)
        rabbitmq.restart()  # about 1.5 s to stop, 5 s to start

    thread = threading.Thread(target=outage)
    thread.start()
    report = pipeline.run()
    elapsed = frames_span(pipeline)
    thread.join()
    figures = report.outputs["amqp"]
    check = sequence_check(amqp_payloads(rabbitmq.port, "vf-test"), pipeline.emitted)
    assert check["complete"], check
    assert check["in_order"], check
    assert check["unique"] == report.frames_out
    assert figures["sent"] == figures["messages"] == report.frames_out
    assert figures["spooled"] > 0
    assert figures["dropped"] == 0
    assert figures["outages"] == 1
    assert elapsed < 300 / 30 + 2, "the pipeline waited for the broker"
