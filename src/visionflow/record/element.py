"""The smart-record element: turns events into recordings and lists the files in the metadata.

Events that start a recording of a frame's source, at that frame's stream time:

* a request put on the frame by a probe or by the application (:func:`request_recording`);
* the analytics results of the frame (``on:`` in the source's ``smart_record``): a line crossed
  (``line_crossing``), an object entering a ROI (``roi_entry``: a tracked object in a ROI it was
  not in on the previous frame, or more objects in the ROI when there are no tracker ids), a
  zone becoming overcrowded (``overcrowding``);
* the clock (``interval``): every N seconds of stream time a recording starts, or the running
  one stops — deepstream-app's ``smart-record=2`` event generator.

A frame whose source started or finished a recording carries it under
``FrameMeta.user["smart_record"]`` (``{"started": [...], "finished": [...]}``, each a
:meth:`Recording.to_json` record), so JSON Lines sinks after this element list every file. The
element's :attr:`SmartRecord.recordings` lists them all after the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.meta import ANALYTICS_ROI, FrameMeta
from visionflow.record.recorder import Recording, SmartRecorder

#: ``FrameMeta.user`` key of recording requests (see :func:`request_recording`).
REQUEST_KEY = "smart_record.request"
#: ``FrameMeta.user`` key of the recordings a frame started or finished.
EVENTS_KEY = "smart_record"


def request_recording(
    meta: FrameMeta,
    *,
    start_time: float | None = None,
    duration: float | None = None,
    reason: str = "probe",
) -> None:
    """Ask for a recording of ``meta``'s source around this frame (from a probe placed before
    the smart-record element). ``None`` takes the source's ``smart_record`` settings."""
    request = {"start_time": start_time, "duration": duration, "reason": reason}
    meta.user.setdefault(REQUEST_KEY, []).append(request)


class _Watch:
    """What a source's previous frame showed, to see events begin."""

    def __init__(self) -> None:
        self.next_tick: float | None = None
        self.in_roi: set[tuple[int, str]] = set()
        self.roi_counts: dict[str, int] = {}
        self.crowded: set[str] = set()


class SmartRecord(Element):
    """Starts and stops the recordings of sources that have a :class:`SmartRecorder`."""

    kind = "smart_record"

    def __init__(self, recorders: Mapping[int, SmartRecorder], name: str | None = None) -> None:
        super().__init__(name)
        self.recorders = dict(recorders)
        self._watch = {source: _Watch() for source in self.recorders}

    @property
    def recordings(self) -> list[Recording]:
        """Every recording started so far, over all sources."""
        return [r for rec in self.recorders.values() for r in rec.recordings]

    def process(self, batch: Batch) -> Batch:
        for _, meta in batch:
            recorder = self.recorders.get(meta.source_id)
            if recorder is None:
                meta.user.pop(REQUEST_KEY, None)
                continue
            self._events(recorder, self._watch[meta.source_id], meta)
            started, finished = recorder.take_events()
            if started or finished:
                meta.user[EVENTS_KEY] = {
                    "started": [r.to_json() for r in started],
                    "finished": [r.to_json() for r in finished],
                }
        return batch

    def flush(self) -> Iterable[Batch]:
        for recorder in self.recorders.values():
            recorder.stop()
        return ()

    def stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.close()

    def _events(self, recorder: SmartRecorder, watch: _Watch, meta: FrameMeta) -> None:
        at = meta.time
        for request in meta.user.pop(REQUEST_KEY, []):
            recorder.start(at, **request)
        if at is None:
            return
        interval = recorder.config.interval
        if interval > 0:
            if watch.next_tick is None:
                watch.next_tick = at + interval
            while at >= watch.next_tick:
                if recorder.recording:
                    recorder.stop(watch.next_tick)
                else:
                    recorder.start(watch.next_tick, reason="interval")
                watch.next_tick += interval
        reason = _analytics_event(meta, watch, set(recorder.config.on))
        if reason is not None:
            recorder.start(at, reason=reason)


def _analytics_event(meta: FrameMeta, watch: _Watch, wanted: set[str]) -> str | None:
    """The first wanted analytics event that begins on this frame (the watch is updated for
    every kind, wanted or not)."""
    events: list[str] = []
    if any(n > 0 for a in meta.analytics for n in a.line_crossings.values()):
        events.append("line_crossing")
    crowded = {
        f"{a.component_id}/{zone}"
        for a in meta.analytics
        for zone, on in a.overcrowding.items()
        if on
    }
    if crowded - watch.crowded:
        events.append("overcrowding")
    watch.crowded = crowded
    if _roi_entry(meta, watch):
        events.append("roi_entry")
    return next((e for e in events if e in wanted), None)


def _roi_entry(meta: FrameMeta, watch: _Watch) -> bool:
    dets = meta.detections
    column: Any = dets.extra.get(ANALYTICS_ROI)
    counts = {
        f"{a.component_id}/{roi}": n for a in meta.analytics for roi, n in a.objects_in_roi.items()
    }
    entered = any(n > watch.roi_counts.get(key, 0) for key, n in counts.items())
    watch.roi_counts = counts
    if column is None or len(dets) == 0:
        watch.in_roi = set()
        return entered
    ids = dets.tracker_id
    if bool((ids < 0).all()):
        return entered  # untracked: a rising count is an entry
    inside = {
        (int(track), str(roi))
        for track, rois in zip(ids, column, strict=True)
        if track >= 0 and rois
        for roi in rois
    }
    new = bool(inside - watch.in_roi)
    watch.in_roi = inside
    return new
