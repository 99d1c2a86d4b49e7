"""Per-track inference history of a secondary element (DeepStream nvinfer's object history map).

nvinfer keeps, per source and per tracking id, the frame an object was last inferred on, the box
it was inferred with, the frame it was last seen and (classifiers) the latest result, and decides
from them whether a tracked object is inferred again (``should_infer_object`` and
``cleanup_history_map`` in DeepStream's ``gst-nvinfer/gstnvinfer.cpp``, DeepStream 6.x–7.x):

* a **classifier** re-infers a tracked object when its box area grew by more than
  :data:`REINFER_AREA_THRESHOLD` (20 %) since the last inference **or**
  ``frame_num − last_inferred_frame_num > secondary-reinfer-interval`` (strictly greater: with
  interval 0 every frame, with N every N+1-th frame); otherwise the cached result is attached;
* a **detector** re-infers a tracked object when the interval was passed the same way or the
  interval is left at its default (INT_MAX): every frame; nothing is cached for detectors;
* a negative interval (nvinfer's file reader accepts one) compares as a huge unsigned number:
  never re-inferred for age;
* untracked objects have no history: inferred every frame (skipped in asynchronous mode);
* the cached result is the latest one, replaced by each new inference (``merge_classification_
  output`` "just uses the latest results"), an empty result included;
* every :data:`MAP_CLEANUP_INTERVAL` (1800) batches, the histories of a source that saw at least
  that many frames since its last cleanup lose every track not accessed for more than
  :data:`CLEANUP_ACCESS_CRITERIA` (150) frames, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from visionflow.core.meta import ClassifierLabel

REINFER_AREA_THRESHOLD = 0.2
"""A classifier re-infers a tracked object whose box area grew by more than this fraction."""
CLEANUP_ACCESS_CRITERIA = 150
"""Histories not accessed for more than this many frames are dropped at a cleanup."""
MAP_CLEANUP_INTERVAL = 1800
"""Batches (and frames of a source) between cleanups of the history map."""


@dataclass
class TrackHistory:
    """What one secondary element remembers of one tracked object."""

    last_inferred_frame: int
    last_accessed_frame: int
    last_area: float
    labels: tuple[ClassifierLabel, ...] = ()
    """The latest classification (empty when it attached nothing)."""


@dataclass
class _SourceInfo:
    histories: dict[int, TrackHistory]
    last_seen_frame: int = 0
    last_cleanup_frame: int = 0


class TrackCache:
    """The history map of one inference element, per source and tracking id.

    Args:
        reinfer_interval: ``secondary-reinfer-interval``.
        classifier: the element is a classifier (else a detector or another network).
        default_interval: the interval's default, with which a detector re-infers every frame.
        cleanup_access: :data:`CLEANUP_ACCESS_CRITERIA`.
        cleanup_interval: :data:`MAP_CLEANUP_INTERVAL`.
    """

    def __init__(
        self,
        reinfer_interval: int,
        *,
        classifier: bool,
        default_interval: int,
        cleanup_access: int = CLEANUP_ACCESS_CRITERIA,
        cleanup_interval: int = MAP_CLEANUP_INTERVAL,
    ) -> None:
        self.reinfer_interval = reinfer_interval
        self.classifier = classifier
        self.default_interval = default_interval
        self.cleanup_access = cleanup_access
        self.cleanup_interval = cleanup_interval
        self._sources: dict[int, _SourceInfo] = {}
        self._batches = 0
        self._last_cleanup_batch = 0

    def __len__(self) -> int:
        return sum(len(s.histories) for s in self._sources.values())

    def saw_frame(self, source: int, frame_num: int) -> None:
        """A frame of ``source`` is being processed (nvinfer's ``last_seen_frame_num``)."""
        info = self._sources.setdefault(source, _SourceInfo({}))
        info.last_seen_frame = frame_num

    def get(self, source: int, track: int) -> TrackHistory | None:
        info = self._sources.get(source)
        return None if info is None else info.histories.get(track)

    def needs_inference(self, history: TrackHistory, frame_num: int, area: float) -> bool:
        """Whether an eligible tracked object with this history is inferred again."""
        # nvinfer compares unsigned frame numbers with the int interval, so a negative interval
        # (which its config file reader lets through) becomes huge: never re-infer for age
        late = 0 <= self.reinfer_interval < frame_num - history.last_inferred_frame
        if self.classifier:
            grown = history.last_area * (1 + REINFER_AREA_THRESHOLD) < area
            return grown or late
        return late or self.reinfer_interval == self.default_interval

    def inferred(self, source: int, track: int, frame_num: int, area: float) -> TrackHistory:
        """Record that the object is inferred on this frame; returns its (new) history."""
        info = self._sources.setdefault(source, _SourceInfo({}))
        history = info.histories.get(track)
        if history is None:
            history = info.histories[track] = TrackHistory(frame_num, frame_num, area)
        history.last_inferred_frame = history.last_accessed_frame = frame_num
        history.last_area = area
        return history

    def end_batch(self) -> None:
        """Called once per batch: trims the map every ``cleanup_interval`` batches."""
        self._batches += 1
        if self._batches - self._last_cleanup_batch <= self.cleanup_interval:
            return
        self._last_cleanup_batch = self._batches
        for info in self._sources.values():
            if info.last_seen_frame - info.last_cleanup_frame < self.cleanup_interval:
                continue
            info.last_cleanup_frame = info.last_seen_frame
            info.histories = {
                track: h
                for track, h in info.histories.items()
                if info.last_seen_frame - h.last_accessed_frame <= self.cleanup_access
            }

    def clear(self) -> None:
        self._sources.clear()
        self._batches = self._last_cleanup_batch = 0
