"""Drawing metadata onto frames that stay on the GPU (nvdsosd on device buffers).

:class:`GpuOSD` draws box borders, ``bg-color`` fills and label tags onto frames held as torch
tensors — NV12 (NVDEC) or RGB24 (uploads) — without bringing the frames to the host: each frame
is copied (on its device) into a reused buffer and drawn there, so no buffer another element
holds is changed. Borders and fills are painted plane by plane (for NV12, luma at full and chroma
at half resolution, with the colour converted by the frame's matrix). A label tag is rasterised
by OpenCV on the host — only the tag, a few hundred bytes, is uploaded — exactly as the CPU OSD
draws it (:func:`visionflow.osd.draw.draw_text`), then pasted.

On a tiler's mosaic (:class:`~visionflow.mux.gpu_tiler.GpuTiler`: an RGB tensor) each stream's
objects are drawn on a view of that stream's tile, as the CPU OSD does, so no border or tag
reaches a neighbouring tile.

What the GPU OSD does not draw — instance masks, segmentation maps, analytics overlays, the clock,
an NV12 mosaic — is drawn by the CPU :class:`OSD` on a host copy of that frame (counted by
:func:`~visionflow.core.frame.device_copies`; logged once), and the result goes back to the
frame's device.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections, FrameMeta
from visionflow.osd.draw import (
    _text_box,
    _thickness,
    auto_border_width,
    auto_text_scale,
    contrast_text_colors,
    display_texts,
    draw_text,
)
from visionflow.osd.element import OSD, tile_views
from visionflow.osd.palette import Palette, rgba_from_floats

log = logging.getLogger(__name__)

_MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def rgb_to_yuv(rgb: Sequence[float], matrix: str = "", full_range: bool = False) -> np.ndarray:
    """An RGB colour (0–255) → Y, Cb, Cr samples (float) with the BT.601/BT.709 matrix."""
    kr, kb = _MATRICES.get(matrix or "bt601", _MATRICES["bt601"])
    r, g, b = (float(v) for v in rgb[:3])
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 - 2 * kb)
    cr = (r - y) / (2 - 2 * kr)
    if full_range:
        return np.array([y, cb + 128, cr + 128])
    return np.array([16 + y * 219 / 255, 128 + cb * 224 / 255, 128 + cr * 224 / 255])


def rgb_planes_to_nv12(
    rgb: torch.Tensor, matrix: str = "", full_range: bool = False
) -> torch.Tensor:
    """(H, W, 3) uint8 RGB (H, W even) → (H*3/2, W) uint8 NV12, chroma averaged over 2×2."""
    kr, kb = _MATRICES.get(matrix or "bt601", _MATRICES["bt601"])
    pixels = rgb.float()
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 - 2 * kb)
    cr = (r - y) / (2 - 2 * kr)
    if not full_range:
        y, cb, cr = 16 + y * (219 / 255), cb * (224 / 255), cr * (224 / 255)
    h, w = y.shape
    chroma = torch.stack([cb, cr], dim=-1).reshape(h // 2, 2, w // 2, 2, 2).mean(dim=(1, 3))
    out = torch.empty((h * 3 // 2, w), dtype=torch.uint8, device=rgb.device)
    out[:h] = y.round().clamp(0, 255).to(torch.uint8)
    out[h:] = (chroma + 128).round().clamp(0, 255).to(torch.uint8).reshape(h // 2, w)
    return out


class GpuCanvas:
    """Painting on one frame tensor in place: NV12 ``(H*3/2, W)`` or RGB24 ``(H, W, 3)``."""

    def __init__(self, data: torch.Tensor, fmt: PixelFormat, matrix: str, full: bool) -> None:
        if fmt not in (PixelFormat.NV12, PixelFormat.RGB24, PixelFormat.BGR24):
            raise ValueError(f"cannot draw on {fmt.value} frames on the GPU")
        self.data, self.fmt, self.matrix, self.full = data, fmt, matrix, full
        if fmt is PixelFormat.NV12:
            self.height, self.width = data.shape[0] * 2 // 3, data.shape[1]
            self.luma = data[: self.height]
            self.chroma = data[self.height :].unflatten(-1, (-1, 2))  # (H/2, W/2, 2)
        else:
            self.height, self.width = int(data.shape[0]), int(data.shape[1])

    def _samples(self, rgb: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        if self.fmt is PixelFormat.NV12:
            yuv = rgb_to_yuv(rgb, self.matrix, self.full)
            return yuv[:1], yuv[1:]
        values = np.asarray(rgb[:3], np.float64)
        return (values[::-1] if self.fmt is PixelFormat.BGR24 else values), np.empty(0)

    def paint(self, x0: int, y0: int, x1: int, y1: int, rgba: Sequence[int]) -> None:
        """Fill ``[x0, x1) × [y0, y1)``, clipped, with an RGBA colour (alpha blends)."""
        x0, x1 = min(max(x0, 0), self.width), min(max(x1, 0), self.width)
        y0, y1 = min(max(y0, 0), self.height), min(max(y1, 0), self.height)
        if x1 <= x0 or y1 <= y0:
            return
        alpha = rgba[3] / 255.0 if len(rgba) == 4 else 1.0
        if alpha <= 0.0:
            return
        main, chroma = self._samples(rgba)
        if self.fmt is PixelFormat.NV12:
            _blend(self.luma[y0:y1, x0:x1], main[0], alpha)
            region = self.chroma[y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2]
            _blend(region, chroma, alpha)
        else:
            _blend(self.data[y0:y1, x0:x1], main, alpha)

    def paste(self, x: int, y: int, patch: torch.Tensor) -> None:
        """Copy an (h, w, 3) uint8 RGB patch (on this device) with its top-left at (x, y)."""
        h, w = int(patch.shape[0]), int(patch.shape[1])
        if self.fmt is PixelFormat.NV12:
            x, y = x - x % 2, y - y % 2  # chroma is shared by 2x2 pixels
            w, h = min(w - w % 2, self.width - x), min(h - h % 2, self.height - y)
            if w <= 0 or h <= 0:
                return
            nv12 = rgb_planes_to_nv12(patch[:h, :w], self.matrix, self.full)
            self.luma[y : y + h, x : x + w] = nv12[:h]
            self.chroma[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = nv12[h:].unflatten(
                -1, (-1, 2)
            )
            return
        w, h = min(w, self.width - x), min(h, self.height - y)
        if w <= 0 or h <= 0:
            return
        region = patch[:h, :w]
        self.data[y : y + h, x : x + w] = (
            region.flip(-1) if self.fmt is PixelFormat.BGR24 else region
        )


def _blend(region: torch.Tensor, value: np.ndarray, alpha: float) -> None:
    if alpha >= 1.0:  # opaque: one fill per channel, no upload of the colour
        levels = np.clip(np.round(np.atleast_1d(value)), 0, 255).astype(int).tolist()
        if len(levels) == 1:
            region.fill_(levels[0])
        else:
            for channel, level in enumerate(levels):
                region[..., channel].fill_(level)
        return
    color = torch.as_tensor(value, dtype=torch.float32, device=region.device)
    mixed = region.float() * (1.0 - alpha) + color * alpha + 0.5
    region[...] = mixed.clamp(0, 255).to(torch.uint8)


class GpuOSD(Element):
    """Draws detections onto GPU frames (see the module doc); arguments as :class:`OSD`.

    Frames that are not torch tensors are drawn by the CPU :class:`OSD`.
    """

    kind = "osd"

    def __init__(
        self,
        name: str = "osd",
        *,
        display_text: bool = True,
        display_bbox: bool = True,
        display_mask: bool = True,
        display_segmentation: bool = True,
        border_width: int | None = None,
        text_scale: float | None = None,
        class_colors: Palette | Mapping[int, Sequence[float]] | None = None,
        class_bg_colors: Mapping[int, Sequence[float]] | None = None,
        show_clock: bool = False,
    ) -> None:
        super().__init__(name)
        self.cpu = OSD(
            name,
            display_text=display_text,
            display_bbox=display_bbox,
            display_mask=display_mask,
            display_segmentation=display_segmentation,
            border_width=border_width,
            text_scale=text_scale,
            class_colors=class_colors,
            class_bg_colors=class_bg_colors,
            show_clock=show_clock,
        )
        self.host_fallbacks = 0
        self._rings: dict[tuple[Any, ...], Any] = {}

    def process(self, batch: Batch) -> Batch:
        batch.frames = [self.draw(frame, meta) for frame, meta in batch]
        return batch

    def _needs_host(self, frame: Frame, meta: FrameMeta) -> str:
        cpu = self.cpu
        if not isinstance(frame.data, torch.Tensor):
            return "host frame"
        if frame.format not in (PixelFormat.NV12, PixelFormat.RGB24, PixelFormat.BGR24):
            return f"{frame.format.value} frame"
        if cpu.display_mask and meta.detections.masks is not None and len(meta.detections):
            return "instance masks"
        if cpu.display_segmentation and meta.segmentation:
            return "segmentation maps"
        if meta.analytics:
            return "analytics overlays"
        if cpu.show_clock:
            return "the clock"
        if "tiles" in meta.user and frame.format is PixelFormat.NV12:
            return "an NV12 mosaic"
        return ""

    def draw(self, frame: Frame, meta: FrameMeta) -> Frame:
        """The frame with its metadata drawn on a copy of its pixels, on its device."""
        why = self._needs_host(frame, meta)
        if why:
            drawn = self.cpu.draw(frame, meta)
            if not isinstance(frame.data, torch.Tensor):
                return drawn
            self.host_fallbacks += 1
            if self.host_fallbacks == 1:
                log.warning(
                    "%s: %s drawn on the host (frames copied there and back)", self.name, why
                )
            return drawn.with_pixels(torch.from_numpy(drawn.data).to(frame.data.device))
        data = self._private(frame.data)
        if len(meta.detections):
            for view, objects in tile_views(data, meta):  # the whole frame, or a mosaic's tiles
                canvas = GpuCanvas(view, frame.format, frame.color_matrix, frame.full_range)
                self._draw(canvas, objects)
        return frame.with_pixels(data)

    def _private(self, data: torch.Tensor) -> torch.Tensor:
        from visionflow.mux.gpu_batch import SlotRing

        key = (tuple(data.shape), data.dtype, str(data.device))
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = SlotRing(data.shape, data.dtype, data.device, slots=4)
        out: torch.Tensor = ring.acquire()
        out.copy_(data)
        return out

    def _draw(self, canvas: GpuCanvas, dets: Detections) -> None:
        cpu = self.cpu
        shape = (canvas.height, canvas.width, 3)
        probe = np.empty((1, 1, 3), np.uint8)
        boxes = np.round(np.nan_to_num(dets.xyxy)).astype(np.int64)
        rgba = cpu.palette.rgba(dets.class_id)
        if cpu.class_bg_colors:
            fills = {
                int(c): rgba_from_floats(v, key=f"class {c} bg-color")
                for c, v in cpu.class_bg_colors.items()
            }
            for (x1, y1, x2, y2), class_id in zip(boxes, dets.class_id.tolist(), strict=True):
                if class_id in fills:
                    canvas.paint(x1, y1, x2, y2, fills[class_id])
        sized = np.broadcast_to(probe, shape)
        width = auto_border_width(sized) if cpu.border_width is None else cpu.border_width
        if cpu.display_bbox and width > 0:
            for (x1, y1, x2, y2), color in zip(boxes, rgba, strict=True):
                t = min(width, x2 - x1, y2 - y1)
                if t <= 0:
                    continue
                canvas.paint(x1, y1, x2, y1 + t, color)
                canvas.paint(x1, y2 - t, x2, y2, color)
                canvas.paint(x1, y1 + t, x1 + t, y2 - t, color)
                canvas.paint(x2 - t, y1 + t, x2, y2 - t, color)
        if not cpu.display_text:
            return
        scale = auto_text_scale(sized) if cpu.text_scale is None else cpu.text_scale
        thickness = _thickness(scale)
        texts = display_texts(dets)
        text_colors = contrast_text_colors(rgba[:, :3])
        h, w = canvas.height, canvas.width
        for text, (x1, y1, x2, y2), bg, fg in zip(texts, boxes, rgba, text_colors, strict=True):
            if not text or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                continue
            box_w, box_h = _text_box(text, scale, thickness)[:2]
            top = y1 - box_h if y1 - box_h >= 0 else max(y1, 0)
            x = int(min(max(x1, 0), max(w - box_w, 0)))
            y = int(min(max(top, 0), max(h - box_h, 0)))
            tag = np.zeros((box_h, box_w, 3), np.uint8)
            draw_text(
                tag,
                text,
                (0, 0),
                color=tuple(int(v) for v in fg),
                bg_color=(int(bg[0]), int(bg[1]), int(bg[2])),
                scale=scale,
                thickness=thickness,
            )
            canvas.paste(x, y, torch.from_numpy(tag).to(canvas.data.device))
