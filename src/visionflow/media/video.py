"""Video sources decoded by FFmpeg through PyAV: files, elementary streams and network URIs.

Error policy, translated from PyAV at this boundary:

* a file that does not exist → :class:`~visionflow.errors.SourceNotFoundError` naming the path;
* a file or URI FFmpeg cannot open (not media, unreachable host, no response within ``timeout``)
  → :class:`~visionflow.errors.SourceError` with FFmpeg's reason and the URI;
* a packet the decoder rejects is skipped: the first one logs a warning, every one is counted in
  :attr:`VideoSource.bad_packets` and a summary is logged at the end of the stream. A damaged
  stretch of a recording thus costs only its own frames. After
  :data:`~visionflow.media.bad_packets.MAX_BAD_PACKETS_IN_A_ROW` rejected packets in a row the data
  is taken to be garbage and the stream ends with
  :class:`~visionflow.errors.DecodeError`, as it does when the demuxer itself finds invalid data;
  both name the URI and the number of the next frame;
* a network stream that sends nothing for ``timeout`` seconds (opening or reading), or whose
  connection fails, is *lost*. A live one (RTSP, an HTTP camera…) is then reconnected as
  DeepStream reconnects RTSP sources (see :mod:`visionflow.media.reconnect`): the loss and every
  reconnection are logged as warnings naming the source and its URI, frame numbers and
  timestamps go on where they stopped, and after ``reconnect_attempts`` failed attempts in a row
  the source ends with :class:`~visionflow.errors.SourceError`. A live stream whose server is
  down when it starts gets ``timeout`` seconds to come up. Without reconnection
  (``reconnect_attempts=0``) a silent or failed stream ends with
  :class:`~visionflow.errors.SourceError`, and a live stream whose server closes it ends with a
  warning. A recording served over http(s) is not live: its end is the end of the file;
* a file cut short (an interrupted download or recording) ends early without an error: FFmpeg
  cannot tell its end from a real one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import av.container
from av.video.reformatter import VideoReformatter

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.source import Source
from visionflow.errors import DecodeError, SourceError, SourceNotFoundError
from visionflow.media.bad_packets import rejected_packet
from visionflow.media.pacing import Pacer
from visionflow.media.reconnect import Reconnect
from visionflow.media.schemes import NETWORK_SCHEMES, file_uri_path, is_live_uri, uri_scheme

log = logging.getLogger(__name__)

_FALLBACK_RATE = Fraction(30)
_FLUSH_S = 0.2  # packets within this time after a timed-out read are what FFmpeg had buffered


class PacketTap(Protocol):
    """Receives a stream's compressed packets as they are demuxed (smart record's cache).

    Called from the source's thread: :meth:`opened` at every connection (and every pass of a
    looped file), :meth:`packet` for every packet before it is decoded, :meth:`ended` when the
    source stops. It must not raise.
    """

    def opened(self, stream: av.video.stream.VideoStream) -> None: ...

    def packet(self, packet: av.Packet) -> None: ...

    def ended(self) -> None: ...


@dataclass(frozen=True)
class StreamInfo:
    """What the container says about the video stream.

    Attributes:
        codec: the decoder's name (``h264``, ``hevc``…).
        width, height: the coded picture size.
        frames: the number of frames, when the container states it (MP4, MOV, AVI), else None.
        rate: the average frame rate, when known.
    """

    codec: str
    width: int
    height: int
    frames: int | None
    rate: Fraction | None


class _Timeline:
    """Turns decoder timestamps into one increasing ``pts`` sequence.

    Per frame it takes FFmpeg's best-effort choice (``pts``, or ``dts`` once the stream's ``pts``
    have gone backwards more often than its ``dts`` — AVI files with B-frames). A frame with
    neither (raw ``.h264``), or whose time would not move forward, comes one frame after the
    previous one; each pass of a looped file continues one frame after the previous pass.
    """

    def __init__(self) -> None:
        self.step = 1
        self.last: int | None = None
        self._offset = 0
        self._rebase = True
        self._pts: int | None = None
        self._dts: int | None = None
        self._faulty_pts = self._faulty_dts = 0

    def new_pass(self, step: int) -> None:
        self.step = step
        self._rebase = True
        self._pts = self._dts = None
        self._faulty_pts = self._faulty_dts = 0

    def __call__(self, pts: int | None, dts: int | None) -> int:
        if dts is not None:
            self._faulty_dts += self._dts is not None and dts <= self._dts
            self._dts = dts
        if pts is not None:
            self._faulty_pts += self._pts is not None and pts <= self._pts
            self._pts = pts
        use_pts = pts is not None and (dts is None or self._faulty_pts <= self._faulty_dts)
        guess = pts if use_pts else dts
        if guess is not None and self._rebase:
            self._offset = 0 if self.last is None else self.last + self.step - guess
        self._rebase = False
        out = None if guess is None else guess + self._offset
        if out is None or (self.last is not None and out <= self.last):
            out = 0 if self.last is None else self.last + self.step
        self.last = out
        return out


def _reason(exc: av.error.FFmpegError) -> str:
    return exc.strerror or str(exc)


class _LostError(Exception):
    """A live stream went away (an internal signal of :meth:`VideoSource._generate`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VideoSource(Source):
    """A video file or stream, decoded by FFmpeg to RGB frames.

    Anything FFmpeg opens works: MP4/MKV/MOV/AVI files, raw ``.h264``/``.h265`` elementary
    streams, ``file://`` URIs (DeepStream style), ``http(s)://``, ``rtsp://`` (over TCP),
    ``rtmp://``, ``udp://``, ``srt://``. Decoding uses FFmpeg's frame and slice threading. Frames
    are ``(H, W, 3) uint8`` RGB (:attr:`PixelFormat.RGB24`) from one FFmpeg converter per
    stream (single-threaded: a threaded one starts threads for every frame and is slower), with
    no further copy; ``frame_num`` counts from 0 (and keeps counting across loops and
    reconnections); ``pts`` and ``time_base`` come from the stream, made strictly increasing: a
    frame without a timestamp (raw ``.h264``) or with one that does not move forward comes one
    frame period after the previous frame, and each pass of a looped file (or each connection
    of a live stream) continues where the previous one ended.

    The stream is opened lazily, by :meth:`frames` or by asking :attr:`num_frames`, so a missing
    file is reported by the pipeline as a failure of this source only. See the module docstring
    for what happens with missing, unreadable and corrupt media and with lost live streams.

    Args:
        uri: a path or URI.
        source_id: the stream index (the pipeline reassigns it).
        loop: start again at the end of a file, forever.
        live: whether the pipeline may drop this stream's frames when it falls behind; by default
            true for live URIs (:func:`is_live_uri`) and for ``realtime`` playback.
        realtime: pace playback at the stream's timestamps, as a camera would deliver it.
        threads: decoder threads; 0 lets FFmpeg choose.
        timeout: seconds a network stream may send nothing, when opening or reading, before it
            counts as lost (DeepStream's ``rtsp-reconnect-interval-sec``); a live stream that is
            down at the start is retried for as long.
        reconnect_attempts: reconnections in a row of a lost live network stream before the
            source gives up: −1 (the default) never gives up, 0 never reconnects. The count
            starts again once frames flow (DeepStream's ``rtsp-reconnect-attempts``).
        tap: receives the compressed packets as they are demuxed (smart record's cache).
        start_frame: frames before this one are decoded but not yielded, so the first frame
            yielded has ``frame_num == start_frame`` (a stream resumed elsewhere, e.g. by the
            Ray cluster mode after a lost worker). Applies to the first pass.

    Attributes:
        bad_packets: packets skipped because the decoder rejected them (over all passes).
        reconnects: successful reconnections of a lost live stream.
    """

    kind = "video"

    def __init__(
        self,
        uri: str | os.PathLike[str],
        source_id: int = 0,
        *,
        loop: bool = False,
        live: bool | None = None,
        realtime: bool = False,
        threads: int = 0,
        timeout: float = 10.0,
        reconnect_attempts: int = -1,
        tap: PacketTap | None = None,
        start_frame: int = 0,
    ) -> None:
        text = os.fspath(uri)
        super().__init__(text, source_id)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        scheme = uri_scheme(text)
        self._path: Path | None = None
        if scheme == "file":
            self._path = file_uri_path(text)
        elif not scheme:
            self._path = Path(text)
        self._network = scheme in NETWORK_SCHEMES
        self.loop = loop
        self.realtime = realtime
        self.live = (is_live_uri(text) or realtime) if live is None else live
        self.threads = threads
        self.timeout = timeout
        self.reconnect = Reconnect(reconnect_attempts)
        self.tap = tap
        if start_frame < 0:
            raise ValueError(f"start_frame must be >= 0, got {start_frame}")
        self.start_frame = start_frame
        self.bad_packets = 0
        self.reconnects = 0
        self._info: StreamInfo | None = None
        self._container: av.container.InputContainer | None = None
        self._running: Generator[Frame, None, None] | None = None
        self._next_frame = 0
        self._interrupted = threading.Event()
        self._lost = False

    @property
    def info(self) -> StreamInfo | None:
        """The stream's codec, size, length and rate; None until it has been opened."""
        return self._info

    @property
    def num_frames(self) -> int | None:
        """Frames the file will yield (those it holds from ``start_frame`` on) when the
        container states it; None for live, looped or unknown.

        Opens the file if needed (only its header is read; the decoder reuses the open file).
        A file that cannot be opened gives None here and its error from :meth:`frames`.
        """
        if self.loop or self.live:
            return None
        if self._info is None:
            try:
                self._container = self._open()
            except SourceError:
                return None
        frames = self._info.frames if self._info is not None else None
        return None if frames is None else max(0, frames - self.start_frame)

    @property
    def lost(self) -> bool:
        """Whether the live stream is away: lost, or down at the start, and not back yet."""
        return self._lost

    @property
    def reconnecting(self) -> bool:
        """Whether this is a live network stream that is reconnected when lost."""
        return self._live_network and self.reconnect.enabled

    @property
    def _live_network(self) -> bool:
        return self._network and self.live and is_live_uri(self.uri)

    def frames(self) -> Iterator[Frame]:
        """Decode the stream from its start (ending an unfinished earlier pass), as RGB frames."""
        if self._running is not None:
            self._running.close()
        self._interrupted.clear()
        self._running = self._generate()
        return self._running

    def interrupt(self) -> None:
        """Ask a running :meth:`frames` to end soon; safe from any thread.

        A stream waiting to reconnect ends at once; one waiting for data within its
        ``timeout``. The pipeline calls it when it drains or stops.
        """
        self._interrupted.set()

    def close(self) -> None:
        """End a running :meth:`frames` generator and release the stream.

        Call it from the thread that iterates the frames (the pipeline does): the generator is
        finished first, so it can never touch a closed container.
        """
        if self._running is not None:
            self._running.close()
            self._running = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def _generate(self) -> Generator[Frame, None, None]:
        try:
            yield from self._stream()
        except SourceError as exc:
            if not self._interrupted.is_set():
                raise
            log.debug("source #%d (%s): interrupted: %s", self.source_id, self.uri, exc)
        finally:
            self._lost = False
            if self.tap is not None:
                self.tap.ended()

    def _stream(self) -> Generator[Frame, None, None]:
        self._next_frame = 0
        timeline = _Timeline()
        pacer = Pacer()
        lost: float | None = None  # when the live stream was lost (None: it is up)
        attempt = 0
        while True:
            try:
                container = self._container or self._connect(lost is None and attempt == 0)
            except _LostError as exc:  # a reconnect attempt failed
                attempt = self._next_attempt(attempt, exc.reason, lost)
                if attempt < 0:
                    return
                continue
            self._container = container
            first = self._next_frame
            rgb = VideoReformatter()  # one converter for the stream, reused for every frame
            try:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or _FALLBACK_RATE
                time_base = stream.time_base or 1 / rate
                timeline.new_pass(max(1, round(1 / (rate * time_base))))
                if self.tap is not None:
                    self.tap.opened(stream)
                for picture in self._decode(container):
                    self._lost = False
                    if lost is not None:
                        self._back(lost, attempt)
                        lost, attempt = None, 0
                    pts = timeline(picture.pts, picture.dts)
                    if self._next_frame < self.start_frame:  # resuming: not converted or yielded
                        self._next_frame += 1
                        continue
                    pixels = rgb.reformat(picture, format="rgb24", threads=1).to_ndarray()
                    if self.realtime:
                        pacer.wait(float(pts * time_base))
                    yield Frame(
                        data=pixels,
                        format=PixelFormat.RGB24,
                        source_id=self.source_id,
                        frame_num=self._next_frame,
                        pts=pts,
                        time_base=time_base,
                        uri=self.uri,
                    )
                    self._next_frame += 1
                if self._live_network and not self._interrupted.is_set():
                    raise _LostError("the server ended the stream")
            except _LostError as exc:
                if not self.reconnect.enabled:
                    log.warning(
                        "source #%d (%s): %s after frame %d; not reconnecting "
                        "(reconnect_attempts=0)",
                        self.source_id, self.uri, exc.reason, self._next_frame,
                    )  # fmt: skip
                    return
                self._lost = True
                if lost is None:
                    lost = time.monotonic()
                    log.warning(
                        "source #%d (%s): stream lost after frame %d (%s); reconnecting",
                        self.source_id, self.uri, self._next_frame, exc.reason,
                    )  # fmt: skip
                attempt = self._next_attempt(attempt, exc.reason, lost)
                if attempt < 0:
                    return
                continue
            finally:
                container.close()
                if self._container is container:
                    self._container = None
            if not self.loop or self._next_frame == first:
                return

    def _connect(self, starting: bool) -> av.container.InputContainer:
        """Open the stream; a live stream that is down at the start is retried for ``timeout``
        seconds. Raises SourceError, or _LostError when a reconnect attempt failed."""
        if not self.reconnecting:
            return self._open()
        if not starting:
            try:
                return self._open()
            except SourceError as exc:
                raise _LostError(str(exc)) from exc
        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            try:
                return self._open()
            except SourceError as exc:
                tries += 1
                wait = Reconnect.delay(tries + 1)
                if time.monotonic() + wait >= deadline or self._interrupted.is_set():
                    if tries > 1:
                        raise SourceError(
                            f"{exc} (tried {tries} times in {self.timeout:g} s)"
                        ) from exc
                    raise
                self._lost = True  # the other streams do not wait meanwhile
                if tries == 1:
                    log.warning(
                        "source #%d (%s): %s; retrying for up to %g s",
                        self.source_id, self.uri, exc, self.timeout,
                    )  # fmt: skip
                if self._interrupted.wait(wait):
                    raise

    def _next_attempt(self, attempt: int, reason: str, lost: float | None) -> int:
        """Wait for reconnect attempt ``attempt + 1`` and return its number; −1 when the source
        was interrupted. Raises SourceError when no attempt is left."""
        attempt += 1
        if not self.reconnect.allows(attempt):
            raise SourceError(
                f"{self.uri}: stream lost after frame {self._next_frame} and not back after "
                f"{attempt - 1} reconnect attempts (last: {reason})"
            )
        if attempt > 1:  # the first failures, then about one a minute (every 30th)
            failed = attempt - 1
            log.log(
                logging.INFO if failed <= 3 or failed % 30 == 0 else logging.DEBUG,
                "source #%d (%s): reconnect attempt %d failed: %s",
                self.source_id, self.uri, failed, reason,
            )  # fmt: skip
        if self._interrupted.wait(self.reconnect.delay(attempt)):
            return -1
        return attempt

    def _back(self, lost: float, attempt: int) -> None:
        self.reconnects += 1
        log.warning(
            "source #%d (%s): reconnected after %.1f s (attempt %d); frames go on from frame %d",
            self.source_id, self.uri, time.monotonic() - lost, attempt, self._next_frame,
        )  # fmt: skip

    def _open(self) -> av.container.InputContainer:
        options: dict[str, str] = {}
        timeout: tuple[float, float] | None = None
        if self._path is not None and not self._path.exists():
            raise SourceNotFoundError(f"video file not found: {self._path}")
        if self._network:
            timeout = (self.timeout, self._read_timeout())
        if uri_scheme(self.uri) in ("rtsp", "rtsps"):
            options = {"rtsp_transport": "tcp", "timeout": str(round(self.timeout * 1e6))}
        target = str(self._path) if self._path is not None else self.uri
        started = time.monotonic()
        try:
            container = av.open(target, options=options, timeout=timeout)
        except av.error.FFmpegError as exc:
            # a timeout surfaces as "exit requested", or as whatever the protocol makes of it
            timed_out = self._network and time.monotonic() - started >= self.timeout
            if isinstance(exc, av.error.ExitError) or timed_out:
                reason = f"no response within {self.timeout:g} s"
            else:
                reason = _reason(exc)
            raise SourceError(f"cannot open '{self.uri}': {reason}") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"cannot open '{self.uri}': it has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            container.close()
            raise SourceError(
                f"cannot open '{self.uri}': FFmpeg has no decoder for its video codec"
            )
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        self._info = StreamInfo(
            codec=stream.codec_context.name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frames=stream.frames or None,
            rate=stream.average_rate,
        )
        return container

    def _read_timeout(self) -> float:
        """FFmpeg's wait for one read. FFmpeg's RTSP client, when a read times out, first hands
        over the access unit it was assembling and only fails on the next read, so it waits
        twice: it gets half of ``timeout`` and :meth:`_decode` checks the silence itself."""
        rtsp = uri_scheme(self.uri) in ("rtsp", "rtsps")
        return self.timeout / 2 if rtsp else self.timeout

    def _decode(self, container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
        """Decoded pictures, in order, skipping packets the decoder rejects (see module doc).

        A network stream is silent from the start of the first read that FFmpeg ended by its
        timeout (it then hands over what it had buffered, at once) until data flows again; it
        is lost when that silence reaches ``timeout``.
        """
        packets = container.demux(video=0)
        in_a_row = 0
        skipped = self.bad_packets
        patience = self._read_timeout()
        silent_since: float | None = None  # when the current silence began
        flushed = 0.0  # when the last timed-out read returned
        while True:
            asked = time.monotonic()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.ExitError as exc:  # FFmpeg's read timed out
                now = time.monotonic()
                since = asked if silent_since is None else silent_since
                log.debug(
                    "%s: read timed out after %.2f s; silent for %.2f s",
                    self.uri, now - asked, now - since,
                )  # fmt: skip
                if (
                    now - since < self.timeout * 0.9
                    and now - asked > patience * 0.5  # a real wait, not an error kept by FFmpeg
                    and not self._interrupted.is_set()
                ):
                    silent_since = since
                    packets = container.demux(video=0)  # not silent for long enough: wait on
                    continue
                raise self._read_error(exc) from exc
            except av.error.FFmpegError as exc:
                raise self._read_error(exc) from exc
            now = time.monotonic()
            if now - asked >= patience * 0.9:  # FFmpeg's timeout ended this read
                silent_since = asked if silent_since is None else silent_since
                flushed = now
            elif silent_since is not None and now - flushed > _FLUSH_S:
                silent_since = None  # data flows again
            if self.tap is not None:
                self.tap.packet(packet)
            try:
                pictures = packet.decode()
            except av.error.FFmpegError as exc:
                self.bad_packets += 1
                in_a_row += 1
                rejected_packet(self.uri, in_a_row, self._next_frame, _reason(exc))
                continue
            in_a_row = 0
            yield from pictures
        if self.bad_packets > skipped:
            log.warning("%s: %d undecodable packets skipped", self.uri, self.bad_packets - skipped)

    def _read_error(self, exc: av.error.FFmpegError) -> SourceError | _LostError:
        error: type[SourceError] = SourceError
        if isinstance(exc, av.error.InvalidDataError):
            return DecodeError(
                f"{self.uri}: corrupt data ({_reason(exc)}) before frame {self._next_frame}"
            )
        if isinstance(exc, av.error.ExitError):
            what = f"no data for {self.timeout:g} s"
        else:
            what = f"read failed ({_reason(exc)})"
        if self.reconnecting:
            return _LostError(what)
        return error(f"{self.uri}: {what} before frame {self._next_frame}")

    def __repr__(self) -> str:
        name = self._path.name if self._path is not None else self.uri
        details = (
            f" {self._info.codec} {self._info.width}x{self._info.height}" if self._info else ""
        )
        state = "open" if self._container is not None else "closed"
        return f"<VideoSource #{self.source_id} {name}{details} {state}>"
