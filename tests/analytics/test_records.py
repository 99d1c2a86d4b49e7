"""Analytics in JSON Lines (visionflow.frame/1 ``analytics`` fields)."""

from __future__ import annotations

import io
import json

import numpy as np
from tests.analytics.support import batch_of, frame, line

from visionflow.analytics import (
    Analytics,
    AnalyticsConfig,
    LineRule,
    OvercrowdingRule,
    RoiRule,
    StreamRules,
)
from visionflow.core.meta import Detections
from visionflow.sinks.metadata import JsonLinesSink

RULES = StreamRules(
    rois=[RoiRule(label="Left", polygon=[(0, 0), (320, 0), (320, 360), (0, 360)])],
    overcrowding=[OvercrowdingRule(label="All", polygon=[(0, 0), (640, 0), (640, 360), (0, 360)])],
    lines=[LineRule(label="Down", direction=(0, 0, 0, 1), line=(0, 200, 640, 200))],
)


def test_frame_and_object_records() -> None:
    element = Analytics(AnalyticsConfig(unique_id=5, streams={0: RULES}))
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.start()
    down = line(100, 150, 0, 5, 21)
    for t in range(21):
        meta = frame(t, [down[t], (500, 100)], ids=[3, 4], classes=[1, 0])
        element.analyse(meta)
        sink.process(batch_of(meta))
    sink.stop()
    records = [json.loads(text) for text in out.getvalue().splitlines()]

    crossing = records[11]  # the frame the first object passes y = 200
    assert crossing["analytics"] == [
        {
            "component_id": 5,
            "objects_in_roi": {"Left": 1},
            "overcrowding": {"All": {"overcrowded": True, "count": 2}},
            "line_crossings": {"Down": 1},
            "line_counts": {"Down": 1},
            "line_class_counts": {"Down": {"1": 1}},
            "object_counts": {"0": 1, "1": 1},
        }
    ]
    first, second = crossing["objects"]
    assert first["analytics"] == {
        "roi": ["Left"],
        "overcrowding": ["All"],
        "lines": ["Down"],
        "direction": None,
    }
    assert second["analytics"] == {
        "roi": [],
        "overcrowding": ["All"],
        "lines": [],
        "direction": None,
    }
    assert records[12]["analytics"][0]["line_crossings"] == {"Down": 0}
    assert records[12]["analytics"][0]["line_counts"] == {"Down": 1}


def test_objects_joined_after_the_analytics_have_no_status() -> None:
    meta = frame(0, [(100, 100)])
    Analytics(AnalyticsConfig(streams={0: RULES})).analyse(meta)
    later = Detections(np.array([[0, 0, 5, 5]], np.float32))
    meta.detections = Detections.concat([meta.detections, later])
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.start()
    sink.process(batch_of(meta))
    (record,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert [o["analytics"] is None for o in record["objects"]] == [False, True]
