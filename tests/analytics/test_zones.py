"""ROI filtering (anchor, inverse, classes, config-width scaling), overcrowding with its time
threshold, direction detection."""

from __future__ import annotations

import numpy as np
from tests.analytics.support import frame, line, run_tracks

from visionflow.analytics import (
    Analytics,
    AnalyticsConfig,
    DirectionRule,
    OvercrowdingRule,
    RoiRule,
    StreamRules,
)
from visionflow.core.meta import (
    ANALYTICS_DIRECTION,
    ANALYTICS_OVERCROWDING,
    ANALYTICS_ROI,
    UNTRACKED,
    Detections,
)

# In a 1920 x 1080 config space: frame pixels x 3 on a 640 x 360 frame.
ROI_CFG = [(300, 300), (900, 300), (900, 900), (300, 900)]  # frame 100..300


def test_roi_membership_uses_the_bottom_centre_scaled_to_the_config_space() -> None:
    config = AnalyticsConfig(
        config_width=1920,
        config_height=1080,
        streams={0: StreamRules(rois=[RoiRule(label="RF", polygon=ROI_CFG)])},
    )
    meta = frame(0, [])
    meta.detections = Detections(
        np.array(
            [
                [140, 100, 160, 150],  # anchor (150, 150) → (450, 450): inside
                [40, 100, 60, 150],  # anchor (50, 150): left of the ROI
                [140, 250, 160, 320],  # centre inside, anchor (150, 320) → y 960: outside
                [280, 250, 320, 300],  # anchor (300, 300) → the ROI's corner: inside
            ],
            np.float32,
        )
    )
    Analytics(config).analyse(meta)
    assert meta.detections.extra[ANALYTICS_ROI].tolist() == [("RF",), (), (), ("RF",)]
    assert meta.analytics[0].objects_in_roi == {"RF": 2}
    assert len(meta.detections) == 4  # ROI filtering annotates, never removes


def test_without_a_config_size_the_rules_are_in_frame_pixels() -> None:
    config = AnalyticsConfig(streams={0: StreamRules(rois=[RoiRule(label="A", polygon=ROI_CFG)])})
    meta = frame(0, [(450, 450), (150, 150)], width=1920, height=1080)
    Analytics(config).analyse(meta)
    assert meta.analytics[0].objects_in_roi == {"A": 1}
    assert meta.detections.extra[ANALYTICS_ROI].tolist() == [("A",), ()]


def test_inverse_roi_and_class_filter() -> None:
    rules = StreamRules(
        rois=[
            RoiRule(label="Out", polygon=ROI_CFG, inverse=True),
            RoiRule(label="Class1", polygon=ROI_CFG, class_ids=[1]),
        ]
    )
    meta = frame(0, [(450, 450), (50, 50), (500, 500)], classes=[0, 0, 1], width=1920, height=1080)
    Analytics(AnalyticsConfig(streams={0: rules})).analyse(meta)
    assert meta.detections.extra[ANALYTICS_ROI].tolist() == [(), ("Out",), ("Class1",)]
    assert meta.analytics[0].objects_in_roi == {"Out": 1, "Class1": 1}
    assert meta.analytics[0].object_counts == {0: 2, 1: 1}


def test_streams_without_rules_get_empty_results() -> None:
    config = AnalyticsConfig(streams={1: StreamRules(rois=[RoiRule(label="A", polygon=ROI_CFG)])})
    meta = frame(0, [(450, 450)], source_id=0)
    Analytics(config).analyse(meta)
    assert meta.analytics[0].objects_in_roi == {}
    assert meta.detections.extra[ANALYTICS_ROI].tolist() == [()]


def test_overcrowding_needs_the_count_for_time_threshold_ms_of_stream_time() -> None:
    zone = OvercrowdingRule(
        label="OC", polygon=[(0, 0), (320, 0), (320, 360), (0, 360)], object_threshold=2,
        time_threshold_ms=500,
    )  # fmt: skip
    element = Analytics(AnalyticsConfig(streams={0: StreamRules(overcrowding=[zone])}))
    inside, outside = (100.0, 100.0), (500.0, 100.0)
    layout = (
        [[inside] * 3] * 20 + [[inside, inside, outside]] * 5 + [[inside, outside, outside]] * 5
    )
    layout += [[inside] * 3] * 20
    flags, counts = [], []
    for t, anchors in enumerate(layout):  # 30 frames per second
        meta = frame(t, anchors)
        element.analyse(meta)
        flags.append(meta.analytics[0].overcrowding["OC"])
        counts.append(meta.analytics[0].overcrowding_counts["OC"])
    assert counts[:30] == [3] * 20 + [2] * 5 + [1] * 5
    # 500 ms after frame 0 is frame 15; below the threshold at 25 resets the timer: 30 + 15.
    assert flags == [False] * 15 + [True] * 10 + [False] * 20 + [True] * 5
    assert meta.detections.extra[ANALYTICS_OVERCROWDING].tolist() == [("OC",)] * 3


