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


@pytest.mark.parametrize("classes", [0, 1, 3])
@pytest.mark.parametrize("order", [0, 1])
def test_argmax_takes_the_class_count_from_the_output(classes: int, order: int) -> None:
    # nvinfer's built-in parser uses the output's channel count; num-detected-classes (left at 0
    # or set to something else) does not matter.
    probs = PROBS.transpose(1, 2, 0) if order else PROBS
    result = parse_argmax({"softmax": probs}, context(order, classes))
    assert result.class_map.tolist() == EXPECTED
    assert result.probabilities is not None
    assert result.probabilities.shape == (2, 2, 3)


def test_argmax_of_an_output_without_channels_has_no_class() -> None:
    result = parse_argmax({"softmax": np.zeros((0, 2, 3), np.float32)}, context())
    assert result.class_map.tolist() == [[-1, -1, -1], [-1, -1, -1]]


@pytest.mark.parametrize(("order", "layout"), [(0, "(C, H, W)"), (1, "(H, W, C)")])
def test_argmax_needs_a_three_dimensional_output(order: int, layout: str) -> None:
    with pytest.raises(ParserError) as err:
        parse_argmax({"softmax": PROBS[0]}, context(order))
    assert str(err.value) == (
        f"parser 'argmax': expected a first output of shape {layout}, got softmax (2, 3) float32"
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
