"""MQTT (paho-mqtt): QoS 1 (or 2) publishes, each acknowledged by the broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from visionflow.brokers.converter import Message
from visionflow.brokers.transport import BrokerDownError, Transport, need
from visionflow.errors import SinkError


class MqttTransport(Transport):
    """Publishes to ``topic`` with the configured QoS; one connection, a fresh one after a
    failure (paho's own reconnection is off, so nothing is resent behind the spool's back)."""

    protocol = "mqtt"
    package = "paho-mqtt"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: Any = None
        self._connected = threading.Event()
        self._lost = threading.Event()

    def connect(self) -> None:
        mqtt = need("paho.mqtt.client", self.package)
        self.close()
        cfg = self.config
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"visionflow-{uuid.uuid4().hex[:12]}",
            clean_session=True,
            reconnect_on_failure=False,
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            try:
                client.tls_set(
                    ca_certs=None if cfg.tls_ca_file is None else str(cfg.tls_ca_file),
                    certfile=None if cfg.tls_cert_file is None else str(cfg.tls_cert_file),
                    keyfile=None if cfg.tls_key_file is None else str(cfg.tls_key_file),
                )
            except (OSError, ValueError) as exc:  # a missing or unreadable file: not transient
                raise SinkError(f"{self.where}: TLS files: {exc}") from exc
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        self._connected.clear()
        self._lost.clear()

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                self._connected.set()
            else:
                self._lost.set()

        def on_disconnect(_c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
            self._lost.set()
            self._connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        host, port = cfg.address
        try:
            client.connect(host, port, keepalive=cfg.keep_alive)
        except OSError as exc:
            raise BrokerDownError(f"{self.where}: cannot connect: {exc}") from exc
        client.loop_start()
        self._client = client
        deadline = time.monotonic() + cfg.send_timeout
        while not self._connected.is_set():
            if self._lost.is_set() or time.monotonic() > deadline:
                self.close()
                raise BrokerDownError(f"{self.where}: the broker refused or did not answer CONNECT")
            self._connected.wait(0.05)

    def send(self, messages: Sequence[Message]) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            raise BrokerDownError(f"{self.where}: not connected")
        cfg = self.config
        infos = []
        for m in messages:
            info = client.publish(cfg.topic, m.payload, qos=cfg.qos)
            if info.rc != 0:
                raise BrokerDownError(f"{self.where}: publish failed (paho rc {info.rc})")
            infos.append(info)
        deadline = time.monotonic() + cfg.send_timeout
        for info in infos:
            while not info.is_published():
                if self._lost.is_set():
                    raise BrokerDownError(f"{self.where}: connection lost")
                if time.monotonic() > deadline:
                    raise BrokerDownError(
                        f"{self.where}: no acknowledgement in {cfg.send_timeout} s"
                    )
                time.sleep(0.001)

    def close(self) -> None:
        client, self._client = self._client, None
        self._connected.clear()
        if client is None:
            return
        try:
            client.disconnect()
            client.loop_stop()
        except Exception:
            pass
