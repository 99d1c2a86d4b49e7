"""Multi-object tracking (DeepStream ``nvtracker``): the element, its algorithms and config.

::

    from visionflow.track import Tracker, preset

    tracker = Tracker(preset("nvsort", probation_age=3))
    tracker = Tracker("config_tracker_IOU.yml")  # a DeepStream low-level tracker file
"""

from visionflow.track.algorithm import (
    ALGORITHMS,
    PAST_FRAME,
    REID_EMBEDDING,
    SHADOW_TRACKS,
    TERMINATED_TRACKS,
    TRACK_AGE,
    TRACKER_CONFIDENCE,
    IdCounter,
    IOUTracker,
    NvSORTTracker,
    TrackerAlgorithm,
)
from visionflow.track.config import TrackerConfig, preset
from visionflow.track.element import Tracker
from visionflow.track.nvdcf import NvDCFTracker

__all__ = [
    "ALGORITHMS",
    "PAST_FRAME",
    "REID_EMBEDDING",
    "SHADOW_TRACKS",
    "TERMINATED_TRACKS",
    "TRACKER_CONFIDENCE",
    "TRACK_AGE",
    "IOUTracker",
    "IdCounter",
    "NvDCFTracker",
    "NvSORTTracker",
    "Tracker",
    "TrackerAlgorithm",
    "TrackerConfig",
    "preset",
]
