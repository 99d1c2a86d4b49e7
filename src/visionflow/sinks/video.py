"""Encoding frames to a video file (DeepStream ``[sinkN] type=3``: encode + file).

MP4 and MOV files are written *fragmented* (one fragment per GOP of two seconds of frames), so a
process that dies mid-run still leaves a file that plays up to its last complete fragment; a
normal end, an element error and Ctrl-C all reach :meth:`VideoFileSink.stop`, which flushes the
encoder and writes the index. Matroska (``.mkv``) and MPEG-TS (``.ts``) are streamable by design.
Packets go to the operating system as soon as they are muxed, not when an I/O buffer fills. When a
write fails (a full disk), the file is cut back to the end of the last packet written whole (for
MP4, the last complete fragment), so what is on disk still plays.
"""

from __future__ import annotations

import contextlib
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.codec.codec
import av.container
import av.video.stream
import cv2
import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.element import Sink
from visionflow.core.frame import Frame, PixelFormat
from visionflow.errors import ConfigError, SinkError

log = logging.getLogger(__name__)

CODECS = {"h264": ("libx264", "h264"), "h265": ("libx265", "hevc"), "hevc": ("libx265", "hevc"),
          "mpeg4": ("mpeg4",)}  # fmt: skip
"""Codec names (DeepStream ``codec`` 1, 2, 3) → FFmpeg encoders, best first. Any other FFmpeg
encoder name (``h264_nvenc``, ``libopenh264``…) is used as given."""
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
              ".ts": "mpegts"}  # fmt: skip
"""File suffix → FFmpeg muxer; a path without a suffix is written as MP4."""
_FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof+delay_moov"
_X26X = ("libx264", "libx265")
_AV_FORMATS = {PixelFormat.RGB24: "rgb24", PixelFormat.BGR24: "bgr24",
               PixelFormat.GRAY8: "gray", PixelFormat.NV12: "nv12"}  # fmt: skip
_DEFAULT_RATE = Fraction(30)
_GOP_SECONDS = 2
_MPEG4_BITS_PER_PIXEL = 0.2
MIN_SIZE = {"libx265": (64, 64)}
"""Smallest picture (width, height) given to an encoder, where it is more than 2x2; smaller frames
are padded up to it. libx265 rejects pictures under 16x16, and the build in PyAV's wheels (x265 of
FFmpeg 8.1) corrupts memory and aborts the process on some widths from 33 to 49."""


def _encoder(codec: str) -> str:
    """The FFmpeg video encoder for ``codec``; FFmpeg resolves a codec name (``h264``) to its
    default encoder for that codec."""
    for name in CODECS.get(codec.lower(), (codec,)):
        try:
            encoder = av.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            continue
        if encoder.type == "video":
            return encoder.name
    raise ConfigError(
        "no such video encoder in this FFmpeg build",
        key="codec",
        value=codec,
        allowed=f"{', '.join(CODECS)} or an FFmpeg video encoder name",
    )


