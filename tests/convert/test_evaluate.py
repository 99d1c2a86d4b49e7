from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from support.conv_net import conv_net
from support.onnx_models import constant_output_model
from visionflow.convert.engine import model_preprocess, resolve_engine
from visionflow.convert.evaluate import (
    compare_models,
    detection_agreement,
    detection_map,
    load_eval_data,
    top1,
)
from visionflow.convert.quantize import Calibration, preprocessed_batches
from visionflow.errors import ParityError
from visionflow.infer.config import InferConfig
from visionflow.infer.preprocess import preprocess

pytest.importorskip("pycocotools")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))


@dataclass(frozen=True)
class Dets:
    xyxy: np.ndarray
    class_id: np.ndarray
    confidence: np.ndarray


def dets(rows: Sequence[tuple[float, ...]]) -> Dets:
    a = np.array(rows, np.float64).reshape(-1, 6)
    return Dets(a[:, :4], a[:, 4].astype(int), a[:, 5])


def truth(rows: Sequence[tuple[float, ...]]) -> Dets:
    a = np.array(rows, np.float64).reshape(-1, 5)
    return Dets(a[:, :4], a[:, 4].astype(int), np.ones(len(a)))


# Class 0: two objects; detections ranked TP (0.9), FP (0.8), TP (0.7): precision 1, 1/2, 2/3 at
# recall 1/2, 1/2, 1. COCO's 101-point interpolation: recall 0.00…0.50 (51 points) has precision
# 1, recall 0.51…1.00 (50 points) has 2/3, so AP = (51 + 50 * 2/3) / 101 at every IoU threshold.
CLASS0_TRUTH = [(0, 0, 10, 10, 0), (20, 20, 30, 30, 0)]
CLASS0_DETS = [(0, 0, 10, 10, 0, 0.9), (50, 50, 60, 60, 0, 0.8), (20, 20, 30, 30, 0, 0.7)]
CLASS0_AP = (51 + 50 * 2 / 3) / 101
# Class 1: one object found with IoU 0.72 (100x72 inside 100x100): a hit at the thresholds
# 0.50, 0.55, 0.60, 0.65, 0.70 and a miss at 0.75 … 0.95, so AP50 = 1 and AP50:95 = 5/10.
CLASS1_TRUTH = [(0, 0, 100, 100, 1)]
CLASS1_DETS = [(0, 0, 100, 72, 1, 0.9)]


def test_map_of_a_ranked_list_with_a_false_positive() -> None:
    result = detection_map([dets(CLASS0_DETS)], [truth(CLASS0_TRUTH)])
    assert result["map50"] == pytest.approx(CLASS0_AP)
    assert result["map50_95"] == pytest.approx(CLASS0_AP)


def test_map_over_iou_thresholds() -> None:
    result = detection_map([dets(CLASS1_DETS)], [truth(CLASS1_TRUTH)])
    assert result == pytest.approx({"map50": 1.0, "map50_95": 0.5})


def test_map_averages_classes_over_images() -> None:
    result = detection_map(
        [dets(CLASS0_DETS), dets(CLASS1_DETS)], [truth(CLASS0_TRUTH), truth(CLASS1_TRUTH)]
    )
    assert result["map50"] == pytest.approx((CLASS0_AP + 1.0) / 2)
    assert result["map50_95"] == pytest.approx((CLASS0_AP + 0.5) / 2)


def test_map_without_detections_is_zero() -> None:
    assert detection_map([dets([])], [truth(CLASS1_TRUTH)]) == {"map50": 0.0, "map50_95": 0.0}


def test_top1_from_scores_and_from_ids() -> None:
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert top1(scores, np.array([1, 0, 0, 0])) == 0.75
    assert top1(np.array([1, 1, 0]), np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_coco_json_is_read_as_images_and_xyxy_boxes(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 30, 3), np.uint8))
    dataset = {
        "images": [{"id": 7, "file_name": "a.png"}],
        "annotations": [{"image_id": 7, "bbox": [1, 2, 10, 5], "category_id": 2}],
    }
    (tmp_path / "set.json").write_text(json.dumps(dataset))
    images, labels = load_eval_data(tmp_path / "set.json")
    assert images[0].shape == (20, 30, 3)
    np.testing.assert_array_equal(labels[0].xyxy, [[1, 2, 11, 7]])
    np.testing.assert_array_equal(labels[0].class_id, [2])


