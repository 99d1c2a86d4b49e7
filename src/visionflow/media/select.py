"""Choosing how a source is decoded for the pipeline's device.

``device: cpu`` (the default) decodes with FFmpeg through PyAV into host frames, as always.
``device: cuda`` (or ``cuda:N``) keeps frames on that GPU:

* ``decoder: auto`` takes NVDEC (:mod:`visionflow.media.nvdec`) where it works — PyNvVideoCodec
  installed, the GPU usable and, for a local file, its codec one NVDEC decodes — and otherwise
  PyAV decode + upload (:mod:`visionflow.media.cuda_upload`). Live network streams that are to
  be reconnected (``reconnect_attempts`` ≠ 0) take PyAV + upload, which reconnects. The choice
  and its reason are logged for every source.
* ``decoder: nvdec`` insists on NVDEC; ``decoder: pyav`` on PyAV (+ upload on a GPU).
* Images and synthetic sources are uploaded.

A device that cannot run is a :class:`~visionflow.errors.ConfigError` naming what is missing
(never a silent CPU run), as is ``decoder: nvdec`` where NVDEC cannot run.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from visionflow.core.source import Source
from visionflow.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

Decoder = Literal["auto", "nvdec", "pyav"]
DECODERS: tuple[str, ...] = ("auto", "nvdec", "pyav")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
_LIVE = ("rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "udp", "tcp")
_NETWORK = (*_LIVE, "http", "https")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Choice:
    """How one source is decoded.

    Attributes:
        decoder: ``nvdec``, ``pyav+upload`` or ``pyav``.
        device: where its frames live (``cpu``, ``cuda:0``…).
        reason: why this decoder was chosen.
    """

    decoder: str
    device: str
    reason: str


def parse_device(device: str) -> tuple[str, int]:
    """``("cpu", 0)`` or ``("cuda", N)`` for a device string; ConfigError for anything else."""
    text = device.strip().lower()
    if not _DEVICE.match(text):
        raise ConfigError(
            "unknown device", key="device", value=device, allowed="cpu, cuda or cuda:N"
        )
    kind, _, index = text.partition(":")
    return kind, int(index or 0)


def gpu_problem(gpu: int = 0) -> str | None:
    """None when torch can use CUDA device ``gpu``, else what is missing."""
    from visionflow.media.nvdec import NvdecUnavailableError, cuda_device

    try:
        cuda_device(gpu)
    except NvdecUnavailableError as exc:
        return str(exc)
    return None


def nvdec_problem(gpu: int = 0) -> str | None:
    """None when NVDEC can run on GPU ``gpu``, else what is missing."""
    from visionflow.media.nvdec import NvdecUnavailableError, load_pynvvideocodec

    problem = gpu_problem(gpu)
    if problem is not None:
        return problem
    try:
        load_pynvvideocodec()
    except NvdecUnavailableError as exc:
        return str(exc)
    return None


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and len(head) > 1 else ""


def _is_video(uri: str) -> bool:
    """Whether ``uri`` is decoded as video (not images, a folder, a glob or synthetic)."""
    scheme = _scheme(uri)
    if scheme == "synthetic":
        return False
    if scheme and scheme != "file":
        return True
    from visionflow.media.nvdec import local_path

    path = local_path(uri)
    location = str(path) if path is not None else uri
    if any(c in location for c in "*?[") or os.path.isdir(location):
        return False
    return os.path.splitext(location)[1].lower() not in _IMAGE_SUFFIXES


def _probe(uri: str, gpu: int) -> str | None:
    """None when NVDEC decodes a local file's codec (or the file cannot be read here: its
    source reports that), else why not."""
    from visionflow.media.nvdec import load_pynvvideocodec, local_path

    path = local_path(uri)
    if path is None or not path.is_file():
        return None
    nvc = load_pynvvideocodec()
    try:
        demuxer = nvc.CreateDemuxer(filename=str(path))
        codec = demuxer.GetNvCodecId()
        caps = nvc.GetDecoderCaps(
            gpuid=gpu,
            codec=codec,
            chromaformat=demuxer.ChromaFormat(),
            bitdepth=demuxer.BitDepth(),
        )
    except Exception as exc:
        return f"NVDEC cannot read it ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    supported = caps.get("supported", 1) if isinstance(caps, dict) else 1
    if not supported:
        name = str(codec).rsplit(".", 1)[-1]
        return f"this GPU's NVDEC does not decode its {name} stream"
    return None


def choose(
    uri: str,
    device: str = "cpu",
    decoder: str = "auto",
    *,
    reconnect: bool = True,
) -> Choice:
    """How ``uri`` is decoded on ``device`` with ``decoder`` (see the module doc).

    Args:
        uri: the source's path or URI.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        decoder: ``auto``, ``nvdec`` or ``pyav``.
        reconnect: whether a live network stream is to be reconnected when lost.

    Raises:
        ConfigError: an unknown device or decoder, a GPU device that cannot run, or
            ``decoder: nvdec`` where NVDEC cannot run.
    """
    kind, gpu = parse_device(device)
    if decoder not in DECODERS:
        raise ConfigError(
            "unknown decoder", key="decoder", value=decoder, allowed=", ".join(DECODERS)
        )
    video = _is_video(uri)
    if kind == "cpu":
        if decoder == "nvdec":
            raise ConfigError(
                "NVDEC decodes into GPU memory: it needs a GPU device",
                key="decoder",
                value=decoder,
                allowed="auto or pyav with device cpu; nvdec with device cuda",
            )
        return Choice("pyav" if video else "host", "cpu", "device cpu")
    where = f"cuda:{gpu}"
    problem = gpu_problem(gpu)
    if problem is not None:
        raise ConfigError(
            f"device {device} cannot run: {problem}",
            key="device",
            value=device,
            allowed="cpu, or a CUDA device torch can use (pip install 'visionflow[nvidia]' "
            "with a CUDA build of torch)",
        )
    if not video:
        return Choice("upload", where, "not a video: read on the host and uploaded")
    if decoder == "pyav":
        return Choice("pyav+upload", where, "decoder: pyav")
    nvdec = nvdec_problem(gpu)
    if decoder == "nvdec":
        if nvdec is not None:
            raise ConfigError(
                f"NVDEC cannot run: {nvdec}",
                key="decoder",
                value=decoder,
                allowed="auto (NVDEC where it works, else PyAV + upload) or pyav",
            )
        return Choice("nvdec", where, "decoder: nvdec")
    if nvdec is not None:
        return Choice("pyav+upload", where, f"NVDEC unavailable: {nvdec}")
    if _scheme(uri) in _LIVE and reconnect:
        return Choice("pyav+upload", where, "a live stream to reconnect (NVDEC sources do not)")
    unsupported = _probe(uri, gpu)
    if unsupported is not None:
        return Choice("pyav+upload", where, unsupported)
    return Choice("nvdec", where, "NVDEC available")


def open_device_source(
    uri: str | os.PathLike[str],
    source_id: int = 0,
    *,
    device: str = "cpu",
    decoder: str = "auto",
    loop: bool = False,
    live: bool | None = None,
    timeout: float | None = None,
    reconnect_attempts: int | None = None,
    **opts: Any,
) -> Source:
    """The source for ``uri`` decoded as :func:`choose` decides (the choice is logged);
    arguments as :func:`visionflow.media.uri.open_source`."""
    text = os.fspath(uri)
    choice = choose(text, device, decoder, reconnect=reconnect_attempts != 0)
    if device != "cpu":
        log.info(
            "source #%d (%s): %s on %s (%s)",
            source_id, text, choice.decoder, choice.device, choice.reason,
        )  # fmt: skip
    if choice.decoder == "nvdec":
        from visionflow.media.nvdec import NvdecSource

        gpu = parse_device(device)[1]
        return NvdecSource(text, source_id, gpu=gpu, loop=loop, live=live, **opts)
    from visionflow.media.uri import open_source  # PyAV: not needed (nor imported) for NVDEC

    host = open_source(
        text,
        source_id,
        loop=loop,
        live=live,
        timeout=timeout,
        reconnect_attempts=reconnect_attempts,
        **opts,
    )
    if choice.device == "cpu":
        return host
    from visionflow.media.cuda_upload import UploadSource

    return UploadSource(host, choice.device)


def describe(device: str = "cuda") -> dict[str, str]:
    """What ``device`` would decode a video file with here, for ``visionflow doctor``:
    ``{"decoder": …, "reason": …}``, or ``{"decoder": "unavailable", "reason": …}``."""
    try:
        choice = choose("clip.mp4", device, "auto")
    except (ConfigError, SourceError) as exc:
        return {"decoder": "unavailable", "reason": str(exc)}
    return {"decoder": choice.decoder, "reason": choice.reason}
