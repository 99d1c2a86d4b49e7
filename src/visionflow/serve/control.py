"""The runtime controller behind the REST API: streams by name, live rates, health.

A :class:`Controller` wraps a :class:`~visionflow.core.pipeline.Pipeline` (running or about to
run) and adds what the API speaks in: streams opened from URIs with DeepStream's ``camera_id`` /
``camera_name``, the current frame rate of each stream, per-stream figures and the pipeline's
health. Every method is safe to call from any thread; none blocks for long.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionflow.core.pipeline import Pipeline, StreamState
from visionflow.errors import VisionflowError
from visionflow.media.schemes import file_uri_path, uri_scheme

RATE_WINDOW_S = 5.0
"""Seconds over which a stream's current frame rate is measured."""
_SAMPLE_EVERY_S = 0.2
_STREAM_REASON = re.compile(r"^source (\d+)\b[: ]*(.*)$")


class UnknownStreamError(VisionflowError, KeyError):
    """No stream has this id (or camera id)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown stream"


class StreamConflictError(VisionflowError):
    """A stream with this camera id is already running."""


@dataclass(frozen=True)
class StreamEntry:
    """A stream as the API knows it."""

    source_id: int
    camera_id: str
    camera_name: str
    uri: str


def split_reason(reason: str) -> tuple[str, str]:
    """``("source 3: live queue overflow")`` → ``("3", "live queue overflow")``; a reason that
    names no stream → ``("", reason)`` (the stream label of a drop metric)."""
    match = _STREAM_REASON.match(reason)
    if match is None:
        return "", reason
    return match.group(1), match.group(2) or reason


class _Rate:
    """Frames per second of one stream over the last :data:`RATE_WINDOW_S` seconds, from
    samples of its output counter taken when asked (no thread of its own)."""

    def __init__(self, since: float) -> None:
        self._samples: deque[tuple[float, int]] = deque([(since, 0)])

    def update(self, now: float, count: int) -> float:
        samples = self._samples
        if now - samples[-1][0] >= _SAMPLE_EVERY_S:
            samples.append((now, count))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        return (count - before) / (now - then) if now - then > 1e-3 else 0.0


def find_entry(
    entries: Mapping[int, StreamEntry],
    state: Callable[[int], str],
    source_id: int | None,
    camera_id: str | None,
    uri: str | None,
) -> StreamEntry:
    """The stream with ``source_id``, or the running one (``state``) with ``camera_id`` (and
    ``uri``, as DeepStream looks a sensor up by the pair). Raises UnknownStreamError."""
    if source_id is not None:
        entry = entries.get(source_id)
        if entry is None:
            raise UnknownStreamError(f"no stream with source_id {source_id}")
        return entry
    for entry in entries.values():
        if (
            entry.camera_id == camera_id
            and (uri is None or entry.uri == uri)
            and state(entry.source_id) == "running"
        ):
            return entry
    what = f"camera_id '{camera_id}'" + (f" and camera_url '{uri}'" if uri else "")
    raise UnknownStreamError(f"no running stream with {what}")


class Controller:
    """Runtime control and figures of one pipeline, for the REST API and Python callers.

    Args:
        pipeline: the pipeline (running, or started later).
        open_source: how a URI becomes a source (default:
            :func:`visionflow.media.open_source`); gets the URI and ``live`` / ``loop``.
    """

    def __init__(self, pipeline: Pipeline, open_source: Any = None) -> None:
        if open_source is None:
            from visionflow.media import open_source as default_open

            open_source = default_open
        self.pipeline = pipeline
        self._open = open_source
        self._lock = threading.Lock()
        self._entries: dict[int, StreamEntry] = {}
        self._rates: dict[int, _Rate] = {}
        self.started = time.monotonic()
        for source in pipeline.sources:
            sid = source.source_id
            self._entries[sid] = StreamEntry(sid, str(sid), f"source{sid}", source.uri)
            self._rates[sid] = _Rate(self.started)

    # -- streams -----------------------------------------------------------------------------
    def add_stream(
        self,
        uri: str,
        *,
        camera_id: str | None = None,
        camera_name: str | None = None,
        live: bool | None = None,
        loop: bool = False,
    ) -> StreamEntry:
        """Open ``uri`` and add it to the pipeline; returns the new stream.

        Raises StreamConflictError when ``camera_id`` is running already,
        :class:`~visionflow.errors.ConfigError` for a URI visionflow cannot open (an unknown
        scheme), VisionflowError when the pipeline takes no more sources.
        """
        with self._lock:
            if camera_id is not None and self._running_with(camera_id):
                raise StreamConflictError(f"a stream with camera_id '{camera_id}' is running")
            _check_local(uri)
            source = self._open(uri, live=live, loop=loop)
            sid = self.pipeline.add_source(source)
            entry = StreamEntry(
                sid,
                camera_id if camera_id is not None else str(sid),
                camera_name if camera_name is not None else f"source{sid}",
                uri,
            )
            self._entries[sid] = entry
            self._rates[sid] = _Rate(time.monotonic())
            return entry

    def find(self, *, source_id: int | None = None, camera_id: str | None = None,
             uri: str | None = None) -> StreamEntry:  # fmt: skip
        """The running stream with this id, or camera id (and URI, as DeepStream looks a
        sensor up by the pair). Raises UnknownStreamError."""
        with self._lock:
            return find_entry(self._entries, self.pipeline.stream_state, source_id, camera_id, uri)

    def remove_stream(self, source_id: int) -> StreamEntry:
        """Ask a stream to leave (see :meth:`Pipeline.remove_source`). UnknownStreamError for
        an id the pipeline never had."""
        entry = self.find(source_id=source_id)
        self.pipeline.remove_source(source_id)
        return entry

    def state(self, source_id: int) -> StreamState:
        return self.pipeline.stream_state(source_id)

    def _running_with(self, camera_id: str) -> bool:
        return any(
            e.camera_id == camera_id
            and self.pipeline.stream_state(e.source_id) in ("running", "removing")
            for e in self._entries.values()
        )

    def streams(self, *, all_states: bool = False) -> list[StreamEntry]:
        """The streams running (or leaving); every stream ever added with ``all_states``."""
        states = self.pipeline.stream_states()
        with self._lock:
            return [
                e
                for sid, e in sorted(self._entries.items())
                if all_states or states.get(sid) in ("running", "removing")
            ]

    # -- figures -----------------------------------------------------------------------------
    def stream_stats(self, source_id: int | None = None) -> list[dict[str, Any]]:
        """Per-stream figures: state, frames in/out, current and mean fps, latency p50/p95,
        drops by reason, frames queued. One stream, or every stream ever added."""
        stats = self.pipeline.stats
        frames_in, frames_out, drops = stats.snapshot()
        states = self.pipeline.stream_states()
        depths = self.pipeline.queue_depths()
        now = time.monotonic()
        by_stream: dict[str, dict[str, int]] = {}
        for reason, count in drops.items():
            stream, what = split_reason(reason)
            if stream:
                by_stream.setdefault(stream, {})[what] = count
        out = []
        with self._lock:
            entries = sorted(self._entries.items())
            for sid, entry in entries:
                if source_id is not None and sid != source_id:
                    continue
                rate = self._rates.setdefault(sid, _Rate(now)).update(now, frames_out.get(sid, 0))
                state = states.get(sid, "running")
                out.append(
                    {
                        "source_id": sid,
                        "camera_id": entry.camera_id,
                        "camera_name": entry.camera_name,
                        "uri": entry.uri,
                        "state": state,
                        "frames_in": frames_in.get(sid, 0),
                        "frames_out": frames_out.get(sid, 0),
                        "fps": round(rate, 3) if state in ("running", "removing") else 0.0,
                        "latency_p50_ms": _finite(stats.latency(sid, 0.5)),
                        "latency_p95_ms": _finite(stats.latency(sid, 0.95)),
                        "drops": by_stream.get(str(sid), {}),
                        "queued": depths.get(f"source {sid}", 0),
                    }
                )
        if source_id is not None and not out:
            raise UnknownStreamError(f"no stream with source_id {source_id}")
        return out

    def health(self) -> dict[str, Any]:
        """Whether the pipeline runs, and its totals."""
        p = self.pipeline
        frames_in, frames_out, drops = p.stats.snapshot()
        states = p.stream_states()
        total_in, total_out, dropped = (
            sum(frames_in.values()),
            sum(frames_out.values()),
            sum(drops.values()),
        )
        if p.running:
            state = "draining" if p.draining else "running"
        else:
            state = "ended" if p.finished else "starting"
        return {
            "state": state,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "streams_running": sum(1 for s in states.values() if s in ("running", "removing")),
            "streams_total": len(states),
            "frames_in": total_in,
            "frames_out": total_out,
            "frames_dropped": dropped,
            "balanced": total_in == total_out + dropped,
            "threads": threading.active_count(),
            "drops": dict(drops),
            "queues": p.queue_depths(),
        }

    def inference_elements(self) -> list[str]:
        """Names of the elements that have an inference ``interval``."""
        return [
            e.name
            for e in self.pipeline.elements
            if hasattr(getattr(e, "config", None), "interval")
        ]

    def set_interval(self, element: str | None, interval: int) -> str:
        """Set the interval of the named inference element (None: the first one, the primary,
        as DeepStream's REST server sets its primary GIE's); returns the element's name."""
        if element is None:
            names = self.inference_elements()
            if not names:
                raise VisionflowError("the pipeline has no inference element")
            element = names[0]
        self.pipeline.set_interval(element, interval)
        return element

    def spools(self) -> dict[str, Mapping[str, float]]:
        """Spool figures of the sinks that keep one (a broker sink's on-disk spool), by sink
        name: ``spool_size`` (messages waiting), ``spool_bytes``, ``spool_dropped`` (messages a
        full spool dropped). Read from the figures a sink publishes in
        ``PipelineStats.outputs`` (``spool_messages``, ``spool_bytes``, ``dropped_spool_full``,
        as the broker sinks do), or from a sink's own ``spool_size`` / ``spool_bytes`` /
        ``spool_dropped`` attributes or zero-argument methods."""
        found: dict[str, Mapping[str, float]] = {}
        for name, figures in self.outputs().items():
            if _number(figures.get("spool_messages")) is None:
                continue
            values = {"spool_size": float(figures["spool_messages"])}
            for key, source in (
                ("spool_bytes", "spool_bytes"),
                ("spool_dropped", "dropped_spool_full"),
            ):
                number = _number(figures.get(source))
                if number is not None:
                    values[key] = number
            found[name] = values
        for element in self.pipeline.elements:
            values = {}
            for key in ("spool_size", "spool_bytes", "spool_dropped"):
                value = getattr(element, key, None)
                number = _number(value() if callable(value) else value)
                if number is not None:
                    values[key] = number
            if "spool_size" in values:
                found[element.name] = values
        return found

    def outputs(self) -> dict[str, dict[str, Any]]:
        """The figures sinks publish of themselves while running (``PipelineStats.outputs``)."""
        return {name: dict(f) for name, f in dict(self.pipeline.stats.outputs).items()}


def _check_local(uri: str) -> None:
    """A local file (a path or ``file://`` URI, not a glob) that does not exist is refused now,
    rather than failing once the stream starts. Raises SourceNotFoundError."""
    from visionflow.errors import SourceNotFoundError

    scheme = uri_scheme(uri)
    if scheme not in ("", "file") or any(c in uri for c in "*?["):
        return
    path = file_uri_path(uri) if scheme == "file" else Path(uri)
    if not path.exists():
        raise SourceNotFoundError(f"no such file or folder: {path}")


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number (not a flag), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)
