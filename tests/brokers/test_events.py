"""Events: the public emit API, and analytics results (a real Analytics element) as events."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.analytics.support import frame, line

from visionflow.analytics import (
    Analytics,
    AnalyticsConfig,
    LineRule,
    OvercrowdingRule,
    RoiRule,
    StreamRules,
)
from visionflow.brokers import SCHEMA, AnalyticsEvents, emit_event, frame_events

LEFT = [(0, 0), (320, 0), (320, 360), (0, 360)]


def test_emit_event_adds_a_json_ready_event_about_an_object() -> None:
    meta = frame(7, [(100, 200)], ids=[42])
    event = emit_event(meta, "door.open", object_index=0, data={"n": np.int64(3), "v": np.ones(2)})
    assert frame_events(meta) == [event]
    assert json.loads(json.dumps(event)) == event  # JSON as it is
    assert event["schema"] == SCHEMA == "visionflow.event/1"
    assert (event["type"], event["deepstream_type"], event["frame_num"]) == (
        "door.open",
        "custom",
        7,
    )
    assert event["data"] == {"n": 3, "v": [1.0, 1.0]}
    assert event["object"]["tracker_id"] == 42
    assert event["object"]["bbox"] == {"left": 90.0, "top": 160.0, "width": 20.0, "height": 40.0}
    assert event["timestamp"].endswith("Z")
    assert len(event["timestamp"]) == 24
    assert event["pts_time"] == pytest.approx(7 / 30, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "Bad Type"}, "event type 'Bad Type' is invalid"),
        ({"type": "ok", "deepstream_type": "crossing"}, "deepstream_type 'crossing' is invalid"),
        ({"type": "ok", "data": {"f": object()}}, "event data is not JSON-serialisable"),
        ({"type": "ok", "data": {"f": float("nan")}}, "event data is not JSON-serialisable"),
    ],
)
def test_emit_event_refuses_what_cannot_be_sent(kwargs: dict, message: str) -> None:
    meta = frame(0, [])
    with pytest.raises(ValueError, match=message):
        emit_event(meta, **kwargs)
    assert frame_events(meta) == []


def test_an_object_index_outside_the_frame_is_refused() -> None:
    with pytest.raises(IndexError, match="object_index 1 out of range: the frame has 1 objects"):
        emit_event(frame(0, [(10, 10)]), "x", object_index=1)


def _types(meta) -> list[tuple[str, object]]:
    return [
        (e["type"], e["object"]["tracker_id"] if e["object"] else None) for e in frame_events(meta)
    ]


def test_analytics_results_become_line_roi_and_overcrowding_events() -> None:
    config = AnalyticsConfig(
        streams={
            0: StreamRules(
                rois=[RoiRule(label="Left", polygon=LEFT)],
                lines=[LineRule(label="Mid", direction=(0, 0, 10, 0), line=(320, 0, 320, 360))],
                overcrowding=[OvercrowdingRule(label="Left", polygon=LEFT, object_threshold=2)],
            )
        }
    )
    analytics, events = Analytics(config), AnalyticsEvents()
    a = line(280, 200, 10, 0, 9)  # crosses x = 320 between frames 4 (on it) and 5, leaving "Left"
    b = line(100, 200, 0, 0, 9)  # stays in "Left"
    seen = []
    for t in range(9):
        meta = frame(t, [a[t], b[t]], ids=[1, 2])
        analytics.analyse(meta)
        events.detect(meta)
        seen.append(_types(meta))
    assert seen[0] == [("roi_entry", 1), ("roi_entry", 2), ("overcrowding_start", None)]
    assert seen[1:5] == [[]] * 4
    assert seen[5] == [("line_crossing", 1), ("roi_exit", 1), ("overcrowding_end", None)]
    assert seen[6:] == [[]] * 3


def test_line_crossing_event_carries_the_line_and_the_deepstream_type() -> None:
    config = AnalyticsConfig(
        streams={
            0: StreamRules(
                lines=[LineRule(label="Mid", direction=(0, 0, 10, 0), line=(320, 0, 320, 360))]
            )
        }
    )
    analytics, events = Analytics(config), AnalyticsEvents()
    path = line(280, 200, 10, 0, 9)
    crossings = []
    for t in range(9):
        meta = frame(t, [path[t]], ids=[9])
        analytics.analyse(meta)
        events.detect(meta)
        crossings += [e for e in frame_events(meta) if e["type"] == "line_crossing"]
    assert len(crossings) == 1
    assert crossings[0]["data"] == {"line": "Mid"}
    assert crossings[0]["deepstream_type"] == "entry"


def test_untracked_objects_raise_no_roi_events() -> None:
    config = AnalyticsConfig(streams={0: StreamRules(rois=[RoiRule(label="L", polygon=LEFT)])})
    analytics, events = Analytics(config), AnalyticsEvents()
    meta = frame(0, [(100, 100)])
    analytics.analyse(meta)
    events.detect(meta)
    assert frame_events(meta) == []
