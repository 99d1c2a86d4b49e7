"""deepstream-app ``[sinkN] type=6`` (nvmsgconv + nvmsgbroker) → a visionflow broker sink.

``msg-broker-proto-lib`` is recognised by its library name (``libnvds_mqtt_proto.so``,
``libnvds_amqp_proto.so``, ``libnvds_redis_proto.so``, ``libnvds_kafka_proto.so``);
``msg-broker-conn-str`` is ``host;port`` (Kafka: optionally ``;topic``; AMQP: optionally
``;username``); the adapter's ``msg-broker-config`` file gives the ``[message-broker]`` keys a
visionflow sink has (credentials, client id, exchange, topic, Redis stream size and payload key,
Kafka ``proto-cfg`` and ``partition-key``); the ``msg-conv-*`` keys (or, with
``disable-msgconv=1``, the ``[message-converter]`` group's) set the payload. What is not
honoured is returned with its reason, for the config report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionflow.brokers.config import BrokerConfig, MessagesConfig
from visionflow.errors import ConfigError

PROTO_LIBS = {
    "libnvds_mqtt_proto.so": "mqtt",
    "libnvds_amqp_proto.so": "amqp",
    "libnvds_redis_proto.so": "redis",
    "libnvds_kafka_proto.so": "kafka",
}
PAYLOAD_TYPES = {0: "deepstream-full", 1: "deepstream-minimal"}
MSGCONV_LIBRARY = "libnvds_msgconv.so"

#: ``[message-broker]`` keys visionflow maps, per protocol.
_ADAPTER_KEYS = {
    "mqtt": {
        "username",
        "password",
        "client-id",
        "keep-alive",
        "enable-tls",
        "tls-cafile",
        "tls-certfile",
        "tls-keyfile",
    },
    "amqp": {"hostname", "port", "username", "password", "exchange", "topic"},
    "redis": {"hostname", "port", "password", "streamsize", "payloadkey"},
    "kafka": {"proto-cfg", "producer-proto-cfg", "partition-key"},
}
_CONSUMER = "consumer side (cloud-to-device) is not available in visionflow"
_ADAPTER_REASONS = {
    "consumer-proto-cfg": _CONSUMER,
    "consumer-group-id": _CONSUMER,
    "consumergroup": _CONSUMER,
    "consumername": _CONSUMER,
    "share-connection": "each visionflow broker sink has its own connection",
    "loop-timeout": "paho-mqtt runs its own network loop",
    "set-threaded": "paho-mqtt runs its own network loop",
    "amqp-framesize": "pika negotiates the frame size",
    "amqp-heartbeat": "visionflow uses a 30 s heartbeat",
    "tls-capath": "a CA folder is not read; give tls-cafile",
}
_SINK_REASONS = {
    "debug-payload-dir": "payloads are not written to a debug folder (a jsonl sink records "
    "the metadata)",
    "multiple-payloads": "the converter makes one payload per event / frame / object as the "
    "payload type says",
    "msg-conv-embedding-filter": "embeddings are not sent",
    "msg-broker-comp-id": "each visionflow broker sink converts for itself; there is no payload "
    "meta to filter",
    "new-api": "visionflow always reconnects, spooling to disk meanwhile",
    "sleep-time": "the sender thread sends as soon as messages come",
}


def _fail(key: str, reason: str, allowed: str | None = None) -> ConfigError:
    return ConfigError(reason, key=key, allowed=allowed)


def adapter_settings(path: Path, protocol: str) -> tuple[dict[str, str], dict[str, str]]:
    """The ``[message-broker]`` keys of an adapter config: (values visionflow uses, ignored key →
    reason). Raises ConfigError (located) for a malformed file."""
    from visionflow.compat.deepstream.keys import IniDocument, read_group
    from visionflow.compat.deepstream.msgconv import MESSAGE_BROKER, read_msgbroker

    read_msgbroker(path)
    doc = IniDocument(path)
    values: dict[str, Any] = {}
    if "message-broker" in doc.groups():
        values = read_group(doc, "message-broker", MESSAGE_BROKER)
    used = {k: str(v) for k, v in values.items() if k in _ADAPTER_KEYS[protocol]}
    ignored = {
        k: _ADAPTER_REASONS.get(k, f"not read by the {protocol} adapter")
        for k in values
        if k not in used
    }
    return used, ignored


def _proto_cfg(text: str) -> dict[str, str]:
    """librdkafka ``key=value;key=value``."""
    out = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _fail("proto-cfg", f"'{item}' is not key=value", "key=value;key=value")
        out[key.strip()] = value.strip()
    return out


def broker_sink(
    values: Mapping[str, Any],
    converter: Mapping[str, Any] | None,
    config_file: str | os.PathLike[str],
) -> tuple[BrokerConfig, MessagesConfig, dict[str, str], dict[str, str]]:
    """A ``[sinkN] type=6`` group's values → (broker, messages, the sink's ignored keys → reason,
    the adapter config's ignored ``[message-broker]`` keys → reason).

    Args:
        values: the sink group's keys (converted).
        converter: the ``[message-converter]`` group's keys when it is enabled, else None.
        config_file: the deepstream-app file (relative paths are resolved against its folder).

    Raises:
        ConfigError: with ``key`` set (unlocated: the caller places it).
    """
    from visionflow.compat.deepstream.keys import resolve

    reasons = {k: r for k, r in _SINK_REASONS.items() if k in values}
    adapter_ignored: dict[str, str] = {}
    library = values.get("msg-broker-proto-lib")
    if not library:
        raise _fail("msg-broker-proto-lib", "missing; a message sink (type=6) needs one",
                    ", ".join(PROTO_LIBS))  # fmt: skip
    protocol = PROTO_LIBS.get(os.path.basename(str(library)))
    if protocol is None:
        raise _fail(
            "msg-broker-proto-lib",
            f"{library}: visionflow has no broker sink for this adapter",
            ", ".join(PROTO_LIBS),
        )
    broker: dict[str, Any] = {"protocol": protocol}
    adapter: dict[str, str] = {}
    if values.get("msg-broker-config"):
        path = resolve(str(values["msg-broker-config"]), config_file)
        if not path.is_file():
            raise _fail("msg-broker-config", f"{path} not found")
        adapter, adapter_ignored = adapter_settings(path, protocol)
    conn = str(values.get("msg-broker-conn-str") or "")
    parts = [p.strip() for p in conn.split(";")] if conn else []
    if parts:
        broker["host"] = parts[0]
        if len(parts) > 1 and parts[1]:
            try:
                broker["port"] = int(parts[1])
            except ValueError:
                raise _fail(
                    "msg-broker-conn-str", f"port '{parts[1]}' is not a number", "host;port"
                ) from None
        if len(parts) > 2 and parts[2]:
            broker["username" if protocol == "amqp" else "topic"] = parts[2]
    else:  # AMQP and Redis take the address from their config file
        if "hostname" in adapter:
            broker["host"] = adapter["hostname"]
        if "port" in adapter:
            broker["port"] = int(adapter["port"])
    if protocol == "amqp":
        # the adapter prefers the environment, then the connection string, then its file
        broker["username"] = (
            os.environ.get("USER_AMQP") or broker.get("username") or adapter.get("username")
        )
        broker["password"] = os.environ.get("PASSWORD_AMQP") or adapter.get("password")
        if "exchange" in adapter:
            broker["exchange"] = adapter["exchange"]
    else:
        for key, field in (("username", "username"), ("password", "password"),
                           ("client-id", "client_id")):  # fmt: skip
            if key in adapter:
                broker[field] = adapter[key]
    if adapter.get("enable-tls", "0").strip().lower() in ("1", "true", "yes"):
        broker["tls"] = True
        for key, field in (("tls-cafile", "tls_ca_file"), ("tls-certfile", "tls_cert_file"),
                           ("tls-keyfile", "tls_key_file")):  # fmt: skip
            if adapter.get(key):
                broker[field] = Path(adapter[key])  # as DeepStream: from the working folder
    if "keep-alive" in adapter:
        broker["keep_alive"] = int(adapter["keep-alive"])
    if "streamsize" in adapter:
        broker["stream_maxlen"] = int(adapter["streamsize"])
    if "payloadkey" in adapter:
        broker["payload_key"] = adapter["payloadkey"]
    if "partition-key" in adapter:
        broker["partition_key"] = adapter["partition-key"]
    kafka_cfg = adapter.get("producer-proto-cfg") or adapter.get("proto-cfg")
    if kafka_cfg:
        broker["kafka"] = _proto_cfg(kafka_cfg)
    topic = values.get("topic") or broker.get("topic") or adapter.get("topic")
    if not topic:
        raise _fail("topic", "missing; the broker sink needs a topic (topic=, or in the "
                    "connection string / adapter config)")  # fmt: skip
    broker["topic"] = str(topic)
    broker = {k: v for k, v in broker.items() if v is not None}

    conv = values
    if values.get("disable-msgconv", 0):
        if converter is None:
            raise _fail(
                "disable-msgconv",
                "set, but there is no enabled [message-converter] group to use instead",
            )
        conv = converter
        reasons.update({k: "disable-msgconv=1: [message-converter] converts" for k in values
                        if k.startswith("msg-conv-")})  # fmt: skip
    messages = _messages(conv, config_file)
    return BrokerConfig(**broker), messages, reasons, adapter_ignored


def _messages(conv: Mapping[str, Any], config_file: str | os.PathLike[str]) -> MessagesConfig:
    from visionflow.compat.deepstream.keys import resolve

    kind = int(conv.get("msg-conv-payload-type", 0))
    if kind == 2:
        raise _fail("msg-conv-payload-type", "2 (protobuf) is not available in visionflow",
                    "0 (DeepStream full JSON) or 1 (minimal JSON)")  # fmt: skip
    if kind >= 256:
        raise _fail(
            "msg-conv-payload-type",
            f"{kind} (custom) needs a custom msg2p library, which visionflow cannot load; a "
            "visionflow pipeline file's messages: {payload: custom, function: module:function} "
            "is the Python hook",
            "0 (DeepStream full JSON) or 1 (minimal JSON)",
        )
    if kind not in PAYLOAD_TYPES:
        raise _fail("msg-conv-payload-type", f"{kind} is invalid", "0 (full) or 1 (minimal)")
    library = conv.get("msg-conv-msg2p-lib")
    if library and os.path.basename(str(library)) != MSGCONV_LIBRARY:
        raise _fail(
            "msg-conv-msg2p-lib",
            f"{library}: a custom payload library cannot be loaded by visionflow; use "
            "messages: {payload: custom, function: module:function} in a visionflow pipeline file",
            MSGCONV_LIBRARY,
        )
    settings: dict[str, Any] = {"payload": PAYLOAD_TYPES[kind]}
    if conv.get("msg-conv-config"):
        path = resolve(str(conv["msg-conv-config"]), config_file)
        if not path.is_file():
            raise _fail("msg-conv-config", f"{path} not found")
        settings["config"] = path
    if "msg-conv-msg2p-new-api" in conv:
        settings["msg2p_newapi"] = bool(conv["msg-conv-msg2p-new-api"])
    if "msg-conv-frame-interval" in conv:
        interval = int(conv["msg-conv-frame-interval"])
        if interval < 0:
            raise _fail("msg-conv-frame-interval", f"{interval} is negative", "0 or more")
        settings["frame_interval"] = interval
    if "msg-conv-comp-id" in conv:
        settings["component_id"] = max(0, int(conv["msg-conv-comp-id"]))
    if "msg-conv-dummy-payload" in conv:
        settings["dummy_payload"] = bool(conv["msg-conv-dummy-payload"])
    return MessagesConfig(**settings)
