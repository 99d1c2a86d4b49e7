"""A real pipeline (generated clip → bundled detector → tracker → analytics) with a broker sink:
the analytics results arrive at a real redis-server as events, one per counted crossing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.analytics.test_pipeline import LEFT_HALF, LINES, SEED, run_pipeline

from support.brokers import Redis, redis_payloads

pytestmark = pytest.mark.slow


def test_line_crossings_and_roi_entries_reach_the_broker_as_events(
    tmp_path: Path, redis_server: Redis
) -> None:
    records = run_pipeline(
        tmp_path,
        SEED,
        f"      rois: [{{label: Left, polygon: {[list(p) for p in LEFT_HALF]}}}]\n" + LINES,
        "sinks:\n  - {type: jsonl, path: meta.jsonl}\n"
        "  - type: broker\n"
        f"    broker: {{protocol: redis, host: 127.0.0.1, port: {redis_server.port}, topic: ev}}\n",
    )
    events = [json.loads(p) for p in redis_payloads(redis_server.port, "ev")]
    crossings = [e for e in events if e["type"] == "line_crossing"]
    counts = records[-1]["analytics"][0]["line_counts"]
    assert len(crossings) == counts["Rightward"] + counts["Leftward"] > 0
    assert {e["data"]["line"] for e in crossings} <= {"Rightward", "Leftward"}
    assert all(e["object"]["tracker_id"] is not None for e in crossings)
    entries = [e for e in events if e["type"] == "roi_entry"]
    assert entries, "no ROI entry reached the broker"
    assert all(e["data"]["roi"] == "Left" for e in entries)
    # the JSON Lines sink wrote the same events in each frame's user metadata
    written = [e["id"] for r in records for e in r["user"].get("events", [])]
    assert written == [e["id"] for e in events]
