"""On-screen display: drawing boxes, tags, masks, segmentation maps and text onto frames."""

from __future__ import annotations

from visionflow.osd.draw import (
    HasLetterbox,
    display_texts,
    draw_detections,
    draw_segmentation,
    draw_text,
    segmentation_letterbox,
)
from visionflow.osd.element import OSD
from visionflow.osd.palette import DEFAULT_COLORS, Palette, rgba_from_floats

__all__ = [
    "DEFAULT_COLORS",
    "OSD",
    "HasLetterbox",
    "Palette",
    "display_texts",
    "draw_detections",
    "draw_segmentation",
    "draw_text",
    "rgba_from_floats",
    "segmentation_letterbox",
]
