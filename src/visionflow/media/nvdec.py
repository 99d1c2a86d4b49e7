"""Hardware video decoding on NVIDIA GPUs (NVDEC) through PyNvVideoCodec.

:class:`NvdecSource` demuxes a file or URI with PyNvVideoCodec's FFmpeg demuxer, decodes it on
the GPU's NVDEC engines, and yields frames as NV12 torch CUDA tensors of shape ``(H*3/2, W)``
uint8 (:attr:`~visionflow.core.frame.PixelFormat.NV12`) that never pass through the host: each
decoded surface reaches torch through DLPack and is copied, on the GPU, into a slot of a reused
buffer ring before the decoder is given its next packet (the decoder reuses its surfaces). The
frames carry the stream's colour matrix and range as the demuxer reports them
(``Frame.color_matrix``, ``Frame.full_range``), which GPU preprocessing uses.

PyNvVideoCodec and torch are imported when a stream is opened, so this module imports without
them; install ``visionflow[nvidia]``.

Errors follow :mod:`visionflow.media.video` (the CPU path):

* a file that does not exist → :class:`~visionflow.errors.SourceNotFoundError`;
* a file or URI the demuxer cannot open, or whose codec NVDEC cannot decode →
  :class:`~visionflow.errors.SourceError` with the reason and the URI;
* a packet the decoder rejects is skipped and counted (:attr:`NvdecSource.bad_packets`, a
  warning for the first); :data:`~visionflow.media.bad_packets.MAX_BAD_PACKETS_IN_A_ROW` in a
  row, or a demuxer that fails reading, end the stream with :class:`~visionflow.errors.DecodeError`
  naming the URI and the next frame number;
* a stream that yields no frame at all ends with :class:`~visionflow.errors.DecodeError`;
* a network stream that fails ends with :class:`~visionflow.errors.SourceError`. NVDEC sources
  do not reconnect: for live streams that should, the automatic choice
  (:mod:`visionflow.media.select`) takes PyAV decode + upload.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Generator, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.source import Source
from visionflow.errors import DecodeError, SourceError, SourceNotFoundError
from visionflow.media.bad_packets import rejected_packet
from visionflow.media.pacing import Pacer

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'visionflow[nvidia]'"
_FALLBACK_RATE = Fraction(30)


class NvdecUnavailableError(SourceError):
    """NVDEC cannot run here: PyNvVideoCodec, torch with CUDA or a GPU is missing."""


def load_pynvvideocodec() -> Any:
    """The PyNvVideoCodec module; NvdecUnavailableError naming what is missing otherwise."""
    try:
        import PyNvVideoCodec as nvc  # noqa: N813 - NVIDIA's own alias
    except ImportError as exc:
        raise NvdecUnavailableError(
            f"NVDEC needs PyNvVideoCodec, which is not installed ({INSTALL_HINT})"
        ) from exc
    except Exception as exc:  # its import checks the driver and raises RuntimeError
        raise NvdecUnavailableError(f"PyNvVideoCodec cannot load: {exc}".split("\n")[0]) from exc
    return nvc


def cuda_device(gpu: int = 0) -> Any:
    """``torch.device('cuda:gpu')``; NvdecUnavailableError naming what is missing otherwise."""
    try:
        import torch
    except ImportError as exc:
        raise NvdecUnavailableError(
            f"NVDEC frames are torch tensors: install torch ({INSTALL_HINT})"
        ) from exc
    if not torch.cuda.is_available():
        raise NvdecUnavailableError(
            f"torch {torch.__version__} sees no CUDA GPU"
            + (" (a CPU-only build)" if torch.version.cuda is None else "")
        )
    if gpu >= torch.cuda.device_count():
        raise NvdecUnavailableError(
            f"GPU {gpu} does not exist ({torch.cuda.device_count()} CUDA device(s))"
        )
    return torch.device("cuda", gpu)


def local_path(uri: str) -> Path | None:
    """The file a plain path or ``file://`` URI names; None for network URIs."""
    if "://" not in uri and not uri.lower().startswith("file:"):
        return Path(uri)
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) <= 1:  # a Windows drive letter
        return Path(uri)
    if scheme != "file":
        return None
    rest = uri.split(":", 1)[1]
    rest = rest[2:] if rest.startswith("//") else rest
    if rest.lower().startswith("localhost/"):
        rest = rest[len("localhost") :]
    return Path(unquote(rest))


