"""Preprocessing exactly as DeepStream's nvinfer defines it.

For each frame (primary) or object (secondary), a region is cut from the frame (object crops have
their left/top rounded up and width/height rounded down to even pixels), scaled to the network
input — stretched, or letterboxed with black padding right/bottom or symmetric — converted to the
model's colour format and normalised per pixel as ``y = net_scale_factor * (x - mean_c)``, where
``mean_c`` comes from ``offsets`` or a mean image.

A :class:`Preprocessor` does this for one network input: it prepares the scaled mean and per-channel
lookup tables once, and keeps its batch buffers between batches (resized crops are written into
them in place, the float conversion is one table lookup per plane). :func:`preprocess` is the
one-off form, returning arrays of its own.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from visionflow.core.geometry import Letterbox
from visionflow.errors import ConfigError


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
        fixed_height: text-recogniser scaling (visionflow's ``fixed_height_scaling``): scale to
            the network height, keep the aspect ratio, width ``ceil(height · w / h)`` but at
            most the network width (longer crops are squeezed), pad the right with zeros of the
            network tensor (PP-OCR's ``resize_norm_img``).
        min_width: with ``fixed_height`` and a model of dynamic input width: each batch is as
            wide as its widest crop needs (``int(height · w / h)``), at least this and at most
            ``width`` (PP-OCR's recogniser batching: 320); 0: always ``width``.
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
    fixed_height: bool = False
    min_width: int = 0
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


class Preprocessor:
    """Turns frames into network input batches for one :class:`PreprocessSpec`, reusing its
    buffers from batch to batch.

    The result is identical, bit for bit, to converting each crop on its own: resize (OpenCV),
    colour conversion, then ``float32(x) * scale − float32(mean_c * scale)`` in float32, cast to
    the network's type. Not for concurrent calls: the buffers are shared (an inference element
    calls it from its one thread).

    Args:
        spec: the network's preprocessing.

    Raises:
        ConfigError: the colour format does not fit the channel count (RGB and BGR need 3), or
            ``offsets`` has fewer values than channels, but more than one (one is applied to
            every channel, extra ones are ignored, as before).
    """

    def __init__(self, spec: PreprocessSpec) -> None:
        c = spec.channels
        if spec.color_format is not ColorFormat.GRAY and c != 3:
            raise ConfigError(
                f"{spec.color_format.name} needs a network input of 3 channels, this one has {c}",
                key="model-color-format",
                value=str(int(spec.color_format)),
                allowed=f"{int(ColorFormat.GRAY)} (GRAY) for a {c}-channel input",
            )
        self.spec = spec
        self._interpolation = _CV2_INTERPOLATION[spec.scaling_filter]
        self._raw = spec.dtype == np.uint8 and spec.net_scale_factor == 1.0 and not spec.offsets
        scale = np.float32(spec.net_scale_factor)
        self._scale = scale
        # The mean, scaled once: an image (H, W, C), or one value per channel (C,), or none.
        self._mean_image: np.ndarray | None = None
        channel_mean = np.zeros(c, np.float32)
        if spec.mean_image is not None:
            self._mean_image = spec.mean_image.astype(np.float32) * scale
        elif any(spec.offsets):
            offsets = np.asarray(spec.offsets[:c], np.float32)
            if len(offsets) not in (1, c):
                raise ConfigError(
                    f"{len(offsets)} values for a network input of {c} channels",
                    key="offsets",
                    value=";".join(f"{v:g}" for v in spec.offsets),
                    allowed=f"one value per channel ({c})",
                )
            channel_mean = np.broadcast_to(offsets * scale, (c,)).astype(np.float32)
        # Per channel, y for every uint8 x: the same float32 operations as computing it per pixel.
        levels = np.multiply(np.arange(256, dtype=np.uint8), scale, dtype=np.float32)
        self._tables = [(levels - channel_mean[ch]).reshape(1, 256) for ch in range(c)]
        self._channel_mean = channel_mean if any(spec.offsets) else None
        self._mean_planes = None
        if self._mean_image is not None:
            self._mean_planes = np.ascontiguousarray(self._mean_image.transpose(2, 0, 1))
        self._capacity = -1
        self._reserve(0)

    def __call__(
        self, images: Sequence[np.ndarray], rois: Sequence[tuple[float, float, float, float]]
    ) -> tuple[np.ndarray, list[Letterbox]]:
        """Build a network input batch in this preprocessor's buffers.

        Args:
            images: per item, the RGB24 (H, W, 3) uint8 frame it is cut from (items may share
                a frame).
            rois: per item, the region ``(left, top, width, height)`` in frame pixels (integers).

        Returns:
            The batch, (N, C, H, W) or (N, H, W, C) in ``spec.dtype`` — a view of a buffer that
            the next call overwrites (copy it to keep it) — and per item the geometry mapping
            network pixels back to frame pixels.
        """
        n = len(images)
        self._reserve(n)
        canvas = self._canvas[:n]
        spec = self.spec
        width = self._batch_width(rois) if spec.fixed_height and spec.min_width else spec.width
        transforms = [
            self._place(canvas[i], image, roi, width)
            for i, (image, roi) in enumerate(zip(images, rois, strict=True))
        ]
        tensor = self._normalize(canvas)
        if spec.fixed_height:
            for i, box in enumerate(transforms):
                used = round(box.roi_width * box.scale_x)
                if spec.nhwc:
                    tensor[i, :, used:] = 0
                else:
                    tensor[i, :, :, used:] = 0
            if width < spec.width:
                tensor = np.ascontiguousarray(
                    tensor[:, :, :width] if spec.nhwc else tensor[..., :width]
                )
        return tensor, transforms

    def _batch_width(self, rois: Sequence[tuple[float, float, float, float]]) -> int:
        """``min_width`` batching: the width the widest region needs, as PP-OCR's recogniser
        computes it (``int(height · max(min_width / height, w / h))``), at most the network's."""
        spec = self.spec
        ratio = max([spec.min_width / spec.height, *(w / h for _, _, w, h in rois if h > 0)])
        return min(spec.width, int(spec.height * ratio))

    def _reserve(self, n: int) -> None:
        """Grow the buffers to hold ``n`` items (they never shrink)."""
        if n <= self._capacity:
            return
        spec = self.spec
        c, h, w = spec.channels, spec.height, spec.width
        shape = (n, h, w, c) if spec.nhwc else (n, c, h, w)
        self._canvas = np.zeros((n, h, w, 3), np.uint8)  # RGB, as the frames come
        self._planes = np.zeros((n, c, h, w), np.uint8)  # the network's channels, planar
        self._float = np.zeros(shape, np.float32)
        self._out = self._float if spec.dtype == np.float32 else np.zeros(shape, spec.dtype)
        self._capacity = n

    def _place(
        self,
        canvas: np.ndarray,
        image: np.ndarray,
        roi: tuple[float, float, float, float],
        width: int,
    ) -> Letterbox:
        """Scale ``roi`` of ``image`` into ``canvas`` (H, W, 3), padding black around it;
        ``width``: the batch's width (``fixed_height`` with ``min_width``)."""
        spec = self.spec
        if spec.fixed_height:
            box = fixed_height_fit(roi, (width, spec.height))
        else:
            box = Letterbox.fit(
                roi,
                spec.net_size,
                maintain_aspect_ratio=spec.maintain_aspect_ratio,
                symmetric_padding=spec.symmetric_padding,
            )
        left, top, width, height = (int(v) for v in roi)
        crop = image[top : top + height, left : left + width]
        dst_w = min(spec.width, round(width * box.scale_x))
        dst_h = min(spec.height, round(height * box.scale_y))
        px, py = int(box.pad_left), int(box.pad_top)
        target = canvas[py : py + dst_h, px : px + dst_w]
        if crop.shape[:2] == (dst_h, dst_w):
            target[...] = crop
        else:
            resized = cv2.resize(
                crop, (dst_w, dst_h), dst=target, interpolation=self._interpolation
            )
            if not np.shares_memory(resized, target):  # OpenCV could not write in place
                target[...] = resized
        canvas[:py] = 0
        canvas[py + dst_h :] = 0
        canvas[py : py + dst_h, :px] = 0
        canvas[py : py + dst_h, px + dst_w :] = 0
        return box

    def _normalize(self, canvas: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) RGB uint8 → the network tensor, in the preprocessor's buffers."""
        spec = self.spec
        n = len(canvas)
        if spec.nhwc:
            return self._normalize_nhwc(canvas)
        planes = self._planes[:n]
        for i in range(n):
            if spec.color_format is ColorFormat.GRAY:
                gray = cv2.cvtColor(canvas[i], cv2.COLOR_RGB2GRAY)
                planes[i] = gray
            else:
                dst = list(planes[i] if spec.color_format is ColorFormat.RGB else planes[i, ::-1])
                split = cv2.split(canvas[i], dst)
                if not all(np.shares_memory(a, b) for a, b in zip(split, dst, strict=True)):
                    for a, b in zip(split, dst, strict=True):
                        b[...] = a
        if self._raw:
            self._out[:n] = planes
            return self._out[:n]
        out = self._float[:n]
        for i in range(n):
            for ch in range(spec.channels):
                looked = cv2.LUT(planes[i, ch], self._tables[ch], dst=out[i, ch])
                if not np.shares_memory(looked, out[i, ch]):
                    out[i, ch] = looked
        if self._mean_planes is not None:
            np.subtract(out, self._mean_planes, out=out)
        return self._cast(out)

    def _normalize_nhwc(self, canvas: np.ndarray) -> np.ndarray:
        spec = self.spec
        n = len(canvas)
        source: np.ndarray
        if spec.color_format is ColorFormat.GRAY:
            gray = cv2.cvtColor(canvas.reshape(-1, spec.width, 3), cv2.COLOR_RGB2GRAY)
            source = np.broadcast_to(
                gray.reshape(n, spec.height, spec.width, 1),
                (n, spec.height, spec.width, spec.channels),
            )
        elif spec.color_format is ColorFormat.BGR:
            source = canvas[..., ::-1]
        else:
            source = canvas
        if self._raw:
            self._out[:n] = source
            return self._out[:n]
        out = self._float[:n]
        np.multiply(source, self._scale, out=out, dtype=np.float32)
        if self._mean_image is not None:
            np.subtract(out, self._mean_image, out=out)
        elif self._channel_mean is not None:
            np.subtract(out, self._channel_mean, out=out)
        return self._cast(out)

    def _cast(self, out: np.ndarray) -> np.ndarray:
        if self._out is self._float:
            return out
        target = self._out[: len(out)]
        np.copyto(target, out, casting="unsafe")
        return target


