"""Frames: the pixels of one picture from one source, on the host or on a device.

A frame's pixels are an array-like with a known layout. On the host they are a NumPy array
(``HxWx3 uint8`` RGB, or ``(H*3/2)xW uint8`` NV12); on a GPU they may be a torch CUDA tensor of the
same layout (e.g. NV12 straight from the hardware decoder). Elements that need host pixels call
:meth:`Frame.to_numpy`, which copies from the device explicitly and counts the copy, so no element
contract hard-wires NumPy.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


class PixelFormat(str, enum.Enum):
    """Layout of a frame's pixel array."""

    RGB24 = "rgb24"  #: (H, W, 3) uint8, R G B
    BGR24 = "bgr24"  #: (H, W, 3) uint8, B G R
    GRAY8 = "gray8"  #: (H, W) uint8
    NV12 = "nv12"  #: (H*3/2, W) uint8: Y plane then interleaved UV at half resolution


_HOST_COPIES = [0]


def device_copies() -> int:
    """Number of device→host frame copies made so far in this process."""
    return _HOST_COPIES[0]


def _device_of(data: Any) -> str:
    if isinstance(data, np.ndarray):
        return "cpu"
    device = getattr(data, "device", None)
    return str(device) if device is not None else "cpu"


@dataclass(eq=False)
class Frame:
    """One decoded picture.

    Attributes:
        data: the pixel array (NumPy on the host, or a device tensor such as a torch CUDA tensor).
        format: the layout of ``data``.
        source_id: index of the source that produced the frame.
        frame_num: 0-based index of the frame within its source.
        pts: presentation timestamp in ``time_base`` units, or None when the source has none.
        time_base: the unit of ``pts`` in seconds.
        source_width, source_height: the size at which the source delivered the frame, before any
            scaling by the stream muxer.
        uri: where the frame came from.
        created_ns: ``time.monotonic_ns()`` when the frame left its decoder (for latency).
        color_matrix: for YUV layouts (NV12), the stream's YCbCr matrix as the decoder reports
            it: ``"bt601"``, ``"bt709"`` or ``""`` (unknown: BT.601 is assumed, as OpenCV does).
        full_range: for YUV layouts, whether the samples use the full 0–255 range (JPEG) rather
            than the limited 16–235/240 range (MPEG, the default).
    """

    data: Any
    format: PixelFormat
    source_id: int
    frame_num: int
    pts: int | None = None
    time_base: Fraction | None = None
    source_width: int = 0
    source_height: int = 0
    uri: str = ""
    created_ns: int = field(default_factory=time.monotonic_ns)
    color_matrix: str = ""
    full_range: bool = False

    def __post_init__(self) -> None:
        if not self.source_width or not self.source_height:
            self.source_width, self.source_height = self.width, self.height

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        rows = int(self.data.shape[0])
        return rows * 2 // 3 if self.format is PixelFormat.NV12 else rows

    @property
    def device(self) -> str:
        """``"cpu"`` for host frames, otherwise the tensor's device (``"cuda:0"``…)."""
        return _device_of(self.data)

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, when known."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    def to_numpy(self, format: PixelFormat = PixelFormat.RGB24) -> np.ndarray:
        """The pixels as a host NumPy array in ``format`` (RGB24 by default).

        Host frames already in ``format`` are returned without a copy. Device frames are copied to
        the host (counted by :func:`device_copies`).
        """
        data = self.data
        if not isinstance(data, np.ndarray):
            _HOST_COPIES[0] += 1
            data = data.cpu().numpy() if hasattr(data, "cpu") else np.asarray(data)
        return convert_pixels(data, self.format, format)

    def with_pixels(self, data: Any, format: PixelFormat | None = None) -> Frame:
        """A copy of this frame carrying other pixels (same identity and timestamps)."""
        return Frame(
            data=data,
            format=format or self.format,
            source_id=self.source_id,
            frame_num=self.frame_num,
            pts=self.pts,
            time_base=self.time_base,
            source_width=self.source_width,
            source_height=self.source_height,
            uri=self.uri,
            created_ns=self.created_ns,
            color_matrix=self.color_matrix,
            full_range=self.full_range,
        )

    def __repr__(self) -> str:
        return (
            f"<Frame src={self.source_id} #{self.frame_num} {self.width}x{self.height} "
            f"{self.format.value} {self.device}>"
        )


def convert_pixels(data: np.ndarray, src: PixelFormat, dst: PixelFormat) -> np.ndarray:
    """Convert a host pixel array between layouts (a no-op when they match)."""
    if src is dst:
        return data
    import cv2

    codes = {
        (PixelFormat.BGR24, PixelFormat.RGB24): cv2.COLOR_BGR2RGB,
        (PixelFormat.RGB24, PixelFormat.BGR24): cv2.COLOR_RGB2BGR,
        (PixelFormat.RGB24, PixelFormat.GRAY8): cv2.COLOR_RGB2GRAY,
        (PixelFormat.BGR24, PixelFormat.GRAY8): cv2.COLOR_BGR2GRAY,
        (PixelFormat.GRAY8, PixelFormat.RGB24): cv2.COLOR_GRAY2RGB,
        (PixelFormat.GRAY8, PixelFormat.BGR24): cv2.COLOR_GRAY2BGR,
        (PixelFormat.NV12, PixelFormat.RGB24): cv2.COLOR_YUV2RGB_NV12,
        (PixelFormat.NV12, PixelFormat.BGR24): cv2.COLOR_YUV2BGR_NV12,
    }
    if (src, dst) == (PixelFormat.NV12, PixelFormat.GRAY8):
        return data[: data.shape[0] * 2 // 3]
    code = codes.get((src, dst))
    if code is None:
        raise ValueError(f"cannot convert pixels from {src.value} to {dst.value}")
    return cv2.cvtColor(data, code)