class VideoFileSink(Sink):
    """Encodes the frames it receives to a video file and passes every batch on unchanged.

    Output is ``yuv420p``; its picture is the size of the first frame, and frames of another size
    are scaled to it. ``yuv420p`` needs even sizes and encoders have a minimum size
    (:data:`MIN_SIZE`), so a picture of odd or tiny size (a 1x1 stream) is padded with black at
    the right and bottom up to them: pixels are never resampled for that, and box coordinates
    stay those of the picture. Timestamps: with ``fps`` the frames are numbered at that
    constant rate; without it the frames' own ``pts`` are kept, rescaled to the first frame's
    time base (a frame without one, or one that would not move time forward, comes 1/30 s after
    the previous one, or one tick of a coarser time base).

    Args:
        path: the output file; its suffix picks the container (:data:`CONTAINERS`). Parent
            folders are created.
        codec: ``h264`` (libx264, else FFmpeg's default H.264 encoder), ``h265``/``hevc``
            (libx265), ``mpeg4``, or any FFmpeg encoder name.
        bitrate: target bit rate in bit/s; None for constant quality (``crf``; for ``mpeg4`` a
            rate of 0.2 bit per pixel).
        fps: constant output frame rate; None keeps the frames' timestamps.
        source_id: encode only this stream's frames; None encodes every frame (e.g. after a
            tiler, which composes the streams into one).
        crf: constant rate factor of libx264/libx265 (0–51, lower is better).
        preset: libx264/libx265 speed preset.
        name: the element's name in the pipeline.

    Attributes:
        frames_written: frames handed to the encoder so far.
    """

    kind = "videofilesink"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: str = "h264",
        bitrate: int | None = None,
        fps: float | Fraction | None = None,
        source_id: int | None = None,
        crf: int = 23,
        preset: str = "veryfast",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix and suffix not in CONTAINERS:
            raise ConfigError(
                "unsupported video file suffix",
                key="output-file",
                value=str(path),
                allowed=", ".join(CONTAINERS),
            )
        self._muxer = CONTAINERS.get(suffix, "mp4")
        self.encoder = _encoder(codec)
        self.bitrate = bitrate
        self.fps = None if fps is None else Fraction(fps).limit_denominator(1001)
        self.source_id = source_id
        self.crf = crf
        self.preset = preset
        self.frames_written = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._time_base = Fraction(1)
        self._step = 1
        self._first_time: Fraction | None = None
        self._last_pts: int | None = None
        self._picture_size = (0, 0)
        self._whole_bytes = 0
        self._failed = False

    def start(self) -> None:
        self.frames_written = 0
        self._stream = None
        self._first_time = None
        self._last_pts = None
        self._whole_bytes = 0
        self._failed = False
        options = {"flush_packets": "1"}  # hand every packet to the OS as soon as it is muxed
        if self._muxer in ("mp4", "mov"):
            options["movflags"] = _FRAGMENTED
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w", format=self._muxer, options=options)
        except (OSError, av.error.FFmpegError) as exc:
            raise SinkError(f"cannot create video file '{self.path}': {exc}") from exc

    def process(self, batch: Batch) -> Batch:
        for frame in batch.frames:
            if self.source_id is None or frame.source_id == self.source_id:
                self._write(frame)
        return batch

    def stop(self) -> None:
        """Flush the encoder and finish the file (also after an error); remove it if unused.

        After a failed write the encoder is not flushed: the file is closed and cut back to the
        last packet written whole."""
        container, stream = self._container, self._stream
        self._container = self._stream = None
        if container is None:
            return
        error: BaseException | None = None
        try:
            if stream is not None and not self._failed:
                self._mux(container, stream.encode(None))
        except (OSError, av.error.FFmpegError) as exc:
            error = exc
        finally:
            try:
                container.close()
            except (OSError, av.error.FFmpegError) as exc:
                error = error or exc
        if stream is None:
            log.warning("%s: no frames to write; no file created", self.path)
            self.path.unlink(missing_ok=True)
        elif self._failed or error is not None:
            self._cut_back()
        if error is not None:
            raise SinkError(f"cannot finish video file '{self.path}': {error}") from error

    def _cut_back(self) -> None:
        """Cut the file back to its last packet written whole (remove it if there is none)."""
        try:
            if self._whole_bytes == 0:
                self.path.unlink(missing_ok=True)
                log.warning("%s: nothing was written whole; file removed", self.path)
            elif self.path.is_file() and self.path.stat().st_size > self._whole_bytes:
                os.truncate(self.path, self._whole_bytes)
                log.warning(
                    "%s: cut back to %d bytes, the last complete part", self.path, self._whole_bytes
                )
        except OSError as exc:
            log.warning("%s: cannot cut back the unfinished end: %s", self.path, exc)

    def _mux(self, container: av.container.OutputContainer, packets: list[av.Packet]) -> None:
        """Mux packets and remember how much of the file is whole (muxed packets reach the
        operating system at once, and an MP4 fragment is written only when it is complete)."""
        container.mux(packets)
        if packets:
            with contextlib.suppress(OSError):  # not a file: nothing to cut back later
                self._whole_bytes = self.path.stat().st_size

    def _write(self, frame: Frame) -> None:
        if self._container is None:
            raise SinkError(f"video file '{self.path}' is not open: start() was not called")
        if self._failed:
            raise SinkError(f"video file '{self.path}' failed earlier; nothing more is written")
        try:
            stream = self._stream or self._add_stream(self._container, frame)
            picture = self._picture(frame, stream)
            picture.pts = self._pts(frame)
            picture.time_base = self._time_base
            self._mux(self._container, stream.encode(picture))
        except (OSError, av.error.FFmpegError) as exc:
            self._failed = True
            raise SinkError(f"cannot write video file '{self.path}': {exc}") from exc
        self.frames_written += 1

    def _picture(self, frame: Frame, stream: av.video.stream.VideoStream) -> av.VideoFrame:
        """The frame as an encoder picture: scaled to the first frame's size, padded to the
        stream's."""
        size = (frame.width, frame.height)
        if size == (stream.width, stream.height):
            pixels = np.ascontiguousarray(frame.to_numpy(frame.format))
            return av.VideoFrame.from_ndarray(pixels, format=_AV_FORMATS[frame.format])
        pixels = frame.to_numpy(PixelFormat.RGB24)
        width, height = self._picture_size
        if size != self._picture_size:
            pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
        if (width, height) == (stream.width, stream.height):
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        canvas = np.zeros((stream.height, stream.width, 3), np.uint8)
        canvas[:height, :width] = pixels
        return av.VideoFrame.from_ndarray(canvas, format="rgb24")

    def _add_stream(
        self, container: av.container.OutputContainer, frame: Frame
    ) -> av.video.stream.VideoStream:
        if frame.width < 1 or frame.height < 1:
            raise SinkError(
                f"cannot write video file '{self.path}': frame of {frame.width}x{frame.height}"
            )
        self._picture_size = (frame.width, frame.height)
        min_width, min_height = MIN_SIZE.get(self.encoder, (2, 2))
        width = max(min_width, frame.width + (frame.width & 1))
        height = max(min_height, frame.height + (frame.height & 1))
        rate = self.fps or _DEFAULT_RATE
        keep_time = self.fps is None and frame.pts is not None and frame.time_base is not None
        self._time_base = frame.time_base if keep_time and frame.time_base else 1 / rate
        self._step = max(1, round(1 / (rate * self._time_base)))
        # _encoder() checked that this is a video encoder
        stream = cast(av.video.stream.VideoStream, container.add_stream(self.encoder, rate=rate))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        codec = stream.codec_context
        codec.time_base = self._time_base
        codec.gop_size = max(1, round(_GOP_SECONDS * rate))
        options: dict[str, str] = {}
        if self.encoder in _X26X:
            options["preset"] = self.preset
            if self.bitrate is None:
                options["crf"] = str(self.crf)
            if self.encoder == "libx265":
                options["x265-params"] = "log-level=error"
        if self.bitrate is not None:
            codec.bit_rate = self.bitrate
        elif self.encoder == "mpeg4":
            codec.bit_rate = round(_MPEG4_BITS_PER_PIXEL * width * height * rate)
        codec.options = options
        self._stream = stream
        return stream

    def _pts(self, frame: Frame) -> int:
        """The frame's pts in the output time base, always after the previous frame's."""
        pts: int | None = None
        if self.fps is None and frame.pts is not None and frame.time_base is not None:
            time = frame.pts * frame.time_base
            if self._first_time is None:
                self._first_time = time
            pts = round((time - self._first_time) / self._time_base)
        if self._last_pts is None:
            pts = pts or 0
        elif pts is None or pts <= self._last_pts:
            pts = self._last_pts + self._step
        self._last_pts = pts
        return pts

    def __repr__(self) -> str:
        state = "open" if self._container is not None else "closed"
        return f"<VideoFileSink {self.name!r} {self.path} {self.encoder} {state}>"
