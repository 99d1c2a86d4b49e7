"""The analytics element (DeepStream ``nvdsanalytics``): ROI filtering, overcrowding, line
crossing and direction detection on the objects of every stream."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from visionflow.analytics.config import AnalyticsConfig, StreamRules
from visionflow.analytics.geometry import anchors, in_polygon
from visionflow.analytics.state import StreamState, Track
from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.meta import (
    ANALYTICS_DIRECTION,
    ANALYTICS_LINES,
    ANALYTICS_OVERCROWDING,
    ANALYTICS_ROI,
    UNTRACKED,
    AnalyticsFrameMeta,
    AnalyticsShape,
    FrameMeta,
)
from visionflow.track.algorithm import PAST_FRAME

FALLBACK_FPS = 30.0
"""Frames per second assumed for stream time when a frame has no pts."""


class Analytics(Element):
    """Annotates each frame's objects with the rules of its stream (``source_id``).

    Every rule tests an object's anchor, the bottom centre of its box, mapped into the rules'
    ``config_width`` × ``config_height`` space. Per object (extra columns of the detections,
    object dtype): :data:`~visionflow.core.meta.ANALYTICS_ROI` (ROI labels),
    :data:`~visionflow.core.meta.ANALYTICS_OVERCROWDING` (zones),
    :data:`~visionflow.core.meta.ANALYTICS_LINES` (lines crossed on this frame) and
    :data:`~visionflow.core.meta.ANALYTICS_DIRECTION` (a direction label or None). Per frame, an
    :class:`~visionflow.core.meta.AnalyticsFrameMeta` appended to ``FrameMeta.analytics``:
    objects per ROI, overcrowding flags, crossings on the frame and since the start (per line and
    per line and class), objects per class, and the shapes the OSD draws. No object is removed.

    Line crossing and direction need ``tracker_id`` (a tracker upstream): objects with
    :data:`~visionflow.core.meta.UNTRACKED` ids get ROI membership and counts only. Stream time
    (the frames' pts; ``frame_num`` at 30 frames per second when a frame has none) drives
    overcrowding's ``time_threshold_ms`` and forgets tracks unseen for 8 s.

    Args:
        config: an :class:`AnalyticsConfig`, or the path of a DeepStream nvdsanalytics file
            (read with :func:`visionflow.compat.deepstream.analytics.analytics_config`).
        name: the element's name in the pipeline.
        unique_id: overrides the config's ``unique_id`` when given.
    """

    kind = "analytics"

    def __init__(
        self,
        config: AnalyticsConfig | str | os.PathLike[str],
        name: str = "analytics",
        *,
        unique_id: int | None = None,
    ) -> None:
        super().__init__(name)
        if not isinstance(config, AnalyticsConfig):
            from visionflow.compat.deepstream.analytics import analytics_config

            config = analytics_config(config)
        if unique_id is not None:
            config = config.model_copy(update={"unique_id": unique_id})
        self.config = config
        self.streams: dict[int, StreamState] = {}

    def start(self) -> None:
        self.streams = {}

    def process(self, batch: Batch) -> Batch:
        if self.config.enable:
            for meta in batch.meta.frames:
                self.analyse(meta)
        return batch

    def analyse(self, meta: FrameMeta) -> None:
        """Annotate one frame's metadata in place (new detections, one more analytics entry)."""
        rules = self.config.rules(meta.source_id)
        state = self.streams.setdefault(meta.source_id, StreamState())
        now_ms = _stream_ms(meta)
        dets = meta.detections
        n = len(dets)
        sx, sy = self.config.scale(meta.width, meta.height)
        points = anchors(dets.xyxy) * np.array([sx, sy])
        classes = dets.class_id.tolist()
        roi_of: list[list[str]] = [[] for _ in range(n)]
        zones_of: list[list[str]] = [[] for _ in range(n)]
        lines_of: list[list[str]] = [[] for _ in range(n)]
        direction_of: list[str | None] = [None] * n

        objects_in_roi: dict[str, int] = {}
        for roi in rules.rois:
            applies = np.array([roi.applies_to(c) for c in classes], dtype=bool)
            hit = (in_polygon(points, roi.polygon) != roi.inverse) & applies
            objects_in_roi[roi.label] = int(hit.sum())
            for k in np.flatnonzero(hit).tolist():
                roi_of[k].append(roi.label)

        overcrowding: dict[str, bool] = {}
        zone_counts: dict[str, int] = {}
        for zone in rules.overcrowding:
            applies = np.array([zone.applies_to(c) for c in classes], dtype=bool)
            hit = in_polygon(points, zone.polygon) & applies
            count = int(hit.sum())
            zone_counts[zone.label] = count
            if count >= zone.object_threshold:
                since = state.crowded_since_ms.setdefault(zone.label, now_ms)
                if since > now_ms:  # the stream time went back (a looping file)
                    since = state.crowded_since_ms[zone.label] = now_ms
                overcrowding[zone.label] = now_ms - since >= zone.time_threshold_ms
            else:
                state.crowded_since_ms.pop(zone.label, None)
                overcrowding[zone.label] = False
            for k in np.flatnonzero(hit).tolist():
                zones_of[k].append(zone.label)

        crossings = {line.label: 0 for line in rules.lines}
        anchor_list = points.tolist()

        def cross(track: Track, class_id: int, i: int | None) -> None:
            for line in rules.lines:
                if line.applies_to(class_id) and track.cross(line):
                    if i is not None:
                        lines_of[i].append(line.label)
                    crossings[line.label] += 1
                    state.line_counts[line.label] = state.line_counts.get(line.label, 0) + 1
                    per_class = state.line_class_counts.setdefault(line.label, {})
                    per_class[class_id] = per_class.get(class_id, 0) + 1

        if self.config.use_past_frame and rules.lines:
            row_of = {int(t): i for i, t in enumerate(dets.tracker_id.tolist()) if t != UNTRACKED}
            for target in meta.user.get(PAST_FRAME, ()):
                tracker_id, class_id = int(target["tracker_id"]), int(target["class_id"])
                for record in target["frames"]:
                    b = record["bbox"]
                    anchor = (sx * (b["left"] + b["width"] / 2), sy * (b["top"] + b["height"]))
                    cross(state.track(tracker_id, anchor, now_ms), class_id, row_of.get(tracker_id))
        for i in np.flatnonzero(dets.tracker_id != UNTRACKED).tolist():
            x, y = anchor_list[i]
            track = state.track(int(dets.tracker_id[i]), (x, y), now_ms)
            cross(track, classes[i], i)
            directions = [
                (d.label, d.vector, d.mode) for d in rules.directions if d.applies_to(classes[i])
            ]
            if directions:
                direction_of[i] = track.direction(directions)
        state.forget(now_ms)

        labels, counts = np.unique(dets.class_id, return_counts=True)
        meta.detections = dets.replace(
            extra={
                **dets.extra,
                ANALYTICS_ROI: _objects([tuple(r) for r in roi_of]),
                ANALYTICS_OVERCROWDING: _objects([tuple(z) for z in zones_of]),
                ANALYTICS_LINES: _objects([tuple(x) for x in lines_of]),
                ANALYTICS_DIRECTION: _objects(direction_of),
            }
        )
        meta.analytics.append(
            AnalyticsFrameMeta(
                component_id=self.config.unique_id,
                objects_in_roi=objects_in_roi,
                overcrowding=overcrowding,
                overcrowding_counts=zone_counts,
                line_crossings=crossings,
                line_counts={
                    line.label: state.line_counts.get(line.label, 0) for line in rules.lines
                },
                line_class_counts={
                    line.label: dict(sorted(state.line_class_counts.get(line.label, {}).items()))
                    for line in rules.lines
                },
                object_counts=dict(zip(labels.tolist(), counts.tolist(), strict=True)),
                shapes=_shapes(rules, 1 / sx, 1 / sy) if self.config.osd_mode else (),
                osd_mode=self.config.osd_mode,
                font_size=self.config.display_font_size,
                show_object_counts=self.config.display_obj_cnt,
            )
        )

    def __repr__(self) -> str:
        return f"<Analytics {self.name!r} streams={len(self.config.streams)}>"


def _stream_ms(meta: FrameMeta) -> float:
    time = meta.time
    return 1000.0 * (time if time is not None else meta.frame_num / FALLBACK_FPS)


def _objects(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return column


def _shapes(rules: StreamRules, fx: float, fy: float) -> tuple[AnalyticsShape, ...]:
    """The rules' geometry in frame pixels (``fx``, ``fy``: config → frame factors)."""

    def pts(values: Any) -> np.ndarray:
        return (np.asarray(values, np.float32).reshape(-1, 2) * [fx, fy]).astype(np.float32)

    shapes = [AnalyticsShape("roi", r.label, pts(r.polygon)) for r in rules.rois]
    shapes += [AnalyticsShape("overcrowding", z.label, pts(z.polygon)) for z in rules.overcrowding]
    for line in rules.lines:
        shapes.append(AnalyticsShape("line", line.label, pts(line.line)))
        shapes.append(AnalyticsShape("line_direction", line.label, pts(line.direction)))
    shapes += [AnalyticsShape("direction", d.label, pts(d.vector)) for d in rules.directions]
    return tuple(shapes)
