from __future__ import annotations

import io
import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import (
    TRACK_AGE,
    TRACKER_CONFIDENCE,
    ClassifierLabel,
    Detections,
    SegmentationMap,
    TensorMeta,
)
from visionflow.core.pipeline import Pipeline
from visionflow.errors import SinkError
from visionflow.media.synthetic import SyntheticSource
from visionflow.sinks.metadata import JsonLinesSink, mask_to_rle


def make_batch(n: int = 1, width: int = 64, height: int = 48) -> Batch:
    frames = [
        Frame(
            np.zeros((height, width, 3), np.uint8),
            PixelFormat.RGB24,
            source_id=i,
            frame_num=10 + i,
            pts=3000 + i,
            time_base=Fraction(1, 1000),
            uri=f"file:///cam{i}.mp4",
        )
        for i in range(n)
    ]
    return Batch(frames)


def write(batch: Batch, **kwargs: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    sink = JsonLinesSink(out, **kwargs)
    sink.start()
    assert sink.process(batch) is batch
    sink.stop()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_frame_fields_without_objects() -> None:
    (record,) = write(make_batch())
    assert record == {
        "schema": "visionflow.frame/1",
        "source_id": 0,
        "frame_num": 10,
        "pts": 3000,
        "time": 3.0,
        "uri": "file:///cam0.mp4",
        "width": 64,
        "height": 48,
        "source_width": 64,
        "source_height": 48,
        "objects": [],
        "segmentation": [],
        "analytics": [],
        "user": {},
    }


def test_objects_follow_the_rect_params_convention() -> None:
    batch = make_batch()
    masks = np.zeros((2, 4, 6), np.float32)
    masks[1, 1:3, 2:5] = 0.9
    masks[1, 0, 0] = 0.4  # below the threshold
    batch.meta.frames[0].detections = Detections(
        xyxy=np.array([[10.123, 20.0, 30.5, 40.004], [1.0, 2.0, 3.0, 4.0]]),
        confidence=np.array([0.87654, 0.5]),
        class_id=np.array([2, 0]),
        tracker_id=np.array([-1, 17]),
        component_id=np.array([1, 1]),
        parent=np.array([-1, 0]),
        labels=("car", "plate"),
        masks=masks,
        mask_threshold=0.5,
        classifications=(
            (),
            (ClassifierLabel(2, 0, 5, 0.91234, "red", "colour"),),
        ),
    )
    (record,) = write(batch)
    car, plate = record["objects"]
    assert car == {
        "index": 0,
        "class_id": 2,
        "label": "car",
        "confidence": 0.8765,
        "bbox": {"left": 10.12, "top": 20.0, "width": 20.38, "height": 20.0},
        "tracker_id": None,
        "tracker_confidence": None,
        "track_age": None,
        "component_id": 1,
        "parent": None,
        "classifications": [],
        # 24 zeros: 24 = 0b11000 has bit 4 (the sign bit of a 5-bit group) set, so it takes two
        # groups: chr(48 + 24 + 32) (with the "more" bit), then chr(48 + 0)
        "mask": {"width": 6, "height": 4, "threshold": 0.5, "rle": "h0"},
        "polygon": None,
        "keypoints": None,
        "analytics": None,
    }
    assert plate["tracker_id"] == 17
    assert plate["parent"] == 0
    assert plate["classifications"] == [
        {
            "component_id": 2,
            "attribute": 0,
            "class_id": 5,
            "label": "red",
            "confidence": 0.9123,
            "classifier_type": "colour",
        }
    ]
    # columns 2-4 hold rows 1-2, so the column-major runs are 9 2 2 2 2 2 5; from the fourth on,
    # each is stored as its difference to the run two before: 9 2 2 0 0 0 3
    assert plate["mask"] == {"width": 6, "height": 4, "threshold": 0.5, "rle": "9220003"}


@pytest.mark.parametrize(
    ("mask", "rle"),
    [
        (np.zeros((2, 3), bool), "6"),  # one run of six zeros
        (np.ones((2, 2), bool), "04"),  # an empty run of zeros, then four ones
        (np.array([[0, 1], [1, 1]], bool), "13"),  # column-major: 0, 1, then 1, 1
        (np.eye(3, dtype=bool), "013000"),  # runs 0 1 3 1 3 1 → 0 1 3 and three differences of 0
    ],
)
def test_mask_rle_by_hand(mask: np.ndarray, rle: str) -> None:
    assert mask_to_rle(mask) == rle


def test_mask_rle_matches_pycocotools() -> None:
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(0)
    for shape, p in [((5, 7), 0.5), ((60, 80), 0.97), ((1, 1), 1.0), ((200, 300), 0.01)]:
        mask = rng.random(shape) < p
        expected = coco.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        assert mask_to_rle(mask) == expected


def test_segmentation_summary() -> None:
    batch = make_batch()
    class_map = np.array([[0, 0, 3], [3, 3, -1]], np.int32)
    batch.meta.frames[0].segmentation = [SegmentationMap(component_id=4, class_map=class_map)]
    (record,) = write(batch)
    assert record["segmentation"] == [
        {
            "component_id": 4,
            "object_index": None,
            "width": 3,
            "height": 2,
            "classes_present": [0, 3],
            "class_counts": {"0": 2, "3": 3},
        }
    ]


def test_tensors_only_on_request() -> None:
    batch = make_batch()
    tensor = TensorMeta(1, {"scores": np.array([[0.5, 0.25]], np.float32)}, network_size=(32, 16))
    batch.meta.frames[0].tensors = [tensor]
    assert "tensors" not in write(batch)[0]
    (record,) = write(batch, include_tensors=True)
    assert record["tensors"] == [
        {
            "component_id": 1,
            "object_index": None,
            "network_size": [32, 16],
            "outputs": {"scores": {"dtype": "float32", "shape": [1, 2], "data": [[0.5, 0.25]]}},
        }
    ]


def test_user_meta_keeps_what_json_can_hold(caplog: pytest.LogCaptureFixture) -> None:
    batch = make_batch(2)
    for meta in batch.meta.frames:
        meta.user = {"zone": "gate", "count": np.int64(3), "hist": np.arange(3), "model": object()}
    with caplog.at_level(logging.WARNING, logger="visionflow.sinks.metadata"):
        records = write(batch)
    assert [r["user"] for r in records] == [{"zone": "gate", "count": 3, "hist": [0, 1, 2]}] * 2
    assert caplog.text.count("user metadata 'model' is not JSON-serialisable; left out") == 1


def test_unknown_time_is_null() -> None:
    batch = make_batch()
    batch.meta.frames[0].pts = None
    (record,) = write(batch)
    assert (record["pts"], record["time"]) == (None, None)


def test_file_gets_one_line_per_frame_flushed_per_batch(tmp_path: Path) -> None:
    path = tmp_path / "out" / "meta.jsonl"
    sink = JsonLinesSink(path)
    sink.start()
    sink.process(make_batch(3))
    lines = path.read_text().splitlines()  # readable before the sink stops
    assert [json.loads(line)["source_id"] for line in lines] == [0, 1, 2]
    sink.process(make_batch(2))
    sink.stop()
    assert len(path.read_text().splitlines()) == 5


def test_stream_is_not_closed() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.start()
    sink.stop()
    assert not out.closed


def test_unwritable_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    sink = JsonLinesSink(tmp_path / "file" / "meta.jsonl")
    with pytest.raises(SinkError, match=r"^cannot create metadata file '.*meta\.jsonl': "):
        sink.start()


def test_pipeline_writes_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    sources = [SyntheticSource(32, 24, 7), SyntheticSource(32, 24, 4)]
    Pipeline(sources, [JsonLinesSink(path)]).run()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["source_id"], r["frame_num"]) for r in records) == [
        *((0, i) for i in range(7)),
        *((1, i) for i in range(4)),
    ]


def test_tracker_columns_are_written_and_null_without_a_tracker() -> None:
    batch = make_batch(2)
    boxes = np.array([[0, 0, 4, 4], [5, 5, 9, 9]], np.float32)
    batch.meta.frames[0].detections = Detections(
        boxes,
        tracker_id=np.array([3, 8]),
        extra={
            TRACKER_CONFIDENCE: np.array([0.912345, 0.5], np.float32),
            TRACK_AGE: np.array([12, 1], np.int32),
        },
    )
    batch.meta.frames[1].detections = Detections(boxes)  # no tracker ran on this stream
    tracked, untracked = (record["objects"] for record in write(batch))
    assert [(o["tracker_id"], o["tracker_confidence"], o["track_age"]) for o in tracked] == [
        (3, 0.9123, 12),
        (8, 0.5, 1),
    ]
    assert [(o["tracker_id"], o["tracker_confidence"], o["track_age"]) for o in untracked] == [
        (None, None, None)
    ] * 2
