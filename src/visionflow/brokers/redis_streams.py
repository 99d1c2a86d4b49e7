"""Redis Streams (redis-py): ``XADD topic * payload_key payload``, pipelined, replies checked."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from visionflow.brokers.converter import Message
from visionflow.brokers.transport import BrokerDownError, Transport, need


class RedisTransport(Transport):
    """Appends each message to the stream ``topic`` as one entry with the field
    ``payload_key`` (DeepStream's redis adapter: ``payloadkey``, default ``metadata``), trimmed
    to about ``stream_maxlen`` entries when set (``streamsize``)."""

    protocol = "redis"
    package = "redis"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: Any = None

    def connect(self) -> None:
        redis = need("redis", self.package)
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.close()
        cfg = self.config
        host, port = cfg.address
        client = redis.Redis(
            host=host,
            port=port,
            username=cfg.username,
            password=cfg.password,
            socket_timeout=cfg.send_timeout,
            socket_connect_timeout=cfg.send_timeout,
            retry=Retry(NoBackoff(), 0),  # no hidden retries: the spool takes over at once
            ssl=cfg.tls,
            ssl_ca_certs=None if cfg.tls_ca_file is None else str(cfg.tls_ca_file),
            ssl_certfile=None if cfg.tls_cert_file is None else str(cfg.tls_cert_file),
            ssl_keyfile=None if cfg.tls_key_file is None else str(cfg.tls_key_file),
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise BrokerDownError(f"{self.where}: cannot connect: {exc}") from exc
        self._client = client

    def send(self, messages: Sequence[Message]) -> None:
        redis = need("redis", self.package)
        if self._client is None:
            raise BrokerDownError(f"{self.where}: not connected")
        cfg = self.config
        pipe = self._client.pipeline(transaction=False)
        for m in messages:
            pipe.xadd(
                cfg.topic,
                {cfg.payload_key: m.payload},
                maxlen=cfg.stream_maxlen,
                approximate=True,
            )
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise BrokerDownError(f"{self.where}: {exc}") from exc

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
