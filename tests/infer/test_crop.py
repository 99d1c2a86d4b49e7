"""Perspective crops of rotated boxes and crop turns (object_crop, object_crop_rotations)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visionflow.core.geometry import Letterbox
from visionflow.core.meta import ClassifierLabel
from visionflow.infer.config import InferConfig
from visionflow.infer.crop import map_polygons, object_crop, perspective_crop, rotation_of, turn


def _label(text: str) -> ClassifierLabel:
    return ClassifierLabel(component_id=2, attribute=0, class_id=0, confidence=0.95, label=text)


def test_a_tilted_band_comes_out_upright() -> None:
    # a 120 × 20 band tilted 25°, left half white, right half grey, on black
    image = np.zeros((200, 200, 3), np.uint8)
    rect = ((100, 100), (120, 20), 25)
    quad = cv2.boxPoints(rect)
    cv2.fillPoly(image, [quad.astype(np.int32)], (128, 128, 128))
    left = cv2.boxPoints(((100 - 30 * np.cos(np.radians(25)), 100 - 30 * np.sin(np.radians(25))),
                          (60, 20), 25))  # fmt: skip
    cv2.fillPoly(image, [left.astype(np.int32)], (255, 255, 255))
    from visionflow.infer.parsers.textdet import clockwise

    crop = perspective_crop(image, clockwise(quad))
    assert crop.shape[0] == 20
    assert crop.shape[1] in (119, 120)  # int() of the edge length, as PP-OCR
    assert crop[5:15, 5:50].mean() > 240  # white on the left: read left to right
    assert abs(crop[5:15, 70:115].mean() - 128) < 5


def test_a_tall_box_is_turned_as_pp_ocr_does() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[10:70, 40:55] = 255
    quad = np.array([[40, 10], [55, 10], [55, 70], [40, 70]], np.float32)
    assert perspective_crop(image, quad).shape[:2] == (15, 60)


def test_same_crop_as_rapidocr() -> None:
    rapid = pytest.importorskip(
        "rapidocr_onnxruntime.main",
        reason="needs rapidocr-onnxruntime (pip install 'visionflow[ocr]')",
    )
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    quads = [np.array([[20, 30], [140, 10], [145, 40], [25, 60]], np.float32),
             np.array([[60, 10], [80, 10], [80, 110], [60, 110]], np.float32)]  # fmt: skip
    theirs = rapid.RapidOCR.get_crop_img_list(None, image, [q.copy() for q in quads])
    for quad, expected in zip(quads, theirs, strict=True):
        np.testing.assert_array_equal(perspective_crop(image, quad), expected)


def test_turns_and_labels() -> None:
    image = np.repeat(np.arange(6, dtype=np.uint8).reshape(2, 3, 1), 3, axis=2)
    assert turn(image, 180)[..., 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert turn(image, 90).shape[:2] == (3, 2)
    assert turn(image, 0) is image
    rotations = {"180": 180}
    assert rotation_of([_label("0")], rotations) == 0
    assert rotation_of([_label("text"), _label("180")], rotations) == 180


def test_object_crop_falls_back_to_the_box() -> None:
    image = np.arange(100 * 100 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 100, 3)
    box = object_crop(image, (10, 20, 30, 40), None, 0)
    np.testing.assert_array_equal(box, image[20:60, 10:40])
    nan_quad = np.full((4, 2), np.nan, np.float32)  # an object without a polygon after concat
    np.testing.assert_array_equal(object_crop(image, (10, 20, 30, 40), nan_quad, 180),
                                  image[20:60, 10:40][::-1, ::-1])  # fmt: skip


def test_polygons_map_back_to_the_frame() -> None:
    box = Letterbox.fit((0, 0, 640, 360), (320, 320), maintain_aspect_ratio=True,
                        symmetric_padding=True)  # fmt: skip
    # 640 × 360 → 320 × 180, 70 rows of padding above: y_frame = (y − 70) · 2
    quad = np.array([[[10, 60], [100, 60], [100, 120], [10, 120]]], np.float32)
    frame = map_polygons(quad, box, (640, 360))
    np.testing.assert_allclose(frame[0, 0], [20, 0])  # −20 clipped to the frame
    np.testing.assert_allclose(frame[0, 2], [200, 100])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"object_crop": "perspective"}, "secondary elements only"),
        ({"object_crop_rotations": {"180": 180}}, "secondary elements only"),
        ({"process_mode": "secondary", "object_crop": "perspective"}, "classifiers"),
        ({"process_mode": "secondary", "object_crop_rotations": {"180": 45}}, "180"),
    ],
)
def test_config_checks(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        InferConfig(**fields)


def test_corners_are_rounded_as_pp_ocr_detections_are() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    quad = np.array([[20.4, 30.6], [140.2, 10.5], [144.6, 40.4], [25.3, 59.7]], np.float32)
    np.testing.assert_array_equal(
        perspective_crop(image, quad), perspective_crop(image, np.round(quad))
    )
