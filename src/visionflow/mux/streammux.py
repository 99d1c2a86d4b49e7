"""The stream muxer: forms batches of frames across sources (DeepStream ``nvstreammux``).

Sources push frames into per-source bounded queues (:class:`SourceQueues`). The muxer takes frames
round-robin across the sources that have one ready, so every stream gets its turn. As in
nvstreammux (``max-same-source-frames=1``), a batch holds at most one frame of each source: a
source that runs ahead waits for the next batch, so a batch is one moment of every stream and a
tiler can show all of it. The muxer pushes a batch when it holds ``batch_size`` frames, or when
every source that has not ended has a frame in it, or when ``batched_push_timeout`` microseconds
have passed since its first frame (−1: wait for a full batch), or when every source has ended.

File sources are never dropped from: a full queue blocks the decoder (backpressure). A live source
(camera, RTSP) never waits: when its queue is full its oldest frame is dropped and counted.

Sources may join and leave while the muxer runs (:meth:`SourceQueues.add`, ``finish``); a source
that ends is announced (``on_stream_end``) after the batch that holds its last frame, so the
elements downstream can forget it once all its frames have passed them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import cv2
import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.core.stats import PipelineStats
from visionflow.errors import ConfigError

_POLL_S = 0.05


class SourceQueues:
    """Bounded per-source frame queues sharing one condition variable with the muxer.

    Sources may join (:meth:`add`) and leave while the muxer runs: a source is known by its id
    from :meth:`add` until the muxer has taken its last frame after :meth:`finish`
    (:meth:`take_ended`). Unless ``keep_open``, the muxer ends once every source has ended; with
    it, the muxer waits for new sources until :meth:`close`.

    ``absent(source_id)`` tells whether a source's live stream is away (lost, reconnecting): a
    batch does not wait for it, as nvstreammux does not wait for a source at end of stream.
    """

    def __init__(
        self,
        sources: int | Iterable[int],
        maxsize: int,
        stop: threading.Event,
        absent: Callable[[int], bool] | None = None,
        *,
        keep_open: bool = False,
    ) -> None:
        ids = range(sources) if isinstance(sources, int) else sources
        self.cond = threading.Condition()
        self.queues: dict[int, deque[Frame]] = {sid: deque() for sid in ids}
        self.finished: set[int] = set()
        self.maxsize = maxsize
        self.stop = stop
        self.absent = absent or (lambda _sid: False)
        self.closed = not keep_open
        self.ended = False  # the muxer has ended: no source can join any more

    def add(self, source_id: int) -> bool:
        """Let a new source join; False when the muxer has ended or the queues are closed."""
        with self.cond:
            if self.ended or self.closed:
                return False
            if source_id in self.queues:
                raise ValueError(f"source id {source_id} is already in use")
            self.queues[source_id] = deque()
            self.cond.notify_all()
            return True

    def close(self) -> None:
        """No source joins from now on: the muxer ends once every source has ended."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def put(self, source_id: int, frame: Frame, *, leaky: bool, stats: PipelineStats) -> bool:
        """Queue a frame; False when the pipeline is stopping (the frame was not taken)."""
        queue = self.queues[source_id]
        with self.cond:
            while len(queue) >= self.maxsize:
                if leaky:
                    queue.popleft()
                    stats.drop(f"source {source_id}: live queue overflow")
                    break
                if self.stop.is_set():
                    return False
                self.cond.wait(_POLL_S)
            queue.append(frame)
            self.cond.notify_all()
        return True

    def finish(self, source_id: int) -> None:
        """Mark a source as ended (after its last frame)."""
        with self.cond:
            self.finished.add(source_id)
            self.cond.notify_all()

    def drain(self, stats: PipelineStats, reason: str) -> None:
        """Drop every queued frame (used when the pipeline stops on an error)."""
        with self.cond:
            for queue in self.queues.values():
                if queue:
                    stats.drop(reason, len(queue))
                    queue.clear()
            self.cond.notify_all()

    def depths(self) -> dict[int, int]:
        """Frames waiting in each source's queue."""
        with self.cond:
            return {sid: len(q) for sid, q in self.queues.items()}

    @property
    def pending_end(self) -> bool:
        """Whether a source has ended and the muxer has taken all its frames (hold the lock)."""
        return any(sid in self.finished and not q for sid, q in self.queues.items())

    def take_ended(self) -> list[int]:
        """The sources that have ended and whose frames the muxer has all taken, forgotten from
        now on (call with the lock held)."""
        ended = [sid for sid, q in self.queues.items() if sid in self.finished and not q]
        for sid in ended:
            del self.queues[sid]
            self.finished.discard(sid)
        return ended

    @property
    def all_done(self) -> bool:
        """No source will send a frame any more: closed, and every source ended and emptied."""
        return self.closed and all(sid in self.finished and not q for sid, q in self.queues.items())


