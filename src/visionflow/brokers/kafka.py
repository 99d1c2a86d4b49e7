"""Kafka (confluent-kafka on librdkafka): produce, then wait for every delivery report.

Not run against a Kafka broker in visionflow's tests (none can be installed there); what is
tested: the settings librdkafka gets, delivery reports, and spooling when the broker cannot be
reached (librdkafka's "broker transport failure" / all brokers down).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from visionflow.brokers.converter import Message
from visionflow.brokers.transport import BrokerDownError, Transport, need


def producer_settings(config: Any) -> dict[str, Any]:
    """librdkafka settings: ``bootstrap.servers`` from host and port, a message timeout of
    ``send_timeout``, then the ``kafka`` settings (DeepStream ``proto-cfg``) over them."""
    host, port = config.address
    settings: dict[str, Any] = {
        "bootstrap.servers": f"{host}:{port}",
        "message.timeout.ms": max(1, int(config.send_timeout * 1000)),
        "socket.connection.setup.timeout.ms": max(1000, int(config.send_timeout * 1000)),
    }
    if config.tls:
        settings["security.protocol"] = "SASL_SSL" if config.username is not None else "SSL"
        for key, path in (("ssl.ca.location", config.tls_ca_file),
                          ("ssl.certificate.location", config.tls_cert_file),
                          ("ssl.key.location", config.tls_key_file)):  # fmt: skip
            if path is not None:
                settings[key] = str(path)
    if config.username is not None:
        settings.update({"sasl.username": config.username, "sasl.password": config.password or ""})
    settings.update(config.kafka)
    return settings


def partition_key(payload: bytes, path: str | None) -> bytes | None:
    """The message key: the value at a dotted JSON field path (``sensor.id``), as DeepStream's
    ``partition-key``; None when there is no path or the payload has no such field."""
    if not path:
        return None
    try:
        value: Any = json.loads(payload)
        for part in path.split("."):
            value = value[part]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if isinstance(value, dict | list):
        return None
    return str(value).encode("utf-8")


class KafkaTransport(Transport):
    """Produces to ``topic``; a send returns when librdkafka reports every message delivered."""

    protocol = "kafka"
    package = "confluent-kafka"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._producer: Any = None
        self._down = threading.Event()
        self.last_error: str | None = None

    def _on_error(self, error: Any) -> None:
        ck = need("confluent_kafka", self.package)
        self.last_error = str(error)
        if error.code() in (ck.KafkaError._ALL_BROKERS_DOWN, ck.KafkaError._TRANSPORT):
            self._down.set()

    def connect(self) -> None:
        ck = need("confluent_kafka", self.package)
        self.close()
        self._down.clear()
        settings = producer_settings(self.config)
        settings["error_cb"] = self._on_error
        try:
            producer = ck.Producer(settings)
        except ck.KafkaException as exc:
            raise BrokerDownError(f"{self.where}: {exc}") from exc
        try:
            producer.list_topics(timeout=self.config.send_timeout)
        except ck.KafkaException as exc:
            producer.purge()
            producer.flush(0)
            raise BrokerDownError(f"{self.where}: cannot connect: {exc}") from exc
        self._producer = producer

    def send(self, messages: Sequence[Message]) -> None:
        ck = need("confluent_kafka", self.package)
        producer = self._producer
        if producer is None:
            raise BrokerDownError(f"{self.where}: not connected")
        failed: list[str] = []
        pending = [len(messages)]

        def delivered(error: Any, _msg: Any) -> None:
            pending[0] -= 1
            if error is not None:
                failed.append(str(error))

        cfg = self.config
        try:
            for m in messages:
                producer.produce(
                    cfg.topic,
                    m.payload,
                    key=partition_key(m.payload, cfg.partition_key),
                    on_delivery=delivered,
                )
                producer.poll(0)
        except (BufferError, ck.KafkaException) as exc:
            producer.purge()
            producer.flush(0)
            raise BrokerDownError(f"{self.where}: {exc}") from exc
        deadline = time.monotonic() + cfg.send_timeout + 1
        while pending[0] > 0 and not failed:
            if self._down.is_set() or time.monotonic() > deadline:
                producer.purge()
                producer.flush(0)
                raise BrokerDownError(f"{self.where}: {self.last_error or 'no delivery report'}")
            producer.poll(0.05)
        if failed:
            raise BrokerDownError(f"{self.where}: delivery failed: {failed[0]}")

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.purge()
                producer.flush(0)
            except Exception:
                pass
