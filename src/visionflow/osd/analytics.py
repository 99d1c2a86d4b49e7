"""Drawing analytics results (DeepStream nvdsanalytics' display meta): ROIs, overcrowding zones,
counting lines with their directions, counts and per-object status."""

from __future__ import annotations

import cv2
import numpy as np

from visionflow.core.meta import (
    ANALYTICS_DIRECTION,
    ANALYTICS_LINES,
    ANALYTICS_ROI,
    AnalyticsFrameMeta,
    Detections,
)
from visionflow.osd.draw import FONT, draw_text

ROI_COLOR = (0, 200, 0)
ZONE_COLOR = (255, 160, 0)
CROWDED_COLOR = (255, 0, 0)
LINE_COLOR = (255, 230, 0)
ARROW_COLOR = (0, 190, 255)
_TEXT_BG = (0, 0, 0, 150)


def draw_analytics(
    image: np.ndarray, analytics: AnalyticsFrameMeta, dets: Detections | None = None
) -> np.ndarray:
    """Draw one analytics element's results onto a frame, as its ``osd_mode`` asks.

    Mode 1: ROIs (green), overcrowding zones (orange, red while overcrowded), counting lines
    (yellow) with the counted direction and the named directions as arrows, each with its label.
    Mode 2 adds the counts to the labels (objects per ROI and zone, crossings per line since the
    start) and a status tag under each object that has one (ROIs, lines crossed on this frame,
    direction). Text is ``font_size`` pixels high.

    Args:
        image: (H, W, 3) uint8 RGB, drawn on in place; the shapes are in its pixels.
        analytics: the frame's analytics results.
        dets: the frame's objects, for their status (mode 2).

    Returns:
        ``image``.
    """
    mode = analytics.osd_mode
    if mode == 0:
        return image
    scale = float(cv2.getFontScaleFromHeight(FONT, max(1, analytics.font_size)))
    width = max(1, round(min(image.shape[:2]) / 300))
    for shape in analytics.shapes:
        points = np.round(shape.points).astype(np.int32)
        label = shape.label
        if shape.kind in ("roi", "overcrowding"):
            crowded = analytics.overcrowding.get(label, False)
            if shape.kind == "roi":
                color, count = ROI_COLOR, analytics.objects_in_roi.get(label)
            else:
                color = CROWDED_COLOR if crowded else ZONE_COLOR
                count = analytics.overcrowding_counts.get(label)
            cv2.polylines(image, [points], True, color, width, cv2.LINE_8)
            text = f"{label}: {count}" if mode == 2 and count is not None else label
            if shape.kind == "overcrowding" and mode == 2 and crowded:
                text += " OVERCROWDED"
            _label(image, text, points[0], scale)
        elif shape.kind == "line":
            cv2.line(image, tuple(points[0]), tuple(points[1]), LINE_COLOR, width, cv2.LINE_8)
            count = analytics.line_counts.get(label)
            text = f"{label}: {count}" if mode == 2 and count is not None else label
            _label(image, text, (points[0] + points[1]) // 2, scale)
        elif shape.kind in ("line_direction", "direction"):
            cv2.arrowedLine(
                image, tuple(points[0]), tuple(points[1]), ARROW_COLOR, width, cv2.LINE_AA
            )
            if shape.kind == "direction":
                _label(image, label, points[1], scale)
    if mode == 2 and dets is not None:
        draw_object_status(image, dets, analytics.font_size)
    if analytics.show_object_counts and analytics.object_counts:
        counts = ", ".join(f"class {c}: {n}" for c, n in sorted(analytics.object_counts.items()))
        draw_text(image, counts, (4, 4), bg_color=_TEXT_BG, scale=scale)
    return image


def _label(image: np.ndarray, text: str, at: np.ndarray | tuple[int, int], scale: float) -> None:
    draw_text(image, text, (int(at[0]), int(at[1])), bg_color=_TEXT_BG, scale=scale)


def draw_object_status(image: np.ndarray, dets: Detections, font_size: int) -> np.ndarray:
    """Under each object with an analytics status, a tag ``RF | LC:Exit | DIR:North`` (its
    ROIs, the lines it crossed on this frame, its direction), ``font_size`` pixels high."""
    if ANALYTICS_ROI not in dets.extra:
        return image
    scale = float(cv2.getFontScaleFromHeight(FONT, max(1, font_size)))
    rois = dets.extra.get(ANALYTICS_ROI)
    lines = dets.extra.get(ANALYTICS_LINES)
    directions = dets.extra.get(ANALYTICS_DIRECTION)
    for i, (x1, _, x2, y2) in enumerate(dets.xyxy.tolist()):
        parts = list(rois[i] or ()) if rois is not None else []
        parts += [f"LC:{name}" for name in (lines[i] or ())] if lines is not None else []
        if directions is not None and directions[i]:
            parts.append(f"DIR:{directions[i]}")
        if parts:
            _label(image, " | ".join(parts), (int((x1 + x2) / 2), int(y2) + 2), scale)
    return image