def colorimetry(demuxer: Any) -> tuple[str, bool]:
    """The stream's YCbCr matrix (``bt601``, ``bt709`` or ``""``) and whether it is full range,
    from the demuxer's ``ColorSpace()`` and ``ColorRange()`` (unknown → ``""``, limited)."""
    matrix, full = "", False
    with contextlib.suppress(Exception):  # older PyNvVideoCodec: not reported
        space = str(demuxer.ColorSpace()).lower()
        matrix = "bt709" if "709" in space else "bt601" if "601" in space else ""
    with contextlib.suppress(Exception):
        full = "jpeg" in str(demuxer.ColorRange()).lower()
    return matrix, full


def _call(obj: Any, *names: str) -> Any:
    """The result of the first method of ``obj`` among ``names`` that exists and works."""
    for name in names:
        method = getattr(obj, name, None)
        if callable(method):
            try:
                return method()
            except Exception:
                continue
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().split("\n")[0]
    return text or type(exc).__name__


class NvdecSource(Source):
    """A video file or stream decoded by NVDEC into NV12 CUDA tensors (see the module doc).

    Args:
        uri: a path, ``file://`` URI or network URI FFmpeg's demuxer opens.
        source_id: the stream index (the pipeline reassigns it).
        gpu: the CUDA device ordinal.
        loop: start again at the end of a file, forever.
        live: whether the pipeline may drop this stream's frames when it falls behind; by
            default true for ``realtime`` playback and network streams that are not files.
        realtime: pace playback at the stream's timestamps.
        slots: frame buffers allocated at once (the ring grows while the pipeline fills up).

    Attributes:
        bad_packets: packets the decoder rejected (over all passes).
        codec: the codec NVDEC decodes, once opened.
    """

    kind = "nvdec"

    def __init__(
        self,
        uri: str | os.PathLike[str],
        source_id: int = 0,
        *,
        gpu: int = 0,
        loop: bool = False,
        live: bool | None = None,
        realtime: bool = False,
        slots: int = 4,
    ) -> None:
        text = os.fspath(uri)
        super().__init__(text, source_id)
        self.gpu = gpu
        self._path = local_path(text)
        self.loop = loop
        self.realtime = realtime
        self.live = (self._path is None or realtime) if live is None else live
        self.slots = slots
        self.bad_packets = 0
        self.codec = ""
        self._running: Generator[Frame, None, None] | None = None
        self._interrupted = threading.Event()
        self._next_frame = 0
        self._rings: dict[tuple[int, ...], Any] = {}

    def frames(self) -> Iterator[Frame]:
        """Decode the stream from its start (ending an unfinished earlier pass)."""
        if self._running is not None:
            self._running.close()
        self._interrupted.clear()
        self._running = self._stream()
        return self._running

    def interrupt(self) -> None:
        """Ask a running :meth:`frames` to end after the current packet; safe from any thread."""
        self._interrupted.set()

    def close(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None

    def open(self) -> tuple[Any, Any, Any]:
        """The module, demuxer and decoder for this stream (SourceError when either fails)."""
        if self._path is not None and not self._path.exists():
            raise SourceNotFoundError(f"video file not found: {self._path}")
        nvc = load_pynvvideocodec()
        device = cuda_device(self.gpu)
        target = str(self._path) if self._path is not None else self.uri
        try:
            demuxer = nvc.CreateDemuxer(filename=target)
        except Exception as exc:
            raise SourceError(f"cannot open '{self.uri}': {_reason(exc)}") from exc
        codec = demuxer.GetNvCodecId()
        self.codec = str(codec).rsplit(".", 1)[-1]
        import torch

        stream = torch.cuda.current_stream(device).cuda_stream
        try:
            decoder = nvc.CreateDecoder(
                gpuid=self.gpu, codec=codec, cudastream=stream, usedevicememory=True
            )
        except Exception as exc:
            raise SourceError(
                f"cannot open '{self.uri}': NVDEC cannot decode its {self.codec} stream "
                f"({_reason(exc)})"
            ) from exc
        return nvc, demuxer, decoder

    def _slot(self, shape: tuple[int, ...], device: Any) -> Any:
        ring = self._rings.get(shape)
        if ring is None:
            from visionflow.mux.gpu_batch import SlotRing

            ring = self._rings[shape] = SlotRing(shape, device=device, slots=self.slots)
        return ring.acquire()

    def _stream(self) -> Generator[Frame, None, None]:
        import torch

        self._next_frame = 0
        pacer = Pacer()
        last_pts: int | None = None
        while True:
            first = self._next_frame
            nvc, demuxer, decoder = self.open()
            flushed = False
            matrix, full = colorimetry(demuxer)
            rate = _call(demuxer, "FrameRate")
            rate = Fraction(rate).limit_denominator(1001) if rate else _FALLBACK_RATE
            time_base = 1 / rate
            in_a_row = 0
            packets = iter(demuxer)
            device = torch.device("cuda", self.gpu)
            with torch.cuda.device(device):
                while not self._interrupted.is_set():
                    try:
                        packet = next(packets, None)
                    except Exception as exc:
                        raise self._read_error(exc) from exc
                    if packet is None:  # the end: flush the frames the decoder still holds
                        if flushed:
                            break
                        flushed = True
                        try:
                            packet = nvc.PacketData()
                        except Exception:  # no empty packet to flush with: the demuxer did
                            break
                    try:
                        surfaces = decoder.Decode(packet)
                    except Exception as exc:
                        if flushed:
                            break
                        self.bad_packets += 1
                        in_a_row += 1
                        rejected_packet(self.uri, in_a_row, self._next_frame, _reason(exc))
                        continue
                    in_a_row = 0
                    frames: list[Frame] = []
                    for surface in surfaces:  # copy out before the next Decode reuses them
                        view = torch.from_dlpack(surface)
                        if view.dim() == 3 and view.shape[-1] == 1:
                            view = view[..., 0]
                        slot = self._slot(tuple(view.shape), device)
                        slot.copy_(view)
                        pts = last_pts + 1 if last_pts is not None else 0
                        last_pts = pts
                        frames.append(
                            Frame(
                                data=slot,
                                format=PixelFormat.NV12,
                                source_id=self.source_id,
                                frame_num=self._next_frame + len(frames),
                                pts=pts,
                                time_base=time_base,
                                uri=self.uri,
                                color_matrix=matrix,
                                full_range=full,
                            )
                        )
                    for frame in frames:
                        if self.realtime:
                            pacer.wait(float(frame.pts or 0) * float(time_base))
                        yield frame
                        self._next_frame += 1
            if self.bad_packets and self._next_frame == first:
                raise DecodeError(
                    f"{self.uri}: no frame could be decoded ({self.bad_packets} packets rejected)"
                )
            if self._next_frame == first and not self._interrupted.is_set():
                raise DecodeError(f"{self.uri}: no frame could be decoded")
            if not self.loop or self._interrupted.is_set():
                return

    def _read_error(self, exc: BaseException) -> SourceError:
        if self._path is None:
            return SourceError(
                f"{self.uri}: read failed ({_reason(exc)}) before frame {self._next_frame}"
            )
        return DecodeError(
            f"{self.uri}: corrupt data ({_reason(exc)}) before frame {self._next_frame}"
        )

    def __repr__(self) -> str:
        name = self._path.name if self._path is not None else self.uri
        codec = f" {self.codec}" if self.codec else ""
        return f"<NvdecSource #{self.source_id} {name}{codec} cuda:{self.gpu}>"