def two_box_model(path: Path, second_cx: float = 40, *, qdq: bool = False) -> Path:
    """A YOLOv8-layout detector (4 + 2 rows, 2 anchors) with two fixed boxes in network pixels
    of a 64x64 net: class 0 at (20, 30, 10, 10) score 0.9, class 1 at (``second_cx``, 30, 8, 8)
    score 0.7. With ``qdq`` the graph carries a QuantizeLinear/DequantizeLinear pair, so it is
    an INT8 model (outputs unchanged: the pair sits on the input's zero-weighted mean)."""
    out = np.zeros((6, 2), np.float32)
    out[:4, 0], out[4, 0] = (20, 30, 10, 10), 0.9
    out[:4, 1], out[5, 1] = (second_cx, 30, 8, 8), 0.7
    constant_output_model(path, {"output0": out})
    if qdq:
        model = onnx.load(str(path))
        graph = model.graph
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(1.0, np.float32), "q_scale"),
                numpy_helper.from_array(np.array(0, np.uint8), "q_zero"),
            ]
        )
        mul = next(n for n in graph.node if n.op_type == "Mul")
        mul.input[0] = "mean_dq"
        graph.node.insert(
            list(graph.node).index(mul),
            helper.make_node("QuantizeLinear", ["mean", "q_scale", "q_zero"], ["mean_q"]),
        )
        graph.node.insert(
            list(graph.node).index(mul),
            helper.make_node("DequantizeLinear", ["mean_q", "q_scale", "q_zero"], ["mean_dq"]),
        )
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return path


def detector_config(model: Path, engine: Path, precision: str = "fp32") -> InferConfig:
    return InferConfig.model_validate(
        {
            "onnx_file": model,
            "parser": "yolov8",
            "num_detected_classes": 2,
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
            "cluster_mode": "nms",
            "class_attrs_all": {"pre_cluster_threshold": 0.25},
            "model_engine_file": engine,
            "precision": precision,
        }
    )


# 128x64 frames letterboxed into 64x64 (scale 0.5, 16 px padding on top) put the boxes at
# (30, 18, 50, 38) and (72, 20, 88, 36) in frame pixels; the second truth box is 16x13 inside the
# 16x16 detection: IoU 0.8125, a hit at the thresholds 0.50 … 0.80 (7 of 10)
TWO_BOX_TRUTH = [truth([(30, 18, 50, 38, 0), (72, 20, 88, 33, 1)])]
FRAME = np.zeros((64, 128, 3), np.uint8)


def test_detector_accuracy_before_and_after_against_hand_checked_truth(tmp_path: Path) -> None:
    fp32 = detector_config(two_box_model(tmp_path / "det.onnx"), tmp_path / "det_engine.onnx")
    # the "converted" model moved the class-1 box 8 network px (16 frame px) right, to
    # (88, 20, 104, 36): IoU 0 with its truth box, so class 1 is lost at every threshold
    moved = two_box_model(tmp_path / "moved.onnx", second_cx=48, qdq=True)
    int8 = detector_config(moved, tmp_path / "moved_engine.onnx", "int8")
    report = compare_models(fp32, int8, [FRAME], labels=TWO_BOX_TRUTH)
    assert report.precision == "int8"
    assert report.accuracy["before"] == pytest.approx({"map50": 1.0, "map50_95": 0.85})
    assert report.accuracy["after"] == pytest.approx({"map50": 0.5, "map50_95": 0.5})
    assert report.accuracy_drop == pytest.approx({"map50": 0.5, "map50_95": 0.35})
    assert not report.parity.passed  # raw outputs differ by the 8 px move, reported for INT8
    assert report.parity.max_abs_diff == pytest.approx(8.0)
    assert report.agreement is None  # labelled data: accuracy decides

    unlabelled = compare_models(fp32, int8, [FRAME])
    assert unlabelled.agreement == pytest.approx(0.5)  # 1 of 2 boxes on each side match


