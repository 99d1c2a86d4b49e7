"""Preprocessing exactly as DeepStream's nvinfer defines it.

For each frame (primary) or object (secondary), a region is cut from the frame (object crops have
their left/top rounded up and width/height rounded down to even pixels), scaled to the network
input — stretched, or letterboxed with black padding right/bottom or symmetric — converted to the
model's colour format and normalised per pixel as ``y = net_scale_factor * (x - mean_c)``, where
``mean_c`` comes from ``offsets`` or a mean image. The batch is built in one uint8 array and
normalised in one vectorised operation.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from visionflow.core.geometry import Letterbox


class ColorFormat(enum.IntEnum):
    """``model-color-format``: the channel order the network expects."""

    RGB = 0
    BGR = 1
    GRAY = 2


class ScalingFilter(enum.IntEnum):
    """``scaling-filter``: DeepStream's interpolation choices, mapped onto OpenCV's."""

    NEAREST = 0
    BILINEAR = 1
    ALGO1 = 2  # GPU cubic
    ALGO2 = 3  # GPU super-sampling
    ALGO3 = 4  # GPU Lanczos
    ALGO4 = 5  # VIC "nicest"
    DEFAULT = 6  # GPU nearest


_CV2_INTERPOLATION = {
    ScalingFilter.NEAREST: cv2.INTER_NEAREST,
    ScalingFilter.BILINEAR: cv2.INTER_LINEAR,
    ScalingFilter.ALGO1: cv2.INTER_CUBIC,
    ScalingFilter.ALGO2: cv2.INTER_AREA,
    ScalingFilter.ALGO3: cv2.INTER_LANCZOS4,
    ScalingFilter.ALGO4: cv2.INTER_LANCZOS4,
    ScalingFilter.DEFAULT: cv2.INTER_NEAREST,
}


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything that turns frame pixels into a network input.

    Attributes:
        width, height, channels: the network input size (``infer-dims``).
        color_format: the channel order the network expects.
        net_scale_factor: multiplier applied after the mean is subtracted.
        offsets: per-channel means, in the network's channel order.
        mean_image: optional (H, W, C) float32 per-pixel mean (``mean-file``); replaces offsets.
        maintain_aspect_ratio: letterbox instead of stretching.
        symmetric_padding: with letterboxing, centre the image (pad on both sides).
        nhwc: lay the tensor out NHWC (``network-input-order=1``) instead of NCHW.
        scaling_filter: interpolation used for scaling.
        dtype: the network input's element type.
    """

    width: int
    height: int
    channels: int = 3
    color_format: ColorFormat = ColorFormat.RGB
    net_scale_factor: float = 1.0
    offsets: tuple[float, ...] = ()
    mean_image: np.ndarray | None = field(default=None, compare=False)
    maintain_aspect_ratio: bool = False
    symmetric_padding: bool = False
    nhwc: bool = False
    scaling_filter: ScalingFilter = ScalingFilter.BILINEAR
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))

    @property
    def net_size(self) -> tuple[int, int]:
        return self.width, self.height


def even_crop(xyxy: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """(N, 4) object boxes (or a whole frame) → (N, 4) ``left, top, width, height`` source
    rectangles as nvinfer cuts them.

    As ``get_converted_buffer`` in DeepStream's ``gstnvinfer.cpp``: left and top are truncated to
    whole pixels and rounded *up* to even, width and height truncated and rounded *down* to even,
    each on its own (the width is the box's width, not its right edge minus the rounded left); a
    whole frame of odd size loses its last column or row. DeepStream cannot cut outside the frame;
    here boxes are clipped to the frame first and a rectangle is shortened (to even) where it
    would pass the frame's right or bottom edge. Crops may come out empty (width or height 0).
    """
    xyxy = np.asarray(xyxy, np.float32)
    x1 = np.clip(xyxy[:, 0], 0, frame_w)
    y1 = np.clip(xyxy[:, 1], 0, frame_h)
    x2 = np.clip(xyxy[:, 2], 0, frame_w)
    y2 = np.clip(xyxy[:, 3], 0, frame_h)
    left = np.ceil(np.trunc(x1) / 2) * 2  # GST_ROUND_UP_2((unsigned int)left)
    top = np.ceil(np.trunc(y1) / 2) * 2
    width = np.floor(np.trunc(x2 - x1) / 2) * 2  # GST_ROUND_DOWN_2((unsigned int)width)
    height = np.floor(np.trunc(y2 - y1) / 2) * 2
    width = np.minimum(width, np.floor(np.maximum(frame_w - left, 0) / 2) * 2)
    height = np.minimum(height, np.floor(np.maximum(frame_h - top, 0) / 2) * 2)
    return np.stack([left, top, width, height], axis=1).astype(np.int64)


def _to_color(pixels: np.ndarray, color: ColorFormat) -> np.ndarray:
    """RGB24 (H, W, 3) pixels → the network's channel order, (H, W, C)."""
    if color is ColorFormat.BGR:
        return pixels[..., ::-1]
    if color is ColorFormat.GRAY:
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)[..., None]
    return pixels


