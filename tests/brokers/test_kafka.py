"""The Kafka sink's own code, without a Kafka broker (none can be installed here): librdkafka's
settings, partition keys, and spooling when librdkafka cannot reach the broker (a closed port).
Delivery to a real Kafka broker is NOT tested (docs/events.md says so)."""

from __future__ import annotations

import time

import pytest

from support.brokers import events_pipeline, frames_span, free_port
from visionflow.brokers import BrokerConfig, BrokerDownError, BrokerSink, Message
from visionflow.brokers.kafka import KafkaTransport, partition_key, producer_settings

pytest.importorskip(
    "confluent_kafka", reason="needs confluent-kafka (pip install visionflow[brokers])"
)


def test_producer_settings_map_address_timeouts_credentials_and_proto_cfg() -> None:
    config = BrokerConfig(protocol="kafka", host="k1", port=9093, topic="t", username="u",
                          password="p", send_timeout=2.5,
                          kafka={"acks": "all", "message.timeout.ms": "9000"})  # fmt: skip
    settings = producer_settings(config)
    assert settings["bootstrap.servers"] == "k1:9093"
    assert settings["sasl.username"] == "u"
    assert settings["sasl.password"] == "p"
    assert settings["acks"] == "all"
    assert settings["message.timeout.ms"] == "9000"  # proto-cfg wins over the default
    assert (
        producer_settings(BrokerConfig(protocol="kafka"))["bootstrap.servers"] == "localhost:9092"
    )


@pytest.mark.parametrize(
    ("payload", "path", "key"),
    [
        (b'{"sensor": {"id": "CAM"}}', "sensor.id", b"CAM"),
        (b'{"sensorId": 7}', "sensorId", b"7"),
        (b'{"sensor": null}', "sensor.id", None),
        (b"not json", "sensor.id", None),
        (b'{"sensorId": 7}', None, None),
    ],
)
def test_partition_key_follows_a_json_path(
    payload: bytes, path: str | None, key: bytes | None
) -> None:
    assert partition_key(payload, path) == key


def test_a_closed_port_is_a_broker_down_at_connect() -> None:
    transport = KafkaTransport(
        BrokerConfig(protocol="kafka", host="127.0.0.1", port=free_port(), send_timeout=1)
    )
    started = time.monotonic()
    with pytest.raises(BrokerDownError, match="cannot connect"):
        transport.connect()
    assert time.monotonic() - started < 5
    with pytest.raises(BrokerDownError, match="not connected"):
        transport.send([Message(b"{}", 0)])
    transport.close()


@pytest.mark.slow
def test_kafka_sink_spools_while_librdkafka_cannot_reach_the_broker() -> None:
    sink = BrokerSink(
        BrokerConfig(
            protocol="kafka",
            host="127.0.0.1",
            port=free_port(),
            topic="t",
            send_timeout=1,
            retry_interval=0.5,
            drain_timeout=0.5,
        ),
        name="kafka",
    )
    pipeline = events_pipeline(sink, sources=1, frames=60, fps=60)
    report = pipeline.run()
    elapsed = frames_span(pipeline)
    figures = report.outputs["kafka"]
    assert figures["messages"] == 60
    assert figures["sent"] == 0
    assert figures["spool_peak_messages"] == 60
    assert figures["undelivered"] == 60
    assert figures["outages"] == 1
    assert elapsed < 60 / 60 + 1.5, "the pipeline waited for librdkafka"


def test_send_raises_when_librdkafka_reports_the_broker_down_or_no_delivery() -> None:
    """The delivery path itself: a producer made without the connect check, its broker a closed
    port; librdkafka's error callback (all brokers down) or the failed delivery reports end the
    send with BrokerDownError, and nothing stays queued in librdkafka to be sent behind the
    spool's back."""
    import confluent_kafka as ck

    config = BrokerConfig(protocol="kafka", host="127.0.0.1", port=free_port(), send_timeout=1)
    transport = KafkaTransport(config)
    settings = producer_settings(config)
    settings["error_cb"] = transport._on_error
    producer = ck.Producer(settings)
    transport._producer = producer
    started = time.monotonic()
    with pytest.raises(BrokerDownError, match=r"kafka://127\.0\.0\.1:\d+/visionflow: "):
        transport.send([Message(b'{"n": 1}', 0), Message(b'{"n": 2}', 0)])
    assert time.monotonic() - started < 1 + 1 + 2
    assert len(producer) == 0  # purged: the spool alone holds what was not delivered
    transport.close()
