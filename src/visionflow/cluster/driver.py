"""The cluster driver: places streams on Ray workers, writes their results, survives lost ones.

:class:`ClusterRunner` starts ``workers`` actors (each a :class:`PipelineWorker` with its CPUs
and GPUs reserved), builds the engines once per node first, spreads the sources by cost, then
collects every worker's JSON Lines output every ``poll_interval`` seconds and writes it to the
configured files. Per stream it remembers the last frame written: a line for a frame at or before
it is a duplicate and is dropped, so every frame is written exactly once.

When a worker dies (its process killed, its node removed), its streams move to the surviving
workers, least loaded first; a file resumes at the frame after the last one written, a live
stream reconnects. When the cluster gets room again (a node joins), a replacement worker starts
and streams move to it until the load is even. A stream whose worker is lost with no worker left
to take it, and none started within ``restart_timeout``, fails the run, saying so.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from visionflow.cluster.config import ClusterConfig
from visionflow.cluster.placement import least_loaded, measure, place
from visionflow.cluster.worker import Line, PipelineWorker, prepare_engines
from visionflow.config.pipeline import PipelineConfig, SourceConfig
from visionflow.errors import VisionflowError

log = logging.getLogger(__name__)

_DONE = ("ended", "removed", "failed")
_WAKE_S = 1.0  # the longest the driver sleeps: worker checks, orphans and stop() need it
_REASON = re.compile(r"^source (\d+)\b[: ]*(.*)$")  # a drop reason naming its stream


def import_ray() -> Any:
    """Ray, or an error saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise VisionflowError("the cluster mode needs Ray: pip install 'visionflow[ray]'") from exc
    return ray


@dataclass
class Move:
    """A stream moved between workers: when, why and where it resumed."""

    stream: int
    source: str | None  # the worker it left (None: placed for the first time after a loss)
    target: str
    reason: str
    resume_frame: int
    at_s: float  # seconds since the run began
    recovered_s: float | None = None  # seconds until its first new line was written


@dataclass
class _Worker:
    name: str
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    streams: set[int] = field(default_factory=set)
    alive: bool = True
    pending: Any = None  # the poll in flight
    report: dict[str, Any] | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # its last poll's live figures


@dataclass
class _Stream:
    id: int
    config: SourceConfig
    cost: float
    worker: str | None = None
    last_frame: int = -1
    written: int = 0
    state: str = "running"
    moved_at: float | None = None
    move: Move | None = None
    waiting: tuple[str | None, str] | None = None  # (worker left, reason) while it has none
    removing: bool = False  # asked to leave (remove_source): its worker's "removed" is final


@dataclass
class ClusterReport:
    """What a cluster run did, per worker and per stream.

    ``outcome`` is ``ok`` (every stream ended), ``partial`` (some failed) or ``failed`` (none
    wrote a frame, or the cluster had no worker left); ``error`` says why when it failed.
    """

    elapsed_s: float
    frames_written: int
    duplicates_dropped: int
    workers: dict[str, dict[str, Any]]
    streams: dict[int, dict[str, Any]]
    moves: list[Move]
    outcome: str
    error: str | None = None

    @property
    def fps(self) -> float:
        return self.frames_written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fps"] = self.fps
        return data


