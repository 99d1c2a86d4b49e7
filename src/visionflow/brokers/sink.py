"""The broker sink (DeepStream nvmsgconv + nvmsgbroker): converts frames into messages and
delivers them at least once, without ever making the pipeline wait.

``process`` only converts and puts messages in a bounded memory queue. A sender thread takes them
from there to the broker; every send waits for the broker's acknowledgement. While the broker is
down (or a send is not acknowledged) messages go to a bounded on-disk spool
(:class:`~visionflow.brokers.spool.Spool`), and once the broker is back the spool is sent first,
in order, before anything newer: the order of messages is kept (per stream, and overall). A
message that does not fit (memory queue full, spool full) is dropped and counted. At the end of
the run the sink has ``drain_timeout`` seconds to deliver what is left; what it cannot stays in
the spool file (sent first by the next run using the same file) or, for a temporary spool, is
counted as undelivered. A run that lost messages (dropped or undelivered) reports the sink as
failed when it stops, so the exit status says so. The figures (:meth:`BrokerSink.figures`) are
kept up to date in ``PipelineStats.outputs`` while the pipeline runs (every second) and go to
the run report.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from visionflow.brokers.config import BrokerConfig, MessagesConfig
from visionflow.brokers.converter import Message, MessageConverter
from visionflow.brokers.protocols import transport_for
from visionflow.brokers.spool import Spool
from visionflow.brokers.transport import BrokerDownError, Transport
from visionflow.core.batch import Batch
from visionflow.core.element import Sink
from visionflow.errors import SinkError

log = logging.getLogger(__name__)

CHUNK = 256
"""Messages per send (one acknowledgement wait)."""

PUBLISH_S = 1.0
"""Seconds between updates of the sink's live figures in ``PipelineStats.outputs``."""