def test_overcrowding_without_time_threshold_is_immediate_and_class_filtered() -> None:
    zone = OvercrowdingRule(
        label="OC", polygon=[(0, 0), (320, 0), (320, 360), (0, 360)], object_threshold=2,
        class_ids=[1],
    )  # fmt: skip
    element = Analytics(AnalyticsConfig(streams={0: StreamRules(overcrowding=[zone])}))
    meta = frame(0, [(10, 10), (20, 20), (30, 30)], classes=[0, 0, 1])
    element.analyse(meta)
    assert meta.analytics[0].overcrowding == {"OC": False}
    meta = frame(1, [(10, 10), (20, 20), (30, 30)], classes=[1, 0, 1])
    element.analyse(meta)
    assert meta.analytics[0].overcrowding == {"OC": True}


NORTH = DirectionRule(label="North", vector=(0, 10, 0, 0))
EAST = DirectionRule(label="East", vector=(0, 0, 10, 0))


def test_direction_detection() -> None:
    element = Analytics(AnalyticsConfig(streams={0: StreamRules(directions=[NORTH, EAST])}))
    paths = [
        line(100, 300, 0, -8, 20),  # north, 8 px per frame
        line(100, 200, 8, -3, 20),  # mostly east
        line(300, 300, 5, 0, 20),  # east, too slow for balanced (√3000 px over 10 frames)
    ]
    frames = run_tracks(element, paths)
    directions = [f.detections.extra[ANALYTICS_DIRECTION].tolist() for f in frames]
    # Balanced: 10 observations; by then 8 px per frame has moved 72 px ≥ √3000.
    assert [d[0] for d in directions] == [None] * 9 + ["North"] * 11
    assert directions[-1] == ["North", "East", None]


def test_direction_class_filter_and_untracked() -> None:
    north = DirectionRule(label="North", vector=(0, 10, 0, 0), class_ids=[0], mode="loose")
    element = Analytics(AnalyticsConfig(streams={0: StreamRules(directions=[north])}))
    paths = [line(100, 300, 0, -8, 10), line(200, 300, 0, -8, 10), line(300, 300, 0, -8, 10)]
    frames = run_tracks(element, paths, classes=[0, 1, 0], ids=[1, 2, UNTRACKED])
    assert frames[-1].detections.extra[ANALYTICS_DIRECTION].tolist() == ["North", None, None]


def test_overcrowding_timer_restarts_when_stream_time_goes_back() -> None:
    """A looping file starts its pts again: the zone is not overcrowded for a negative time."""
    zone = OvercrowdingRule(
        label="OC", polygon=[(0, 0), (640, 0), (640, 360), (0, 360)], time_threshold_ms=100
    )
    element = Analytics(AnalyticsConfig(streams={0: StreamRules(overcrowding=[zone])}))
    flags = []
    for t in [*range(10, 20), *range(10)]:
        meta = frame(t, [(100, 100)])
        element.analyse(meta)
        flags.append(meta.analytics[0].overcrowding["OC"])
    assert flags == ([False] * 3 + [True] * 7) * 2


def test_disabled_analytics_pass_frames_untouched_and_unique_id_is_reported() -> None:
    from tests.analytics.support import batch_of

    rules = {0: StreamRules(rois=[RoiRule(label="A", polygon=ROI_CFG)])}
    batch = batch_of(frame(0, [(450, 450)]))
    Analytics(AnalyticsConfig(enable=False, streams=rules)).process(batch)
    meta = batch.meta.frames[0]
    assert meta.analytics == []
    assert ANALYTICS_ROI not in meta.detections.extra
    Analytics(AnalyticsConfig(streams=rules), unique_id=7).process(batch)
    assert [a.component_id for a in meta.analytics] == [7]
