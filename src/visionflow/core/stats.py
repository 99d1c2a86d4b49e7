"""Frame accounting and per-stream throughput / latency measurement.

Every frame a source hands to the pipeline is counted in; every frame that leaves the last element
is counted out; every frame dropped on the way is counted with its reason. At the end of a run
``frames_in == frames_out + sum(drops)`` holds, and :class:`PipelineStats` says so.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from visionflow.core.frame import Frame


@dataclass(frozen=True)
class StreamReport:
    """Throughput and latency of one stream over a run."""

    source_id: int
    frames: int
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass
class PipelineStats:
    """Thread-safe counters shared by a pipeline's threads."""

    frames_in: Counter[int] = field(default_factory=Counter)
    frames_out: Counter[int] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)
    _latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    _first_out: dict[int, float] = field(default_factory=dict)
    _last_out: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def frame_in(self, source_id: int) -> None:
        with self._lock:
            self.frames_in[source_id] += 1

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` frames dropped for ``reason`` (e.g. ``"streammux: live overflow"``)."""
        with self._lock:
            self.drops[reason] += count

    def frames_done(self, frames: Iterable[Frame]) -> None:
        """Count frames leaving the pipeline and record their latency."""
        now = time.monotonic_ns()
        with self._lock:
            for frame in frames:
                sid = frame.source_id
                self.frames_out[sid] += 1
                self._latencies[sid].append((now - frame.created_ns) / 1e6)
                self._first_out.setdefault(sid, now / 1e9)
                self._last_out[sid] = now / 1e9

    @property
    def total_in(self) -> int:
        return sum(self.frames_in.values())

    @property
    def total_out(self) -> int:
        return sum(self.frames_out.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.drops.values())

    @property
    def balanced(self) -> bool:
        """True when every frame that came in went out or was counted as dropped."""
        return self.total_in == self.total_out + self.total_dropped

    def streams(self, elapsed: float) -> list[StreamReport]:
        """Per-stream figures; fps is frames over the run's elapsed seconds."""
        with self._lock:
            reports = []
            for sid in sorted(self.frames_in):
                lat = np.asarray(self._latencies.get(sid, [np.nan]))
                n = self.frames_out[sid]
                reports.append(
                    StreamReport(
                        source_id=sid,
                        frames=n,
                        fps=n / elapsed if elapsed > 0 else 0.0,
                        latency_p50_ms=float(np.percentile(lat, 50)),
                        latency_p95_ms=float(np.percentile(lat, 95)),
                    )
                )
            return reports
