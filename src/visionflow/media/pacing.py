"""Real-time pacing: hold a stream of timestamped frames to the speed of the wall clock."""

from __future__ import annotations

import time


class Pacer:
    """Sleeps so that a stream runs no faster than real time.

    The first frame is due at once; each later frame is due when as much wall time has passed
    since the first one as stream time has. A late frame is not waited for, and nothing is
    skipped: a source that falls behind catches up at full speed.
    """

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None  # (wall, stream) seconds, first frame

    def wait(self, stream_time: float) -> None:
        """Return when the frame at ``stream_time`` seconds is due."""
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, stream_time)
        delay = self._origin[0] + stream_time - self._origin[1] - now
        if delay > 0:
            time.sleep(delay)
