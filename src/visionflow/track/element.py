"""The tracker element (DeepStream ``nvtracker``): stable ids for the objects of every stream."""

from __future__ import annotations

import logging
import os

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.track.algorithm import (
    ALGORITHMS,
    PAST_FRAME,
    SHADOW_TRACKS,
    TERMINATED_TRACKS,
    IdCounter,
    TrackerAlgorithm,
)
from visionflow.track.config import TrackerConfig, preset

log = logging.getLogger(__name__)


class Tracker(Element):
    """Assigns ``tracker_id`` to the objects of each frame, with one set of targets per stream.

    Each frame's objects are replaced by the ones its stream's tracker reports (see
    :mod:`visionflow.track.algorithm`): matched detections with the target's box, its id and
    the extra columns ``tracker_confidence`` (float32) and ``track_age`` (int32); detections the
    tracker does not report (below ``min_detector_confidence``, in probation, duplicates of a
    target) are removed, as ``nvtracker`` does. Ids are int64, counted from 0 by one counter for
    all streams of the element and never given to another target within a run (``nvdcf``'s
    gallery gives a terminated target's id back to the same object only).

    A frame counts as detected when an inference element ran on it (``FrameMeta.inferred``) or
    it holds objects; on other frames (a detector ``interval``) targets are carried on their
    estimated boxes. Algorithms that declare ``needs_pixels`` (``nvdcf``) get the frame's RGB
    pixels on detected frames (:meth:`~visionflow.core.frame.Frame.to_numpy`: a device frame is
    copied to the host).

    Args:
        config: a :class:`TrackerConfig` (default: NVIDIA's NvSORT sample settings,
            ``preset("nvsort")``), or the path of a DeepStream low-level tracker YAML file
            (NvMultiObjectTracker's ``ll-config-file``; read with
            :func:`visionflow.compat.deepstream.tracker.tracker_config`).
        name: the element's name in the pipeline.
    """

    kind = "tracker"

    def __init__(
        self, config: TrackerConfig | str | os.PathLike[str] | None = None, name: str = "tracker"
    ) -> None:
        super().__init__(name)
        if config is None:
            config = preset("nvsort")
        elif not isinstance(config, TrackerConfig):
            from visionflow.compat.deepstream.tracker import tracker_config

            config = tracker_config(config)
        self.config = config
        self.algorithm = ALGORITHMS.get(config.algorithm)
        self.ids = IdCounter()
        self.streams: dict[int, TrackerAlgorithm] = {}

    def start(self) -> None:
        self.ids = IdCounter()
        self.streams = {}

    def process(self, batch: Batch) -> Batch:
        for frame, meta in batch:
            stream = self.streams.get(meta.source_id)
            if stream is None:
                stream = self.streams[meta.source_id] = self.algorithm(self.config, self.ids)
            detected = bool(meta.inferred) or len(meta.detections) > 0
            image = frame.to_numpy() if detected and self.algorithm.needs_pixels else None
            meta.detections = stream.update(meta.detections, detected, image, meta.frame_num)
            if self.config.output_shadow_tracks:
                meta.user[SHADOW_TRACKS] = stream.shadow_tracks()
            if stream.past_frame:
                meta.user[PAST_FRAME] = stream.past_frame
            if stream.terminated:
                meta.user[TERMINATED_TRACKS] = stream.terminated
        return batch

    def end_stream(self, source_id: int) -> None:
        """A stream ended or left the pipeline (its last batch has passed): forget its targets,
        as nvtracker removes a stream at its stream end of stream."""
        self.streams.pop(source_id, None)

    def __repr__(self) -> str:
        return f"<Tracker {self.name!r} {self.config.algorithm} streams={len(self.streams)}>"
