"""Placing streams on workers by their cost.

A stream's cost is the pixel rate it brings — frame rate × width × height — times the
inference stages that run on its frames (one for a pipeline without models). Files are measured
from their headers (PyAV reads the rate and size, decoding nothing); a stream that cannot be
probed without waiting on it (RTSP, HTTP cameras) counts as 1080p30, and says so.

Placement is greedy, largest first ("longest processing time" scheduling): each stream goes to
the worker with the least cost so far that still has room. It is within 4/3 of the best split
and needs no knowledge but the costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from visionflow.media.schemes import file_uri_path, uri_scheme

DEFAULT_RATE, DEFAULT_WIDTH, DEFAULT_HEIGHT = 30.0, 1920, 1080


@dataclass(frozen=True)
class StreamCost:
    """What a stream costs a worker.

    Attributes:
        fps, width, height: as the container states them (or the 1080p30 default).
        models: inference stages run on its frames.
        measured: False when the defaults stand in for a stream that was not probed.
    """

    fps: float
    width: int
    height: int
    models: int = 1
    measured: bool = True

    @property
    def cost(self) -> float:
        """Pixels per second through the models (megapixels, to keep the numbers readable)."""
        return self.fps * self.width * self.height * max(1, self.models) / 1e6


def measure(uri: str, models: int = 1) -> StreamCost:
    """The cost of the stream at ``uri``, from its container's header when it is a local file."""
    scheme = uri_scheme(uri)
    path = Path(uri) if not scheme else file_uri_path(uri) if scheme == "file" else None
    if path is None or not path.is_file():
        return StreamCost(DEFAULT_RATE, DEFAULT_WIDTH, DEFAULT_HEIGHT, models, measured=False)
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return StreamCost(
                float(rate) if rate else DEFAULT_RATE,
                stream.codec_context.width,
                stream.codec_context.height,
                models,
            )
    except (av.error.FFmpegError, IndexError, OSError):
        # the source reports what is wrong with it when it runs; here it just costs the default
        return StreamCost(DEFAULT_RATE, DEFAULT_WIDTH, DEFAULT_HEIGHT, models, measured=False)


def place(
    costs: Mapping[int, float],
    workers: Sequence[str],
    *,
    loads: Mapping[str, float] | None = None,
    counts: Mapping[str, int] | None = None,
    capacity: int | None = None,
) -> dict[int, str]:
    """Stream id → worker, largest stream first onto the least-loaded worker with room.

    ``loads`` and ``counts`` are what the workers carry already (cost, streams). Raises
    ValueError when the streams do not fit ``capacity`` streams per worker.
    """
    if not workers:
        raise ValueError("no worker to place streams on")
    load = {w: float((loads or {}).get(w, 0.0)) for w in workers}
    count = {w: int((counts or {}).get(w, 0)) for w in workers}
    placed: dict[int, str] = {}
    for stream in sorted(costs, key=lambda s: (-costs[s], s)):
        worker = least_loaded(load, count, capacity)
        if worker is None:
            raise ValueError(
                f"{len(costs)} streams do not fit {len(workers)} workers of "
                f"{capacity} streams each (streams_per_worker)"
            )
        placed[stream] = worker
        load[worker] += costs[stream]
        count[worker] += 1
    return placed


def least_loaded(
    loads: Mapping[str, float], counts: Mapping[str, int], capacity: int | None = None
) -> str | None:
    """The worker with the least load (then the fewest streams, then the first name) that has
    room for one more stream; None when every worker is full."""
    free = [w for w in loads if capacity is None or counts.get(w, 0) < capacity]
    if not free:
        return None
    return min(free, key=lambda w: (loads[w], counts.get(w, 0), w))
