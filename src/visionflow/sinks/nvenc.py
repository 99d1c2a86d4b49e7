"""Encoding GPU frames with NVENC through PyNvVideoCodec (``--output`` on the GPU path).

:class:`NvencSink` takes frames that live on a CUDA device — NV12 (NVDEC, the GPU OSD) or RGB24 —
and hands them to the GPU's hardware encoder (H.264 or HEVC) as CUDA buffers: the pixels never
come to the host; only the compressed bitstream does. RGB frames are converted to NV12 on the
GPU (BT.601, limited range); frames of another size than the first are scaled to it there.

The bitstream is written, in this order of preference:

1. as **MP4 (or MOV/MKV) through PyAV**, a core dependency, so what users get: the packets are
   muxed as they come (no re-encoding);
2. where PyAV is missing (a bare GPU machine), as MP4 through PyNvVideoCodec's own FFmpeg muxer;
3. failing both, as the codec's **elementary stream** (``.h264`` / ``.hevc`` next to the asked
   path), with a warning saying so.

:attr:`NvencSink.writer` tells which one wrote the file. Errors (PyNvVideoCodec missing, no
NVENC, a failed write) are :class:`~visionflow.errors.SinkError`: the sink fails alone.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.element import Sink
from visionflow.core.frame import Frame, PixelFormat
from visionflow.errors import ConfigError, SinkError

log = logging.getLogger(__name__)

CODECS = {"h264": "h264", "h265": "hevc", "hevc": "hevc"}
"""Codec names → NVENC codec (``h264`` or ``hevc``)."""
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_DEFAULT_RATE = Fraction(30)
_GOP_SECONDS = 2


class BitstreamWriter(Protocol):
    """Where encoded packets go."""

    name: str
    path: Path

    def write(self, data: bytes, pts: int, keyframe: bool) -> None: ...

    def close(self) -> None: ...


class PyAVWriter:
    """Muxes an Annex-B H.264/HEVC elementary stream into a container through PyAV, without
    re-encoding. The stream's parameters are read from its first packet (which, from NVENC and
    from x264/x265, carries the parameter sets)."""

    name = "pyav"

    def __init__(self, path: Path, codec: str, rate: Fraction) -> None:
        import av  # noqa: F401 - fail here, not at the first packet, when PyAV is missing

        self.path = path
        self.codec = codec
        self.rate = rate
        self._container: Any = None
        self._stream: Any = None
        self._last_dts = -1

    def _open(self, first: bytes) -> None:
        import av

        probe = av.open(io.BytesIO(first), format=self.codec)  # its parameters, as a template
        try:
            template = probe.streams.video[0]
            fmt = CONTAINERS.get(self.path.suffix.lower(), "mp4")
            self._container = av.open(str(self.path), "w", format=fmt)
            self._stream = self._container.add_stream_from_template(template)
            self._stream.time_base = 1 / self.rate
        finally:
            probe.close()

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        import av

        if self._container is None:
            self._open(data)
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = 1 / self.rate
        packet.pts = packet.dts = max(pts, self._last_dts + 1)
        self._last_dts = int(packet.dts)
        packet.is_keyframe = keyframe
        self._container.mux(packet)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


class NvcMuxWriter:
    """Muxes through PyNvVideoCodec's FFmpeg muxer (where PyAV is missing)."""

    name = "pynvvideocodec"
    _TIMEBASE = 90_000

    def __init__(
        self,
        nvc: Any,
        path: Path,
        codec: str,
        size: tuple[int, int],
        rate: Fraction,
        extradata: bytes,
    ) -> None:
        self.path = path
        self._step = max(1, round(self._TIMEBASE / rate))
        self._muxer = nvc.FFmpegMuxer(
            file_path=str(path),
            media_format=nvc.GetMediaFormat(str(path)),
            codec=codec,
            width=size[0],
            height=size[1],
            fps_num=rate.numerator,
            fps_den=rate.denominator,
            timebase_num=1,
            timebase_den=self._TIMEBASE,
            extradata=extradata,
        )
        self._muxer.SetUniformPtsIncrement(self._step)

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        picture_type = 0 if keyframe else 1
        self._muxer.MuxVideoPacket(data, picture_type, pts * self._step)

    def close(self) -> None:
        self._muxer.Finalize()


