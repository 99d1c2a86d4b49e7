"""The pipeline: sources → streammux → elements, each in its own thread behind a bounded queue.

Threads never hang: every blocking call waits in short slices and checks a shared stop event, so an
element error stops every thread within a fraction of a second, and :meth:`Pipeline.run` raises a
:class:`~visionflow.errors.PipelineError` naming the element. End of stream travels as a marker that
makes every element flush, so output files are complete.

Failures are isolated where they can be:

* a source that fails (missing file, corrupt data, vanished stream, any error in its thread) or
  ends without a single frame is reported with its URI and ends alone; the other streams go on;
* a stream whose frames make an element fail (a 1x1 picture an element cannot handle) ends alone
  while other streams are running: the batch is processed again stream by stream, and the
  streams whose part fails are ended and reported with the element's name and error (their
  frames are counted as dropped). When every part fails, or no other stream runs, the element
  has failed and the pipeline stops;
* a :class:`~visionflow.core.element.Sink` that fails is detached: its error is reported with its
  name, its ``stop()`` closes what it wrote, and the batches go on to the other elements.

Sources may join (:meth:`Pipeline.add_source`) and leave (:meth:`Pipeline.remove_source`) while
the pipeline runs, as DeepStream's nvmultiurisrcbin lets them: a source id is never reused; a
leaving source stops reading and the frames it already handed over go through every element; after
the last frame of a stream that ended or left, each element that has an ``end_stream(source_id)``
method has it called (so it can forget the stream), in order with the batches. A default
muxer's batch follows the sources running. ``keep_alive`` keeps a pipeline running with no
source at all, for sources to come (``visionflow serve``), until :meth:`Pipeline.stop` or a
signal.

Ctrl-C, SIGTERM and SIGHUP (how docker, systemd and Kubernetes stop a service) drain the pipeline:
the sources stop and every frame already read goes through every element, so all outputs hold the
same frames; the same signal again stops at once. SIGTERM and SIGHUP are handled while
:meth:`Pipeline.run` runs in the main thread, unless the program installed its own handler or
ignores the signal (``nohup``).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal, cast

from visionflow.core import heap
from visionflow.core.batch import Batch
from visionflow.core.element import Element, Sink
from visionflow.core.frame import device_copies
from visionflow.core.meta import BatchMeta, FrameMeta
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
_STOP_GRACE_S = 2.0
DRAIN_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that drain a running pipeline as Ctrl-C (SIGINT) does."""

Outcome = Literal["ok", "partial", "failed"]
StreamState = Literal["running", "removing", "ended", "removed", "failed"]
"""A stream's state: ``running``; ``removing`` (asked to leave, frames still in flight); then
``ended`` (its end of stream), ``removed`` or ``failed``, once its last frame left the pipeline."""


@dataclass(frozen=True)
class _StreamEnd:
    """The marker that travels after the last frame of a stream that ended or left."""

    source_id: int


@dataclass(frozen=True)
class SourceFailure:
    """A source that ended with an error while the rest of the pipeline went on."""

    source_id: int
    uri: str
    error: str


@dataclass(frozen=True)
class SinkFailure:
    """A sink that failed and was detached while the rest of the pipeline went on."""

    name: str
    error: str


