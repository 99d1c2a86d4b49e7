"""TAO / TensorFlow detector parsers on hand-built outputs."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.tao import (
    parse_tao_batched_nms,
    parse_tao_batched_nms_pixels,
    parse_tao_ddetr,
    parse_tao_efficientdet,
    parse_tao_mrcnn,
    parse_tao_nms,
    parse_tf_ssd,
)


def context(thresholds: list[float], width: int = 100, height: int = 50) -> ParseContext:
    return ParseContext(NetworkInfo(width, height, 3), len(thresholds), np.array(thresholds))


def f32(rows: object) -> np.ndarray:
    return np.array(rows, np.float32)


def test_nms_tlt_uses_the_class0_threshold_and_clips_sizes_separately() -> None:
    detections = f32(
        [
            [0, 2, 0.6, 0.1, 0.1, 0.5, 0.5],  # 0.6 ≥ class-0 0.5 (class 2 wants 0.95): kept
            [0, 1, 0.4, 0.1, 0.1, 0.5, 0.5],  # 0.4 < 0.5
            [0, 0, 0.9, 0.9, 0.0, 1.2, 1.0],  # width 30 kept whole: x2 = 90 + 30 = 120
            [0, 0, 0.9, 0.0, 0.0, 0.5, 0.5],  # beyond keep_count
        ]
    )
    outputs = {"NMS": detections, "NMS_1": np.array([3], np.int32)}
    dets = parse_tao_nms(outputs, context([0.5, 0.9, 0.95]))
    np.testing.assert_allclose(dets.xyxy, [[10, 5, 50, 25], [90, 0, 120, 49]], atol=1e-4)
    assert dets.class_id.tolist() == [2, 0]


BATCHED = {
    "BatchedNMS": np.array([4], np.int32),
    "BatchedNMS_1": f32(
        [
            [0.1, 0.2, 0.5, 0.6],  # → 10, 10, 50, 30
            [0.1, 0.2, 0.5, 0.6],  # score 0.2 < 0.3
            [0.5, 0.5, 0.4, 0.9],  # x2 < x1
            [0.9, 0.9, 1.5, 1.2],  # class 5 of 2
            [0.0, 0.0, 1.0, 1.0],  # beyond keep_count
        ]
    ),
    "BatchedNMS_2": f32([0.8, 0.2, 0.9, 0.5, 0.9]),
    "BatchedNMS_3": f32([1, 0, 0, 5, 0]),
}


def test_batched_nms_tlt_scales_normalised_boxes() -> None:
    dets = parse_tao_batched_nms(BATCHED, context([0.3, 0.9]))
    np.testing.assert_allclose(dets.xyxy, [[10, 10, 50, 30]], atol=1e-4)
    assert dets.confidence.tolist() == pytest.approx([0.8])
    assert dets.class_id.tolist() == [1]


def test_batched_nms_pixels_clips_to_size_minus_one() -> None:
    outputs = {
        "keep": np.array([2], np.int32),
        "boxes": f32([[10, 10, 50, 30], [90, 40, 150, 60]]),
        "scores": f32([0.8, 0.7]),
        "classes": f32([0, 1]),
    }
    dets = parse_tao_batched_nms_pixels(outputs, context([0.3, 0.9]))
    assert dets.xyxy.tolist() == [[10, 10, 50, 30], [90, 40, 99, 49]]


def test_batched_nms_keeps_at_most_201_boxes() -> None:
    n = 300
    outputs = {
        "keep": np.array([n], np.int32),
        "boxes": np.tile(f32([0.1, 0.1, 0.2, 0.2]), (n, 1)),
        "scores": np.full(n, 0.9, np.float32),
        "classes": np.zeros(n, np.float32),
    }
    assert len(parse_tao_batched_nms(outputs, context([0.3]))) == 201


def test_batched_nms_needs_four_outputs() -> None:
    with pytest.raises(ParserError) as err:
        parse_tao_batched_nms({"boxes": f32([[0, 0, 1, 1]])}, context([0.3]))
    assert str(err.value) == (
        "parser 'tao_batched_nms': expected four outputs keep_count, boxes (K, 4), scores (K,), "
        "classes (K,), got boxes (1, 4) float32"
    )


@pytest.mark.parametrize("named", [True, False])
def test_efficientdet_reads_yx_boxes_and_stops_at_an_unknown_class(named: bool) -> None:
    arrays = [
        np.array([4], np.int32),
        f32([[10, 20, 30, 60], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]]),
        f32([0.9, 0.2, 0.8, 0.9]),  # the 0.2 entry is skipped before its class is looked at
        np.array([1, 5, 3, 0], np.int32),  # class 3 of 2 ends the list: entry 3 is never read
    ]
    names = ["num_detections", "detection_boxes", "detection_scores", "detection_classes"]
    outputs = dict(zip(names if named else ["a", "b", "c", "d"], arrays, strict=True))
    dets = parse_tao_efficientdet(outputs, context([0.5, 0.5], 100, 100))
    assert dets.xyxy.tolist() == [[20, 10, 60, 30]]
    assert dets.class_id.tolist() == [1]


def test_ddetr_sigmoid_scores_skip_background_and_keep_the_last_equal_confidence() -> None:
    logits = f32(
        [
            [0, 2, -1],  # class 1, sigmoid(2) = 0.8808 — replaced by query 2 (same confidence)
            [3, 0, 0],  # class 0 = background: walked, not emitted
            [0, 2, -5],  # class 1, 0.8808 → 20, 20, 30, 30
            [-1, -2, -3],  # class 0, sigmoid(−1) = 0.27 < 0.5
            [0, 0, 1],  # class 2, sigmoid(1) = 0.7311 → 85, 40, 105 → 99, 60
        ]
    )
    boxes = f32(
        [
            [0.5, 0.5, 0.2, 0.4],
            [0.5, 0.5, 0.2, 0.2],
            [0.25, 0.25, 0.1, 0.1],
            [0.5, 0.5, 0.1, 0.1],
            [0.95, 0.5, 0.2, 0.2],
        ]
    )
    dets = parse_tao_ddetr(
        {"pred_logits": logits, "pred_boxes": boxes}, context([0.5] * 3, 100, 100)
    )
    np.testing.assert_allclose(dets.xyxy, [[20, 20, 30, 30], [85, 40, 99, 60]], atol=1e-4)
    assert dets.confidence.tolist() == pytest.approx([1 / (1 + np.exp(-2)), 1 / (1 + np.exp(-1))])
    assert dets.class_id.tolist() == [1, 2]


def test_ddetr_class_count_must_match() -> None:
    outputs = {
        "pred_logits": np.zeros((4, 2), np.float32),
        "pred_boxes": np.zeros((4, 4), np.float32),
    }
    with pytest.raises(ParserError) as err:
        parse_tao_ddetr(outputs, context([0.5] * 3))
    assert str(err.value) == (
        "parser 'tao_ddetr': expected pred_logits (Q, 3) and pred_boxes (Q, 4), got pred_logits "
        "(4, 2) float32, pred_boxes (4, 4) float32"
    )


def test_mrcnn_keeps_the_mask_plane_of_the_detected_class() -> None:
    detections = f32(
        [
            [10, -5, 50, 40, 1, 0.9],  # left 0, width CLIP(40) − (−5) = 45 → x2 45
            [0, 0, 10, 10, 0, 0.3],  # below class-0 threshold 0.5
            [20, 20, 20, 30, 0, 0.9],  # zero height
        ]
    )
    masks = (
        np.zeros((3, 2, 2, 2), np.float32)
        + (10 * np.arange(3)[:, None] + np.arange(2))[..., None, None]
    )
    outputs = {"generate_detections": detections, "mask_fcn_logits/BiasAdd": masks}
    dets = parse_tao_mrcnn(outputs, context([0.5, 0.99], 100, 100))
    assert dets.xyxy.tolist() == [[0, 10, 45, 50]]
    assert dets.masks is not None
    assert dets.masks.tolist() == [[[1, 1], [1, 1]]]


def test_tf_ssd_reads_normalised_yx_boxes_up_to_num_detections() -> None:
    outputs = {
        "num_detections": f32([3]),
        "detection_boxes": f32(
            [[0.2, 0.1, 0.6, 0.5], [0.5, 0.5, 0.5, 0.9], [0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]]
        ),
        "detection_scores": f32([0.7, 0.9, 0.9, 0.9]),
        "detection_classes": f32([1, 2, 3, 0]),  # zero height; class 3 of 3; beyond the count
    }
    dets = parse_tf_ssd(outputs, context([0.5, 0.5, 0.5]))
    np.testing.assert_allclose(dets.xyxy, [[10, 10, 50, 30]], atol=1e-4)
    assert dets.class_id.tolist() == [1]
