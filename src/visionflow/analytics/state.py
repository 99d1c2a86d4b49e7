"""What the analytics remember of one stream between frames: anchor histories of tracks, lines
already counted, pending crossings, cumulative counts and overcrowding timers."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from visionflow.analytics.config import MODES, LineRule
from visionflow.analytics.geometry import cosine, crosses_segment, side_of

WINDOW = 10
"""Observations of a track over which its motion is measured (DeepStream's ``LAST_N_FRAMES``)."""

HISTORY = WINDOW + 1
"""Anchors kept per track."""

TRACK_TIMEOUT_MS = 8000.0
"""A track unseen for this long (stream time) is forgotten (DeepStream's ``TIME_OUT_MSEC``)."""


@dataclass
class Crossing:
    """A side change seen but not yet confirmed: ``before`` is the anchor the motion is measured
    from, ``side`` the side the object went to."""

    before: tuple[float, float]
    side: int


@dataclass
class Track:
    """One tracked object of a stream."""

    anchors: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_seen_ms: float = 0.0
    seen: int = 0  # observations so far
    sides: dict[str, int] = field(default_factory=dict)  # line → last non-zero side
    pending: dict[str, Crossing] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)

    def motion(self) -> tuple[float, float]:
        """Displacement of the anchor over the last :data:`WINDOW` observations (or all)."""
        (x0, y0), (x1, y1) = self.anchors[0], self.anchors[-1]
        return x1 - x0, y1 - y0

    def cross(self, rule: LineRule) -> bool:
        """Update the line state with the newest anchor; True once a crossing of ``rule``
        is confirmed (at most once per track and line).

        A crossing starts when the anchor moves to the other side of the line through the
        segment (the infinite line when extended); the motion is measured from the anchor
        :data:`WINDOW` observations before it (or the track's first). It is confirmed, on that
        frame or a later one while the object stays on the new side, when the track has been
        seen ``history`` times and the motion from there is long enough and along the rule's
        direction (the mode's thresholds); it is dropped when the object goes back.
        """
        if rule.label in self.counted:
            return False
        now = self.anchors[-1]
        current = side_of(now, rule.line)
        previous = self.sides.get(rule.label, 0)
        pending = self.pending.get(rule.label)
        mode = MODES[rule.mode]
        if current != 0 and previous != 0 and current != previous:
            start = self._last_on_side(previous, rule)
            if crosses_segment(start, now, rule.line, extended=rule.extended):
                pending = Crossing(self.anchors[0], current)
                self.pending[rule.label] = pending
            else:
                self.pending.pop(rule.label, None)
                pending = None
        if current != 0:
            self.sides[rule.label] = current
        if pending is None:
            return False
        if current not in (0, pending.side):
            self.pending.pop(rule.label, None)
            return False
        motion = (now[0] - pending.before[0], now[1] - pending.before[1])
        dx1, dy1, dx2, dy2 = rule.direction
        if (
            self.seen >= mode.history
            and motion[0] ** 2 + motion[1] ** 2 >= mode.displacement
            and cosine(motion, (dx2 - dx1, dy2 - dy1)) >= mode.similarity
        ):
            self.pending.pop(rule.label, None)
            self.counted.add(rule.label)
            return True
        return False

    def _last_on_side(self, wanted: int, rule: LineRule) -> tuple[float, float]:
        """The newest earlier anchor on side ``wanted`` (the move that crossed starts there)."""
        for point in list(self.anchors)[-2::-1]:
            if side_of(point, rule.line) == wanted:
                return point
        return self.anchors[-2]

    def direction(
        self, vectors: Sequence[tuple[str, tuple[int, int, int, int], str]]
    ) -> str | None:
        """The label of the direction the object moves along, or None.

        Each direction is judged with its own mode: the track must have been seen ``history``
        times, its motion over the last :data:`WINDOW` observations must be long enough and its
        cosine with the direction high enough; the most similar direction wins.
        """
        best, best_cos = None, -2.0
        motion = self.motion()
        for label, (x1, y1, x2, y2), mode_name in vectors:
            mode = MODES[mode_name]
            if self.seen < mode.history or motion[0] ** 2 + motion[1] ** 2 < mode.displacement:
                continue
            similarity = cosine(motion, (x2 - x1, y2 - y1))
            if similarity >= mode.similarity and similarity > best_cos:
                best, best_cos = label, similarity
        return best


@dataclass
class StreamState:
    """Everything remembered for one stream."""

    tracks: dict[int, Track] = field(default_factory=dict)
    line_counts: dict[str, int] = field(default_factory=dict)
    line_class_counts: dict[str, dict[int, int]] = field(default_factory=dict)
    crowded_since_ms: dict[str, float] = field(default_factory=dict)

    def track(self, tracker_id: int, anchor: tuple[float, float], now_ms: float) -> Track:
        track = self.tracks.get(tracker_id)
        if track is None:
            track = self.tracks[tracker_id] = Track()
        track.anchors.append(anchor)
        track.seen += 1
        track.last_seen_ms = now_ms
        return track

    def forget(self, now_ms: float) -> None:
        """Drop tracks unseen for :data:`TRACK_TIMEOUT_MS`."""
        stale = [
            t for t, s in self.tracks.items() if abs(now_ms - s.last_seen_ms) > TRACK_TIMEOUT_MS
        ]
        for tracker_id in stale:
            del self.tracks[tracker_id]
