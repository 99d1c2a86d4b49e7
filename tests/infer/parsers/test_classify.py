"""Classifier parsers: DeepStream's softmax rules on hand-made probability vectors."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import ClassificationResult, NetworkInfo, ParseContext
from visionflow.infer.parsers.classify import parse_softmax, parse_softmax_logits

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
