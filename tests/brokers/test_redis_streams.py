"""The broker sink on a real redis-server, configured from a visionflow pipeline file; the
server killed (SIGKILL) mid-run and restarted."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from support.brokers import Redis, redis_payloads, sequence_check
from visionflow.app import load_app

pytestmark = pytest.mark.slow


def test_pipeline_file_broker_sink_survives_a_killed_redis(
    tmp_path: Path, redis_server: Redis
) -> None:
    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text(
        "sources:\n"
        "  - uri: synthetic://64x48?frames=100&fps=50&live=1\n"
        "  - uri: synthetic://64x48?frames=100&fps=50&live=1\n"
        "sinks:\n"
        "  - type: broker\n"
        f"    broker: {{protocol: redis, host: 127.0.0.1, port: {redis_server.port},\n"
        "             topic: ev, retry_interval: 0.2, spool: {path: spool/redis.sqlite}}\n"
        "probes:\n"
        "  - {element: brokersink0, function: 'support.brokers:seq_probe', where: before}\n",
        encoding="utf-8",
    )
    app = load_app(pipeline)

    def crash_and_restart() -> None:
        time.sleep(0.6)
        redis_server.kill()
        time.sleep(1.0)
        redis_server.start()

    thread = threading.Thread(target=crash_and_restart)
    thread.start()
    report = app.run()
    thread.join()
    figures = report.outputs["brokersink0"]
    payloads = redis_payloads(redis_server.port, "ev")
    check = sequence_check(payloads)
    # every frame that went through carried one event: as many unique events arrived
    assert check["in_order"], check
    assert check["unique"] == report.frames_out
    assert figures["sent"] == figures["messages"] == report.frames_out
    assert figures["spooled"] > 0
    assert figures["dropped"] == 0
    assert figures["spool_path"] == str(tmp_path / "spool" / "redis.sqlite")
    assert json.loads(payloads[0])["schema"] == "visionflow.event/1"


def test_stream_maxlen_and_payload_key_are_used(redis_server: Redis) -> None:
    from support.brokers import events_pipeline
    from visionflow.brokers import BrokerConfig, BrokerSink

    sink = BrokerSink(
        BrokerConfig(
            protocol="redis",
            host="127.0.0.1",
            port=redis_server.port,
            topic="short",
            payload_key="data",
            stream_maxlen=10,
        ),
        name="redis",
    )
    events_pipeline(sink, sources=1, frames=400).run()
    payloads = redis_payloads(redis_server.port, "short", key="data")
    assert 10 <= len(payloads) < 400  # trimmed to about 10 (MAXLEN ~)
    assert json.loads(payloads[-1])["data"]["seq"] == 399
