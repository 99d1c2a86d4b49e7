"""Which YOLO layouts each parser reads: v5 (objectness) in both orientations, v8 / YOLO11 in
both, and what ``yolo`` infers by shape."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.yolo import parse_yolo, parse_yolov5, parse_yolov8

CTX = ParseContext(NetworkInfo(64, 64, 3), 2, np.array([0.25, 0.25]))
V5_ROWS = np.array(  # cx, cy, w, h, objectness, 2 class scores; 3 anchors
    [[32, 32, 16, 8, 0.8, 0.5, 0.9], [32, 32, 16, 8, 0.2, 0.9, 0.1], [10, 10, 4, 4, 1.0, 0.3, 0.0]],
    np.float32,
)


@pytest.mark.parametrize("transposed", [False, True])
def test_yolov5_reads_both_orientations(transposed: bool) -> None:
    dets = parse_yolov5({"output0": V5_ROWS.T if transposed else V5_ROWS}, CTX)
    assert dets.xyxy.tolist() == [[24, 28, 40, 36], [8, 8, 12, 12]]
    assert dets.confidence.tolist() == pytest.approx([0.72, 0.3])
    assert dets.class_id.tolist() == [1, 0]


def test_yolov5_error_names_both_shapes() -> None:
    with pytest.raises(ParserError, match=r"\(A, 7\) or \(7, A\)"):
        parse_yolov5({"output0": np.zeros((5, 6), np.float32)}, CTX)


def test_yolo_tells_v5_from_v8_by_shape() -> None:
    v8 = np.array([[32, 32, 16, 8, 0.3, 0.9]], np.float32)  # no objectness: 4 + 2 columns
    assert parse_yolo({"o": v8.T}, CTX).confidence.tolist() == pytest.approx([0.9])
    assert parse_yolo({"o": V5_ROWS}, CTX).confidence.tolist() == pytest.approx([0.72, 0.3])
    # YOLO11 exports the YOLOv8 head: same parser, both orientations.
    assert (
        parse_yolov8({"o": v8}, CTX).xyxy.tolist() == parse_yolov8({"o": v8.T}, CTX).xyxy.tolist()
    )
