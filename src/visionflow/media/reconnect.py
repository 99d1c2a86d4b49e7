"""When and how often a lost live stream is reconnected (DeepStream's RTSP reconnection).

DeepStream (deepstream-app's RTSP source bin, ``nvurisrcbin``) watches each RTSP source once a
second: when no data came for ``rtsp-reconnect-interval-sec`` seconds it resets the source, at
most ``rtsp-reconnect-attempts`` times in a row (−1: forever; the count starts again once the
stream plays), and an interval of 0 turns the watch off. :class:`Reconnect` is that policy for
:class:`~visionflow.media.video.VideoSource`: the silence that counts as a loss is the source's
``timeout``; a server that closes the stream is a loss too. The first attempt follows the loss at
once and later ones after :data:`RETRY_DELAYS` (the last delay repeats), so a stream comes back
at most a couple of seconds after its server does; DeepStream waits at least 3 s between resets.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_DELAYS = (0.0, 0.5, 1.0, 2.0)
"""Seconds before reconnect attempt 1, 2, 3…; the last value repeats."""


@dataclass(frozen=True)
class Reconnect:
    """How a lost live stream is reconnected.

    Attributes:
        attempts: reconnect attempts in a row before the source gives up; −1: never give up;
            0: never reconnect (a lost stream ends its source).
    """

    attempts: int = -1

    def __post_init__(self) -> None:
        if self.attempts < -1:
            raise ValueError(f"attempts must be -1 (forever) or ≥ 0, got {self.attempts}")

    @property
    def enabled(self) -> bool:
        """Whether a lost stream is reconnected at all."""
        return self.attempts != 0

    def allows(self, attempt: int) -> bool:
        """Whether reconnect attempt number ``attempt`` (from 1) may be made."""
        return self.attempts < 0 or attempt <= self.attempts

    @staticmethod
    def delay(attempt: int) -> float:
        """Seconds to wait before reconnect attempt number ``attempt`` (from 1)."""
        return RETRY_DELAYS[min(max(attempt, 1), len(RETRY_DELAYS)) - 1]

    def describe(self) -> str:
        """``"forever"``, ``"never"`` or ``"N attempts"``, for messages."""
        if self.attempts < 0:
            return "forever"
        return "never" if self.attempts == 0 else f"{self.attempts} attempts"
