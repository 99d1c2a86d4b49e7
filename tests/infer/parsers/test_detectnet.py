"""DetectNet_v2 grid parsers against boxes computed by hand from DeepStream's formula."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.detectnet import parse_detectnet_v2, parse_resnet10

# Network 64×32, grid 4×2: stride 16 both ways; cell (gx, gy) centre = (16·gx + 0.5, 16·gy + 0.5).
CTX = ParseContext(NetworkInfo(64, 32, 3), 1, np.array([0.5]))


def grid() -> tuple[np.ndarray, np.ndarray]:
    """Coverage (2, 2, 4) and boxes (8, 2, 4); the model has 2 classes, the config 1."""
    cov = np.full((2, 2, 4), 0.1, np.float32)
    cov[1] = 0.99  # class 1 is not parsed: num-detected-classes = 1
    bbox = np.zeros((8, 2, 4), np.float32)

    def cell(gy: int, gx: int, conf: float, x1: float, y1: float, x2: float, y2: float) -> None:
        cov[0, gy, gx] = conf
        bbox[0:4, gy, gx] = (x1, y1, x2, y2)

    cell(0, 0, 0.6, -0.2, 0.1, 0.0, 0.1)  # right (0.5) < left (7.5)
    cell(0, 3, 0.8, 0.0, 0.1, 1.0, 0.5)  # left 48.5, top −3, right 83.5, bottom 18
    cell(1, 0, 0.5, 0.1, 0.1, 0.1, 0.1)  # left −3, top 13, right 4, bottom 20; conf = threshold
    cell(1, 2, 0.9, 0.2, 0.1, 0.3, 0.2)  # left 25.5, top 13, right 43, bottom 23.5
    return cov, bbox


def test_builtin_parser_decodes_clips_and_drops_inverted_boxes() -> None:
    cov, bbox = grid()
    dets = parse_detectnet_v2({"output_cov/Sigmoid": cov, "output_bbox/BiasAdd": bbox}, CTX)
    # ≥ width → width − 1 (83.5 → 63); < 0 → 0; the inverted cell (0, 0) is dropped.
    np.testing.assert_allclose(
        dets.xyxy,
        [[48.5, 0.0, 63.0, 18.0], [0.0, 13.0, 4.0, 20.0], [25.5, 13.0, 43.0, 23.5]],
        atol=1e-4,
    )
    assert dets.confidence.tolist() == pytest.approx([0.8, 0.5, 0.9])
    assert dets.class_id.tolist() == [0, 0, 0]


def test_resnet10_sample_parser_clips_to_size_minus_one_and_adds_one() -> None:
    cov, bbox = grid()
    dets = parse_resnet10({"conv2d_cov/Sigmoid": cov, "conv2d_bbox": bbox}, CTX)
    # width = CLIP(right) − left + 1; the inverted cell is kept (x2' = 7.5 + (0.5 − 7.5 + 1)).
    np.testing.assert_allclose(
        dets.xyxy,
        [
            [7.5, 0.0, 1.5, 5.0],
            [48.5, 0.0, 64.0, 19.0],
            [0.0, 13.0, 5.0, 21.0],
            [25.5, 13.0, 44.0, 24.5],
        ],
        atol=1e-4,
    )
    assert dets.confidence.tolist() == pytest.approx([0.6, 0.8, 0.5, 0.9])


def test_builtin_parser_needs_cov_and_bbox_outputs() -> None:
    _, bbox = grid()
    with pytest.raises(ParserError) as err:
        parse_detectnet_v2({"output_bbox/BiasAdd": bbox}, CTX)
    assert str(err.value) == (
        "parser 'detectnet_v2': expected an output whose name contains 'cov' and one containing "
        "'bbox', got output_bbox/BiasAdd (8, 2, 4) float32"
    )


def test_resnet10_parser_needs_its_exact_layer_names() -> None:
    cov, bbox = grid()
    with pytest.raises(ParserError) as err:
        parse_resnet10({"output_cov/Sigmoid": cov, "output_bbox/BiasAdd": bbox}, CTX)
    assert str(err.value) == (
        "parser 'resnet10': expected an output named 'conv2d_cov/Sigmoid', got "
        "output_cov/Sigmoid (2, 2, 4) float32, output_bbox/BiasAdd (8, 2, 4) float32"
    )


def test_bbox_planes_must_cover_the_parsed_classes() -> None:
    cov, bbox = grid()
    with pytest.raises(ParserError, match=r"expected a bbox output with 4 planes"):
        parse_detectnet_v2({"cov": cov, "bbox": bbox[:3]}, CTX)
