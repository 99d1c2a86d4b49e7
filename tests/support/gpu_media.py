"""Media for the GPU tests, made on the GPU (NVENC), so they need no PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path


def gpu_problem() -> str | None:
    """None when torch sees a CUDA GPU and PyNvVideoCodec loads, else what is missing."""
    try:
        import torch
    except ImportError:
        return "needs torch"
    if not torch.cuda.is_available():
        return "needs a CUDA GPU"
    try:
        import PyNvVideoCodec  # noqa: F401
    except Exception as exc:  # its import checks the driver
        return f"needs PyNvVideoCodec ({str(exc).splitlines()[0]})"
    return None


def nvenc_clip(
    path: Path, frames: int = 40, size: tuple[int, int] = (320, 240), codec: str = "h264"
) -> Path:
    """A clip of stamped synthetic frames (``decode_stamp``) encoded by NVENC at 25 fps; MP4
    through PyAV or PyNvVideoCodec's muxer, else the elementary stream (its path is returned)."""
    import torch

    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.media.synthetic import SyntheticSource
    from visionflow.sinks.nvenc import NvencSink

    render = SyntheticSource(*size, frames).render
    sink = NvencSink(path, codec=codec)
    sink.start()
    for i in range(frames):
        pixels = torch.from_numpy(render(i)).cuda()
        frame = Frame(pixels, PixelFormat.RGB24, 0, i, pts=i, time_base=Fraction(1, 25))
        sink.process(Batch([frame]))
    sink.stop()
    return path if sink.writer != "elementary" else path.with_suffix("." + sink.codec)