def test_an_fp32_engine_that_differs_is_an_error(tmp_path: Path) -> None:
    fp32 = detector_config(two_box_model(tmp_path / "det.onnx"), tmp_path / "det_engine.onnx")
    moved = detector_config(
        two_box_model(tmp_path / "moved.onnx", second_cx=48), tmp_path / "moved_engine.onnx"
    )
    with pytest.raises(ParityError, match="the fp32 engine does not match the FP32 model"):
        compare_models(fp32, moved, [FRAME], labels=TWO_BOX_TRUTH)
    same = detector_config(two_box_model(tmp_path / "copy.onnx"), tmp_path / "copy_engine.onnx")
    report = compare_models(fp32, same, [FRAME], labels=TWO_BOX_TRUTH)
    assert report.parity.passed
    assert report.accuracy["after"] == pytest.approx({"map50": 1.0, "map50_95": 0.85})


@pytest.mark.parametrize(
    ("reference", "candidate", "expected"),
    [
        ([truth([(0, 0, 10, 10, 0)])], [truth([(1, 0, 11, 10, 0)])], 1.0),  # IoU 0.82
        ([truth([(0, 0, 10, 10, 0)])], [truth([(0, 0, 10, 10, 1)])], 0.0),  # class differs
        ([truth([(0, 0, 10, 10, 0)])], [truth([(6, 0, 16, 10, 0)])], 0.0),  # IoU 0.25
        ([truth([(0, 0, 10, 10, 0), (20, 20, 30, 30, 0)])], [truth([(0, 0, 10, 10, 0)])], 2 / 3),
        ([truth([])], [truth([])], 1.0),
        ([truth([]), truth([(0, 0, 10, 10, 0)])], [truth([(0, 0, 9, 9, 0)]), truth([])], 0.0),
    ],
)
def test_detection_agreement(reference: list[Dets], candidate: list[Dets], expected: float) -> None:
    assert detection_agreement(reference, candidate) == pytest.approx(expected)


def test_classifier_before_and_after_int8(tmp_path: Path) -> None:
    model = conv_net(tmp_path / "net.onnx")
    fp32 = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "net_scale_factor": 1 / 255,
            "batch_size": 8,
        }
    )
    int8 = fp32.model_copy(update={"precision": "int8", "int8_calib_file": tmp_path / "calib.json"})
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (40, 40, 3), np.uint8) for _ in range(24)]
    spec = model_preprocess(fp32)
    x = preprocess(images, [(0, 0, 40, 40)] * 24, spec)[0]
    reference = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = reference.run(None, {"images": x})[0]
    labels = expected.argmax(1)  # the FP32 model's own answers: its top-1 is 1 by construction

    engine = resolve_engine(
        int8, "onnxruntime", "cpu", calibration=Calibration(preprocessed_batches(images, spec))
    )
    quantized = ort.InferenceSession(str(engine), providers=["CPUExecutionProvider"])
    got = quantized.run(None, {"images": x})[0]

    report = compare_models(fp32, int8, images, labels=labels, parity_images=24)
    assert report.accuracy["before"]["top1"] == 1.0
    assert report.accuracy["after"]["top1"] == pytest.approx(
        float(np.mean(got.argmax(1) == labels))
    )
    parity = report.parity.outputs["probabilities"]
    assert parity.max_abs_diff == pytest.approx(float(np.abs(got - expected).max()), rel=1e-5)
    assert report.to_dict()["accuracy_drop"]["top1"] == pytest.approx(
        1.0 - report.accuracy["after"]["top1"]
    )
    text = report.render()
    for cell in ("fp32 (before)", "int8 (after)", "probabilities"):
        assert cell in text
