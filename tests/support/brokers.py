"""Real message brokers for the tests and the ``brokers`` benchmark: Debian's ``mosquitto``,
``redis-server`` and ``rabbitmq-server``, each started on free local ports with its own data
folder, and stopped (or killed) and restarted on the same port on demand.

Every server persists what it accepted (mosquitto ``persistence``, Redis append-only file with
``fsync always``, RabbitMQ durable queues) so that a stop/restart loses nothing it acknowledged.
A server binary that is not installed makes :func:`require` skip the test, naming the package.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

PACKAGES = {"mosquitto": "mosquitto", "redis": "redis-server", "amqp": "rabbitmq-server"}
_BINARIES = {
    "mosquitto": "mosquitto",
    "redis": "redis-server",
    "amqp": "rabbitmq-server",
}
_SBIN = ("/usr/sbin", "/usr/lib/rabbitmq/bin")
_RABBIT = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(kind: str) -> str | None:
    name = _BINARIES[kind]
    if kind == "amqp" and os.access(_RABBIT, os.X_OK):
        return _RABBIT  # the script itself: /usr/sbin's wrapper switches to the rabbitmq user
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def require(kind: str) -> str:
    """The server's binary, or skip the test naming the Debian package to install."""
    found = binary(kind)
    if found is None:
        pytest.skip(f"needs {_BINARIES[kind]} (Debian package {PACKAGES[kind]})")
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class BrokerServer:
    """One broker process: :meth:`start`, :meth:`stop` (graceful), :meth:`kill` (SIGKILL),
    :meth:`restart`; ``port`` stays the same across restarts."""

    kind = ""
    start_timeout = 20.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.root / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> BrokerServer:
        if self.process is not None and self.process.poll() is None:
            return self
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited at start:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.kind} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def ready(self) -> bool:
        return _listening(self.port)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM): the server saves what it holds."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        deadline = time.monotonic() + 10
        while _listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> BrokerServer:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Mosquitto(BrokerServer):
    kind = "mosquitto"

    def command(self) -> list[str]:
        conf = self.root / "mosquitto.conf"
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # as root, mosquitto would switch to a user that cannot write here
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {data}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
        )
        return [require("mosquitto"), "-c", str(conf)]


def tls_files(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl): ``ca``, ``cert``,
    ``key``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vf-test-ca",
        "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
        "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return {"ca": ca, "cert": cert, "key": key}


class MosquittoTLS(Mosquitto):
    """mosquitto with a TLS listener only (certificates from :func:`tls_files`)."""

    def __init__(self, root: Path, files: dict[str, Path]) -> None:
        super().__init__(root)
        self.files = files

    def command(self) -> list[str]:
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"user {getpass.getuser()}\n"
            f"cafile {self.files['ca']}\n"
            f"certfile {self.files['cert']}\n"
            f"keyfile {self.files['key']}\n"
        )
        return [require("mosquitto"), "-c", str(conf)]


class Redis(BrokerServer):
    kind = "redis"

    def command(self) -> list[str]:
        return [
            require("redis"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.root),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip


class RabbitMQ(BrokerServer):
    """RabbitMQ with its own node name, ports, epmd port, cookie and data folder (slow to
    start: start it once per session)."""

    kind = "amqp"
    start_timeout = 120.0

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"vftest{self.port}@localhost"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("VISIONFLOWTESTCOOKIE")
            cookie.chmod(0o400)
        conf = self.root / "rabbitmq.conf"
        conf.write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "log.console = true\n"
            "log.file = false\n"
        )
        plugins = self.root / "enabled_plugins"
        plugins.write_text("[].\n")
        for folder in ("mnesia", "log"):
            (self.root / folder).mkdir(exist_ok=True)
        env.update(
            HOME=str(home),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.root / "log"),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(plugins),
            RABBITMQ_PID_FILE=str(self.root / "rabbit.pid"),
            RABBITMQ_FEATURE_FLAGS_FILE=str(self.root / "mnesia" / "feature_flags"),
            RABBITMQ_QUORUM_DIR=str(self.root / "mnesia" / "quorum"),
            RABBITMQ_STREAM_DIR=str(self.root / "mnesia" / "stream"),
            ERL_CRASH_DUMP=str(self.root / "erl_crash.dump"),
        )
        return env

    def command(self) -> list[str]:
        return [require("amqp")]

    def ready(self) -> bool:
        if not _listening(self.port):
            return False
        import pika

        try:
            params = pika.ConnectionParameters("127.0.0.1", self.port, socket_timeout=2)
            pika.BlockingConnection(params).close()
        except Exception:
            return False
        return True

    def stop(self, timeout: float = 60.0) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            ctl = Path(require("amqp")).with_name("rabbitmqctl")
            subprocess.run(
                [str(ctl), "-n", self.node, "stop"],
                env=self.environment(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        super().stop(timeout)


SERVERS: dict[str, type[BrokerServer]] = {"mqtt": Mosquitto, "redis": Redis, "amqp": RabbitMQ}


# -- consumers: what reached the broker -------------------------------------------------------


class MqttCollector:
    """A persistent-session MQTT subscriber (QoS 1) that reconnects by itself; ``payloads``
    holds what it received, in order."""

    def __init__(self, port: int, topic: str) -> None:
        import threading

        import paho.mqtt.client as mqtt

        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"collector-{port}-{topic}",
            clean_session=False,
        )
        self.client.reconnect_delay_set(0.2, 1)

        def on_connect(client: mqtt.Client, *_: object) -> None:
            client.subscribe(topic, qos=1)

        def on_subscribe(*_: object) -> None:
            self._ready.set()

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.payloads.append(bytes(msg.payload))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the MQTT collector could not subscribe")

    def received(self) -> list[bytes]:
        with self._lock:
            return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def redis_payloads(port: int, stream: str, key: str = "metadata") -> list[bytes]:
    """Every entry of a Redis stream, oldest first."""
    import redis

    client = redis.Redis(port=port)
    try:
        return [fields[key.encode()] for _id, fields in client.xrange(stream)]
    finally:
        client.close()


def amqp_bind(port: int, queue: str, routing_key: str, exchange: str = "amq.topic") -> None:
    """A durable queue bound to ``exchange`` with ``routing_key``, emptied."""
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key)
    channel.queue_purge(queue)
    connection.close()


