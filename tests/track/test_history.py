"""Past-frame and terminated-track data (DeepStream's NVDS_TRACKER_PAST_FRAME_META and
NVDS_TRACKER_TERMINATED_LIST_META): in the tracker, the element's user metadata and JSON Lines."""

from __future__ import annotations

import io
import json

import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.sinks.metadata import JsonLinesSink
from visionflow.track import ALGORITHMS, PAST_FRAME, TERMINATED_TRACKS, Tracker, preset


def boxes_at(x: float) -> Detections:
    return Detections(
        np.array([[x, 100, x + 40, 140]], np.float32),
        confidence=np.array([0.8], np.float32),
        labels=("square",),
    )


def test_a_confirmed_target_hands_out_its_probation_frames_once() -> None:
    t = ALGORITHMS.get("nvsort")(preset("nvsort", probation_age=3))
    out, past = [], []
    for f in range(8):
        out.append(t.update(boxes_at(10 + 5 * f), frame_num=100 + f))
        past.append(t.past_frame)

    assert [len(o) for o in out] == [0, 0, 0, 1, 1, 1, 1, 1]  # reported from its 4th frame
    assert [len(p) for p in past] == [0, 0, 0, 1, 0, 0, 0, 0]
    (target,) = past[3]
    assert target["tracker_id"] == out[3].tracker_id[0]
    assert target["label"] == "square"
    frames = target["frames"]
    assert [r["frame_num"] for r in frames] == [100, 101, 102]  # the unreported ones
    assert {r["state"] for r in frames} == {"TENTATIVE"}
    assert [r["age"] for r in frames] == [1, 2, 3]
    assert abs(frames[2]["bbox"]["left"] - 20) < 3
    assert frames[0]["bbox"]["width"] == 40.0


def test_past_frame_data_can_be_turned_off() -> None:
    t = ALGORITHMS.get("nvsort")(preset("nvsort", probation_age=3, output_past_frame=False))
    for f in range(8):
        t.update(boxes_at(10 + 5 * f))
        assert t.past_frame == []
    assert len(t.history) == 0


def test_terminated_tracks_hand_out_every_frame_of_a_confirmed_target() -> None:
    t = ALGORITHMS.get("iou")(
        preset("iou", probation_age=1, max_shadow_tracking_age=2, output_terminated_tracks=True)
    )
    gone: list[list[dict]] = []
    for f in range(10):
        t.update(boxes_at(10 + 2 * f) if f < 5 else boxes_at(0)[:0], frame_num=f)
        gone.append(t.terminated)

    # seen on frames 0-4, missed 5, 6, 7: more than max_shadow_tracking_age 2 → terminated on 7
    assert [len(g) for g in gone] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    (track,) = gone[7]
    assert [r["frame_num"] for r in track["frames"]] == [0, 1, 2, 3, 4, 5, 6]
    assert [r["state"] for r in track["frames"]] == ["TENTATIVE"] + ["ACTIVE"] * 4 + [
        "INACTIVE"
    ] * 2
    assert len(t.history) == 0


def test_a_tentative_target_that_ends_is_not_a_terminated_track() -> None:
    t = ALGORITHMS.get("iou")(preset("iou", probation_age=4, output_terminated_tracks=True))
    t.update(boxes_at(10))
    t.update(boxes_at(0)[:0])  # missed during probation: early termination
    assert len(t) == 0
    assert t.terminated == []
    assert len(t.history) == 0


def test_the_element_puts_both_in_user_metadata_and_json_lines_writes_them() -> None:
    element = Tracker(preset("nvsort", probation_age=2, max_shadow_tracking_age=1,
                             output_terminated_tracks=True))  # fmt: skip
    element.start()
    text = io.StringIO()
    sink = JsonLinesSink(text)
    sink.start()
    for f in range(8):
        frame = Frame(np.zeros((240, 320, 3), np.uint8), PixelFormat.RGB24, 0, f)
        batch = Batch([frame])
        batch.meta.frames[0].detections = boxes_at(10 + 3 * f) if f < 5 else boxes_at(0)[:0]
        batch.meta.frames[0].inferred.add(1)
        sink.process(element.process(batch))
    sink.stop()

    lines = [json.loads(line) for line in text.getvalue().splitlines()]
    past = [(r["frame_num"], r.get("user", {}).get(PAST_FRAME)) for r in lines]
    assert [f for f, p in past if p] == [2]
    assert [r["frame_num"] for r in past[2][1][0]["frames"]] == [0, 1]
    ended = [(r["frame_num"], r.get("user", {}).get(TERMINATED_TRACKS)) for r in lines]
    assert [f for f, e in ended if e] == [6]
    assert [r["frame_num"] for r in ended[6][1][0]["frames"]] == [0, 1, 2, 3, 4, 5]
