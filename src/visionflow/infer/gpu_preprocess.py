"""nvinfer's preprocessing in torch, for frames on a GPU (it runs on CPU tensors too).

:class:`GpuPreprocessor` takes the same :class:`~visionflow.infer.preprocess.PreprocessSpec` and
regions as the CPU :class:`~visionflow.infer.preprocess.Preprocessor` and gives the same network
input, as a torch tensor on the frames' device, in a few batched steps:

1. **Colour.** NV12 frames (NVDEC) are converted to RGB with the stream's matrix
   (``Frame.color_matrix``: BT.601 or BT.709; unknown → BT.601) and range
   (``Frame.full_range``), chroma upsampled by replication as FFmpeg's converter does, rounded to
   whole levels; RGB24/BGR24/GRAY8 frames (PyAV + upload) are used as they are. Only the region
   is converted.
2. **Scaling** to the letterboxed size with ``scaling-filter``'s interpolation as OpenCV applies
   it on the CPU path (pixel centres, no antialiasing): nearest (0, 6), bilinear (1), bicubic
   (2, a = −0.75), area (3: exact fractional box weights when shrinking, OpenCV's two-tap
   weights when enlarging) and Lanczos-4 (4, 5: OpenCV's 8-tap kernel), the last two as two small
   weight matrices; results rounded to whole levels as OpenCV's uint8 resize gives them.
3. **Placement** at the letterbox offset (``maintain-aspect-ratio``, ``symmetric-padding``),
   black around it, channel order (RGB, BGR, or GRAY as OpenCV's fixed-point RGB→GRAY), then
   ``y = net_scale_factor * x − net_scale_factor * mean`` in float32 (``offsets`` or the mean
   image), NCHW or NHWC, cast to the network's type (FP32, FP16, BF16, uint8…).

Items that share a frame size, region and layout (a primary batch) go through each step
together, in chunks that bound the temporary memory; object crops (secondary) one by one.

Against the CPU path, on the same RGB pixels, the result agrees within one level (1/255 after
``net-scale-factor = 1/255``): OpenCV's uint8 resize rounds its fixed-point arithmetic, here it is
float32. NV12 frames: the conversion here is the exact BT.601/BT.709 formula; FFmpeg's converter
(swscale, what PyAV gives the CPU path) is off by up to 3 levels (0.5–1.5 on average, green most),
so on NVDEC frames the two paths differ by that much more (tests/infer/test_gpu_preprocess.py
measures both; docs/gpu.md has the figures).

Like the CPU preprocessor, the returned batch is a view of a buffer that the next call
overwrites, and an instance is not for concurrent calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.infer.preprocess import ColorFormat, Preprocessor, PreprocessSpec, ScalingFilter

CHUNK_ELEMENTS = 1 << 26
"""Float elements of the full-resolution RGB temporaries converted at once (256 MB)."""

_MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # (Kr, Kb)


def torch_dtype(dtype: np.dtype | Any) -> torch.dtype:
    """The torch type of a NumPy type (``float16`` → ``torch.float16``…)."""
    return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype


def yuv_to_rgb(
    y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, matrix: str = "", full_range: bool = False
) -> torch.Tensor:
    """Full-resolution planes (…, H, W) of Y, Cb, Cr samples → (…, 3, H, W) float32 RGB in whole
    levels 0–255, with the BT.601 or BT.709 matrix (``""``: BT.601)."""
    kr, kb = _MATRICES.get(matrix or "bt601", _MATRICES["bt601"])
    kg = 1.0 - kr - kb
    y, u, v = y.float(), u.float(), v.float()
    if full_range:
        luma, cb, cr = y, u - 128.0, v - 128.0
    else:
        luma, cb, cr = (
            (y - 16.0) * (255.0 / 219.0),
            (u - 128.0) * (255.0 / 224.0),
            (v - 128.0) * (255.0 / 224.0),
        )
    r = luma + (2.0 - 2.0 * kr) * cr
    b = luma + (2.0 - 2.0 * kb) * cb
    g = luma - (2.0 * kb * (1.0 - kb) / kg) * cb - (2.0 * kr * (1.0 - kr) / kg) * cr
    return torch.stack([r, g, b], dim=-3).round_().clamp_(0.0, 255.0)


def crop_rgb(
    data: torch.Tensor,
    fmt: PixelFormat,
    roi: tuple[int, int, int, int],
    matrix: str = "",
    full_range: bool = False,
) -> torch.Tensor:
    """A region ``(left, top, width, height)`` of frames ``data`` (one frame, or a batch with a
    leading dimension) as (…, 3, h, w) float32 RGB levels."""
    left, top, width, height = roi
    if fmt is PixelFormat.NV12:
        rows = data.shape[-2] * 2 // 3
        luma = data[..., top : top + height, left : left + width]
        chroma = data[..., rows:, :].unflatten(-1, (-1, 2))  # (…, H/2, W/2, 2)
        chroma = chroma[
            ..., top // 2 : (top + height + 1) // 2, left // 2 : (left + width + 1) // 2, :
        ]
        chroma = chroma.repeat_interleave(2, dim=-3).repeat_interleave(2, dim=-2)
        chroma = chroma[..., top % 2 : top % 2 + height, left % 2 : left % 2 + width, :]
        return yuv_to_rgb(luma, chroma[..., 0], chroma[..., 1], matrix, full_range)
    if fmt is PixelFormat.GRAY8:
        gray = data[..., top : top + height, left : left + width].float()
        return gray.unsqueeze(-3).expand(*gray.shape[:-2], 3, height, width)
    pixels = data[..., top : top + height, left : left + width, :].float().movedim(-1, -3)
    return pixels.flip(-3) if fmt is PixelFormat.BGR24 else pixels
    # (RGB24 as it is)


def area_weights(src: int, dst: int) -> torch.Tensor:
    """(dst, src) weights of OpenCV's INTER_AREA along one axis."""
    weights = torch.zeros(dst, src, dtype=torch.float64)
    scale = src / dst
    if scale >= 1.0:  # shrinking: each output averages the inputs its cell covers
        for d in range(dst):
            f1 = d * scale
            f2 = f1 + scale
            s1, s2 = math.ceil(f1), math.floor(f2)
            cell = min(scale, src - f1)
            if s1 - f1 > 1e-3 and s1 >= 1:
                weights[d, s1 - 1] = (s1 - f1) / cell
            for s in range(s1, min(s2, src)):
                weights[d, s] = 1.0 / cell
            if f2 - s2 > 1e-3 and s2 < src:
                weights[d, s2] = min(min(f2 - s2, 1.0), cell) / cell
        return weights
    for d in range(dst):  # enlarging: OpenCV's two-tap weights
        s = math.floor(d * scale)
        fx = (d + 1) - (s + 1) / scale
        fx = 0.0 if fx <= 0 else fx - math.floor(fx)
        if s < 0:
            s, fx = 0, 0.0
        if s >= src - 1:
            s, fx = src - 1, 0.0
        weights[d, s] += 1.0 - fx
        if fx:
            weights[d, s + 1] += fx
    return weights


