"""One source's smart recorder: its packet cache and its recordings.

The source's thread feeds it (:meth:`SmartRecorder.opened` at every connection, then
:meth:`~SmartRecorder.packet` for every demuxed packet, :meth:`~SmartRecorder.ended` at the end);
any thread starts and stops recordings. A recording is written as packets arrive: at its start,
the cached packets from the key frame at or before ``event − start_time``; then every new packet
until the first whose decode time passes ``event + duration`` and that shows no frame earlier
than one already written (so no frame up to that time is cut off, B-frames included). Nothing is
re-encoded.

Timeline: a packet's time is its ``pts`` (else ``dts``) in seconds, made to continue across the
passes of a looped file and the connections of a live stream as the source's frame timestamps do
(:class:`~visionflow.media.video.VideoSource`), so an event at a frame's ``FrameMeta.time`` finds
that frame's packets.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from visionflow.record.config import SmartRecordConfig
from visionflow.record.ring import CachedPacket, PacketRing, StreamTemplate

log = logging.getLogger(__name__)


@dataclass
class Recording:
    """One recording: where it is and what it covers.

    Attributes:
        source_id, session: the source and the recorder's session number (from 1).
        path: the file.
        reason: what started it (``api``, ``interval``, ``line_crossing``, a probe's word…).
        event_time: the stream time of the event, in seconds.
        start, end: the stream times of its first and last packet (None until written).
        frames: packets written (one per frame).
        done: whether the file is closed (complete and valid).
        error: why it ended early, when it did.
    """

    source_id: int
    session: int
    path: Path
    reason: str
    event_time: float
    start: float | None = None
    end: float | None = None
    frames: int = 0
    done: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "session": self.session,
            "path": str(self.path),
            "reason": self.reason,
            "event_time": round(self.event_time, 6),
            "start": None if self.start is None else round(self.start, 6),
            "end": None if self.end is None else round(self.end, 6),
            "frames": self.frames,
            "done": self.done,
            "error": self.error,
        }


@dataclass
class _Session:
    recording: Recording
    window_start: float
    until: float  # last presentation time to write
    template: StreamTemplate | None = None
    container: Any = None  # av.container.OutputContainer once the first key frame came
    stream: Any = None
    first_dts: int = 0
    shift: int = 0  # ticks added so decode times keep rising across a loop or reconnection
    last_dts: int | None = None


class SmartRecorder:
    """Packet cache and recordings of one source (DeepStream's ``NvDsSRContext``).

    Args:
        source_id: the source's stream index (names the files).
        config: cache size, times, folder, prefix, container.
    """

    def __init__(self, source_id: int, config: SmartRecordConfig) -> None:
        self.source_id = source_id
        self.config = config
        self._ring = PacketRing(config.cache)
        self._lock = threading.Lock()
        self._sessions: list[_Session] = []
        self._finished: list[Recording] = []
        self._started: list[Recording] = []
        self.recordings: list[Recording] = []
        self._count = 0
        # the packet timeline
        self._stream: av.video.stream.VideoStream | None = None
        self._template: StreamTemplate | None = None
        self._previous: StreamTemplate | None = None
        self._offset = 0.0
        self._rebase = True
        self._last: float | None = None
        self._step = 1 / 30

    # --- the source's side ------------------------------------------------------------------

    def opened(self, stream: av.video.stream.VideoStream) -> None:
        """A connection (or a pass of a looped file) begins with ``stream``."""
        with self._lock:
            self._stream = stream
            self._template = None
            self._rebase = True
            rate = stream.average_rate or stream.guessed_rate
            if rate:
                self._step = float(1 / rate)

    def packet(self, packet: av.Packet) -> None:
        """A demuxed packet of the current connection (never raises: a packet that cannot be
        cached is logged and left out)."""
        if packet.size == 0 or self._stream is None:
            return
        try:
            self._cache(packet)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.error("source #%d: smart record cannot cache a packet: %s", self.source_id, exc)

    def _cache(self, packet: av.Packet) -> None:
        assert self._stream is not None
        time_base = packet.time_base or self._stream.time_base or Fraction(1, 90000)
        with self._lock:
            if self._template is None:
                if not packet.is_keyframe:
                    return  # nothing can be written before a key frame
                template = StreamTemplate(self._stream, packet)
                if template.same_as(self._previous):  # the next pass, an unchanged reconnection
                    template.close()
                    template = self._previous  # type: ignore[assignment]
                self._template = self._previous = template
            raw = packet.pts if packet.pts is not None else packet.dts
            if raw is None:
                seconds = (self._last if self._last is not None else -self._step) + self._step
                decode = seconds
            else:
                seconds = float(raw * time_base)
                if self._rebase:
                    self._offset = 0.0 if self._last is None else self._last + self._step - seconds
                seconds += self._offset
                decode = seconds
                if packet.dts is not None:
                    decode = float(packet.dts * time_base) + self._offset
            self._rebase = False
            self._last = seconds if self._last is None else max(self._last, seconds)
            cached = CachedPacket(
                data=bytes(packet),
                pts=packet.pts,
                dts=packet.dts,
                time=seconds,
                decode_time=decode,
                keyframe=bool(packet.is_keyframe),
                duration=int(packet.duration or 0),
                time_base=Fraction(time_base),
                template=self._template,
                offset=round(self._offset / time_base),
            )
            self._ring.append(cached)
            for session in list(self._sessions):
                self._write(session, cached)

    def ended(self) -> None:
        """The source ended: every open recording is closed."""
        with self._lock:
            for session in list(self._sessions):
                self._close(session)
            self._stream = None

    # --- control ----------------------------------------------------------------------------

    @property
    def now(self) -> float | None:
        """The latest stream time the cache has seen."""
        with self._lock:
            return self._ring.newest

    @property
    def recording(self) -> bool:
        with self._lock:
            return bool(self._sessions)

    def start(
        self,
        at: float | None = None,
        *,
        start_time: float | None = None,
        duration: float | None = None,
        reason: str = "api",
    ) -> Recording:
        """Record from ``start_time`` seconds before stream time ``at`` (default: the newest
        packet) to ``duration`` seconds after it (0: until :meth:`stop`, at most
        ``default_duration``). While a recording of this source is open, a new event extends it
        instead (one file per source at a time, as DeepStream; see docs/recording.md)."""
        cfg = self.config
        before = cfg.start_time if start_time is None else start_time
        after = cfg.duration if duration is None else duration
        if before < 0 or after < 0:
            raise ValueError(f"start_time and duration must be >= 0, got {before}, {after}")
        with self._lock:
            event = at if at is not None else (self._ring.newest or 0.0)
            until = event + (after if after > 0 else cfg.default_duration)
            if self._sessions:  # extend the open recording
                session = self._sessions[-1]
                session.until = max(session.until, until)
                return session.recording
            self._count += 1
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{cfg.prefix}_{self.source_id:05d}_{self._count:05d}_{stamp}.{cfg.container}"
            recording = Recording(
                source_id=self.source_id,
                session=self._count,
                path=cfg.dir / name,
                reason=reason,
                event_time=event,
            )
            session = _Session(recording, window_start=event - before, until=until)
            self._sessions.append(session)
            self.recordings.append(recording)
            self._started.append(recording)
            for cached in self._ring.since(session.window_start):
                if session not in self._sessions:
                    break
                self._write(session, cached)
            return recording

    def stop(self, at: float | None = None) -> None:
        """End the open recording (``NvDsSRStop``): at stream time ``at``, or now.

        The demuxer runs ahead of the pipeline by a few frames (its queues); a stop at a time it
        has already passed closes the file at once, with those frames in it.
        """
        with self._lock:
            for session in list(self._sessions):
                newest = self._ring.newest
                if at is None or (newest is not None and newest >= at):
                    self._close(session)
                else:
                    session.until = min(session.until, at)

    def take_events(self) -> tuple[list[Recording], list[Recording]]:
        """Recordings started and finished since the last call."""
        with self._lock:
            started, finished = self._started, self._finished
            self._started, self._finished = [], []
            return started, finished

    def close(self) -> None:
        """Close every recording and release the cache."""
        self.ended()
        with self._lock:
            self._ring.clear()

    # --- writing (under the lock) -----------------------------------------------------------

    def _write(self, session: _Session, packet: CachedPacket) -> None:
        shown = session.recording.end
        if packet.decode_time > session.until and (shown is None or packet.time >= shown):
            # past the window, and no earlier frame (a B-frame) is still to come
            self._close(session)
            return
        if session.container is None:
            if not packet.keyframe:
                return  # a file starts at a key frame
            if not self._open(session, packet):
                return
        elif packet.template is not session.template:
            session.recording.error = "the stream was reconnected"
            self._close(session)
            return
        out = av.Packet(packet.data)
        base = session.first_dts - packet.offset - session.shift
        dts = None if packet.dts is None else packet.dts - base
        pts = None if packet.pts is None else packet.pts - base
        if dts is not None and session.last_dts is not None and dts <= session.last_dts:
            bump = session.last_dts + 1 - dts  # the next pass's first frames: keep dts rising
            session.shift += bump
            dts += bump
            pts = None if pts is None else pts + bump
        session.last_dts = dts if dts is not None else session.last_dts
        out.dts, out.pts = dts, pts
        out.time_base = packet.time_base
        out.duration = packet.duration
        out.is_keyframe = packet.keyframe
        out.stream = session.stream
        recording = session.recording
        try:
            session.container.mux(out)
        except (av.error.FFmpegError, OSError) as exc:
            recording.error = f"writing {recording.path} failed: {exc}"
            log.error("source #%d: %s", self.source_id, recording.error)
            self._close(session)
            return
        recording.frames += 1
        first, last = recording.start, recording.end
        recording.start = packet.time if first is None else min(first, packet.time)
        recording.end = packet.time if last is None else max(last, packet.time)

    def _open(self, session: _Session, first: CachedPacket) -> bool:
        recording = session.recording
        try:
            recording.path.parent.mkdir(parents=True, exist_ok=True)
            session.container = av.open(str(recording.path), "w")
        except (av.error.FFmpegError, OSError) as exc:
            recording.error = f"cannot create {recording.path}: {exc}"
            log.error("source #%d: %s", self.source_id, recording.error)
            self._close(session)
            return False
        session.template = first.template
        session.stream = session.container.add_stream_from_template(first.template.stream)
        session.stream.time_base = first.time_base
        start = first.dts if first.dts is not None else first.pts
        session.first_dts = (start or 0) + first.offset
        log.info(
            "source #%d: recording %s (%s at %.2f s)",
            self.source_id, recording.path, recording.reason, recording.event_time,
        )  # fmt: skip
        return True

    def _close(self, session: _Session) -> None:
        if session in self._sessions:
            self._sessions.remove(session)
        recording = session.recording
        if session.container is not None:
            try:
                session.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                recording.error = recording.error or f"closing {recording.path} failed: {exc}"
            session.container = None
        elif recording.error is None:
            recording.error = "no key frame reached the recording"
        recording.done = True
        self._finished.append(recording)
        log.info(
            "source #%d: recording %s closed: %d frames, %s–%s s%s",
            self.source_id, recording.path, recording.frames, _fmt(recording.start),
            _fmt(recording.end), f" ({recording.error})" if recording.error else "",
        )  # fmt: skip


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"
