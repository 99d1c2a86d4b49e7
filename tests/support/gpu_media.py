"""Media for the GPU tests: made on the GPU (NVENC), so they need no PyAV; on a GPU without NVENC
(H100, H200) made by PyAV's x264/x265 from the same frames."""

from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path


def nvenc_missing() -> str | None:
    """None when this GPU can encode with NVENC, else why not."""
    if (problem := gpu_problem()) is not None:
        return problem
    from visionflow.sinks.nvenc import nvenc_problem

    return nvenc_problem()


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
    """A clip of stamped synthetic frames (``decode_stamp``) at 25 fps, encoded by NVENC (MP4
    through PyAV or PyNvVideoCodec's muxer, else the elementary stream: its path is returned), or
    by PyAV's x264/x265 where the GPU has no NVENC; skips the test when neither can."""
    import pytest
    import torch

    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.media.synthetic import SyntheticSource
    from visionflow.sinks.nvenc import NvencSink, nvenc_problem

    render = SyntheticSource(*size, frames).render
    problem = nvenc_problem()
    if problem is not None:
        made = Path(os.environ.get("VISIONFLOW_GPU_CLIPS", "/nonexistent"))
        made /= f"clip-{frames}-{size[0]}x{size[1]}-{codec}.mp4"
        if made.is_file():  # made by this function on a machine with PyAV (scripts/gpu_clips.py)
            shutil.copyfile(made, path)
            return path
        try:
            import av
        except ImportError:
            pytest.skip(f"needs NVENC or PyAV to make a clip ({problem})")
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264" if codec == "h264" else "libx265", rate=25)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            params = "x264-params" if codec == "h264" else "x265-params"
            stream.options = {"crf": "12", params: "bframes=0"}
            for i in range(frames):
                picture = av.VideoFrame.from_ndarray(render(i), format="rgb24")
                picture.pts = i
                out.mux(stream.encode(picture))
            out.mux(stream.encode())
        return path
    sink = NvencSink(path, codec=codec)
    sink.start()
    for i in range(frames):
        pixels = torch.from_numpy(render(i)).cuda()
        frame = Frame(pixels, PixelFormat.RGB24, 0, i, pts=i, time_base=Fraction(1, 25))
        sink.process(Batch([frame]))
    sink.stop()
    return path if sink.writer != "elementary" else path.with_suffix("." + sink.codec)