def _lanczos_weights(src: int, dst: int) -> torch.Tensor:
    """(dst, src) weights of OpenCV's INTER_LANCZOS4 along one axis (8 taps, edges clamped)."""
    weights = torch.zeros(dst, src, dtype=torch.float64)
    scale = src / dst
    for d in range(dst):
        sx = (d + 0.5) * scale - 0.5
        base = math.floor(sx)
        fx = sx - base
        taps = []
        for i in range(8):
            t = fx + 3 - i
            taps.append(
                1.0
                if abs(t) < 1e-7
                else (4 * math.sin(math.pi * t) * math.sin(math.pi * t / 4)) / (math.pi**2 * t * t)
            )
        total = sum(taps)
        for i, w in enumerate(taps):
            weights[d, min(max(base - 3 + i, 0), src - 1)] += w / total
    return weights


class GpuPreprocessor:
    """nvinfer preprocessing in torch for one network input (see the module doc).

    Args:
        spec: the network's preprocessing (as for the CPU :class:`Preprocessor`).
        device: where the output lives; None: the device of the first frames given.
        exact: convert NV12 to RGB at full resolution, then scale (as the CPU path: within one
            level of it). False scales the NV12 planes first and converts at the network's size
            — several times faster for 1080p frames, a few levels off at colour edges — for the
            nearest and bilinear filters (the others stay exact).

    Raises:
        ConfigError: as the CPU preprocessor (colour format vs channels, offsets).
    """

    def __init__(
        self,
        spec: PreprocessSpec,
        device: torch.device | str | None = None,
        *,
        exact: bool = True,
    ) -> None:
        Preprocessor(spec)  # the same checks, the same errors
        self.spec = spec
        self.exact = exact
        self.device = torch.device(device) if device is not None else None
        self.out_dtype = torch_dtype(spec.dtype)
        self._raw = spec.dtype == np.uint8 and spec.net_scale_factor == 1.0 and not spec.offsets
        c = spec.channels
        scale = np.float32(spec.net_scale_factor)
        self._scale = float(scale)
        mean: np.ndarray | None = None
        if spec.mean_image is not None:
            image = np.asarray(spec.mean_image, np.float32) * scale
            mean = np.ascontiguousarray(image.transpose(2, 0, 1))  # (C, H, W)
        elif any(spec.offsets):
            offsets = np.asarray(spec.offsets[:c], np.float32)
            mean = np.broadcast_to(offsets * scale, (c,)).astype(np.float32).reshape(c, 1, 1)
        self._mean_host = mean
        self._mean: torch.Tensor | None = None
        self._weights: dict[tuple[str, int, int, str], torch.Tensor] = {}
        self._canvas: torch.Tensor | None = None
        self._out: torch.Tensor | None = None

    # ------------------------------------------------------------------ buffers
    def _reserve(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.spec
        canvas, out = self._canvas, self._out
        if canvas is None or out is None or canvas.shape[0] < n or canvas.device != device:
            c, h, w = spec.channels, spec.height, spec.width
            shape = (n, h, w, c) if spec.nhwc else (n, c, h, w)
            canvas = self._canvas = torch.zeros((n, 3, h, w), dtype=torch.float32, device=device)
            out = self._out = torch.empty(shape, dtype=self.out_dtype, device=device)
            if self._mean_host is not None:
                self._mean = torch.from_numpy(self._mean_host).to(device)
        return canvas, out

    # ------------------------------------------------------------------ scaling
    def _matrix(self, kind: str, src: int, dst: int, device: torch.device) -> torch.Tensor:
        key = (kind, src, dst, str(device))
        weights = self._weights.get(key)
        if weights is None:
            table = area_weights(src, dst) if kind == "area" else _lanczos_weights(src, dst)
            weights = self._weights[key] = table.to(device=device, dtype=torch.float32)
        return weights

    def resize(self, planes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(N, C, h, w) float levels → (N, C, H, W) with the spec's scaling filter, rounded to
        whole levels 0–255 as OpenCV's uint8 resize."""
        height, width = size
        if tuple(planes.shape[-2:]) == size:
            return planes
        filt = self.spec.scaling_filter
        if filt in (ScalingFilter.NEAREST, ScalingFilter.DEFAULT):
            return F.interpolate(planes, size=size, mode="nearest")
        if filt is ScalingFilter.BILINEAR:
            out = F.interpolate(planes, size=size, mode="bilinear", align_corners=False)
        elif filt is ScalingFilter.ALGO1:
            out = F.interpolate(planes, size=size, mode="bicubic", align_corners=False)
        else:
            kind = "area" if filt is ScalingFilter.ALGO2 else "lanczos"
            rows = self._matrix(kind, planes.shape[-2], height, planes.device)
            cols = self._matrix(kind, planes.shape[-1], width, planes.device)
            out = torch.matmul(torch.matmul(rows, planes), cols.T)
        return out.round_().clamp_(0.0, 255.0)

    # ------------------------------------------------------------------ the batch
    def __call__(
        self, frames: Sequence[Frame], rois: Sequence[tuple[float, float, float, float]]
    ) -> tuple[torch.Tensor, list[Letterbox]]:
        """Build a network input batch.

        Args:
            frames: per item, the frame it is cut from (items may share a frame); its pixels a
                torch tensor (NV12, RGB24, BGR24 or GRAY8), or a NumPy array (copied to
                ``device``).
            rois: per item, the region ``(left, top, width, height)`` in frame pixels
                (integers; :func:`~visionflow.infer.preprocess.even_crop` for object crops).

        Returns:
            The batch, (N, C, H, W) or (N, H, W, C) in the spec's type on the device — a view of
            a buffer the next call overwrites — and per item the letterbox geometry.
        """
        spec = self.spec
        n = len(frames)
        datas = [self._tensor(f.data) for f in frames]
        device = self.device or (datas[0].device if datas else torch.device("cpu"))
        canvas, out = self._reserve(max(n, 1), device)
        canvas = canvas[:n]
        boxes: list[Letterbox] = []
        groups: dict[tuple[Any, ...], list[int]] = {}
        padded = False
        for i, (frame, data, roi) in enumerate(zip(frames, datas, rois, strict=True)):
            box = Letterbox.fit(
                roi,
                spec.net_size,
                maintain_aspect_ratio=spec.maintain_aspect_ratio,
                symmetric_padding=spec.symmetric_padding,
            )
            boxes.append(box)
            left, top, width, height = (int(v) for v in roi)
            dst_w = min(spec.width, round(width * box.scale_x))
            dst_h = min(spec.height, round(height * box.scale_y))
            padded |= dst_w != spec.width or dst_h != spec.height
            key = (
                tuple(data.shape), frame.format, frame.color_matrix, frame.full_range,
                (left, top, width, height), dst_w, dst_h, int(box.pad_left), int(box.pad_top),
            )  # fmt: skip
            groups.setdefault(key, []).append(i)
        if padded:
            canvas.zero_()
        for key, members in groups.items():
            _shape, fmt, matrix, full, roi, dst_w, dst_h, px, py = key
            per_item = 3 * roi[2] * roi[3]
            step = max(1, CHUNK_ELEMENTS // max(per_item, 1))
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                batch = torch.stack([datas[i] for i in chunk]).to(device, non_blocking=True)
                if self._scale_first(fmt):
                    scaled = self._nv12_scaled(batch, roi, (dst_h, dst_w), matrix, full)
                else:
                    scaled = self.resize(crop_rgb(batch, fmt, roi, matrix, full), (dst_h, dst_w))
                index = torch.tensor(chunk, device=device) if len(chunk) < n else None
                if index is None:
                    canvas[:, :, py : py + dst_h, px : px + dst_w] = scaled
                else:
                    canvas[index, :, py : py + dst_h, px : px + dst_w] = scaled
        return self._normalize(canvas, out[:n]), boxes

    def _scale_first(self, fmt: PixelFormat) -> bool:
        return (
            not self.exact
            and fmt is PixelFormat.NV12
            and self.spec.scaling_filter
            in (ScalingFilter.BILINEAR, ScalingFilter.NEAREST, ScalingFilter.DEFAULT)
        )

    def _nv12_scaled(
        self,
        batch: torch.Tensor,
        roi: tuple[int, int, int, int],
        size: tuple[int, int],
        matrix: str,
        full: bool,
    ) -> torch.Tensor:
        """``exact=False``: scale the luma and the half-resolution chroma planes of NV12 frames
        first and convert at the network's size (far less memory traffic; chroma is then
        interpolated rather than replicated, so colour edges differ by a few levels)."""
        left, top, width, height = roi
        rows = batch.shape[-2] * 2 // 3
        luma = batch[:, None, top : top + height, left : left + width].float()
        chroma = batch[:, rows:, :].unflatten(-1, (-1, 2))
        chroma = chroma[:, top // 2 : (top + height) // 2, left // 2 : (left + width) // 2, :]
        chroma = chroma.permute(0, 3, 1, 2).float()
        y = self.resize(luma, size)
        uv = self.resize(chroma, size)
        return yuv_to_rgb(y[:, 0], uv[:, 0], uv[:, 1], matrix, full)

    @staticmethod
    def _tensor(data: Any) -> torch.Tensor:
        return data if isinstance(data, torch.Tensor) else torch.from_numpy(np.asarray(data))

    def _normalize(self, canvas: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB levels → the network tensor, written into ``out``."""
        spec = self.spec
        if spec.color_format is ColorFormat.GRAY:
            r, g, b = canvas[:, 0:1], canvas[:, 1:2], canvas[:, 2:3]  # OpenCV's RGB2GRAY
            gray = torch.floor((r * 4899.0 + g * 9617.0 + b * 1868.0 + 8192.0) / 16384.0)
            planes = gray.expand(-1, spec.channels, -1, -1)
        elif spec.color_format is ColorFormat.BGR:
            planes = canvas.flip(1)
        else:
            planes = canvas
        if not self._raw:
            planes = planes * self._scale
            if self._mean is not None:
                planes = planes - self._mean
        target = out.permute(0, 3, 1, 2) if spec.nhwc else out
        target.copy_(planes)
        return out
