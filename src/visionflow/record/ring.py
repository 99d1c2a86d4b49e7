"""The packet cache of smart record: compressed packets of one stream, the last N seconds.

Packets are kept as they came from the demuxer (bytes, timestamps, key-frame flag), so a
recording is a remux — no decode, no encode. Each packet carries the :class:`StreamTemplate` of
the connection it came from: the codec parameters a muxer needs (codec, size, extradata), held in
a tiny in-memory container of their own, so that a recording can still be written after the
source's container was closed or reconnected.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av


class StreamTemplate:
    """The codec parameters of one stream connection, independent of its container.

    Made from the connection's first key frame: that packet is muxed, with the stream's
    parameters, into an in-memory Matroska file, which is opened again and kept; its stream is
    the template of every output stream (``add_stream_from_template``).
    """

    def __init__(self, stream: av.video.stream.VideoStream, keyframe: av.Packet) -> None:
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="matroska") as out:
            template = out.add_stream_from_template(stream)
            packet = av.Packet(bytes(keyframe))
            packet.pts = packet.dts = 0
            packet.time_base = stream.time_base or Fraction(1, 90000)
            packet.stream = template
            packet.is_keyframe = True
            out.mux(packet)
        self._container = av.open(io.BytesIO(buffer.getvalue()))
        self.stream = self._container.streams.video[0]
        self.codec = self.stream.codec_context.name
        self.width = self.stream.codec_context.width
        self.height = self.stream.codec_context.height
        self.extradata = bytes(self.stream.codec_context.extradata or b"")

    def same_as(self, other: StreamTemplate | None) -> bool:
        """Whether ``other`` has the same codec parameters (a file's next pass, a stream that
        reconnected unchanged): one recording may then go on across them."""
        return other is not None and (
            (self.codec, self.width, self.height, self.extradata)
            == (other.codec, other.width, other.height, other.extradata)
        )

    def close(self) -> None:
        self._container.close()

    def __repr__(self) -> str:
        return f"<StreamTemplate {self.codec} {self.width}x{self.height}>"


@dataclass(frozen=True, slots=True)
class CachedPacket:
    """One compressed packet.

    Attributes:
        data: the packet's bytes, as demuxed.
        pts, dts: its timestamps in ``time_base`` units (None when the stream has none).
        time: its presentation time in seconds on the source's timeline (see
            :class:`~visionflow.record.recorder.SmartRecorder`).
        decode_time: its decode time on the same timeline (``time`` when it has no ``dts``).
        offset: ticks (``time_base`` units) that put ``pts``/``dts`` on that timeline: 0 on a
            first pass, more on later passes of a looped file or after a reconnection.
        keyframe: whether decoding can start at this packet.
        duration: its duration in ``time_base`` units (0 when unknown).
        time_base: the unit of ``pts``, ``dts`` and ``duration``.
        template: the codec parameters of the connection it came from.
    """

    data: bytes
    pts: int | None
    dts: int | None
    time: float
    decode_time: float
    keyframe: bool
    duration: int
    time_base: Fraction
    template: StreamTemplate
    offset: int = 0


class PacketRing:
    """The packets of the last ``seconds`` of a stream, in decode order.

    The span is measured on presentation times; the oldest packets go once the newest is more than
    ``seconds`` later. Not thread-safe: its owner locks.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"a packet cache must hold > 0 seconds, got {seconds}")
        self.seconds = seconds
        self._packets: deque[CachedPacket] = deque()
        self._newest = float("-inf")

    def append(self, packet: CachedPacket) -> None:
        self._packets.append(packet)
        self._newest = max(self._newest, packet.time)
        while self._packets and self._newest - self._packets[0].time > self.seconds:
            self._packets.popleft()

    def since(self, start: float) -> Iterator[CachedPacket]:
        """The cached packets from the last key frame at or before ``start`` (or, when the cache
        begins later, from its first key frame) to the newest."""
        packets = list(self._packets)
        first = None
        for i, packet in enumerate(packets):
            if not packet.keyframe:
                continue
            if first is None or packet.time <= start:
                first = i
            if packet.time > start:
                break
        return iter(() if first is None else packets[first:])

    @property
    def newest(self) -> float | None:
        """The latest presentation time cached, or None when empty."""
        return self._newest if self._packets else None

    def __len__(self) -> int:
        return len(self._packets)

    def clear(self) -> None:
        self._packets.clear()
        self._newest = float("-inf")
