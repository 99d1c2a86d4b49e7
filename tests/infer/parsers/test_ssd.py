"""The ssd parser: boxes encoded against known anchors come back where they were put."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from visionflow.errors import ParserError
from visionflow.infer.parsers.anchors import generate_anchors
from visionflow.infer.parsers.base import NetworkInfo, ParseContext, resolve_parser
from visionflow.infer.parsers.ssd import SsdOptions, parse_ssd

BLAZEFACE_OPTIONS = {
    "anchors": {
        "num_layers": 4,
        "min_scale": 0.1484375,
        "max_scale": 0.75,
        "strides": [8, 16, 16, 16],
        "fixed_anchor_size": True,
    },
    "reverse_output_order": True,
    "x_scale": 128.0,
    "y_scale": 128.0,
    "w_scale": 128.0,
    "h_scale": 128.0,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
    "num_keypoints": 6,
    "keypoint_coord_offset": 4,
}


def context(
    options: dict, classes: int = 1, size: int = 128, threshold: float = 0.5
) -> ParseContext:
    return ParseContext(
        NetworkInfo(size, size, 3), classes, np.full(classes, threshold), options=options
    )


def test_blazeface_layout_decodes_known_faces() -> None:
    anchors = generate_anchors(SsdOptions.model_validate(BLAZEFACE_OPTIONS).anchors, 128, 128)
    regressors = np.zeros((896, 16), np.float32)  # x, y, w, h, then 6 keypoints
    logits = np.full((896, 1), -8.0, np.float32)
    # Face 1 on anchor 10: centre (40, 20) px, 24 × 30 px. Face 2 on anchor 700.
    faces = {10: (40.0, 20.0, 24.0, 30.0), 700: (100.0, 90.0, 16.0, 16.0)}
    for index, (cx, cy, w, h) in faces.items():
        xa, ya = anchors[index, :2] * 128
        regressors[index, :4] = [cx - xa, cy - ya, w, h]  # pixels, as x_scale = 128 undoes
        logits[index] = 2.0
    logits[11] = 500.0  # clipped to 100 before the sigmoid: still a score of 1, no overflow
    regressors[11, :4] = [0, 0, 10, 10]
    dets = parse_ssd(
        {"regressors": regressors, "classificators": logits}, context(BLAZEFACE_OPTIONS)
    )
    x11, y11 = anchors[11, :2] * 128
    expected = [[28, 5, 52, 35], [x11 - 5, y11 - 5, x11 + 5, y11 + 5], [92, 82, 108, 98]]
    np.testing.assert_allclose(dets.xyxy, expected, atol=1e-3)
    assert dets.confidence.tolist() == pytest.approx([1 / (1 + np.exp(-2)), 1.0, 0.8807971])
    assert dets.class_id.tolist() == [0, 0, 0]


def test_tf_ssd_with_anchor_output_and_background_class() -> None:
    options = {
        "anchors_output": None,
        "x_scale": 10.0,
        "y_scale": 10.0,
        "h_scale": 5.0,
        "w_scale": 5.0,
        "apply_exponential_on_box_size": True,
        "sigmoid_score": True,
        "ignore_classes": [0],
    }
    # Anchors as TF's Object Detection API writes them: ymin, xmin, ymax, xmax (relative).
    anchors = np.array([[0.1, 0.1, 0.3, 0.5], [0.5, 0.5, 0.9, 0.7]], np.float32)
    # Anchor 0 (centre x 0.3, y 0.2; 0.4 wide, 0.2 high) → box centre (0.32, 0.25), twice as wide.
    encodings = np.array(
        [[0.05 * 10 / 0.2, 0.02 * 10 / 0.4, 0.0, np.log(2) * 5], [0, 0, 0, 0]], np.float32
    )  # ty, tx, th, tw
    scores = np.array([[5.0, 1.0, -3.0], [5.0, -4.0, -4.0]], np.float32)  # class 0 = background
    dets = parse_ssd(
        {"box_encodings": encodings[None], "class_predictions": scores[None], "anchors": anchors},
        context(options, classes=3, size=100),
    )
    np.testing.assert_allclose(dets.xyxy, [[-8.0, 15.0, 72.0, 35.0]], atol=1e-3)
    assert dets.class_id.tolist() == [1]  # background ignored, raw index kept
    assert dets.confidence.tolist() == pytest.approx([1 / (1 + np.exp(-1.0))])


def test_named_outputs_and_centre_anchors() -> None:
    options = {
        "boxes_output": "boxes",
        "scores_output": "scores",
        "anchors_output": "priors",
        "anchor_format": "xcenter_ycenter_w_h",
        "reverse_output_order": True,
    }
    outputs = {
        "priors": np.array([[0.5, 0.5, 0.2, 0.2]], np.float32),
        "scores": np.array([[0.9]], np.float32),
        "boxes": np.array([[0.5, 0.0, 1.0, 2.0]], np.float32),  # x, y, w, h
    }
    dets = parse_ssd(outputs, context(options, size=100))
    np.testing.assert_allclose(dets.xyxy, [[50.0, 30.0, 70.0, 70.0]], atol=1e-4)


def test_wrong_anchor_count_and_unknown_options_are_clear() -> None:
    outputs = {"a": np.zeros((10, 16), np.float32), "b": np.zeros((10, 1), np.float32)}
    with pytest.raises(ParserError, match="896 boxes, one per anchor the spec generates"):
        parse_ssd(outputs, context(BLAZEFACE_OPTIONS))
    with pytest.raises(ValidationError, match="x_sclae"):
        parse_ssd(outputs, context({**BLAZEFACE_OPTIONS, "x_sclae": 1.0}))
    with pytest.raises(ParserError, match="box regressions"):
        parse_ssd({"a": np.zeros((10, 16), np.float32)}, context(BLAZEFACE_OPTIONS))


def test_registered_as_ssd() -> None:
    assert resolve_parser("ssd") is parse_ssd


def test_keypoints_are_decoded_like_box_centres() -> None:
    anchors = generate_anchors(SsdOptions.model_validate(BLAZEFACE_OPTIONS).anchors, 128, 128)
    regressors = np.zeros((896, 16), np.float32)
    logits = np.full((896, 1), -8.0, np.float32)
    xa, ya = anchors[10, :2] * 128
    regressors[10, :4] = [40 - xa, 20 - ya, 24, 30]
    points = [(30, 12), (50, 12), (40, 20), (40, 28), (28, 16), (52, 16)]  # six landmarks
    for k, (x, y) in enumerate(points):
        regressors[10, 4 + 2 * k : 6 + 2 * k] = [x - xa, y - ya]  # x first: reverse order
    logits[10] = 3.0
    dets = parse_ssd({"r": regressors, "c": logits}, context(BLAZEFACE_OPTIONS))
    assert dets.keypoints is not None
    np.testing.assert_allclose(dets.keypoints[0], points, atol=1e-3)
    # y-first regressions (reverse_output_order false) swap each pair.
    plain = {**BLAZEFACE_OPTIONS, "reverse_output_order": False}
    swapped = regressors.copy()
    swapped[:, 0:16:2], swapped[:, 1:16:2] = regressors[:, 1:16:2], regressors[:, 0:16:2]
    again = parse_ssd({"r": swapped, "c": logits}, context(plain))
    assert again.keypoints is not None
    np.testing.assert_allclose(again.keypoints, dets.keypoints, atol=1e-4)