def fixed_height_fit(
    roi: tuple[float, float, float, float], net_size: tuple[int, int]
) -> Letterbox:
    """The geometry of ``fixed_height_scaling``: ``roi`` scaled to the network height, its width
    ``ceil(net_h · w / h)`` capped at the network width, placed at the left (PP-OCR's
    recogniser and direction-classifier resizing)."""
    left, top, width, height = roi
    net_w, net_h = net_size
    dst_w = min(net_w, max(1, math.ceil(net_h * width / height)))
    return Letterbox(
        net_width=net_w,
        net_height=net_h,
        roi_left=left,
        roi_top=top,
        roi_width=width,
        roi_height=height,
        scale_x=dst_w / width,
        scale_y=net_h / height,
        pad_left=0.0,
        pad_top=0.0,
    )


def preprocess(
    images: Sequence[np.ndarray],
    rois: Sequence[tuple[float, float, float, float]],
    spec: PreprocessSpec,
) -> tuple[np.ndarray, list[Letterbox]]:
    """Build a network input batch in new arrays (a :class:`Preprocessor` used once).

    Args:
        images: per item, the RGB24 (H, W, 3) uint8 frame it is cut from (items may share a frame).
        rois: per item, the region ``(left, top, width, height)`` in frame pixels (integers).
        spec: the network's preprocessing.

    Returns:
        The batch, (N, C, H, W) or (N, H, W, C) in ``spec.dtype``, and per item the geometry
        mapping network pixels back to frame pixels.
    """
    return Preprocessor(spec)(images, rois)
