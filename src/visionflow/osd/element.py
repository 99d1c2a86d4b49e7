"""The on-screen display element: draws each frame's metadata onto its pixels (``nvdsosd``)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections, FrameMeta
from visionflow.osd.analytics import draw_analytics, draw_object_status
from visionflow.osd.draw import draw_detections, draw_segmentation, draw_text
from visionflow.osd.palette import Palette

_CLOCK_BG = (0, 0, 0, 140)


class OSD(Element):
    """Draws detections (boxes, tags, instance masks) and segmentation maps onto every frame.

    Output frames are host ``RGB24`` arrays; the metadata is passed on unchanged. A frame is
    drawn on a private copy of its pixels, never on a buffer another element may still hold. On
    a tiler's mosaic each stream's objects are drawn inside that stream's tile only: a tag that
    would cross into the next tile is moved inside its own, as at the edge of a frame. The
    DeepStream ``[osd]`` keys map onto the arguments: ``display-text``, ``display-bbox``,
    ``display-mask``, ``border-width``, ``text-size`` (→ ``text_scale``: OpenCV's font scale,
    ``cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, text_size)``), ``show-clock``; the
    ``[class-attrs-N]`` ``border-color`` and ``bg-color`` keys map onto ``class_colors`` and
    ``class_bg_colors``. Analytics results (``FrameMeta.analytics``) are drawn as their
    ``osd_mode`` asks (:func:`~visionflow.osd.analytics.draw_analytics`).

    Args:
        display_text: draw a tag per object (label, confidence, ``#id``, classifier labels).
        display_bbox: draw box borders.
        display_mask: paint instance masks.
        display_segmentation: blend semantic segmentation maps (an object's map over its box).
        border_width: border thickness in pixels; None picks one from the frame size.
        text_scale: OpenCV font scale; None picks one from the frame size.
        class_colors: per-class ``(r, g, b[, a])`` floats in [0, 1] overriding the default
            palette, or a :class:`~visionflow.osd.palette.Palette`.
        class_bg_colors: per-class ``(r, g, b[, a])`` floats filling the boxes of that class.
        show_clock: draw the local wall-clock time in the top-left corner.
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
        if border_width is not None and border_width < 0:
            raise ValueError(f"border_width must be ≥ 0, got {border_width}")
        if text_scale is not None and text_scale <= 0:
            raise ValueError(f"text_scale must be > 0, got {text_scale}")
        self.display_text = display_text
        self.display_bbox = display_bbox
        self.display_mask = display_mask
        self.display_segmentation = display_segmentation
        self.border_width = border_width
        self.text_scale = text_scale
        self.palette = class_colors if isinstance(class_colors, Palette) else Palette(class_colors)
        self.class_bg_colors = dict(class_bg_colors or {})
        self.show_clock = show_clock

    def process(self, batch: Batch) -> Batch:
        batch.frames = [self.draw(frame, meta) for frame, meta in batch]
        return batch

    def draw(self, frame: Frame, meta: FrameMeta) -> Frame:
        """The frame with its metadata drawn on a copy of its pixels (RGB24, on the host)."""
        segmentation = meta.segmentation if self.display_segmentation else []
        if (
            not len(meta.detections)
            and not segmentation
            and not self.show_clock
            and not meta.analytics
        ):
            return frame.with_pixels(frame.to_numpy(), PixelFormat.RGB24)
        image = _private_rgb(frame)
        dets = meta.detections
        for segmap in segmentation:
            index = segmap.object_index
            box = dets.xyxy[index] if 0 <= index < len(dets) else None
            draw_segmentation(image, segmap, colors=self.palette, box=box)
        for view, objects in tile_views(image, meta):
            draw_detections(
                view,
                objects,
                labels=self.display_text,
                border_width=self.border_width if self.display_bbox else 0,
                text_scale=self.text_scale,
                colors=self.palette,
                bg_colors=self.class_bg_colors,
                masks=self.display_mask,
            )
        for analytics in meta.analytics:  # on a mosaic, one per stream, mapped onto it
            draw_analytics(image, analytics)
        if any(a.osd_mode == 2 for a in meta.analytics):
            draw_object_status(image, dets, meta.analytics[0].font_size)
        if self.show_clock:
            margin = max(4, image.shape[0] // 90)
            clock = time.strftime("%Y-%m-%d %H:%M:%S")
            draw_text(image, clock, (margin, margin), bg_color=_CLOCK_BG, scale=self.text_scale)
        return frame.with_pixels(image, PixelFormat.RGB24)


def tile_views(image: Any, meta: FrameMeta) -> Iterator[tuple[Any, Detections]]:
    """Where to draw which objects: the whole image, or on a tiler's mosaic each stream's tile.

    ``image`` is an (H, W[, C]) array — NumPy, or a torch tensor for the GPU OSD — and each view
    is a slice of it, so drawing on a view draws on the image.

    A mosaic's metadata places each stream's picture (``user["tiles"]``) and names each object's
    stream (the ``source_id`` column): its objects are drawn on a view of that picture alone, in
    the picture's coordinates, so no border, mask or label tag reaches a neighbouring tile (a tag
    that would leave its tile is moved inside, as at the edge of a frame).
    """
    dets = meta.detections
    tiles = meta.user.get("tiles")
    if not isinstance(tiles, Mapping) or "source_id" not in dets.extra:
        yield image, dets
        return
    height, width = image.shape[:2]
    sources = dets.extra["source_id"]
    for source_id, placement in tiles.items():
        objects = dets[sources == source_id]
        if placement is None or not len(objects):
            continue
        tile_w, tile_h = placement.scaled_size
        x0 = min(max(int(placement.pad_left), 0), width)
        y0 = min(max(int(placement.pad_top), 0), height)
        x1, y1 = min(x0 + tile_w, width), min(y0 + tile_h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        shift = np.array([x0, y0, x0, y0], np.float32)
        yield image[y0:y1, x0:x1], objects.replace(xyxy=objects.xyxy - shift)


def _private_rgb(frame: Frame) -> np.ndarray:
    """The frame's pixels as a contiguous, writable RGB24 array that no one else holds."""
    pixels = frame.to_numpy(PixelFormat.RGB24)
    shared = frame.format is PixelFormat.RGB24 and frame.device == "cpu"
    if shared or not pixels.flags.writeable or not pixels.flags.c_contiguous:
        pixels = np.array(pixels, order="C")
    return pixels