class ClusterRunner:
    """Runs a pipeline on Ray workers (``visionflow run PIPELINE --ray``).

    Args:
        config: the pipeline; its ``cluster`` section (or ``cluster``) sizes the workers.
        address: the Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:10001``); None
            or ``local`` starts a Ray instance on this machine for the run.
        cluster: overrides ``config.cluster``.
    """

    def __init__(
        self,
        config: PipelineConfig,
        address: str | None = None,
        cluster: ClusterConfig | None = None,
    ) -> None:
        self.config = config
        self.address = None if address in (None, "", "local") else address
        self.cluster = cluster or config.cluster or ClusterConfig()
        self._models = max(1, len(config.infer))
        self._streams = {
            i: _Stream(i, s, measure(s.uri, self._models).cost)
            for i, s in enumerate(config.sources)
        }
        self._workers: dict[str, _Worker] = {}
        self._starting: dict[str, _Worker] = {}
        self._count = 0
        self._moves: list[Move] = []
        self._duplicates = 0
        self._last: dict[tuple[int, int], int] = {}  # (sink, stream) → last frame written
        self._files: list[Any] = []
        self._t0 = 0.0
        self._ray: Any = None
        self._stop = False
        self._error: str | None = None
        self._started_ray = False
        self._lock = threading.RLock()
        self._placed = False  # the first placement is done: new streams go to a worker
        self._ended = False  # the loop has ended: no stream can join
        self._intervals: list[tuple[str | None, int]] = []  # set_interval calls, for newcomers
        self._written = 0  # frames written (the first JSON Lines sink's, or progress marks)
        self.on_written: Callable[[int], None] | None = None
        """Called with the frames written so far each time the driver writes (benchmarks,
        progress bars), under the driver's lock: keep it short."""

    # --- the Python API (runtime control) ---------------------------------------------------

    def add_source(self, source: SourceConfig) -> int:
        """Add a stream (thread-safe); while the cluster runs it goes to the least-loaded
        worker at once, before the start it is placed with the others. Returns its id (ids
        are never reused). Raises VisionflowError once the run has ended or is ending."""
        cost = measure(source.uri, self._models).cost  # outside the lock: it may probe a file
        with self._lock:
            if self._ended or self._stop:
                raise VisionflowError("the cluster run has ended: no stream can join")
            stream = _Stream(len(self._streams), source, cost)
            self._streams[stream.id] = stream
            if self._placed:
                self._assign(stream, start_frame=0)
                if stream.worker is None:  # no worker now: it waits like a lost worker's
                    stream.moved_at = time.monotonic()
        return stream.id

    def remove_source(self, stream: int) -> None:
        """Stop a stream (thread-safe); returns once its frames already read are written, and
        it is then ``removed`` (or ``ended``, when it ended first). KeyError: unknown id."""
        with self._lock:
            s = self._streams[stream]
            if s.state in _DONE:
                return
            s.removing = True
            worker = self._workers.get(s.worker or "")
            if worker is None or not worker.alive:  # waiting for a worker: nothing in flight
                s.state = "removed"
                return
            self._call(worker, worker.handle.remove.remote(stream))
            self._drain(worker)
            if not worker.alive:  # lost while leaving: what it wrote is all there is
                s.state = "removed"

    def set_interval(self, element: str | None, interval: int) -> str:
        """Set an inference element's interval on every worker (None: the first inference
        element), and on workers that start later; returns the element's name. Raises
        VisionflowError for an element that has no interval, ValueError for an interval that is
        not an integer >= 0."""
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
            raise ValueError(f"interval must be an integer >= 0, got {interval!r}")
        with self._lock:
            alive = [w for w in self._workers.values() if w.alive]
            known = next((w.info.get("inference", []) for w in alive), None)
            if known is not None:
                if not known:
                    raise VisionflowError("the pipeline has no inference element")
                if element is None:
                    element = known[0]
                elif element not in known:
                    raise VisionflowError(
                        f"no inference element named '{element}'; inference elements: "
                        + ", ".join(known)
                    )
            names = [self._call(w, w.handle.set_interval.remote(element, interval)) for w in alive]
            self._intervals.append((element, interval))
        return element or next((n for n in names if n), "")

    def stop(self) -> None:
        """End the run after the frames in flight (thread-safe)."""
        self._stop = True

    @property
    def running(self) -> bool:
        """Whether the streams have been placed and the run has not ended."""
        return self._placed and not self._ended

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop

    @property
    def ended(self) -> bool:
        return self._ended

    def stream_state(self, stream: int) -> str:
        """``running``, ``removing`` (asked to leave, not yet flushed), ``ended``, ``removed``
        or ``failed``; KeyError for an unknown id."""
        s = self._streams[stream]
        return "removing" if s.removing and s.state not in _DONE else s.state

    def stream_info(self) -> dict[int, dict[str, Any]]:
        """Every stream the run has had: its URI, worker, state, frames written, and its live
        figures summed over the workers it ran on (``frames_in``, ``frames_out``, ``drops`` by
        reason) with the current worker's latency and queue."""
        workers = list(self._workers.values())  # snapshots: no lock, no wait
        out: dict[int, dict[str, Any]] = {}
        for s in list(self._streams.values()):
            info: dict[str, Any] = {
                "uri": s.config.uri,
                "worker": s.worker,
                "state": self.stream_state(s.id),
                "frames_written": s.written,
                "last_frame": s.last_frame,
                "frames_in": 0,
                "frames_out": 0,
                "latency_p50_ms": None,
                "latency_p95_ms": None,
                "drops": {},
                "queued": 0,
            }
            prefix = f"source {s.id}"
            for w in workers:
                f = w.figures
                info["frames_in"] += f.get("frames_in", {}).get(s.id, 0)
                info["frames_out"] += f.get("frames_out", {}).get(s.id, 0)
                for reason, n in f.get("drops", {}).items():
                    match = _REASON.match(reason)
                    if match is not None and int(match.group(1)) == s.id:
                        what = match.group(2) or reason
                        info["drops"][what] = info["drops"].get(what, 0) + n
                if w.name == s.worker:
                    p50, p95 = f.get("latency", {}).get(s.id, (None, None))
                    info["latency_p50_ms"], info["latency_p95_ms"] = p50, p95
                    info["queued"] = f.get("queues", {}).get(prefix, 0)
            out[s.id] = info
        return out

    def figures(self) -> dict[str, dict[str, Any]]:
        """Each worker's last live figures (see :meth:`PipelineWorker.figures`), by name."""
        return {w.name: dict(w.figures) for w in list(self._workers.values()) if w.figures}

    @property
    def progress(self) -> dict[int, int]:
        """Frames written so far, per stream."""
        return {s.id: s.written for s in list(self._streams.values())}

    @property
    def workers(self) -> dict[str, dict[str, Any]]:
        """Live workers: their node, host, pid and streams."""
        return {
            w.name: {**w.info, "streams": sorted(w.streams)}
            for w in list(self._workers.values())
            if w.alive
        }

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> ClusterReport:
        """Run to the end of every stream (or :meth:`stop`); the report of the whole cluster."""
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            if self.address is None:
                start_local_ray(ray)
            else:
                ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
            self._started_ray = True
        self._t0 = time.monotonic()
        try:
            self._open_files()
            self._prepare_engines()
            for _ in range(self.cluster.workers):
                self._start_worker()
            self._wait_started(timeout=120.0)
            if not self._workers:
                raise VisionflowError("no Ray worker could be started (not enough resources?)")
            with self._lock:
                self._place_all()
                self._placed = True
            self._loop()
        except VisionflowError as exc:
            self._error = str(exc)
            log.error("cluster run: %s", exc)
        finally:
            with self._lock:
                self._ended = True
            reports = self._finish()
            self._close_files()
            if self._started_ray:
                ray.shutdown()
        return self._report(reports)

    def _loop(self) -> None:
        """Collect, check, then sleep until a worker's poll answers (each worker answers every
        ``poll_interval``, or at once when it dies) or a second has passed."""
        last_check = 0.0
        while not self._stop:
            with self._lock:
                for worker in list(self._workers.values()):
                    if worker.alive:
                        self._poll_once(worker)
                now = time.monotonic()
                if now - last_check >= 1.0:
                    last_check = now
                    self._check_workers()
                if all(s.state in _DONE for s in self._streams.values()):
                    self._ended = True  # under the lock: no stream joins after this
                    return
                self._check_orphans()
                pending = [
                    w.pending for w in self._workers.values() if w.alive and w.pending is not None
                ]
            if pending:  # outside the lock: add_source, remove_source … go on meanwhile
                self._ray.wait(pending, num_returns=1, timeout=_WAKE_S)
            else:
                time.sleep(self.cluster.poll_interval)

    # --- workers ----------------------------------------------------------------------------

    def _actor_class(self) -> Any:
        gpus = self.cluster.gpus_per_worker
        if gpus is None:
            gpus = 1 if any(s.device.startswith("cuda") for s in self.config.infer) else 0
        return self._ray.remote(PipelineWorker).options(
            num_cpus=self.cluster.cpus_per_worker,
            num_gpus=gpus,
            max_concurrency=4,  # poll and remove while the pipeline thread runs
            max_restarts=0,
        )

    def _start_worker(self) -> _Worker:
        name = f"worker-{self._count}"
        self._count += 1
        handle = self._actor_class().remote(name, self.config)
        worker = _Worker(name, handle)
        worker.pending = handle.ready.remote()
        self._starting[name] = worker
        return worker

    def _wait_started(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for the workers being started to be ready."""
        deadline = time.monotonic() + timeout
        while self._starting and time.monotonic() < deadline:
            if self._take_ready(0.5) and len(self._workers) >= self.cluster.workers:
                break

    def _take_ready(self, timeout: float) -> bool:
        """Move the workers that became ready into the pool; True if any did."""
        ray = self._ray
        pending = {w.pending: w for w in self._starting.values()}
        if not pending:
            return False
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
        for ref in ready:
            worker = pending[ref]
            del self._starting[worker.name]
            try:
                worker.info = ray.get(ref)
            except Exception as exc:  # the actor could not be created (Ray's own errors)
                log.warning("%s could not start: %s", worker.name, exc)
                continue
            worker.pending = None
            self._workers[worker.name] = worker
            for element, interval in self._intervals:  # runtime changes made before it came
                self._call(worker, worker.handle.set_interval.remote(element, interval))
            log.info(
                "%s ready on %s (pid %s)", worker.name, worker.info["host"], worker.info["pid"]
            )
        return bool(ready)

    def _check_workers(self) -> None:
        """Start replacements when workers are missing; give new workers their share."""
        alive = [w for w in self._workers.values() if w.alive]
        missing = self.cluster.workers - len(alive) - len(self._starting)
        for _ in range(max(0, missing)):
            if self._has_room():
                self._start_worker()
        before = set(self._workers)
        if self._starting and self._take_ready(0.0):
            for name in set(self._workers) - before:
                self._rebalance(self._workers[name])

    def _has_room(self) -> bool:
        free = self._ray.available_resources()
        return free.get("CPU", 0.0) >= self.cluster.cpus_per_worker

    def _lost(self, worker: _Worker, reason: str) -> None:
        if not worker.alive:
            return
        worker.alive = False
        orphans = sorted(s for s in worker.streams if self._streams[s].state not in _DONE)
        log.warning("%s lost (%s); moving streams %s", worker.name, reason, orphans)
        for stream in orphans:
            s = self._streams[stream]
            if s.removing:  # it was leaving: it does not move
                s.state = "removed"
                continue
            s.worker = None
            s.moved_at = time.monotonic()
            s.waiting = (worker.name, f"{worker.name} lost: {reason}")
            self._assign(s, start_frame=s.last_frame + 1)

    def _check_orphans(self) -> None:
        """Streams without a worker: place them when one is there, or fail them in time."""
        for s in self._streams.values():
            if s.worker is not None or s.state in _DONE:
                continue
            self._assign(s, start_frame=s.last_frame + 1)
            waited = None if s.moved_at is None else time.monotonic() - s.moved_at
            if s.worker is None and waited is not None and waited > self.cluster.restart_timeout:
                s.state = "failed"
                self._error = (
                    f"no worker left to run stream {s.id} ({s.config.uri}) within "
                    f"{self.cluster.restart_timeout:g} s"
                )
                log.error("cluster run: %s", self._error)

    # --- placement --------------------------------------------------------------------------

    def _loads(self) -> tuple[dict[str, float], dict[str, int]]:
        alive = [w for w in self._workers.values() if w.alive]
        loads = {
            w.name: sum(self._streams[s].cost for s in w.streams if self._live(s)) for w in alive
        }
        counts = {w.name: sum(1 for s in w.streams if self._live(s)) for w in alive}
        return loads, counts

    def _live(self, stream: int) -> bool:
        return self._streams[stream].state not in _DONE

    def _place_all(self) -> None:
        loads, _counts = self._loads()
        try:
            placed = place(
                {i: s.cost for i, s in self._streams.items()},
                list(loads),
                capacity=self.cluster.streams_per_worker,
            )
        except ValueError as exc:
            raise VisionflowError(str(exc)) from None
        for stream, name in sorted(placed.items()):
            self._start_stream(self._streams[stream], self._workers[name], 0)

    def _assign(self, s: _Stream, *, start_frame: int) -> None:
        """Start ``s`` on the least-loaded worker (recording a move when it lost its worker)."""
        loads, counts = self._loads()
        name = least_loaded(loads, counts, self.cluster.streams_per_worker)
        if name is None:
            return  # no worker now: _check_orphans tries again
        if s.waiting is not None:
            came_from, reason = s.waiting
            s.waiting = None
            s.move = Move(s.id, came_from, name, reason, start_frame, time.monotonic() - self._t0)
            self._moves.append(s.move)
        self._start_stream(s, self._workers[name], start_frame)

    def _start_stream(self, s: _Stream, worker: _Worker, start_frame: int) -> None:
        self._call(worker, worker.handle.add.remote(s.id, s.config, start_frame))
        if worker.alive:
            s.worker = worker.name
            s.state = "running"
            worker.streams.add(s.id)

    def _rebalance(self, new: _Worker) -> None:
        """Move file streams from the most-loaded workers to ``new`` while that evens the load.

        The moves are planned first, then made together: every stream leaves its worker at once
        (the removals wait for their frames in flight in parallel), each old worker is drained
        once, and the streams resume on ``new`` after their last written frame. The driver thus
        stops collecting for about one removal, not one per moved stream."""
        plan = self._plan_moves(new)
        if not plan:
            return
        removals = [(old, old.handle.remove.remote(stream.id)) for stream, old in plan]
        for old, ref in removals:
            self._call(old, ref)
        for old in {old.name: old for _, old in plan}.values():
            self._drain(old)
        for stream, old in plan:
            if not old.alive:  # lost while handing over: its streams were placed then
                continue
            old.streams.discard(stream.id)
            if stream.state in _DONE:  # it ended while leaving
                continue
            stream.worker, stream.moved_at = None, time.monotonic()  # an orphan until it starts
            if not new.alive:  # the newcomer died meanwhile: placed like a lost worker's stream
                stream.waiting = (old.name, f"{new.name} lost before taking it")
                continue
            stream.move = Move(
                stream.id, old.name, new.name, f"{new.name} joined", stream.last_frame + 1,
                stream.moved_at - self._t0,
            )  # fmt: skip
            self._moves.append(stream.move)
            self._start_stream(stream, new, stream.last_frame + 1)

    def _plan_moves(self, new: _Worker) -> list[tuple[_Stream, _Worker]]:
        """The streams to move to ``new``, each with its worker: repeatedly the cheapest live
        stream of the most-loaded other worker, while moving it evens the load."""
        loads, _counts = self._loads()
        taken: dict[str, list[int]] = {
            w: sorted(
                (s for s in self._workers[w].streams if self._live(s)),
                key=lambda s: self._streams[s].cost,
            )
            for w in loads
            if w != new.name
        }
        plan: list[tuple[_Stream, _Worker]] = []
        while True:
            busiest = max(taken, key=loads.__getitem__, default=None)
            if busiest is None or not taken[busiest]:
                return plan
            stream = self._streams[taken[busiest][0]]
            if loads[busiest] - stream.cost < loads[new.name] + stream.cost - 1e-9:
                return plan  # moving it would not even the load
            taken[busiest].pop(0)
            loads[busiest] -= stream.cost
            loads[new.name] += stream.cost
            plan.append((stream, self._workers[busiest]))

    # --- results ----------------------------------------------------------------------------

    def _call(self, worker: _Worker, ref: Any) -> Any:
        try:
            return self._ray.get(ref, timeout=60)
        except Exception as exc:  # RayActorError, ActorDiedError, GetTimeoutError …
            self._lost(worker, _why(exc))
            return None

    def _drain(self, worker: _Worker) -> None:
        """Collect everything ``worker`` wrote so far (after a removal it waited for)."""
        if worker.pending is not None:
            self._poll_once(worker, block=True)  # the poll in flight
        if worker.alive:
            self._poll_once(worker, block=True)  # what came after it

    def _poll_once(self, worker: _Worker, *, block: bool = False) -> None:
        """Take the answer of ``worker``'s poll in flight, if it came, and send the next one,
        which answers ``poll_interval`` after this one (:meth:`PipelineWorker.poll`). With
        ``block``: wait for the answer (up to 30 s), asking now when no poll is in flight, and
        send none after it."""
        ray = self._ray
        if worker.pending is None:
            worker.pending = worker.handle.poll.remote(0.0 if block else self.cluster.poll_interval)
        ready, _ = ray.wait([worker.pending], timeout=30 if block else 0)
        if not ready:
            if block:
                self._lost(worker, "no answer for 30 s")
            return
        ref, worker.pending = worker.pending, None
        try:
            result = ray.get(ref)
        except Exception as exc:  # the worker died
            self._lost(worker, _why(exc))
            return
        self._write(result["lines"])
        worker.figures = result.get("stats") or worker.figures
        if result["error"]:
            self._lost(worker, result["error"])
            return
        for stream, state in result["states"].items():
            s = self._streams.get(stream)
            if s is not None and s.worker == worker.name and state in _DONE:
                if state == "removed" and s.state not in _DONE and not s.removing:
                    continue  # left this worker to go elsewhere
                s.state = state
        if not block:
            worker.pending = worker.handle.poll.remote(self.cluster.poll_interval)

    def _write(self, per_sink: list[list[Line]]) -> None:
        """Write the workers' lines, each frame of each stream once per sink. The first sink's
        lines (or the workers' progress marks, without a JSON Lines sink) set where a stream
        resumes."""
        now = time.monotonic()
        for index, lines in enumerate(per_sink):
            text = []
            for stream, frame, line in lines:
                s = self._streams[stream]
                if frame <= self._last.get((index, stream), -1):
                    self._duplicates += 1
                    continue
                self._last[index, stream] = frame
                text.append(line)
                if index == 0:
                    s.last_frame = frame
                    s.written += 1
                    self._written += 1
                    if s.move is not None and s.move.recovered_s is None and s.moved_at:
                        s.move.recovered_s = now - s.moved_at
            if text and index < len(self._files):
                self._files[index].write("".join(text))
                self._files[index].flush()
            if text and index == 0 and self.on_written is not None:
                self.on_written(self._written)

    def _open_files(self) -> None:
        for sink in self.config.sinks:
            if sink.type == "jsonl" and sink.path is not None:
                path = Path(sink.path)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._files.append(path.open("w", encoding="utf-8"))

    def _close_files(self) -> None:
        for file in self._files:
            file.close()

    def _prepare_engines(self) -> None:
        """Build the engines once per node before the workers start there."""
        if not self.config.infer:
            return
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(max_calls=1)(prepare_engines)  # its process then exits: no idle one
        refs = [
            task.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
                num_cpus=0,
            ).remote(self.config)
            for node in ray.nodes()
            if node["Alive"]
        ]
        ray.get(refs)

    def _finish(self) -> dict[str, dict[str, Any]]:
        reports: dict[str, dict[str, Any]] = {}
        if self._ray is None:
            return reports
        for worker in self._workers.values():
            if worker.alive and worker.pending is not None:  # its lines come before finish's
                self._poll_once(worker, block=True)  # (after stop() a poll is still in flight)
            if not worker.alive:
                continue
            try:
                report = self._ray.get(worker.handle.finish.remote(), timeout=120)
            except Exception as exc:
                self._lost(worker, _why(exc))
                continue
            self._write(report.pop("lines"))
            reports[worker.name] = report
        for worker in list(self._workers.values()) + list(self._starting.values()):
            try:
                self._ray.kill(worker.handle)
            except Exception as exc:  # already gone
                log.debug("%s: kill: %s", worker.name, exc)
        return reports

    def _report(self, reports: dict[str, dict[str, Any]]) -> ClusterReport:
        streams = {
            s.id: {
                "uri": s.config.uri,
                "worker": s.worker,
                "frames_written": s.written,
                "last_frame": s.last_frame,
                "state": s.state,
                "cost": s.cost,
            }
            for s in self._streams.values()
        }
        workers = {
            w.name: {**w.info, "alive": w.alive, **reports.get(w.name, {})}
            for w in self._workers.values()
        }
        written = sum(s.written for s in self._streams.values())
        failed = [s for s in self._streams.values() if s.state == "failed"]
        if self._error and (written == 0 or "no worker" in self._error):
            outcome = "failed"
        elif failed or self._error:
            outcome = "partial"
        else:
            outcome = "ok"
        return ClusterReport(
            elapsed_s=time.monotonic() - self._t0,
            frames_written=written,
            duplicates_dropped=self._duplicates,
            workers=workers,
            streams=streams,
            moves=self._moves,
            outcome=outcome,
            error=self._error,
        )


def start_local_ray(ray: Any, **options: Any) -> None:
    """Start a Ray instance on this machine for one run (never join one already running here:
    ``address="local"``), lean on CPU: no dashboard, no log forwarding, and no idle worker
    processes started ahead of need (Ray otherwise starts one per CPU when the driver connects,
    each costing memory and about 1 % of a core while it waits). ``options`` go to
    ``ray.init`` (e.g. ``num_cpus``).

    PyAV's per-thread frame converters are dropped first (:func:`_drop_pyav_converters`)."""
    _drop_pyav_converters()
    ray.init(
        address="local",
        log_to_driver=False,
        include_dashboard=False,
        _system_config={"prestart_worker_first_driver": False},
        **options,
    )


def _drop_pyav_converters() -> None:
    """Free the frame converter PyAV keeps per thread (``av.video.frame._thread_local``), so
    that Ray's process start cannot hang. Ray starts its processes with a function run in the
    forked child before ``exec``; there CPython frees the other threads' thread-local data, and
    freeing a converter joins FFmpeg threads that do not exist in the child: it waits forever,
    and ``ray.init`` with it (seen when the run starts on a thread other than the one that
    converted frames, e.g. after a test wrote a clip). Freed here, in this process, the join
    works; PyAV makes a new converter on the next conversion."""
    frame = sys.modules.get("av.video.frame")
    if frame is not None and isinstance(getattr(frame, "_thread_local", None), threading.local):
        setattr(frame, "_thread_local", threading.local())  # noqa: B010 (a private name)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def report_json(report: ClusterReport) -> str:
    return json.dumps(report.to_json(), default=str)