@dataclass
class PipelineReport:
    """What a run did: frames in/out/dropped, per-stream fps and latency, failures.

    Attributes:
        num_sources, sinks: how many sources the run had, and the names of its sinks, so that
            :attr:`outcome` can tell "some failed" from "all failed".
        interrupted: the run was stopped by Ctrl-C or a drain signal (:attr:`stop_signal`).
        stop_signal: the number of the signal that stopped the run (``signal.SIGINT`` for
            Ctrl-C), or None.
        outputs: per sink name, the figures a sink reported of itself (a broker sink's
            messages sent, spooled and dropped, its spool's peak …).
        host_copies: frames copied from a device (GPU) to the host during the run
            (:meth:`Frame.to_numpy`; 0 when every element kept them on the device).
    """

    elapsed_s: float
    frames_in: int
    frames_out: int
    drops: dict[str, int]
    streams: list[StreamReport]
    source_failures: list[SourceFailure] = field(default_factory=list)
    element_busy_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    sink_failures: list[SinkFailure] = field(default_factory=list)
    num_sources: int = 0
    sinks: list[str] = field(default_factory=list)
    stop_signal: int | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_copies: int = 0

    @property
    def fps(self) -> float:
        """Frames out per second over all streams."""
        return self.frames_out / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def balanced(self) -> bool:
        return self.frames_in == self.frames_out + sum(self.drops.values())

    @property
    def outcome(self) -> Outcome:
        """``"ok"``: no source or sink failed. ``"failed"``: nothing could be processed — sources
        failed and no frame came through, or every sink failed. ``"partial"``: some sources or
        sinks failed, the rest ran to the end."""
        if not self.source_failures and not self.sink_failures:
            return "ok"
        nothing_through = bool(self.source_failures) and self.frames_out == 0
        every_sink = bool(self.sinks) and len({f.name for f in self.sink_failures}) >= len(
            self.sinks
        )
        return "failed" if nothing_through or every_sink else "partial"


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

    @property
    def depth(self) -> int:
        """Items waiting (approximate, as :meth:`queue.Queue.qsize`)."""
        return self._queue.qsize()

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
        mux: the stream muxer; by default one batching a frame of every source running.
        queue_size: capacity (in batches, or frames for source queues) of every queue.
        keep_alive: run until :meth:`stop` (or a signal), with no source at all if need be,
            waiting for sources to join; without it the run ends when every source has ended.
        max_sources: most sources running at once (:meth:`add_source` refuses more), as
            nvmultiurisrcbin's ``max-batch-size``; None: no limit.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        elements: Sequence[Element] = (),
        *,
        mux: StreamMux | None = None,
        queue_size: int = 4,
        keep_alive: bool = False,
        max_sources: int | None = None,
    ) -> None:
        if not sources and not keep_alive:
            raise VisionflowError("a pipeline needs at least one source")
        self.sources = list(sources)
        """Every source the pipeline has had, in order of joining: ``sources[i].source_id == i``."""
        for i, src in enumerate(self.sources):
            src.source_id = i
        self.keep_alive = keep_alive
        self.max_sources = max_sources
        self.mux = mux or StreamMux(batch_size=None)
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
        self._sink_failures: list[SinkFailure] = []
        self._busy: dict[str, float] = {}
        self._signal: int | None = None
        self._ended_at: dict[int, int] = {}  # stream → index of the element that ended it
        # runtime control: sources joining and leaving while the pipeline runs
        self._control = threading.RLock()  # also taken in signal handlers
        self._inputs: SourceQueues | None = None
        self._channels: list[_Channel] = []
        self._source_threads: dict[int, threading.Thread] = {}
        self._states: dict[int, StreamState] = dict.fromkeys(range(len(self.sources)), "running")
        self._flushed: dict[int, threading.Event] = {}
        self._removing: set[int] = set()
        self._failed_ids: set[int] = set()
        self._started = False
        self._finished = False

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

    # -- runtime control -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether :meth:`run` has started and not yet ended."""
        return self._started and not self._finished

    @property
    def draining(self) -> bool:
        """Whether the pipeline has been told to finish (:meth:`stop`, a signal, an error)."""
        return self._drain.is_set() or self._stop.is_set()

    @property
    def finished(self) -> bool:
        """Whether :meth:`run` has ended."""
        return self._finished

    def add_source(self, source: Source) -> int:
        """Add a source, before or while the pipeline runs; returns its new ``source_id``.

        Ids are never reused. Raises :class:`~visionflow.errors.VisionflowError` when the
        pipeline has ended or is draining, or when ``max_sources`` sources are running.
        """
        with self._control:
            if self._finished or self._drain.is_set() or self._stop.is_set():
                raise VisionflowError("the pipeline is not running: no source can join")
            active = sum(1 for state in self._states.values() if state in ("running", "removing"))
            if self.max_sources is not None and active >= self.max_sources:
                raise VisionflowError(
                    f"{active} sources are running, the most this pipeline takes "
                    f"(max_sources={self.max_sources})"
                )
            sid = len(self.sources)
            source.source_id = sid
            if self._inputs is not None and not self._inputs.add(sid):
                raise VisionflowError("the pipeline is ending: no source can join")
            self.sources.append(source)
            self._states[sid] = "running"
            self._flushed[sid] = threading.Event()
            if self._inputs is not None:
                self._start_source(source, self._inputs)
        log.info("source #%d (%s) added", sid, source.uri)
        return sid

    def remove_source(self, source_id: int) -> None:
        """Ask a source to leave: it stops reading, and the frames it already handed over go on
        through every element (:meth:`wait_flushed` waits for them).

        Raises KeyError for an id the pipeline never had; a source that has already ended is
        left as it is.
        """
        with self._control:
            state = self._states.get(source_id)
            if state is None:
                raise KeyError(source_id)
            if state != "running":
                return
            self._removing.add(source_id)
            self._states[source_id] = "removing"
            source = self.sources[source_id]
        log.info("source #%d (%s) leaving", source_id, source.uri)
        try:
            source.interrupt()
        except Exception as exc:
            log.debug("source #%d: interrupt() raised", source_id, exc_info=exc)

    def wait_flushed(self, source_id: int, timeout: float | None = None) -> bool:
        """Wait until the last frame of a source that ended or left has gone through the whole
        pipeline (or the run has ended); False on timeout. Raises KeyError for an unknown id."""
        if source_id not in self._states:
            raise KeyError(source_id)
        if self._finished:
            return True
        event = self._flushed.setdefault(source_id, threading.Event())
        return event.wait(timeout)

    def stream_state(self, source_id: int) -> StreamState:
        """The state of a stream (see :data:`StreamState`); KeyError for an unknown id."""
        return self._states[source_id]

    def stream_states(self) -> dict[int, StreamState]:
        """Every stream the pipeline has had, by id, with its state."""
        with self._control:
            return dict(self._states)

    def set_interval(self, element: str, interval: int) -> None:
        """Change an inference element's ``interval`` (batches skipped between inferences)
        while the pipeline runs, as DeepStream's ``/api/v1/infer/set-interval`` does.

        Raises :class:`~visionflow.errors.VisionflowError` for an element that is unknown or
        has no interval, ValueError for an interval that is not an integer ≥ 0.
        """
        target = self.element(element)
        config = getattr(target, "config", None)
        if config is None or not hasattr(config, "interval"):
            raise VisionflowError(f"element '{element}' has no inference interval")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            raise ValueError(f"interval must be an integer >= 0, got {interval!r}")
        target.config = config.model_copy(update={"interval": interval})  # type: ignore[attr-defined]
        log.info("%s: interval set to %d", element, interval)

    def queue_depths(self) -> dict[str, int]:
        """Items waiting in each queue: ``source N`` (frames) and each element's inbox
        (batches), named after the element."""
        depths: dict[str, int] = {}
        if self._inputs is not None:
            depths.update({f"source {sid}": n for sid, n in self._inputs.depths().items()})
        for element, channel in zip(self.elements, self._channels, strict=False):
            depths[element.name] = channel.depth
        return depths

    # -- running ---------------------------------------------------------------------------
    def run(self, on_batch: Callable[[Batch], None] | None = None) -> PipelineReport:
        """Run to the end of every stream and report. Raises PipelineError if an element fails.

        ``on_batch`` is called with every batch that leaves the last element (progress bars).
        Ctrl-C, SIGTERM and SIGHUP drain the pipeline and return a report with
        ``interrupted=True``; the same signal again stops at once.
        """
        if self._started:
            raise VisionflowError("a pipeline runs once; build a new one to run again")
        started = time.monotonic()
        copies = device_copies()
        with self._drain_on_signals():
            threads = self._start_threads(on_batch)
            while True:
                try:
                    self._join(threads)
                    with self._control:
                        self._finished = True
                        stragglers = list(self._source_threads.values())
                    self._join(stragglers)
                    break
                except KeyboardInterrupt:
                    self._interrupt(signal.SIGINT)
        for event in list(self._flushed.values()):
            event.set()
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
            interrupted=self._signal is not None,
            sink_failures=list(self._sink_failures),
            num_sources=len(self.sources),
            sinks=[e.name for e in self.elements if isinstance(e, Sink)],
            stop_signal=self._signal,
            outputs=dict(self.stats.outputs),
            host_copies=device_copies() - copies,
        )

    def stop(self) -> None:
        """Ask a running pipeline to finish: sources stop and everything drains."""
        self._drain.set()
        self._interrupt_sources()

    def _interrupt_sources(self) -> None:
        """Tell every source to stop waiting for data (:meth:`Source.interrupt`), and no new
        source to join."""
        with self._control:
            if self._inputs is not None:
                self._inputs.close()
            sources = list(self.sources)
        for source in sources:
            try:
                source.interrupt()
            except Exception as exc:
                log.debug("source #%d: interrupt() raised", source.source_id, exc_info=exc)

    def _interrupt(self, signum: int) -> None:
        """First signal: drain. A second one: stop at once."""
        name = signal.Signals(signum).name
        if self._signal is None:
            self._signal = signum
            again = "Ctrl-C" if signum == signal.SIGINT else name
            log.warning("%s: draining the pipeline (%s again to stop at once)", name, again)
            self._drain.set()
        else:
            log.warning("%s: stopping at once", name)
            self._stop.set()
        self._interrupt_sources()

    @contextmanager
    def _drain_on_signals(self) -> Iterator[None]:
        """Handle :data:`DRAIN_SIGNALS` as Ctrl-C while running in the main thread, unless the
        program has its own handler for them or ignores them."""
        previous: dict[int, Any] = {}  # the handlers to put back
        if threading.current_thread() is threading.main_thread():
            for signum in DRAIN_SIGNALS:
                if signal.getsignal(signum) is signal.SIG_DFL:
                    previous[signum] = signal.signal(signum, self._on_signal)
            # Ctrl-C too, rather than as KeyboardInterrupt: raised while the threads were being
            # started, it would leave them running with nobody to join them (a hung process)
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._interrupt(signum)

    def _join(self, threads: list[threading.Thread]) -> None:
        """Wait for every thread; once the pipeline is told to stop at once, wait at most
        :data:`_STOP_GRACE_S` more (a thread inside a long call cannot be interrupted)."""
        deadline: float | None = None
        for t in threads:
            while t.is_alive():
                if self._stop.is_set() and self._signal is not None:
                    if deadline is None:
                        deadline = time.monotonic() + _STOP_GRACE_S
                    elif time.monotonic() > deadline:
                        return
                t.join(0.1)

    def _start_source(self, source: Source, inputs: SourceQueues) -> None:
        """Start a source's thread (hold ``self._control``)."""
        thread = threading.Thread(
            target=self._run_source,
            args=(source, inputs),
            name=f"vf-src{source.source_id}",
            daemon=True,
        )
        self._source_threads[source.source_id] = thread
        thread.start()

    def _start_threads(self, on_batch: Callable[[Batch], None] | None) -> list[threading.Thread]:
        channels = [_Channel(self.queue_size, self._stop) for _ in self.elements]
        with self._control:
            self._started = True
            inputs = SourceQueues(
                range(len(self.sources)),
                self.queue_size,
                self._stop,
                absent=lambda sid: self.sources[sid].lost,
                keep_open=self.keep_alive,
            )
            if self._drain.is_set() or self._stop.is_set():
                inputs.close()
            self._inputs, self._channels = inputs, channels
            initial = list(self.sources)  # those added from now on start their own thread
            for sid in range(len(self.sources)):
                self._flushed.setdefault(sid, threading.Event())
        threads: list[threading.Thread] = []
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
        with self._control:
            for source in initial:
                self._start_source(source, inputs)
        return threads

    def _fail(self, name: str, exc: BaseException) -> None:
        """An element failed: stop everything; :meth:`run` raises (the caller prints it, so it
        is logged only at debug level, with the traceback)."""
        with self._error_lock:
            if self._error is None:
                self._error = (name, exc)
                log.debug("element '%s' failed", name, exc_info=exc)
        self._stop.set()
        self._interrupt_sources()

    def _source_failed(self, source: Source, error: str) -> None:
        log.error("source #%d (%s) failed: %s", source.source_id, source.uri, error)
        with self._error_lock:
            self._failures.append(SourceFailure(source.source_id, source.uri, error))
            self._failed_ids.add(source.source_id)

    def _run_source(self, source: Source, inputs: SourceQueues) -> None:
        sid = source.source_id
        count = 0
        try:
            for frame in source.frames():
                if (
                    self._stop.is_set()
                    or self._drain.is_set()
                    or sid in self._ended_at
                    or sid in self._removing
                ):
                    break
                count += 1
                self.stats.frame_in(sid)
                if not inputs.put(sid, frame, leaky=source.live, stats=self.stats):
                    self.stats.drop("pipeline stopped")
                    break
            else:
                leaving = self._stop.is_set() or self._drain.is_set() or sid in self._removing
                if count == 0 and not leaving:
                    self._source_failed(source, "the stream ended without a single frame")
        except SourceError as exc:
            self._source_failed(source, str(exc))
        except Exception as exc:  # any error of one stream ends that stream alone
            log.debug("source #%d (%s) failed", sid, source.uri, exc_info=exc)
            self._source_failed(source, f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            self._fail(f"source #{sid} ({source.uri})", exc)
        finally:
            try:
                source.close()
            finally:
                inputs.finish(sid)
                with self._control:
                    self._source_threads.pop(sid, None)

    def _stream_flushed(self, source_id: int) -> None:
        """The last frame of a stream has left the pipeline."""
        with self._control:
            if source_id in self._failed_ids:
                self._states[source_id] = "failed"
            elif source_id in self._removing:
                self._states[source_id] = "removed"
            else:
                self._states[source_id] = "ended"
            self._removing.discard(source_id)
            event = self._flushed.setdefault(source_id, threading.Event())
        event.set()
        log.debug("stream #%d flushed", source_id)
        if not self.draining:  # the others go on: hand the stream's memory back (core/heap.py)
            heap.trim()

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

        def stream_end(source_id: int) -> bool:
            if out is None:
                self._stream_flushed(source_id)
                return True
            return out.put(_StreamEnd(source_id))

        try:
            self.mux.run(inputs, emit, self._stop, stream_end)
        except BaseException as exc:
            self._fail(name, exc)
        finally:
            if self._stop.is_set():
                inputs.drain(self.stats, "pipeline stopped")
            if out is not None:
                out.put(_EOS)

    def _process_streams(self, index: int, element: Element, batch: Batch) -> Batch | None:
        """``element.process(batch)``; when it fails, end alone the streams whose frames make it
        fail (see the module docstring) and return the result for the others."""
        if self._ended_at:
            batch = self._without_ended(index, batch)
            if not batch.frames:
                return None
        streams = sorted({f.source_id for f in batch.frames})
        saved = _snapshot(batch) if len(streams) > 1 else None
        try:
            return element.process(batch)
        except Exception as exc:
            if saved is None:
                others = set(range(len(self.sources))) - set(self._ended_at) - set(streams)
                if not others:
                    raise
                self._end_stream(index, element.name, batch, exc)
                return None
            failure = exc
        batch.meta.frames[:] = saved  # undo what the failed call changed
        parts: list[Batch] = []
        failed: list[tuple[Batch, Exception]] = []
        for sid in streams:
            part = _part(batch, [i for i, f in enumerate(batch.frames) if f.source_id == sid])
            try:
                result = element.process(part)
            except Exception as part_exc:
                failed.append((part, part_exc))
                continue
            if result is not None:
                parts.append(result)
        if len(failed) == len(streams):
            raise failure
        for part, error in failed:
            self._end_stream(index, element.name, part, error)
        if not parts:
            return None
        frames = [f for p in parts for f in p.frames]
        metas = [m for p in parts for m in p.meta.frames]
        return Batch(frames, BatchMeta(metas, batch.meta.user), index=batch.index)

    def _end_stream(self, index: int, name: str, part: Batch, exc: Exception) -> None:
        """End the stream of ``part`` (its frames made element ``name`` fail)."""
        sid = part.frames[0].source_id
        source = self.sources[sid]
        with self._error_lock:
            self._ended_at.setdefault(sid, index)
        error = f"element '{name}' failed on its frames: {type(exc).__name__}: {exc}"
        self._source_failed(source, error)
        log.debug("element '%s' failed on stream #%d", name, sid, exc_info=exc)
        self.stats.drop_batch(f"source {sid} failed in {name}", part)

    def _without_ended(self, index: int, batch: Batch) -> Batch:
        """The batch without the frames of streams ended at this element or a later one (frames
        that already passed the failing element go on)."""
        keep = [
            i for i, f in enumerate(batch.frames) if self._ended_at.get(f.source_id, -1) < index
        ]
        if len(keep) == len(batch.frames):
            return batch
        gone = _part(batch, [i for i in range(len(batch.frames)) if i not in keep])
        for sid in sorted({f.source_id for f in gone.frames}):
            lost = _part(gone, [i for i, f in enumerate(gone.frames) if f.source_id == sid])
            self.stats.drop_batch(
                f"source {sid} failed in {self.elements[self._ended_at[sid]].name}", lost
            )
        return _part(batch, keep)

    def _sink_failed(self, sink: Element, exc: BaseException, *, close: bool = True) -> None:
        """A sink failed: report it and, unless its ``stop()`` is what failed, call it now so
        that what it wrote is closed; batches pass it by from now on."""
        error = str(exc) if isinstance(exc, VisionflowError) else f"{type(exc).__name__}: {exc}"
        log.error("sink '%s' failed (the other outputs go on): %s", sink.name, error)
        log.debug("sink '%s' failed", sink.name, exc_info=exc)
        with self._error_lock:
            self._sink_failures.append(SinkFailure(sink.name, error))
        if close:
            try:
                sink.stop()
            except Exception as stop_exc:
                log.debug(
                    "sink '%s': stop() after the failure raised", sink.name, exc_info=stop_exc
                )

    def _run_element(
        self,
        element: Element,
        inbox: _Channel,
        out: _Channel | None,
        on_batch: Callable[[Batch], None] | None,
    ) -> None:
        index = self.elements.index(element)
        name = element.name
        element.stats = self.stats
        isolated = isinstance(element, Sink)
        attached = True
        busy = 0.0
        try:
            try:
                element.start()
            except Exception as exc:
                if not isolated:
                    raise
                attached = False
                self._sink_failed(element, exc)
            while True:
                item = inbox.get()
                if item is None:  # stopping
                    break
                if isinstance(item, _StreamEnd):
                    if attached:
                        attached = self._end_stream_in(element, item.source_id, isolated)
                    if out is not None:
                        out.put(item)
                    else:
                        self._stream_flushed(item.source_id)
                    continue
                if item is _EOS:
                    if attached:
                        try:
                            held = list(element.flush())
                        except Exception as exc:
                            if not isolated:
                                raise
                            attached, held = False, []
                            self._sink_failed(element, exc)
                        for batch in held:
                            if self._probe(name, "after", batch):
                                self._deliver(batch, out, on_batch)
                    if out is not None:
                        out.put(_EOS)
                    break
                batch = cast(Batch, item)
                if not self._probe(name, "before", batch):
                    continue
                result: Batch | None = batch
                if attached:
                    t0 = time.perf_counter()
                    try:
                        if isolated:
                            result = element.process(batch)
                        else:
                            result = self._process_streams(index, element, batch)
                    except Exception as exc:
                        if not isolated:
                            raise
                        attached, result = False, batch
                        self._sink_failed(element, exc)
                    busy += time.perf_counter() - t0
                if result is None or not self._probe(name, "after", result):
                    continue
                self._deliver(result, out, on_batch)
        except BaseException as exc:
            self._fail(name, exc)
        finally:
            self._busy[name] = busy
            if attached:
                try:
                    element.stop()
                except Exception as exc:
                    if isolated:
                        self._sink_failed(element, exc, close=False)
                    else:
                        self._fail(name, exc)
                except BaseException as exc:
                    self._fail(name, exc)

    def _end_stream_in(self, element: Element, source_id: int, isolated: bool) -> bool:
        """Tell an element that a stream has ended (its ``end_stream(source_id)``, if it has
        one); False when a sink failed on it (it is then detached)."""
        hook = getattr(element, "end_stream", None)
        if hook is None:
            return True
        try:
            hook(source_id)
        except Exception as exc:
            if not isolated:
                raise
            self._sink_failed(element, exc)
            return False
        return True


def _snapshot(batch: Batch) -> list[FrameMeta]:
    """Copies of a batch's frame metadata, deep enough to undo what an element adds to it (its
    lists, sets and dicts are copied; their items and the immutable detections are shared)."""
    copies = []
    for meta in batch.meta.frames:
        copy = dataclasses.replace(meta)
        for f in dataclasses.fields(meta):
            value = getattr(meta, f.name)
            if isinstance(value, list | set | dict):
                setattr(copy, f.name, type(value)(value))
        copies.append(copy)
    return copies


def _part(batch: Batch, indices: list[int]) -> Batch:
    """The frames ``indices`` of a batch, with their metadata, as a batch."""
    return Batch(
        [batch.frames[i] for i in indices],
        BatchMeta([batch.meta.frames[i] for i in indices], batch.meta.user),
        index=batch.index,
    )
