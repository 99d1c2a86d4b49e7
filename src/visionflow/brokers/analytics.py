"""Analytics results as events: line crossings, ROI entries and exits, overcrowding.

:class:`AnalyticsEvents` runs after the analytics element and turns its results into events
(``visionflow.event/1``, :mod:`visionflow.brokers.events`):

* ``line_crossing``: an object crossed a line on this frame (``data.line``), one event per object
  and line, as the analytics element counted it.
* ``roi_entry`` / ``roi_exit``: a tracked object is inside an ROI now and was not on its last
  frame, or the reverse (``data.roi``). Objects without a tracking id have no history and raise
  no ROI events; a track that vanishes raises no exit.
* ``overcrowding_start`` / ``overcrowding_end``: a zone's overcrowding flag turned on or off
  (``data.zone``, ``data.count``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from visionflow.brokers.events import emit_event
from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.meta import ANALYTICS_LINES, ANALYTICS_ROI, UNTRACKED, FrameMeta

FORGET_FRAMES = 300
"""A track unseen for this many frames of its stream is forgotten (no event)."""


@dataclass
class _StreamState:
    # track → (the ROIs it is in, the frame it was last seen on)
    rois: dict[int, tuple[frozenset[str], int]] = field(default_factory=dict)
    crowded: dict[tuple[int, str], bool] = field(default_factory=dict)  # (component, zone) → flag


class AnalyticsEvents(Element):
    """Adds an event to ``FrameMeta.user["events"]`` for every line crossing, ROI entry or exit
    and overcrowding change found by the analytics elements upstream; passes every batch on."""

    kind = "events"

    def __init__(self, name: str = "events") -> None:
        super().__init__(name)
        self._streams: dict[int, _StreamState] = {}

    def start(self) -> None:
        self._streams = {}

    def process(self, batch: Batch) -> Batch:
        for meta in batch.meta.frames:
            self.detect(meta)
        return batch

    def detect(self, meta: FrameMeta) -> None:
        """Emit the events of one frame (in place)."""
        state = self._streams.setdefault(meta.source_id, _StreamState())
        component = meta.analytics[-1].component_id if meta.analytics else 0
        dets = meta.detections
        lines = dets.extra.get(ANALYTICS_LINES)
        if lines is not None:
            for i, crossed in enumerate(lines.tolist()):
                for line in crossed or ():
                    emit_event(
                        meta,
                        "line_crossing",
                        object_index=i,
                        data={"line": line},
                        component_id=component,
                    )
        rois = dets.extra.get(ANALYTICS_ROI)
        if rois is not None:
            self._roi_events(meta, state, rois.tolist(), component)
        for result in meta.analytics:
            for zone, flag in result.overcrowding.items():
                key = (result.component_id, zone)
                if state.crowded.get(key, False) != flag:
                    emit_event(
                        meta,
                        "overcrowding_start" if flag else "overcrowding_end",
                        data={"zone": zone, "count": result.overcrowding_counts.get(zone, 0)},
                        component_id=result.component_id,
                    )
                state.crowded[key] = flag

    def _roi_events(
        self, meta: FrameMeta, state: _StreamState, rois: list[object], component: int
    ) -> None:
        tracks = meta.detections.tracker_id.tolist()
        for i, (track, inside) in enumerate(zip(tracks, rois, strict=True)):
            if track == UNTRACKED or inside is None:
                continue
            now = frozenset(inside)  # type: ignore[call-overload]
            before, _ = state.rois.get(track, (frozenset(), meta.frame_num))
            for roi in sorted(now - before):
                emit_event(
                    meta, "roi_entry", object_index=i, data={"roi": roi}, component_id=component
                )
            for roi in sorted(before - now):
                emit_event(
                    meta, "roi_exit", object_index=i, data={"roi": roi}, component_id=component
                )
            state.rois[track] = (now, meta.frame_num)
        stale = [t for t, (_, seen) in state.rois.items() if meta.frame_num - seen > FORGET_FRAMES]
        for track in stale:
            del state.rois[track]
