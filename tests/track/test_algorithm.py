"""The tracking algorithms on synthetic box sequences, each with the ids it must give."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from visionflow.core.geometry import box_iou
from visionflow.core.meta import Detections
from visionflow.track import (
    ALGORITHMS,
    TRACK_AGE,
    TRACKER_CONFIDENCE,
    IdCounter,
    IOUTracker,
    NvDCFTracker,
    NvSORTTracker,
    TrackerAlgorithm,
    preset,
)
from visionflow.track.association import iou_matrix

BOTH = ("iou", "nvsort")


def dets(
    boxes: Sequence[Sequence[float]],
    confidence: float | Sequence[float] = 0.9,
    class_id: int | Sequence[int] = 0,
) -> Detections:
    n = len(boxes)
    return Detections(
        np.asarray(boxes, np.float32).reshape(n, 4),
        confidence=np.broadcast_to(np.asarray(confidence, np.float32), (n,)).copy(),
        class_id=np.broadcast_to(np.asarray(class_id, np.int32), (n,)).copy(),
        labels=tuple(f"obj{i}" for i in range(n)),
    )


def box(x: float, y: float = 100.0, size: float = 40.0) -> list[float]:
    return [x, y, x + size, y + size]


def tracker(algorithm: str, **fields: object) -> TrackerAlgorithm:
    return ALGORITHMS.get(algorithm)(preset(algorithm, **fields))  # type: ignore[arg-type]


def run(t: TrackerAlgorithm, frames: Sequence[Detections]) -> list[list[int]]:
    return [t.update(frame).tracker_id.tolist() for frame in frames]


def test_iou_matrix_gives_box_iou_values() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (40, 2))
    a = np.concatenate([a, a + rng.uniform(-5, 30, (40, 2))], axis=1)  # some empty boxes
    b = a[::-1] + rng.normal(0, 3, a.shape)

    np.testing.assert_array_equal(iou_matrix(a, b), box_iou(a, b))


def test_every_algorithm_class_is_registered() -> None:
    def subclasses(cls: type) -> set[type]:
        return {s for c in cls.__subclasses__() for s in (c, *subclasses(c))}

    registered = {ALGORITHMS.get(name) for name in ALGORITHMS.names()}
    assert subclasses(TrackerAlgorithm) <= registered
    assert ALGORITHMS.get("iou") is IOUTracker
    assert ALGORITHMS.get("nvsort") is NvSORTTracker
    assert ALGORITHMS.get("nvdcf") is NvDCFTracker


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown tracker 'deepsort'; known: iou, nvdcf, nvsort"):
        ALGORITHMS.get("deepsort")


def test_two_objects_crossing_paths_keep_their_ids_with_nvsort() -> None:
    # A moves right, B moves left on the same row: for four frames they overlap almost fully.
    frames = [dets([box(100 + 8 * f), box(300 - 8 * f)]) for f in range(26)]
    t = tracker("nvsort", probation_age=0)

    ids = run(t, frames)

    assert ids == [[0, 1]] * 26


def test_two_objects_crossing_paths_swap_ids_with_iou() -> None:
    """The IOU preset has no motion model: where the boxes overlap it cannot tell them apart
    (this is why NvSORT exists; the same sequence as above)."""
    frames = [dets([box(100 + 8 * f), box(300 - 8 * f)]) for f in range(26)]
    t = tracker("iou", probation_age=0)

    ids = run(t, frames)

    assert ids[0] == [0, 1]
    assert ids[-1] != [0, 1]


@pytest.mark.parametrize("algorithm", BOTH)
@pytest.mark.parametrize(("hidden", "later_id"), [(1, 0), (5, 0), (6, 1), (9, 1)])
def test_an_object_hidden_up_to_max_shadow_tracking_age_keeps_its_id(
    algorithm: str, hidden: int, later_id: int
) -> None:
    t = tracker(algorithm, probation_age=2, max_shadow_tracking_age=5)
    seen = [dets([box(200)])] * 4
    gone = [dets([])] * hidden
    back = [dets([box(200)])] * 4

    ids = run(t, [*seen, *gone, *back])

    assert ids[:4] == [[], [], [0], [0]]  # probation: reported from its third frame
    assert ids[4 : 4 + hidden] == [[]] * hidden  # shadow tracking is not reported
    if later_id == 0:  # still known: reported again at once
        assert ids[4 + hidden :] == [[0]] * 4
    else:  # terminated: a new target, on probation again, with the next id
        assert ids[4 + hidden :] == [[], [], [1], [1]]


def test_a_moving_object_hidden_for_a_while_is_found_where_nvsort_predicts_it() -> None:
    t = tracker("nvsort", probation_age=1, max_shadow_tracking_age=10)
    frames = [dets([box(50 + 10 * f)]) if not 6 <= f < 12 else dets([]) for f in range(20)]

    ids = run(t, frames)

    assert ids == [[], *[[0]] * 5, *[[]] * 6, *[[0]] * 8]


@pytest.mark.parametrize("algorithm", BOTH)
@pytest.mark.parametrize(("probation", "seen"), [(0, 1), (3, 3), (3, 4), (4, 10)])
def test_probation_an_object_seen_for_no_more_than_probation_age_frames_is_not_reported(
    algorithm: str, probation: int, seen: int
) -> None:
    t = tracker(algorithm, probation_age=probation)

    ids = run(t, [dets([box(10)])] * seen)

    assert ids == [[]] * min(probation, seen) + [[0]] * max(0, seen - probation)


@pytest.mark.parametrize("algorithm", BOTH)
def test_a_tentative_target_that_misses_early_termination_age_frames_ends(algorithm: str) -> None:
    t = tracker(algorithm, probation_age=3, early_termination_age=1)
    frames = [dets([box(10)]), dets([box(10)]), dets([]), *[dets([box(10)])] * 5]

    ids = run(t, frames)

    assert ids == [[], [], [], [], [], [], [1], [1]]


@pytest.mark.parametrize("algorithm", BOTH)
def test_detections_below_min_detector_confidence_are_neither_tracked_nor_reported(
    algorithm: str,
) -> None:
    t = tracker(algorithm, probation_age=0, min_detector_confidence=0.5)

    out = t.update(dets([box(10), box(200)], confidence=[0.4, 0.6]))

    assert out.tracker_id.tolist() == [0]
    assert out.confidence.tolist() == pytest.approx([0.6])
    assert len(t) == 1


@pytest.mark.parametrize("algorithm", BOTH)
def test_no_more_than_max_targets_per_stream_most_confident_first(algorithm: str) -> None:
    t = tracker(algorithm, probation_age=0, max_targets_per_stream=2)

    out = t.update(dets([box(10), box(100), box(200)], confidence=[0.5, 0.9, 0.7]))

    assert out.labels == ("obj1", "obj2")
    assert out.tracker_id.tolist() == [0, 1]


@pytest.mark.parametrize("algorithm", BOTH)
def test_a_detection_overlapping_a_target_beyond_min_iou_diff_does_not_start_one(
    algorithm: str,
) -> None:
    t = tracker(algorithm, probation_age=0, min_iou_diff_4_new_target=0.5)
    # two boxes with IoU 0.6 in the first frame: the more confident one starts the target
    out = t.update(dets([box(10), box(15)], confidence=[0.7, 0.9]))

    assert out.labels == ("obj1",)
    assert out.tracker_id.tolist() == [0]


@pytest.mark.parametrize("algorithm", BOTH)
def test_check_class_match_keeps_classes_apart(algorithm: str) -> None:
    t = tracker(algorithm, probation_age=0, min_iou_diff_4_new_target=1.0)
    ids = run(t, [dets([box(10)], class_id=0), dets([box(10)], class_id=1)])
    assert ids == [[0], [1]]

    t = tracker(algorithm, probation_age=0, check_class_match=False)
    ids = run(t, [dets([box(10)], class_id=0), dets([box(10)], class_id=1)])
    assert ids == [[0], [0]]


@pytest.mark.parametrize("algorithm", BOTH)
def test_a_class_flip_over_a_target_is_no_match_and_starts_no_target(algorithm: str) -> None:
    # DeepStream's semantics, documented in docs/tracking.md ("Classes"): with checkClassMatch
    # the other class is no candidate, and the detection overlaps the target by more than
    # minIouDiff4NewTarget, so it is discarded; the object is not reported until the detector
    # says the target's class again. With checkClassMatch 0 the target takes it.
    frames = [dets([box(10)], class_id=0), *[dets([box(10)], class_id=1)] * 3]
    frames.append(dets([box(10)], class_id=0))
    t = tracker(algorithm, probation_age=0)
    assert run(t, frames) == [[0], [], [], [], [0]]
    assert len(t) == 1

    t = tracker(algorithm, probation_age=0, check_class_match=False)
    assert run(t, frames) == [[0], [0], [0], [0], [0]]


def test_cascaded_tentative_detections_extend_targets_but_never_start_one() -> None:
    t = tracker("nvsort", probation_age=0, tentative_detector_confidence=0.5)
    frames = [
        dets([box(10)], confidence=0.9),
        dets([box(12), box(300)], confidence=[0.3, 0.3]),  # A faint; a faint newcomer
        dets([box(14), box(300)], confidence=[0.9, 0.3]),
    ]

    out = [t.update(f) for f in frames]

    assert [o.tracker_id.tolist() for o in out] == [[0], [0], [0]]
    assert out[1].confidence.tolist() == pytest.approx([0.3])


def test_greedy_matching_takes_the_best_pair_first() -> None:
    t = tracker("iou", probation_age=0, min_iou_diff_4_new_target=1.0)
    t.update(dets([box(0), box(30)]))  # targets 0 and 1, overlapping
    # one detection between them, nearer target 1: greedy gives it to 1, target 0 misses
    out = t.update(dets([box(25)]))
    assert out.tracker_id.tolist() == [1]


@pytest.mark.parametrize("algorithm", BOTH)
def test_output_is_a_new_container_with_tracker_columns(algorithm: str) -> None:
    t = tracker(algorithm, probation_age=1)
    first = dets([box(10)], confidence=0.8)
    t.update(first)
    second = dets([box(12)], confidence=0.7)

    out = t.update(second)

    assert out is not second
    assert second.tracker_id.tolist() == [-1]  # the input is untouched
    assert out.tracker_id.dtype == np.int64
    assert out.extra[TRACKER_CONFIDENCE].dtype == np.float32
    assert out.extra[TRACKER_CONFIDENCE].tolist() == pytest.approx([0.7])
    assert out.extra[TRACK_AGE].dtype == np.int32
    assert out.extra[TRACK_AGE].tolist() == [2]
    assert out.labels == ("obj0",)


def test_iou_reports_the_detected_box_nvsort_its_filtered_estimate() -> None:
    frames = [dets([box(10 + 10 * f)]) for f in range(6)] + [dets([box(75)])]
    iou, sort = tracker("iou", probation_age=0), tracker("nvsort", probation_age=0)
    for frame in frames:
        a, b = iou.update(frame), sort.update(frame)
    assert a.xyxy.tolist() == [box(75)]
    # the filter expected 70 (constant velocity) and measured 75: its estimate lies between
    assert 70 < b.xyxy[0, 0] < 75


@pytest.mark.parametrize("algorithm", BOTH)
def test_frames_the_detector_skipped_carry_active_targets(algorithm: str) -> None:
    t = tracker(algorithm, probation_age=1)
    for f in range(4):
        t.update(dets([box(10 + 10 * f)]))

    out = t.update(Detections.empty(), detected=False)

    assert out.tracker_id.tolist() == [0]
    assert out.confidence.tolist() == pytest.approx([-0.1])
    if algorithm == "iou":  # the last known box
        assert out.xyxy.tolist() == [box(40)]
    else:  # ahead of it, along the estimated velocity (10 px a frame, not yet fully learnt)
        assert 42 < out.xyxy[0, 0] <= 50
    assert t.shadow.tolist() == [0]  # a skipped frame is no miss


def test_ids_come_from_one_counter_and_are_never_reused() -> None:
    counter = IdCounter()
    a = NvSORTTracker(preset("nvsort", probation_age=0), counter)
    b = NvSORTTracker(preset("nvsort", probation_age=0), counter)

    assert a.update(dets([box(10)])).tracker_id.tolist() == [0]
    assert b.update(dets([box(10)])).tracker_id.tolist() == [1]
    a.update(dets([]))  # target 0 goes into shadow tracking
    assert a.update(dets([box(400)])).tracker_id.tolist() == [2]  # a new object: a new id


def test_shadow_tracks_are_listed_as_json_ready_records() -> None:
    t = tracker("iou", probation_age=0)
    t.update(dets([box(10)]))
    t.update(dets([]))

    assert t.shadow_tracks() == [
        {
            "tracker_id": 0,
            "class_id": 0,
            "label": "obj0",
            "bbox": {"left": 10.0, "top": 100.0, "width": 40.0, "height": 40.0},
            "age": 2,
            "shadow_age": 1,
            "confidence": pytest.approx(0.9),
        }
    ]