class ElementaryWriter:
    """Writes the bare bitstream (``.h264`` / ``.hevc``): the last resort."""

    name = "elementary"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")

    def write(self, data: bytes, pts: int, keyframe: bool) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.close()


class _Planes:
    """An NV12 CUDA tensor as NVENC takes a device frame: ``cuda()`` → the CUDA array interfaces
    of its luma (H, W, 1) and interleaved chroma (H/2, W/2, 2) planes."""

    def __init__(self, nv12: Any) -> None:
        self.tensor = nv12  # kept alive while NVENC reads it
        h, w = nv12.shape[0] * 2 // 3, nv12.shape[1]
        pitch = nv12.stride(0)
        base = nv12.data_ptr()
        self._planes = [
            _Interface((h, w, 1), (pitch, 1, 1), base),
            _Interface((h // 2, w // 2, 2), (pitch, 2, 1), base + h * pitch),
        ]

    def cuda(self) -> list[Any]:
        return self._planes


class _Interface:
    def __init__(self, shape: tuple[int, ...], strides: tuple[int, ...], pointer: int) -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "strides": strides,
            "data": (pointer, False),
            "typestr": "|u1",
            "version": 3,
        }


def to_nv12(frame: Frame, size: tuple[int, int] | None = None) -> Any:
    """The frame's pixels as a contiguous NV12 torch tensor on their device, scaled to ``size``
    (even width and height) when given."""
    import torch

    from visionflow.mux.gpu_batch import scale_into
    from visionflow.osd.gpu_draw import rgb_planes_to_nv12

    data = frame.data if isinstance(frame.data, torch.Tensor) else torch.from_numpy(frame.data)
    fmt = frame.format
    if fmt is PixelFormat.NV12:
        nv12 = data
    else:
        if fmt is PixelFormat.GRAY8:
            data = data.unsqueeze(-1).expand(*data.shape, 3)
        elif fmt is PixelFormat.BGR24:
            data = data.flip(-1)
        h, w = int(data.shape[0]), int(data.shape[1])
        if h % 2 or w % 2:  # pad to even with black
            padded = torch.zeros((h + h % 2, w + w % 2, 3), dtype=torch.uint8, device=data.device)
            padded[:h, :w] = data
            data = padded
        nv12 = rgb_planes_to_nv12(data)
    if size is not None and (nv12.shape[1], nv12.shape[0] * 2 // 3) != size:
        out = torch.empty((size[1] * 3 // 2, size[0]), dtype=torch.uint8, device=nv12.device)
        scale_into(out, nv12, PixelFormat.NV12, padding=False, full_range=frame.full_range)
        nv12 = out
    return nv12.contiguous()


def load_encoder_module() -> Any:
    """PyNvVideoCodec, or a SinkError naming what is missing."""
    try:
        import PyNvVideoCodec as nvc  # noqa: N813 - NVIDIA's own alias
    except ImportError as exc:
        raise SinkError(
            "NVENC needs PyNvVideoCodec, which is not installed (pip install 'visionflow[nvidia]')"
        ) from exc
    except Exception as exc:  # its import checks the driver
        raise SinkError(f"PyNvVideoCodec cannot load: {str(exc).splitlines()[0]}") from exc
    return nvc


@functools.cache
def nvenc_problem(gpu: int = 0) -> str | None:
    """None when GPU ``gpu`` can open an NVENC session, else why not (PyNvVideoCodec missing, or a
    GPU without NVENC: the H100 and H200 have none). Probed once per process with a small
    encoder, so that the GPU path can choose the CPU encoder up front rather than fail on the
    first frame."""
    try:
        nvc = load_encoder_module()
    except SinkError as exc:
        return str(exc)
    try:
        encoder = nvc.CreateEncoder(256, 256, "NV12", False, codec="h264", gpu_id=gpu)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
        return f"NVENC cannot start on GPU {gpu}: {reason}"
    del encoder
    return None


class NvencSink(Sink):
    """Encodes GPU frames with NVENC and writes them to a video file (see the module doc).

    Args:
        path: the output file (``.mp4``, ``.mov``, ``.mkv``; no suffix: MP4).
        codec: ``h264`` or ``h265``/``hevc``.
        bitrate: target bit rate in bit/s; None: NVENC's preset default.
        fps: the output frame rate; None: from the first frame's time base, else 30.
        source_id: encode only this stream; None: every frame (e.g. the tiler's).
        gpu: the CUDA device ordinal of the encoder.
        preset: NVENC preset, ``P1`` (fastest) … ``P7`` (best).
        name: the element's name.

    Attributes:
        frames_written: frames handed to the encoder.
        writer: which writer wrote the file (``pyav``, ``pynvvideocodec``, ``elementary``).
    """

    kind = "nvencsink"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        codec: str = "h264",
        bitrate: int | None = None,
        fps: float | Fraction | None = None,
        source_id: int | None = None,
        gpu: int = 0,
        preset: str = "P4",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.path = Path(path)
        if codec.lower() not in CODECS:
            raise ConfigError(
                "NVENC encodes H.264 and HEVC only", key="codec", value=codec, allowed="h264, h265"
            )
        suffix = self.path.suffix.lower()
        if suffix and suffix not in CONTAINERS:
            raise ConfigError(
                "unsupported video file suffix for NVENC output",
                key="output-file",
                value=str(path),
                allowed=", ".join(CONTAINERS),
            )
        self.codec = CODECS[codec.lower()]
        self.bitrate = bitrate
        self.fps = None if fps is None else Fraction(fps).limit_denominator(1001)
        self.source_id = source_id
        self.gpu = gpu
        self.preset = preset
        self.frames_written = 0
        self.writer = ""
        self._nvc: Any = None
        self._encoder: Any = None
        self._writer: BitstreamWriter | None = None
        self._size = (0, 0)
        self._rate = _DEFAULT_RATE
        self._failed = False
        self._emitted = 0

    def start(self) -> None:
        self._nvc = load_encoder_module()
        self.frames_written = 0
        self._emitted = 0
        self._failed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create video file '{self.path}': {exc}") from exc

    def process(self, batch: Batch) -> Batch:
        for frame in batch.frames:
            if self.source_id is None or frame.source_id == self.source_id:
                self._write(frame)
        return batch

    def _open(self, frame: Frame) -> None:
        width, height = frame.width + frame.width % 2, frame.height + frame.height % 2
        self._size = (width, height)
        rate = self.fps
        if rate is None and frame.time_base:
            rate = (1 / Fraction(frame.time_base)).limit_denominator(1001)
            if not 1 <= rate <= 240:
                rate = None
        self._rate = rate or _DEFAULT_RATE
        params: dict[str, Any] = {
            "codec": self.codec,
            "preset": self.preset,
            "gpu_id": self.gpu,
            "fps": max(1, round(float(self._rate))),
            "gop": max(1, round(_GOP_SECONDS * float(self._rate))),
        }
        if self.bitrate is not None:
            params["bitrate"] = self.bitrate
        try:
            try:
                self._encoder = self._nvc.CreateEncoder(
                    width, height, "NV12", False, bf=0, **params
                )
            except Exception:  # a build that does not know bf: its default GOP
                self._encoder = self._nvc.CreateEncoder(width, height, "NV12", False, **params)
        except Exception as exc:
            raise SinkError(
                f"cannot start NVENC for '{self.path}' ({self.codec} {width}x{height}): "
                f"{str(exc).splitlines()[0] if str(exc) else exc!r}"
            ) from exc
        self._writer = self._make_writer()
        self.writer = self._writer.name
        log.info(
            "%s: NVENC %s %dx%d, written by %s", self.path, self.codec, width, height, self.writer
        )

    def _make_writer(self) -> BitstreamWriter:
        try:
            return PyAVWriter(self.path, self.codec, self._rate)
        except ImportError:
            pass
        try:
            extradata = bytes(self._encoder.GetSequenceParams())
            return NvcMuxWriter(self._nvc, self.path, self.codec, self._size, self._rate, extradata)
        except Exception as exc:
            target = self.path.with_suffix("." + self.codec)
            log.warning(
                "%s: neither PyAV nor PyNvVideoCodec's muxer can write it (%s); writing the %s "
                "elementary stream to %s",
                self.path, exc, self.codec, target,
            )  # fmt: skip
            return ElementaryWriter(target)

    def _write(self, frame: Frame) -> None:
        if self._nvc is None:
            raise SinkError(f"video file '{self.path}' is not open: start() was not called")
        if self._failed:
            raise SinkError(f"video file '{self.path}' failed earlier; nothing more is written")
        try:
            if self._encoder is None:
                self._open(frame)
            nv12 = to_nv12(self._on_device(frame), self._size)
            planes = _Planes(nv12)
            try:
                packets = self._encoder.Encode(planes)
            except TypeError:  # builds that want the picture parameters too
                packets = self._encoder.Encode(planes, self._nvc.NV_ENC_PIC_PARAMS())
            self._emit(packets)
        except SinkError:
            self._failed = True
            raise
        except Exception as exc:
            self._failed = True
            raise SinkError(f"cannot write video file '{self.path}': {exc}") from exc
        self.frames_written += 1

    def _on_device(self, frame: Frame) -> Frame:
        import torch

        data = frame.data
        if isinstance(data, torch.Tensor) and data.is_cuda:
            return frame
        host = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))
        return frame.with_pixels(host.to(torch.device("cuda", self.gpu)))

    def _emit(self, packets: Any) -> None:
        """Write what the encoder gave: a list of packets (dicts with ``data`` in PyNvVideoCodec
        2.x, byte arrays before), or one byte array. Frames go in display order (no B-frames),
        so packets are numbered as they come."""
        assert self._writer is not None
        if isinstance(packets, (bytes, bytearray, memoryview)) or (
            isinstance(packets, np.ndarray) and packets.dtype == np.uint8
        ):
            packets = [packets]
        for packet in packets:
            raw = packet["data"] if isinstance(packet, dict) else packet
            data = bytes(
                np.asarray(raw, dtype=np.uint8).tobytes() if not isinstance(raw, bytes) else raw
            )
            if data:
                self._writer.write(data, self._emitted, _is_idr(data, self.codec))
                self._emitted += 1

    def stop(self) -> None:
        """Flush the encoder and finish the file (also after an error)."""
        encoder, writer = self._encoder, self._writer
        self._encoder = self._writer = None
        error: BaseException | None = None
        try:
            if encoder is not None and writer is not None and not self._failed:
                self._writer = writer
                self._emit(encoder.EndEncode())
        except Exception as exc:
            error = exc
        finally:
            self._writer = None
            if writer is not None:
                try:
                    writer.close()
                except Exception as exc:
                    error = error or exc
        if writer is None:
            log.warning("%s: no frames to write; no file created", self.path)
        if error is not None:
            raise SinkError(f"cannot finish video file '{self.path}': {error}") from error

    def __repr__(self) -> str:
        return f"<NvencSink {self.path} {self.codec} {self.writer or 'not started'}>"


def _is_idr(data: bytes, codec: str) -> bool:
    """Whether an Annex-B access unit holds an IDR picture (H.264 NAL 5, HEVC NAL 16–21)."""
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        header = data[i + 3]
        if codec == "h264" and header & 0x1F == 5:
            return True
        if codec == "hevc" and 16 <= (header >> 1) & 0x3F <= 21:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False