def amqp_payloads(port: int, queue: str) -> list[bytes]:
    """Everything in a queue, oldest first (acknowledged, so the queue ends empty)."""
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    channel = connection.channel()
    out: list[bytes] = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(body)
    connection.close()
    return out


def sequence_check(
    payloads: list[bytes], emitted: dict[int, list[int]] | None = None
) -> dict[str, object]:
    """Payloads carrying ``source_id`` and ``data.seq`` (the test probe's events): per source,
    whether every emitted sequence number arrived (``complete``; without ``emitted``: 0, 1, 2 …
    without a gap) and whether first arrivals are in the order they were emitted."""
    import json

    seen: dict[int, list[int]] = {}
    duplicates = 0
    for raw in payloads:
        event = json.loads(raw)
        seqs = seen.setdefault(int(event["source_id"]), [])
        seq = int(event["data"]["seq"])
        if seq in seqs:
            duplicates += 1
            continue
        seqs.append(seq)
    if emitted is None:
        emitted = {s: list(range(len(v))) for s, v in seen.items()}
    return {
        "sources": sorted(seen),
        "unique": sum(len(v) for v in seen.values()),
        "emitted": sum(len(v) for v in emitted.values()),
        "duplicates": duplicates,
        "in_order": all(v == sorted(v) for v in seen.values()),
        "complete": {s: sorted(v) for s, v in seen.items()}
        == {s: sorted(v) for s, v in emitted.items() if v},
        "lost": sum(len(set(v) - set(seen.get(s, []))) for s, v in emitted.items()),
        "per_source": {s: len(v) for s, v in seen.items()},
    }


def seq_probe(batch: object, emitted: dict[int, list[int]] | None = None) -> None:
    """A probe emitting one ``tick`` event per frame with ``data.seq`` = the frame number
    (recorded per source in ``emitted`` when given)."""
    from visionflow.brokers import emit_event

    for meta in batch.meta.frames:  # type: ignore[attr-defined]
        emit_event(meta, "tick", data={"seq": meta.frame_num})
        if emitted is not None:
            emitted.setdefault(meta.source_id, []).append(meta.frame_num)


def events_pipeline(
    sink: object, sources: int, frames: int, fps: float = 0, width: int = 64, height: int = 48
) -> object:
    """A pipeline of ``sources`` synthetic streams (live at ``fps`` when given) whose frames each
    carry one ``tick`` event, ending in ``sink``; returns the Pipeline (not run)."""
    from visionflow.core.pipeline import Pipeline
    from visionflow.media import SyntheticSource
    from visionflow.mux.streammux import StreamMux

    srcs = [
        SyntheticSource(width, height, frames, fps=fps or 30, source_id=i, live=bool(fps))
        for i in range(sources)
    ]
    mux = StreamMux(batch_size=sources, batched_push_timeout=40_000)
    pipeline = Pipeline(srcs, [sink], mux=mux)  # type: ignore[list-item]
    emitted: dict[int, list[int]] = {}
    pipeline.emitted = emitted  # type: ignore[attr-defined]
    pipeline.add_probe(sink.name, lambda b: seq_probe(b, emitted), "before")  # type: ignore[attr-defined]
    times: list[float] = []
    pipeline.batch_times = times  # type: ignore[attr-defined]
    pipeline.add_probe(sink.name, lambda _b: times.append(time.monotonic()), "after")  # type: ignore[attr-defined]
    return pipeline


def frames_span(pipeline: object) -> float:
    """Seconds from the first batch to the last through the sink (the frame flow alone, not
    the drain at the end)."""
    times = pipeline.batch_times  # type: ignore[attr-defined]
    return float(times[-1] - times[0]) if len(times) > 1 else 0.0
