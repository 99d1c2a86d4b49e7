"""Semantic segmentation parsers: arg-max with DeepStream's threshold, and class-map models."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.segment import parse_argmax, parse_class_map

PROBS = np.array(
    [
        [[0.9, 0.3, 0.5], [0.1, 0.45, 0.6]],
        [[0.1, 0.7, 0.5], [0.2, 0.45, 0.6]],
    ],
    np.float32,
)
# (0,0) 0.9 → 0; (0,1) 0.7 → 1; (0,2) tie at 0.5, not above 0.5 → −1;
# (1,0) best 0.2 → −1; (1,1) 0.45 → −1; (1,2) tie at 0.6 → first class, 0.
EXPECTED = [[0, 1, -1], [-1, -1, 0]]


def context(order: int = 0, classes: int = 2) -> ParseContext:
    return ParseContext(
        NetworkInfo(3, 2, 3),
        classes,
        np.zeros(classes),
        segmentation_threshold=0.5,
        segmentation_output_order=order,
    )


def test_argmax_nchw() -> None:
    result = parse_argmax({"softmax": PROBS}, context())
    assert result.class_map.tolist() == EXPECTED
    assert result.probabilities is not None
    np.testing.assert_array_equal(result.probabilities, PROBS)


def test_argmax_nhwc_gives_the_same_map() -> None:
    result = parse_argmax({"softmax": PROBS.transpose(1, 2, 0)}, context(order=1))
    assert result.class_map.tolist() == EXPECTED
    assert result.probabilities is not None
    np.testing.assert_array_equal(result.probabilities, PROBS)


def test_argmax_needs_one_channel_per_class() -> None:
    with pytest.raises(ParserError) as err:
        parse_argmax({"softmax": PROBS}, context(classes=3))
    assert str(err.value) == (
        "parser 'argmax': expected a first output of shape (3, H, W), got softmax (2, 2, 3) float32"
    )


def test_class_map_models_pass_their_map_through() -> None:
    class_map = np.array([[[0, 1, 2], [2, 1, 0]]], np.int64)
    result = parse_class_map({"output": class_map}, context())
    assert result.class_map.tolist() == [[0, 1, 2], [2, 1, 0]]
    assert result.probabilities is None


def test_class_map_needs_an_integer_map_of_the_network_size() -> None:
    with pytest.raises(ParserError) as err:
        parse_class_map({"output": PROBS}, context())
    assert str(err.value) == (
        "parser 'class_map': expected an integer output of shape (2, 3) (or with a unit axis), "
        "got output (2, 2, 3) float32"
    )
