"""The pipeline: sources → streammux → elements, each in its own thread behind a bounded queue.

Threads never hang: every blocking call waits in short slices and checks a shared stop event, so an
error anywhere stops every thread within a fraction of a second, and :meth:`Pipeline.run` raises a
:class:`~visionflow.errors.PipelineError` naming the element. End of stream travels as a marker that
makes every element flush, so output files are complete. A source that fails (missing file,
corrupt data, vanished stream) is reported with its URI and ends alone; the other streams go on.
Ctrl-C drains the pipeline the same way (a second Ctrl-C stops at once).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.source import Source
from visionflow.core.stats import PipelineStats, StreamReport
from visionflow.errors import PipelineError, SourceError, VisionflowError
from visionflow.mux.streammux import SourceQueues, StreamMux

log = logging.getLogger(__name__)

Probe = Callable[[Batch], "bool | None"]
"""A callback run on every batch before or after an element. It may read and change metadata;
returning ``False`` drops the batch (its frames are counted as dropped by the probe)."""

_POLL_S = 0.05
_EOS = object()


@dataclass(frozen=True)
class SourceFailure:
    """A source that ended with an error while the rest of the pipeline went on."""

    source_id: int
    uri: str
    error: str


@dataclass
class PipelineReport:
    """What a run did: frames in/out/dropped, per-stream fps and latency, failures."""

    elapsed_s: float
    frames_in: int
    frames_out: int
    drops: dict[str, int]
    streams: list[StreamReport]
    source_failures: list[SourceFailure] = field(default_factory=list)
    element_busy_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def fps(self) -> float:
        """Frames out per second over all streams."""
        return self.frames_out / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def balanced(self) -> bool:
        return self.frames_in == self.frames_out + sum(self.drops.values())


class _Channel:
    """A bounded queue whose blocking calls give up when the pipeline stops."""

    def __init__(self, maxsize: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._stop = stop

    def put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> object | None:
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return None


class Pipeline:
    """Runs sources through a stream muxer and a chain of elements.

    Args:
        sources: the input streams; their ``source_id`` is set to their position.
        elements: the stages after the muxer, in order (inference, tracker, OSD, sinks…).
        mux: the stream muxer; by default one batching a frame of every source.
        queue_size: capacity (in batches, or frames for source queues) of every queue.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        elements: Sequence[Element] = (),
        *,
        mux: StreamMux | None = None,
        queue_size: int = 4,
    ) -> None:
        if not sources:
            raise VisionflowError("a pipeline needs at least one source")
        self.sources = list(sources)
        for i, src in enumerate(self.sources):
            src.source_id = i
        self.mux = mux or StreamMux(batch_size=len(self.sources))
        self.elements = list(elements)
        names = [e.name for e in self.elements]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise VisionflowError(
                f"element names must be unique; repeated: {', '.join(duplicates)}"
            )
        self.queue_size = queue_size
        self.stats = PipelineStats()
        self._probes: dict[tuple[str, str], list[Probe]] = {}
        self._stop = threading.Event()
        self._drain = threading.Event()
        self._error: tuple[str, BaseException] | None = None
        self._error_lock = threading.Lock()
        self._failures: list[SourceFailure] = []
        self._busy: dict[str, float] = {}

    # -- configuration ---------------------------------------------------------------------
    def add_probe(
        self, element: str, probe: Probe, where: Literal["before", "after"] = "after"
    ) -> None:
        """Call ``probe(batch)`` on every batch before or after the named element."""
        if where not in ("before", "after"):
            raise ValueError(f"where must be 'before' or 'after', got {where!r}")
        known = [self.mux.name, *(e.name for e in self.elements)]
        if element not in known:
            raise VisionflowError(f"no element named '{element}'; elements: {', '.join(known)}")
        self._probes.setdefault((element, where), []).append(probe)

    def element(self, name: str) -> Element:
        for e in self.elements:
            if e.name == name:
                return e
        raise VisionflowError(f"no element named '{name}'")

    @property
    def num_frames(self) -> int | None:
        """Total frames all sources will yield, when every source knows its length."""
        counts = [s.num_frames for s in self.sources]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    # -- running ---------------------------------------------------------------------------
    def run(self, on_batch: Callable[[Batch], None] | None = None) -> PipelineReport:
        """Run to the end of every stream and report. Raises PipelineError if an element fails.

        ``on_batch`` is called with every batch that leaves the last element (progress bars).
        """
        started = time.monotonic()
        threads = self._start_threads(on_batch)
        interrupted = False
        try:
            self._join(threads)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: draining the pipeline (Ctrl-C again to stop at once)")
            self._drain.set()
            try:
                self._join(threads)
            except KeyboardInterrupt:
                self._stop.set()
                self._join(threads, timeout=2.0)
        elapsed = time.monotonic() - started
        if self._error is not None:
            name, exc = self._error
            raise PipelineError(name, exc) from exc
        return PipelineReport(
            elapsed_s=elapsed,
            frames_in=self.stats.total_in,
            frames_out=self.stats.total_out,
            drops=dict(self.stats.drops),
            streams=self.stats.streams(elapsed),
            source_failures=list(self._failures),
            element_busy_s=dict(self._busy),
            interrupted=interrupted,
        )

    def stop(self) -> None:
        """Ask a running pipeline to finish: sources stop and everything drains."""
        self._drain.set()

    def _join(self, threads: list[threading.Thread], timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in threads:
            while t.is_alive():
                if deadline is not None and time.monotonic() > deadline:
                    return
                t.join(0.1)

    def _start_threads(self, on_batch: Callable[[Batch], None] | None) -> list[threading.Thread]:
        inputs = SourceQueues(len(self.sources), self.queue_size, self._stop)
        channels = [_Channel(self.queue_size, self._stop) for _ in self.elements]
        threads = [
            threading.Thread(
                target=self._run_source, args=(s, inputs), name=f"vf-src{s.source_id}", daemon=True
            )
            for s in self.sources
        ]
        first = channels[0] if channels else None
        threads.append(
            threading.Thread(
                target=self._run_mux, args=(inputs, first, on_batch), name="vf-mux", daemon=True
            )
        )
        for i, element in enumerate(self.elements):
            out = channels[i + 1] if i + 1 < len(channels) else None
            threads.append(
                threading.Thread(
                    target=self._run_element,
                    args=(element, channels[i], out, on_batch),
                    name=f"vf-{element.name}",
                    daemon=True,
                )
            )
        for t in threads:
            t.start()
        return threads

    def _fail(self, name: str, exc: BaseException) -> None:
        with self._error_lock:
            if self._error is None:
                self._error = (name, exc)
                log.error("element '%s' failed: %s", name, exc)
        self._stop.set()

    def _run_source(self, source: Source, inputs: SourceQueues) -> None:
        sid = source.source_id
        try:
            for frame in source.frames():
                if self._stop.is_set() or self._drain.is_set():
                    break
                self.stats.frame_in(sid)
                if not inputs.put(sid, frame, leaky=source.live, stats=self.stats):
                    self.stats.drop("pipeline stopped")
                    break
        except SourceError as exc:
            log.error("source #%d (%s) failed: %s", sid, source.uri, exc)
            self._failures.append(SourceFailure(sid, source.uri, str(exc)))
        except BaseException as exc:
            self._fail(f"source #{sid} ({source.uri})", exc)
        finally:
            try:
                source.close()
            finally:
                inputs.finish(sid)

    def _probe(self, name: str, where: str, batch: Batch) -> bool:
        for probe in self._probes.get((name, where), ()):
            if probe(batch) is False:
                self.stats.drop_batch(f"probe {where} {name}", batch)
                return False
        return True

    def _deliver(
        self, batch: Batch, out: _Channel | None, on_batch: Callable[[Batch], None] | None
    ) -> bool:
        if out is not None:
            if not out.put(batch):
                self.stats.drop_batch("pipeline stopped", batch)
                return False
            return True
        self.stats.batch_done(batch)
        if on_batch is not None:
            on_batch(batch)
        return True

    def _run_mux(
        self, inputs: SourceQueues, out: _Channel | None, on_batch: Callable[[Batch], None] | None
    ) -> None:
        name = self.mux.name

        def emit(batch: Batch) -> bool:
            if not self._probe(name, "after", batch):
                return True
            return self._deliver(batch, out, on_batch)

        try:
            self.mux.run(inputs, emit, self._stop)
        except BaseException as exc:
            self._fail(name, exc)
        finally:
            if self._stop.is_set():
                inputs.drain(self.stats, "pipeline stopped")
            if out is not None:
                out.put(_EOS)

    def _run_element(
        self,
        element: Element,
        inbox: _Channel,
        out: _Channel | None,
        on_batch: Callable[[Batch], None] | None,
    ) -> None:
        name = element.name
        element.stats = self.stats
        busy = 0.0
        try:
            element.start()
            while True:
                item = inbox.get()
                if item is None:  # stopping
                    break
                if item is _EOS:
                    for batch in element.flush():
                        if self._probe(name, "after", batch):
                            self._deliver(batch, out, on_batch)
                    if out is not None:
                        out.put(_EOS)
                    break
                batch = cast(Batch, item)
                if not self._probe(name, "before", batch):
                    continue
                t0 = time.perf_counter()
                result = element.process(batch)
                busy += time.perf_counter() - t0
                if result is None or not self._probe(name, "after", result):
                    continue
                self._deliver(result, out, on_batch)
        except BaseException as exc:
            self._fail(name, exc)
        finally:
            self._busy[name] = busy
            try:
                element.stop()
            except BaseException as exc:
                self._fail(name, exc)
