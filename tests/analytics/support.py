"""Builders for analytics tests: frames of objects whose anchors (bottom centres) are given."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from visionflow.analytics import Analytics
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import BatchMeta, Detections, FrameMeta


def box(x: float, y: float, w: float = 20, h: float = 40) -> list[float]:
    """The ``xyxy`` box whose bottom centre is ``(x, y)``."""
    return [x - w / 2, y - h, x + w / 2, y]


def frame(
    t: int,
    anchors: Sequence[tuple[float, float]],
    ids: Sequence[int] | None = None,
    classes: Sequence[int] | None = None,
    *,
    width: int = 640,
    height: int = 360,
    source_id: int = 0,
    fps: int = 30,
) -> FrameMeta:
    """Frame ``t`` (pts ``t`` at ``1/fps``) holding one object per anchor."""
    boxes = np.array([box(x, y) for x, y in anchors], np.float32).reshape(-1, 4)
    dets = Detections(boxes, class_id=classes, tracker_id=ids)
    return FrameMeta(
        source_id=source_id,
        frame_num=t,
        width=width,
        height=height,
        source_width=width,
        source_height=height,
        pts=t,
        time_base=Fraction(1, fps),
        detections=dets,
    )


def run_tracks(
    analytics: Analytics,
    paths: Sequence[Sequence[tuple[float, float]]],
    classes: Sequence[int] | None = None,
    ids: Sequence[int] | None = None,
) -> list[FrameMeta]:
    """Analyse frames where object ``k`` follows ``paths[k]`` (one anchor per frame; all paths
    of one length) with tracker id ``ids[k]`` (default ``k``)."""
    ids = list(range(len(paths))) if ids is None else list(ids)
    frames = []
    for t in range(len(paths[0])):
        meta = frame(t, [p[t] for p in paths], ids, classes)
        analytics.analyse(meta)
        frames.append(meta)
    return frames


def line(x0: float, y0: float, vx: float, vy: float, n: int) -> list[tuple[float, float]]:
    """``n`` anchors from ``(x0, y0)`` moving ``(vx, vy)`` per frame."""
    return [(x0 + vx * t, y0 + vy * t) for t in range(n)]


def batch_of(meta: FrameMeta, pixels: np.ndarray | None = None) -> Batch:
    """A one-frame batch: ``meta`` with a black RGB picture of its size (or ``pixels``)."""
    if pixels is None:
        pixels = np.zeros((meta.height, meta.width, 3), np.uint8)
    picture = Frame(
        pixels,
        PixelFormat.RGB24,
        source_id=meta.source_id,
        frame_num=meta.frame_num,
        pts=meta.pts,
        time_base=meta.time_base,
    )
    return Batch([picture], BatchMeta(frames=[meta]))
