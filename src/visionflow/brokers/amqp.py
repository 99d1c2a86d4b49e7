"""AMQP 0-9-1 (pika, RabbitMQ): persistent messages to an exchange, one transaction per run of
messages."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from visionflow.brokers.converter import Message
from visionflow.brokers.transport import BrokerDownError, Transport, need
from visionflow.errors import SinkError


class AmqpTransport(Transport):
    """Publishes to ``exchange`` (default ``amq.topic``, as DeepStream's adapter) with routing
    key ``topic``, delivery mode 2 (persistent). A run of messages is one AMQP transaction: the
    send returns once RabbitMQ has committed it (its ``tx.commit-ok`` comes after persistent
    messages are written for durable queues); a failed commit sends the whole run again. One
    round trip per run instead of one per message (publisher confirms on a blocking channel):
    about 20 times faster. Bind a durable queue to the exchange to keep messages no consumer is
    reading."""

    protocol = "amqp"
    package = "pika"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._connection: Any = None
        self._channel: Any = None

    def connect(self) -> None:
        pika = need("pika", self.package)
        self.close()
        cfg = self.config
        host, port = cfg.address
        credentials = (
            pika.PlainCredentials(cfg.username, cfg.password or "")
            if cfg.username is not None
            else pika.ConnectionParameters.DEFAULT_CREDENTIALS
        )
        ssl_options = None
        if cfg.tls:
            import ssl

            try:
                context = ssl.create_default_context(
                    cafile=None if cfg.tls_ca_file is None else str(cfg.tls_ca_file)
                )
                if cfg.tls_cert_file is not None:
                    context.load_cert_chain(str(cfg.tls_cert_file), cfg.tls_key_file)
            except (OSError, ssl.SSLError) as exc:
                raise SinkError(f"{self.where}: TLS files: {exc}") from exc
            ssl_options = pika.SSLOptions(context, host)
        params = pika.ConnectionParameters(
            host=host,
            port=port,
            virtual_host=cfg.virtual_host,
            credentials=credentials,
            socket_timeout=cfg.send_timeout,
            stack_timeout=cfg.send_timeout * 2,
            blocked_connection_timeout=cfg.send_timeout,
            connection_attempts=1,
            heartbeat=30,
            ssl_options=ssl_options,
        )
        try:
            self._connection = pika.BlockingConnection(params)
            self._channel = self._connection.channel()
            self._channel.tx_select()
        except Exception as exc:  # pika raises many kinds (AMQPError, OSError …)
            self.close()
            raise BrokerDownError(f"{self.where}: cannot connect: {exc}") from exc

    def send(self, messages: Sequence[Message]) -> None:
        pika = need("pika", self.package)
        if self._channel is None:
            raise BrokerDownError(f"{self.where}: not connected")
        cfg = self.config
        properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        try:
            for m in messages:
                self._channel.basic_publish(
                    cfg.exchange, cfg.topic, m.payload, properties=properties
                )
            self._channel.tx_commit()
        except Exception as exc:  # StreamLostError, ConnectionClosed, ChannelClosed …
            raise BrokerDownError(f"{self.where}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
