"""Settings of a broker sink: the connection (:class:`BrokerConfig`), what is sent
(:class:`MessagesConfig`) and the on-disk spool (:class:`SpoolConfig`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Protocol = Literal["mqtt", "amqp", "redis", "kafka"]
PayloadKind = Literal["deepstream-full", "deepstream-minimal", "visionflow", "visionflow-frame",
                      "custom"]  # fmt: skip

DEFAULT_PORTS: dict[str, int] = {"mqtt": 1883, "amqp": 5672, "redis": 6379, "kafka": 9092}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpoolConfig(_Strict):
    """Where messages wait while the broker is down: an SQLite file, bounded."""

    path: Path | None = Field(
        None,
        description="The spool file (SQLite). Messages left in it when a run ends are sent first "
        "by the next run with the same file. Default: a temporary file, removed at the end (what "
        "is left in it then is reported as undelivered).",
    )
    max_bytes: int = Field(
        256 * 2**20, ge=4096, description="Payload bytes the spool may hold; beyond, drops."
    )
    max_messages: int = Field(
        1_000_000, ge=1, description="Messages the spool may hold; beyond, new ones are dropped."
    )


class BrokerConfig(_Strict):
    """The broker a sink publishes to (DeepStream nvmsgbroker: ``proto-lib``, ``conn-str``,
    ``topic``, the adapter's ``[message-broker]`` config)."""

    protocol: Protocol = Field(description="mqtt, amqp (RabbitMQ), redis (streams) or kafka.")
    host: str = Field("localhost", description="Broker host name or address.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Default: 1883, 5672, 6379 or 9092 by protocol."
    )
    topic: str = Field(
        "visionflow",
        min_length=1,
        description="MQTT topic, AMQP routing key, Redis stream key or Kafka topic.",
    )
    username: str | None = Field(None, description="MQTT, AMQP, Redis (ACL) user name.")
    password: str | None = Field(None, description="Password of that user.")
    client_id: str | None = Field(None, description="MQTT client id (default: generated).")
    qos: Literal[1, 2] = Field(
        1, description="MQTT quality of service (1: at least once; 2: exactly once)."
    )
    keep_alive: int = Field(60, ge=1, description="MQTT keep-alive, seconds.")
    exchange: str = Field("amq.topic", description="AMQP exchange the messages go to.")
    virtual_host: str = Field("/", description="AMQP virtual host.")
    stream_maxlen: int | None = Field(
        None, ge=1, description="Redis: trim the stream to about this length (streamsize)."
    )
    payload_key: str = Field("metadata", description="Redis: the stream entry's field name.")
    kafka: dict[str, str] = Field(
        {}, description="Kafka: librdkafka producer settings (proto-cfg), e.g. {acks: all}."
    )
    partition_key: str | None = Field(
        None,
        description="Kafka: message key from this JSON field path of the payload "
        "(e.g. sensor.id for full payloads, sensorId for minimal ones).",
    )
    tls: bool = Field(
        False, description="Encrypt the connection (TLS); the CA file verifies the broker."
    )
    tls_ca_file: Path | None = Field(
        None,
        description="TLS: CA certificates (PEM) the broker's certificate must chain to "
        "(default: the system's).",
    )
    tls_cert_file: Path | None = Field(None, description="TLS: this client's certificate (PEM).")
    tls_key_file: Path | None = Field(None, description="TLS: this client's private key (PEM).")
    retry_interval: float = Field(
        1.0, gt=0, description="Seconds between attempts to reach a broker that is down."
    )
    send_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for the broker to acknowledge a send."
    )
    drain_timeout: float = Field(
        10.0,
        ge=0,
        description="At the end of the run, seconds to deliver what is still queued or spooled.",
    )
    queue_size: int = Field(
        10_000,
        ge=1,
        description="Messages held in memory for the sender thread; when full (the sender is "
        "stuck), new messages are dropped and counted — the pipeline never waits.",
    )
    spool: SpoolConfig = Field(SpoolConfig(), description="The on-disk spool.")

    @model_validator(mode="after")
    def _tls(self) -> BrokerConfig:
        given = [self.tls_ca_file, self.tls_cert_file, self.tls_key_file]
        if not self.tls and any(p is not None for p in given):
            raise ValueError("tls_ca_file, tls_cert_file and tls_key_file need tls: true")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    def with_paths(self, fix: Callable[[Path], Path]) -> BrokerConfig:
        """A copy with its file paths (spool, TLS files) passed through ``fix``."""
        update: dict[str, object] = {}
        for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            value = getattr(self, name)
            if value is not None:
                update[name] = fix(value)
        if self.spool.path is not None:
            update["spool"] = self.spool.model_copy(update={"path": fix(self.spool.path)})
        return self.model_copy(update=update) if update else self

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port or DEFAULT_PORTS[self.protocol]


class MessagesConfig(_Strict):
    """What a broker sink sends (DeepStream nvmsgconv settings)."""

    payload: PayloadKind = Field(
        "visionflow",
        description="visionflow: one visionflow.event/1 JSON per event; visionflow-frame: "
        "one visionflow.frame/1 JSON per frame; deepstream-full / deepstream-minimal: "
        "DeepStream's schemas (payload-type 0 / 1); custom: your function.",
    )
    msg2p_newapi: bool = Field(
        False,
        description="DeepStream payloads from the frame and object metadata (every "
        "frame_interval-th frame) instead of from events.",
    )
    frame_interval: int = Field(
        30,
        ge=0,
        description="Frames whose frame_num is a multiple of this are sent (msg2p_newapi, "
        "visionflow-frame); 0: every frame.",
    )
    config: Path | None = Field(
        None, description="An nvmsgconv config: [sensorN], [placeN], [analyticsN] groups."
    )
    function: str | None = Field(
        None,
        description="custom: package.module:function(meta, events) returning payloads "
        "(bytes, str, or JSON-ready objects).",
    )
    component_id: int = Field(
        0, ge=0, description="Only events of this component id (comp-id); 0: all."
    )
    dummy_payload: bool = Field(
        False,
        description="deepstream-minimal without msg2p_newapi: a payload for frames "
        "without events too (dummy-payload).",
    )

    @model_validator(mode="after")
    def _function(self) -> MessagesConfig:
        if self.payload == "custom" and not self.function:
            raise ValueError("payload custom needs a function (package.module:function)")
        if self.function and self.payload != "custom":
            raise ValueError(f"function is used by payload custom only (payload is {self.payload})")
        return self