def preprocess(
    images: Sequence[np.ndarray],
    rois: Sequence[tuple[float, float, float, float]],
    spec: PreprocessSpec,
) -> tuple[np.ndarray, list[Letterbox]]:
    """Build a network input batch.

    Args:
        images: per item, the RGB24 (H, W, 3) uint8 frame it is cut from (items may share a frame).
        rois: per item, the region ``(left, top, width, height)`` in frame pixels (integers).
        spec: the network's preprocessing.

    Returns:
        The batch, (N, C, H, W) or (N, H, W, C) in ``spec.dtype``, and per item the geometry
        mapping network pixels back to frame pixels.
    """
    n = len(images)
    canvas = np.zeros((n, spec.height, spec.width, spec.channels), np.uint8)
    interpolation = _CV2_INTERPOLATION[spec.scaling_filter]
    transforms = []
    for i, (image, roi) in enumerate(zip(images, rois, strict=True)):
        box = Letterbox.fit(
            roi,
            spec.net_size,
            maintain_aspect_ratio=spec.maintain_aspect_ratio,
            symmetric_padding=spec.symmetric_padding,
        )
        transforms.append(box)
        left, top, width, height = (int(v) for v in roi)
        crop = image[top : top + height, left : left + width]
        dst_w = min(spec.width, round(width * box.scale_x))
        dst_h = min(spec.height, round(height * box.scale_y))
        if crop.shape[:2] != (dst_h, dst_w):
            crop = cv2.resize(crop, (dst_w, dst_h), interpolation=interpolation)
        px, py = int(box.pad_left), int(box.pad_top)
        canvas[i, py : py + dst_h, px : px + dst_w] = _to_color(crop, spec.color_format)
    return normalize(canvas, spec), transforms


def normalize(canvas: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(N, H, W, C) uint8 → the network tensor: ``scale * (x - mean)``, laid out per spec.

    The conversion runs plane by plane on contiguous memory (one pass converting and scaling,
    one subtracting the mean), which is about three times faster than converting the whole
    batch to float and transposing it.
    """
    if spec.dtype == np.uint8 and spec.net_scale_factor == 1.0 and not spec.offsets:
        return canvas if spec.nhwc else np.ascontiguousarray(canvas.transpose(0, 3, 1, 2))
    n, h, w, c = canvas.shape
    scale = np.float32(spec.net_scale_factor)
    mean: np.ndarray | None = None
    if spec.mean_image is not None:
        mean = spec.mean_image.astype(np.float32) * scale
    elif any(spec.offsets):
        mean = np.broadcast_to(np.asarray(spec.offsets[:c], np.float32) * scale, (h, w, c))
    if spec.nhwc:
        out = np.multiply(canvas, scale, dtype=np.float32)
        if mean is not None:
            out -= mean
        return out.astype(spec.dtype, copy=False)
    out = np.empty((n, c, h, w), np.float32)
    for i in range(n):
        planes = cv2.split(canvas[i]) if c > 1 else [canvas[i, :, :, 0]]
        for ch, plane in enumerate(planes):
            np.multiply(plane, scale, out=out[i, ch], dtype=np.float32)
            if mean is not None:
                out[i, ch] -= mean[:, :, ch]
    return out.astype(spec.dtype, copy=False)
