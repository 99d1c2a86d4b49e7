"""Classifier parsers: DeepStream's softmax rules on hand-made probability vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support.onnx_models import constant_output_model
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.errors import ParserError
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer
from visionflow.infer.parsers.base import (
    Attribute,
    ClassificationResult,
    NetworkInfo,
    ParseContext,
    resolve_parser,
)
from visionflow.infer.parsers.classify import (
    parse_softmax,
    parse_softmax_logits,
    parse_tao_non_softmax,
)

CTX = ParseContext(
    NetworkInfo(224, 224, 3),
    0,
    np.zeros(0),
    classifier_threshold=0.5,
    labels=(("car", "truck", "bus"), ("red", "green")),
)


def f32(values: list[float]) -> np.ndarray:
    return np.array(values, np.float32)


def summary(result: ClassificationResult) -> list[tuple[int, int, float, str | None]]:
    """Attributes as ``(index, class, confidence to 6 decimals, label)``."""
    return [(a.index, a.class_id, round(a.confidence, 6), a.label) for a in result.attributes]


def test_each_output_is_an_attribute_with_a_label_from_its_line() -> None:
    outputs = {"type": f32([0.2, 0.7, 0.1]), "colour": f32([0.3, 0.7]).reshape(2, 1, 1)}
    result = parse_softmax(outputs, CTX)
    assert summary(result) == [(0, 1, 0.7, "truck"), (1, 1, 0.7, "green")]
    assert result.description == "truck green "


def test_probability_equal_to_the_threshold_is_not_enough() -> None:
    result = parse_softmax({"type": f32([0.2, 0.7, 0.1]), "colour": f32([0.5, 0.5])}, CTX)
    assert [a.index for a in result.attributes] == [0]
    assert result.description == "truck "


def test_ties_go_to_the_first_class_and_missing_labels_are_none() -> None:
    ctx = ParseContext(NetworkInfo(1, 1, 3), 0, np.zeros(0), classifier_threshold=0.3)
    result = parse_softmax({"a": f32([0.4, 0.4, 0.2])}, ctx)
    assert summary(result) == [(0, 0, 0.4, None)]
    assert result.description == ""


def test_non_softmax_applies_softmax_first() -> None:
    result = parse_softmax_logits({"type": f32([0.0, np.log(3.0), -np.inf])}, CTX)
    assert summary(result) == [(0, 1, 0.75, "truck")]


def test_outputs_must_be_vectors() -> None:
    with pytest.raises(ParserError) as err:
        parse_softmax({"probs": np.zeros((2, 3), np.float32)}, CTX)
    assert str(err.value) == (
        "parser 'softmax': expected one probability vector per output, e.g. (C,) or (C, 1, 1), "
        "got probs (2, 3) float32"
    )


def test_tao_non_softmax_finds_the_class_but_leaves_label_and_description_empty() -> None:
    # TAO's NvDsInferClassiferParseNonSoftmax sets attributeLabel to NULL and never fills
    # descString, whatever the labels file holds.
    result = parse_tao_non_softmax({"type": f32([0.0, np.log(3.0), -np.inf])}, CTX)
    assert summary(result) == [(0, 1, 0.75, None)]
    assert result.description == ""
    assert not result.attaches
    assert resolve_parser("NvDsInferClassiferParseNonSoftmax") is parse_tao_non_softmax


@pytest.mark.parametrize(
    ("attributes", "description", "attaches"),
    [
        ((), "", False),
        ((), "car ", False),
        ((Attribute(0, 1, 0.9, None),), "", False),
        ((Attribute(0, 1, 0.9, "truck"),), "", False),  # a custom parser that left it empty
        ((Attribute(0, 1, 0.9, "truck"),), "truck ", True),
        ((Attribute(0, 1, 0.9, None), Attribute(1, 0, 0.8, "red")), "red ", True),
    ],
)
def test_a_result_attaches_only_with_attributes_and_a_description(
    attributes: tuple[Attribute, ...], description: str, attaches: bool
) -> None:
    assert ClassificationResult(attributes, description).attaches is attaches


# --- through the inference element: what nvinfer attaches ------------------------------------


def _classify_objects(tmp_path: Path, probs: dict[str, np.ndarray], **config: object) -> Detections:
    """A secondary classifier with constant outputs run on two objects of a 100×100 frame."""
    model = constant_output_model(tmp_path / "cls.onnx", probs, input_shape=("N", 3, 32, 32))
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "process_mode": "secondary",
            "classifier_threshold": 0.5,
            "gie_unique_id": 2,
            **config,
        }
    )
    infer = Infer(cfg)
    infer.start()
    batch = Batch([Frame(np.zeros((100, 100, 3), np.uint8), PixelFormat.RGB24, 0, 0)])
    batch.meta.frames[0].detections = Detections(
        np.array([[10, 10, 50, 50], [60, 60, 90, 90]], np.float32), component_id=[1, 1]
    )
    return infer.process(batch).meta.frames[0].detections


def test_a_winning_class_without_a_label_attaches_nothing(tmp_path: Path) -> None:
    # Class 2 wins, but the labels line has only two tokens: no label, empty description.
    dets = _classify_objects(tmp_path, {"colour": f32([0.1, 0.2, 0.7])}, labels=[["red", "green"]])
    assert dets.classifications == ((), ())


def test_an_unlabelled_attribute_attaches_beside_a_labelled_one(tmp_path: Path) -> None:
    dets = _classify_objects(
        tmp_path,
        {"colour": f32([0.1, 0.2, 0.7]), "kind": f32([0.8, 0.2])},
        labels=[["red", "green"], ["sedan", "suv"]],
    )
    for labels in dets.classifications:
        assert [(c.attribute, c.class_id, c.label) for c in labels] == [(0, 2, ""), (1, 0, "sedan")]


def test_tao_non_softmax_classifier_attaches_nothing(tmp_path: Path) -> None:
    dets = _classify_objects(
        tmp_path,
        {"logits": f32([0.0, 3.0, 0.0])},
        labels=[["red", "green", "blue"]],
        parse_classifier_func_name="NvDsInferClassiferParseNonSoftmax",
    )
    assert dets.classifications == ((), ())


def test_logits_classifier_under_visionflow_name_keeps_its_labels(tmp_path: Path) -> None:
    dets = _classify_objects(
        tmp_path,
        {"logits": f32([0.0, 3.0, 0.0])},
        labels=[["red", "green", "blue"]],
        parser="softmax_logits",
    )
    assert [[(c.class_id, c.label) for c in labels] for labels in dets.classifications] == [
        [(1, "green")],
        [(1, "green")],
    ]


def test_primary_classifier_without_a_label_adds_no_whole_frame_object(tmp_path: Path) -> None:
    model = constant_output_model(tmp_path / "cls.onnx", {"p": f32([0.2, 0.8])})
    cfg = InferConfig.model_validate(
        {"onnx_file": model, "network_type": "classifier", "labels": [["day"]]}
    )
    infer = Infer(cfg)
    infer.start()
    batch = Batch([Frame(np.zeros((30, 40, 3), np.uint8), PixelFormat.RGB24, 0, 0)])
    assert len(infer.process(batch).meta.frames[0].detections) == 0