class StreamMux:
    """Batches frames across sources.

    A batch holds at most one frame of each source (see the module's docstring).

    Args:
        batch_size: most frames in one batch (DeepStream ``batch-size``); ≥ 1. None: a frame of
            every source running, however many there are (the batch follows the sources that
            join and leave a running pipeline).
        batched_push_timeout: microseconds to wait after a batch's first frame before pushing a
            partial batch; −1 waits for a full batch (partial ones still go out at end of stream).
        width, height: when both are > 0, every frame is scaled to this size (``enable_padding``
            keeps the aspect ratio and pads with black, centred, like DeepStream's legacy mux).
            Frames keep their ``source_width/height``.
        enable_padding: letterbox instead of stretching when scaling (rounding as
            :meth:`~visionflow.core.geometry.Letterbox.place`).
    """

    def __init__(
        self,
        batch_size: int | None = 1,
        batched_push_timeout: int = 40_000,
        width: int = 0,
        height: int = 0,
        enable_padding: bool = False,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ConfigError("must be at least 1", key="batch-size", value=str(batch_size))
        if batched_push_timeout < -1:
            raise ConfigError(
                "invalid timeout",
                key="batched-push-timeout",
                value=str(batched_push_timeout),
                allowed="-1 (wait for a full batch) or a number of microseconds ≥ 0",
            )
        self.batch_size = batch_size
        self.batched_push_timeout = batched_push_timeout
        self.width = width
        self.height = height
        self.enable_padding = enable_padding
        self._gpu: Any = None  # a GpuBatcher, made at the first batch of device frames
        self.name = "streammux"

    def run(
        self,
        inputs: SourceQueues,
        emit: Callable[[Batch], bool],
        stop: threading.Event,
        on_stream_end: Callable[[int], bool] | None = None,
    ) -> None:
        """Form batches until every source has ended (or ``stop`` is set) and ``emit`` them.

        ``emit`` returns False when the pipeline is stopping. ``on_stream_end(source_id)`` is
        called once a source has ended and all its frames have been emitted (after the batch
        holding its last frame); it too returns False when the pipeline is stopping.
        """
        timeout_s = None if self.batched_push_timeout < 0 else self.batched_push_timeout / 1e6
        start = 0
        index = 0
        try:
            while not stop.is_set():
                frames: list[Frame] = []
                taken: set[int] = set()
                deadline: float | None = None
                with inputs.cond:
                    while not stop.is_set():
                        order = list(inputs.queues)
                        took = False
                        for k in range(len(order)):
                            sid = order[(start + k) % len(order)]
                            if sid in taken or not inputs.queues[sid] or self._full(frames):
                                continue
                            frames.append(inputs.queues[sid].popleft())
                            taken.add(sid)
                            took = True
                        if took:
                            inputs.cond.notify_all()
                            start += 1
                            if deadline is None and timeout_s is not None:
                                deadline = time.monotonic() + timeout_s
                        if self._full(frames) or inputs.all_done:
                            break
                        if frames and all(
                            sid in taken
                            or ((sid in inputs.finished or inputs.absent(sid)) and not queue)
                            for sid, queue in inputs.queues.items()
                        ):
                            break  # every stream still running (and not away) has its frame here
                        if not frames and inputs.pending_end:
                            break  # a stream to announce as ended
                        if took:
                            continue
                        if deadline is not None and time.monotonic() >= deadline:
                            break
                        wait = (
                            _POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
                        )
                        inputs.cond.wait(min(wait, _POLL_S))
                    ended = inputs.take_ended()
                    done = not frames and inputs.all_done
                    if done:
                        inputs.ended = True
                if frames:
                    batch = self._assemble(frames, index)
                    index += 1
                    if not emit(batch):
                        return
                for sid in ended:
                    if on_stream_end is not None and not on_stream_end(sid):
                        return
                if done:
                    return
        finally:
            with inputs.cond:
                inputs.ended = True
                inputs.cond.notify_all()

    def _assemble(self, frames: list[Frame], index: int) -> Batch:
        """The batch of ``frames``: NumPy frames scaled here; tensor frames (NVDEC, uploads to a
        GPU) copied and scaled into reused buffers on their device (:mod:`.gpu_batch`)."""
        if all(isinstance(f.data, np.ndarray) for f in frames):
            return Batch([self._scale(f) for f in frames], index=index)
        if self._gpu is None:
            from visionflow.mux.gpu_batch import GpuBatcher

            self._gpu = GpuBatcher(self.batch_size, self.width, self.height, self.enable_padding)
        return self._gpu.assemble(frames, index)

    def _full(self, frames: list[Frame]) -> bool:
        return self.batch_size is not None and len(frames) >= self.batch_size

    def _scale(self, frame: Frame) -> Frame:
        if self.width <= 0 or self.height <= 0:
            return frame
        if frame.width == self.width and frame.height == self.height:
            return frame
        pixels = frame.to_numpy(
            frame.format if frame.format is not PixelFormat.NV12 else PixelFormat.RGB24
        )
        fmt = frame.format if frame.format is not PixelFormat.NV12 else PixelFormat.RGB24
        if not self.enable_padding:
            scaled = cv2.resize(pixels, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            return frame.with_pixels(scaled, fmt)
        placement = Letterbox.place(
            (frame.width, frame.height), (0, 0, self.width, self.height), (self.width, self.height)
        )
        (w, h), left, top = placement.scaled_size, int(placement.pad_left), int(placement.pad_top)
        canvas = np.zeros((self.height, self.width, *pixels.shape[2:]), dtype=pixels.dtype)
        canvas[top : top + h, left : left + w] = cv2.resize(
            pixels, (w, h), interpolation=cv2.INTER_LINEAR
        )
        return frame.with_pixels(canvas, fmt)