class BrokerSink(Sink):
    """Publishes a pipeline's events or metadata to a message broker.

    Args:
        broker: where to send (protocol, address, topic, spool …).
        messages: what to send (payload schema, frame interval, msgconv config …).
        name: the element's name.
        transport: a ready transport instead of the one for ``broker.protocol`` (tests, custom
            brokers).
    """

    kind = "broker"

    def __init__(
        self,
        broker: BrokerConfig,
        messages: MessagesConfig | None = None,
        *,
        name: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(name or f"{broker.protocol}sink")
        self.broker = broker
        self.messages = messages or MessagesConfig()
        self.transport = transport or transport_for(broker)
        self._converter: MessageConverter | None = None
        self._queue: queue.Queue[Message] = queue.Queue(broker.queue_size)
        self._spool: Spool | None = None
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("messages", "sent", "spooled", "dropped_queue_full", "dropped_spool_full",
             "outages", "undelivered"),
            0,
        )  # fmt: skip
        self._outage_s = 0.0
        self._down_since: float | None = None
        self._final: dict[str, Any] | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._converter = MessageConverter(self.messages)
        path = self.broker.spool.path
        if path is None:
            self._temp = tempfile.TemporaryDirectory(prefix="visionflow-spool-")
            path = Path(self._temp.name) / f"{self.name}.sqlite"
        self._spool = Spool(path, self.broker.spool.max_bytes, self.broker.spool.max_messages)
        if len(self._spool):
            log.warning(
                "%s: %d messages left in the spool %s by an earlier run are sent first",
                self.name,
                len(self._spool),
                path,
            )
        self._closing.clear()
        self._halt.clear()
        self._thread = threading.Thread(
            target=self._sender, name=f"{self.name}-sender", daemon=True
        )
        self._thread.start()

    def process(self, batch: Batch) -> Batch:
        if self._error is not None:
            raise SinkError(f"{self.transport.where}: {self._error}") from self._error
        converter = self._converter
        if converter is None:
            raise SinkError(f"{self.name}: start() was not called")
        for meta in batch.meta.frames:
            for message in converter.convert(meta):
                self._count("messages")
                try:
                    self._queue.put_nowait(message)
                except queue.Full:
                    self._count("dropped_queue_full")
        return batch

    def flush(self) -> Iterable[Batch]:
        """End of stream: give the sender ``drain_timeout`` seconds to deliver everything."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(self.broker.drain_timeout)
        if self._error is not None:
            raise SinkError(f"{self.transport.where}: {self._error}") from self._error
        return ()

    def stop(self) -> None:
        self._closing.set()
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self.broker.send_timeout + 5)
        self.transport.close()
        spool, self._spool = self._spool, None
        if spool is not None:
            self._store(spool, self._drain_queue())
            left = len(spool)
            if self._temp is not None:
                self._count("undelivered", left)
                if left:
                    log.error("%s: %d messages could not be delivered", self.name, left)
            elif left:
                log.warning(
                    "%s: %d messages wait in the spool %s for the next run", self.name, left,
                    spool.path,
                )  # fmt: skip
            self._final = self.figures(spool)
            spool.close(delete=self._temp is not None)
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None
        if self._down_since is not None:
            self._outage_s += time.monotonic() - self._down_since
            self._down_since = None
        if self._final is not None:
            self._final["outage_s"] = round(self._outage_s, 3)
        if self.stats is not None and self._final is not None:
            self.stats.output(self.name, self._final)
        final = self._final or {}
        lost = final.get("dropped", 0) + final.get("undelivered", 0)
        if lost:  # the run report names the sink as failed: the exit status tells the truth
            raise SinkError(
                f"{lost} of {final.get('messages', 0)} messages lost: "
                f"{final.get('dropped', 0)} dropped (memory queue or spool full), "
                f"{final.get('undelivered', 0)} undelivered at the end (broker down; a spool "
                "path keeps them for the next run)"
            )

    # -- figures -------------------------------------------------------------------------------
    def figures(self, spool: Spool | None = None) -> dict[str, Any]:
        """What the sink did so far: messages made, sent (acknowledged), spooled, dropped,
        spool size and peak, outages."""
        if spool is None:
            spool = self._spool
        with self._lock:
            counts = dict(self._counts)
        if spool is None and self._final is not None:
            return dict(self._final)
        outage = self._outage_s
        if self._down_since is not None:
            outage += time.monotonic() - self._down_since
        return {
            "protocol": self.broker.protocol,
            "where": self.transport.where,
            **counts,
            "dropped": counts["dropped_queue_full"] + counts["dropped_spool_full"],
            "queued": self._queue.qsize(),
            "spool_messages": len(spool) if spool is not None else 0,
            "spool_bytes": spool.size if spool is not None else 0,
            "spool_peak_messages": spool.peak_count if spool is not None else 0,
            "spool_peak_bytes": spool.peak_size if spool is not None else 0,
            "spool_path": str(spool.path) if spool is not None and self._temp is None else None,
            "outage_s": round(outage, 3),
        }

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # -- the sender thread -----------------------------------------------------------------------
    def _sender(self) -> None:
        try:
            self._send_loop()
        except BaseException as exc:
            log.error("%s: sender stopped: %s", self.name, exc)
            self._error = exc

    def _send_loop(self) -> None:
        spool = self._spool
        if spool is None:
            return
        connected = False
        next_try = 0.0
        published = 0.0
        while not self._halt.is_set():
            if self.stats is not None and time.monotonic() - published >= PUBLISH_S:
                self.stats.output(self.name, self.figures(spool))  # live, for /metrics
                published = time.monotonic()
            if self._closing.is_set() and self._queue.empty() and not len(spool):
                break
            if connected and not len(spool):
                chunk = self._take(timeout=0.05)
                if not chunk:
                    continue
                try:
                    self.transport.send(chunk)
                    self._count("sent", len(chunk))
                except BrokerDownError as exc:
                    connected, next_try = False, self._went_down(exc)
                    self._store(spool, chunk)
                continue
            self._store(spool, self._drain_queue())
            if not connected:
                now = time.monotonic()
                if now < next_try:
                    self._halt.wait(min(0.05, next_try - now))
                    continue
                try:
                    self.transport.connect()
                except BrokerDownError as exc:
                    next_try = self._went_down(exc)
                    continue
                connected = True
                self._came_back(spool)
            head = spool.head(CHUNK)
            if not head:
                continue
            try:
                self.transport.send([m for _, m in head])
            except BrokerDownError as exc:
                connected, next_try = False, self._went_down(exc)
                continue
            spool.remove(head)
            self._count("sent", len(head))

    def _take(self, timeout: float) -> list[Message]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        chunk = [first]
        while len(chunk) < CHUNK:
            try:
                chunk.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return chunk

    def _drain_queue(self) -> list[Message]:
        items: list[Message] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _store(self, spool: Spool, messages: list[Message]) -> None:
        if not messages:
            return
        stored = spool.append(messages)
        self._count("spooled", stored)
        if stored < len(messages):
            self._count("dropped_spool_full", len(messages) - stored)

    def _went_down(self, exc: BrokerDownError) -> float:
        self.transport.close()
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._count("outages")
            log.warning("%s: broker down (%s); messages go to the spool", self.name, exc)
        return time.monotonic() + self.broker.retry_interval

    def _came_back(self, spool: Spool) -> None:
        if self._down_since is None:
            return
        down = time.monotonic() - self._down_since
        self._outage_s += down
        self._down_since = None
        log.warning(
            "%s: broker back after %.1f s; %d spooled messages are sent first",
            self.name,
            down,
            len(spool),
        )

    def __repr__(self) -> str:
        return f"<BrokerSink {self.name!r} {self.transport.where}>"
