"""SSD anchors from a spec, against MediaPipe's published anchor counts and layouts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from visionflow.infer.parsers.anchors import AnchorSpec, generate_anchors

BLAZEFACE = AnchorSpec(  # face_detection_short_range: 896 anchors
    num_layers=4,
    min_scale=0.1484375,
    max_scale=0.75,
    strides=(8, 16, 16, 16),
    fixed_anchor_size=True,
)
SSD_MOBILENET = AnchorSpec(  # object_detection_mobile_cpu.pbtxt: 2034 anchors
    num_layers=6,
    min_scale=0.2,
    max_scale=0.95,
    input_size_height=320,
    input_size_width=320,
    strides=(16, 32, 64, 128, 256, 512),
    aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333),
    reduce_boxes_in_lowest_layer=True,
)


def test_blazeface_anchors() -> None:
    anchors = generate_anchors(BLAZEFACE, 128, 128)
    assert anchors.shape == (896, 4)  # 16·16·2 + 8·8·6, MediaPipe's num_boxes
    assert (anchors[:, 2:] == 1).all()  # fixed_anchor_size
    # Stride 8: 16×16 cells, 2 anchors per cell, row by row.
    assert anchors[0, :2].tolist() == anchors[1, :2].tolist() == [0.5 / 16, 0.5 / 16]
    assert anchors[2, :2].tolist() == [1.5 / 16, 0.5 / 16]
    assert anchors[32, :2].tolist() == [0.5 / 16, 1.5 / 16]
    # The three stride-16 layers share an 8×8 grid with 6 anchors per cell.
    assert anchors[512:518, :2].tolist() == [[0.5 / 8, 0.5 / 8]] * 6
    assert anchors[-1, :2].tolist() == [7.5 / 8, 7.5 / 8]


def test_ssd_mobilenet_anchors() -> None:
    anchors = generate_anchors(SSD_MOBILENET, 300, 300)  # the spec's input size wins
    assert anchors.shape == (2034, 4)  # 20²·3 + 10²·6 + 5²·6 + 3²·6 + 2²·6 + 1·6
    # The lowest layer: scale 0.1 ratio 1, then scale 0.2 at ratios 2 and 0.5 (w, h = s·√r, s/√r).
    r2 = math.sqrt(2)
    expected = [[0.1, 0.1], [0.2 * r2, 0.2 / r2], [0.2 / r2, 0.2 * r2]]
    assert anchors[:3, 2:] == pytest.approx(np.array(expected), rel=1e-6)
    # Layer 1: scale 0.35 at five ratios, then √(0.35 · 0.5) at ratio 1 (interpolated scale).
    layer1 = anchors[1200:1206]
    assert layer1[0, 2:] == pytest.approx([0.35, 0.35])
    assert layer1[5, 2:] == pytest.approx([math.sqrt(0.35 * 0.5)] * 2)
    assert layer1[0, :2] == pytest.approx([0.05, 0.05])
    # The last layer's interpolated anchor uses a next scale of 1.0.
    assert anchors[-1, 2:] == pytest.approx([math.sqrt(0.95)] * 2)


def test_spec_needs_one_stride_per_layer() -> None:
    with pytest.raises(ValidationError, match="strides has 2 entries for 3 layers"):
        AnchorSpec(num_layers=3, min_scale=0.1, max_scale=0.5, strides=(8, 16))
    with pytest.raises(ValidationError, match="extra"):
        AnchorSpec(num_layers=1, min_scale=0.1, max_scale=0.5, strides=(8,), stride=(8,))


def test_multiscale_anchors_follow_mediapipe_levels() -> None:
    spec = AnchorSpec(
        multiscale_anchor_generation=True,
        min_level=3,
        max_level=4,
        strides=(8, 16),
        aspect_ratios=(1.0, 2.0),
        scales_per_octave=2,
        anchor_scale=4.0,
    )
    anchors = generate_anchors(spec, 64, 64)
    assert anchors.shape == (8 * 8 * 4 + 4 * 4 * 4, 4)
    r2 = math.sqrt(2)
    # Level 3: stride 8, base 32 px; per cell ratio 1 at scales 1, √2, then ratio 2 at both.
    first_cell = np.array(
        [[4, 4, 32, 32], [4, 4, 32 * r2, 32 * r2], [4, 4, 32 * r2, 32 / r2], [4, 4, 64, 32]]
    )
    np.testing.assert_allclose(anchors[:4], first_cell / 64, rtol=1e-6)
    np.testing.assert_allclose(anchors[4, :2], [12 / 64, 4 / 64])  # next cell along x
    np.testing.assert_allclose(anchors[256], [8 / 64, 8 / 64, 1.0, 1.0])  # level 4: 16 px, 64 px
    # An input the level's stride does not divide: no half-stride offset; unnormalised pixels.
    odd = generate_anchors(spec.model_copy(update={"normalize_coordinates": False}), 60, 60)
    assert odd[0].tolist() == pytest.approx([0, 0, 32, 32])


def test_fixed_anchors_are_used_as_given() -> None:
    spec = AnchorSpec(fixed_anchors=((0.5, 0.5, 0.2, 0.1), (0.25, 0.75, 1.0, 1.0)))
    np.testing.assert_allclose(
        generate_anchors(spec, 128, 128), [[0.5, 0.5, 0.2, 0.1], [0.25, 0.75, 1.0, 1.0]]
    )
    with pytest.raises(ValidationError, match=r"fixed_anchors excludes .*num_layers"):
        AnchorSpec(fixed_anchors=((0.5, 0.5, 1, 1),), num_layers=1)
