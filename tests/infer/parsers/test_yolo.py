"""YOLO parsers on hand-built output tensors with known boxes."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.yolo import (
    parse_deepstream_yolo,
    parse_yolo,
    parse_yolo_seg,
    parse_yolov5,
    parse_yolov8,
    roi_align,
)


def context(thresholds: list[float], size: tuple[int, int] = (64, 64)) -> ParseContext:
    return ParseContext(NetworkInfo(size[0], size[1], 3), len(thresholds), np.array(thresholds))


def sigmoid(x: list[float]) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


# Anchors as cx, cy, w, h, score class 0, score class 1.
V8_ANCHORS = np.array(
    [
        [20, 20, 10, 8, 0.9, 0.1],  # → 15, 16, 25, 24, class 0, 0.9
        [40, 30, 20, 10, 0.2, 0.7],  # → 30, 25, 50, 35, class 1, 0.7
        [60, 60, 10, 10, 0.5, 0.3],  # → 55, 55, 65→64, 65→64, class 0, 0.5 = threshold: kept
        [10, 10, 4, 4, 0.1, 0.05],  # below both thresholds
        [30, 50, 0.5, 10, 0.8, 0.0],  # 0.5 px wide: dropped
    ],
    np.float32,
)
V8_EXPECTED = [[15, 16, 25, 24], [30, 25, 50, 35], [55, 55, 64, 64]]


@pytest.mark.parametrize("layout", ["channels_first", "anchors_first"])
def test_yolov8_decodes_known_boxes(layout: str) -> None:
    tensor = V8_ANCHORS.T if layout == "channels_first" else V8_ANCHORS
    dets = parse_yolov8({"output0": tensor}, context([0.5, 0.25]))
    assert dets.xyxy.tolist() == V8_EXPECTED
    assert dets.confidence.tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert dets.class_id.tolist() == [0, 1, 0]


def test_yolov8_wrong_shape_names_what_it_expected() -> None:
    with pytest.raises(ParserError) as err:
        parse_yolov8({"output0": np.zeros((7, 4), np.float32)}, context([0.25, 0.25]))
    assert str(err.value) == (
        "parser 'yolov8': expected one output shaped (6, A) or (A, 6) (cx, cy, w, h, 2 class "
        "scores), got output0 (7, 4) float32"
    )


def test_yolov5_multiplies_objectness_into_the_best_class_score() -> None:
    anchors = np.array(
        [
            [32, 32, 16, 8, 0.8, 0.5, 0.9],  # 0.8 · 0.9 = 0.72, class 1 → 24, 28, 40, 36
            [32, 32, 16, 8, 0.2, 0.9, 0.1],  # 0.2 · 0.9 = 0.18 < 0.25
        ],
        np.float32,
    )
    dets = parse_yolov5({"output0": anchors}, context([0.25, 0.25]))
    assert dets.xyxy.tolist() == [[24, 28, 40, 36]]
    assert dets.confidence.tolist() == pytest.approx([0.72])
    assert dets.class_id.tolist() == [1]


def test_deepstream_yolo_single_output_clamps_and_filters() -> None:
    rows = np.array(
        [
            [10, 10, 30, 20, 0.6, 2],
            [-5, 60, 20, 70, 0.9, 0],  # clamped to 0 … 64
            [5, 5, 5.5, 20, 0.9, 1],  # 0.5 px wide: dropped
            [0, 0, 10, 10, 0.1, 1],  # below threshold
            [0, 0, 10, 10, 0.9, 7],  # class 7 of 3
        ],
        np.float32,
    )
    dets = parse_deepstream_yolo({"output": rows}, context([0.25, 0.25, 0.25]))
    assert dets.xyxy.tolist() == [[10, 10, 30, 20], [0, 60, 20, 64]]
    assert dets.class_id.tolist() == [2, 0]


def test_deepstream_yolo_legacy_three_outputs_are_centre_boxes() -> None:
    outputs = {
        "boxes": np.array([[20, 20, 10, 10]], np.float32),
        "scores": np.array([[0.5]], np.float32),
        "classes": np.array([[1]], np.float32),
    }
    dets = parse_deepstream_yolo(outputs, context([0.25, 0.25]))
    assert dets.xyxy.tolist() == [[15, 15, 25, 25]]
    assert dets.class_id.tolist() == [1]


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (
            {"output0": np.array([[20], [20], [10], [10], [0.9], [0], [0]], np.float32)},
            [15, 15, 25, 25],
        ),
        ({"output0": np.array([[20, 20, 10, 10, 1, 0, 0.9, 0]], np.float32)}, [15, 15, 25, 25]),
        ({"output": np.array([[15, 15, 25, 25, 0.9, 1]], np.float32)}, [15, 15, 25, 25]),
    ],
    ids=["yolov8", "yolov5", "deepstream_yolo"],
)
def test_yolo_recognises_each_layout(outputs: dict[str, np.ndarray], expected: list[float]) -> None:
    dets = parse_yolo(outputs, context([0.25, 0.25, 0.25]))
    assert dets.xyxy.tolist() == [expected]
    assert dets.confidence.tolist() == pytest.approx([0.9])


def test_yolo_lists_every_layout_when_none_fits() -> None:
    with pytest.raises(ParserError) as err:
        parse_yolo({"output0": np.zeros((5, 9), np.float32)}, context([0.25] * 3))
    assert str(err.value) == (
        "parser 'yolo': expected one output shaped (7, A) or (A, 7) (cx, cy, w, h, 3 class "
        "scores), one output shaped (A, 8) (cx, cy, w, h, objectness, 3 class scores), or one "
        "output shaped (A, 6) (x1, y1, x2, y2, score, class), or three outputs boxes (A, 4), "
        "scores (A, 1), classes (A, 1), got output0 (5, 9) float32"
    )


def test_yolo_seg_deepstream_export_keeps_masks_of_kept_boxes() -> None:
    outputs = {
        "boxes": np.array([[0, 0, 10, 10], [0, 0, 0.5, 5]], np.float32),
        "scores": np.array([[0.9], [0.9]], np.float32),
        "classes": np.array([[0], [0]], np.float32),
        "masks": np.stack([np.full((2, 2), 1.0), np.full((2, 2), 2.0)]).astype(np.float32),
    }
    dets = parse_yolo_seg(outputs, context([0.25]))
    assert dets.xyxy.tolist() == [[0, 0, 10, 10]]
    assert dets.masks is not None
    assert dets.masks.tolist() == [[[1, 1], [1, 1]]]


def test_yolo_seg_raw_head_roi_aligns_mask_logits_over_each_box() -> None:
    # 16×16 network, 4×4 prototypes (stride 4); the one prototype is P[y, x] = x.
    protos = np.tile(np.arange(4, dtype=np.float32), (1, 4, 1))
    # Anchor 0 covers the whole input, coefficient 1: bin centres fall on prototype pixels
    # x = 0, 1, 2, 3. Anchor 1 covers [0, 8): map box [0, 2), bins of 0.5, centres at
    # x = −0.25 (→ 0), 0.25, 0.75, 1.25; coefficient 2 doubles the logits.
    pred = np.array(
        [[8, 8, 16, 16, 0.9, 1.0], [4, 4, 8, 8, 0.8, 2.0]], np.float32
    ).T  # (4 + 1 class + 1 coefficient, A)
    dets = parse_yolo_seg({"output0": pred, "output1": protos}, context([0.25], (16, 16)))
    assert dets.xyxy.tolist() == [[0, 0, 16, 16], [0, 0, 8, 8]]
    assert dets.masks is not None
    np.testing.assert_allclose(dets.masks[0], np.tile(sigmoid([0, 1, 2, 3]), (4, 1)), rtol=1e-6)
    np.testing.assert_allclose(
        dets.masks[1], np.tile(sigmoid([0, 0.5, 1.5, 2.5]), (4, 1)), rtol=1e-6
    )


def test_roi_align_is_zero_outside_the_map() -> None:
    maps = np.ones((1, 4, 4), np.float32)
    out = roi_align(maps, np.array([[-20, 0, -10, 4]], np.float32), (2, 2))
    assert out.tolist() == [[[0, 0], [0, 0]]]
