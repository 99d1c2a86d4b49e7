"""Tiny media written with PyAV for the media tests (helpers offered as fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from visionflow.media.synthetic import SyntheticSource

WIDTH, HEIGHT = 128, 96


def write_clip(
    path: Path,
    num_frames: int,
    *,
    fps: int = 25,
    codec: str = "libx264",
    format: str | None = None,
    gop: int = 10,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Path:
    """Encode ``num_frames`` stamped synthetic frames (see ``decode_stamp``) to ``path``.

    The default libx264 settings use B-frames, so decode order differs from display order.
    """
    import av  # here, not at the top: the GPU tests in this folder run where PyAV is absent
    import av.video.stream

    render = SyntheticSource(width, height, num_frames).render
    with av.open(str(path), "w", format=format) as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx265":
            stream.codec_context.options = {"x265-params": "log-level=error"}
        for i in range(num_frames):
            picture = av.VideoFrame.from_ndarray(render(i), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def overwrite(path: Path, start: float, stop: float, seed: int = 0) -> None:
    """Replace bytes ``[start, stop)`` (fractions of the ``mdat`` payload of an MP4, or of the
    whole file otherwise) with seeded random bytes."""
    data = bytearray(path.read_bytes())
    box = data.find(b"mdat")
    if box >= 4:
        lo, hi = box + 4, box - 4 + int.from_bytes(data[box - 4 : box], "big")
    else:
        lo, hi = 0, len(data)
    a, b = lo + int((hi - lo) * start), lo + int((hi - lo) * stop)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.fixture
def make_clip() -> Callable[..., Path]:
    """:func:`write_clip`."""
    return write_clip


@pytest.fixture
def damage() -> Callable[..., None]:
    """:func:`overwrite`."""
    return overwrite


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 30-frame 128x96 H.264 MP4 at 25 fps."""
    return write_clip(tmp_path / "clip.mp4", 30)
