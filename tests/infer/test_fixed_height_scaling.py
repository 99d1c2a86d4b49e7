"""fixed_height_scaling: PP-OCR's recogniser resizing (height fixed, aspect kept, right padding)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig
from visionflow.infer.network_input import preprocess_spec
from visionflow.infer.preprocess import ColorFormat, PreprocessSpec, ScalingFilter, preprocess

PP_OCR = {
    "net_scale_factor": 1 / 127.5,
    "offsets": (127.5, 127.5, 127.5),
    "color_format": ColorFormat.BGR,
    "scaling_filter": ScalingFilter.BILINEAR,
    "fixed_height": True,
}


def pp_ocr_resize_norm_img(img_bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """PP-OCR's ``resize_norm_img`` (rapidocr's TextClassifier / TextRecognizer), written out."""
    h, w = img_bgr.shape[:2]
    resized_w = min(width, math.ceil(height * w / h))
    resized = cv2.resize(img_bgr, (resized_w, height)).astype(np.float32)
    resized = resized.transpose(2, 0, 1) / 255
    resized = (resized - 0.5) / 0.5
    out = np.zeros((3, height, width), np.float32)
    out[:, :, :resized_w] = resized
    return out


@pytest.mark.parametrize(("w", "h"), [(150, 30), (90, 48), (40, 60), (800, 40), (321, 48)])
def test_same_tensor_as_pp_ocr(w: int, h: int) -> None:
    rng = np.random.default_rng(w * h)
    frame = rng.integers(0, 256, (h + 10, w + 20, 3), dtype=np.uint8)
    roi = (10, 4, w, h)
    tensor, (box,) = preprocess([frame], [roi], PreprocessSpec(320, 48, **PP_OCR))
    crop_bgr = np.ascontiguousarray(frame[4 : 4 + h, 10 : 10 + w, ::-1])
    np.testing.assert_allclose(tensor[0], pp_ocr_resize_norm_img(crop_bgr, 48, 320), atol=1e-5)
    assert box.scale_y == 48 / h
    assert round(w * box.scale_x) == min(320, math.ceil(48 * w / h))
    assert (box.pad_left, box.pad_top) == (0, 0)


def test_padding_is_zero_in_the_tensor_not_black() -> None:
    frame = np.full((48, 96, 3), 255, np.uint8)
    tensor, _ = preprocess([frame], [(0, 0, 96, 48)], PreprocessSpec(320, 48, **PP_OCR))
    assert np.all(tensor[0, :, :, :96] == pytest.approx(1.0))
    assert np.all(tensor[0, :, :, 96:] == 0)  # black would be -1 after normalisation


def test_nhwc_layout_too() -> None:
    frame = np.full((24, 24, 3), 200, np.uint8)
    spec = PreprocessSpec(64, 16, nhwc=True, **PP_OCR)
    tensor, _ = preprocess([frame], [(0, 0, 24, 24)], spec)
    assert tensor.shape == (1, 16, 64, 3)
    assert np.all(tensor[0, :, 16:] == 0)
    assert np.all(tensor[0, :, :16] != 0)


def test_the_config_key_reaches_the_preprocessing() -> None:
    cfg = InferConfig(fixed_height_scaling=True, network_type="classifier")
    assert preprocess_spec(cfg, (None, 3, 48, 320), np.float32).fixed_height


def test_it_excludes_letterboxing() -> None:
    with pytest.raises(ValueError, match="fixed_height_scaling and maintain_aspect_ratio"):
        InferConfig(maintain_aspect_ratio=True, fixed_height_scaling=True)


def test_a_yaml_config_with_both_names_file_and_key(tmp_path) -> None:
    from visionflow.config.infer_loader import load_infer_config

    path = tmp_path / "rec.yml"
    path.write_text("maintain_aspect_ratio: true\nfixed_height_scaling: true\n")
    with pytest.raises(ConfigError, match=r"rec\.yml:2.*fixed_height_scaling"):
        load_infer_config(path)


def pp_ocr_rec_batch(crops_bgr: list[np.ndarray], height: int, base_width: int) -> np.ndarray:
    """PP-OCR's recogniser batch: as wide as the widest crop needs, at least ``base_width``."""
    ratio = max([base_width / height, *(c.shape[1] / c.shape[0] for c in crops_bgr)])
    width = int(height * ratio)
    return np.stack([pp_ocr_resize_norm_img(c, height, width) for c in crops_bgr])


@pytest.mark.parametrize("sizes", [[(100, 40), (60, 30)], [(100, 40), (900, 50), (30, 60)]])
def test_min_width_batches_as_wide_as_the_widest_line(sizes) -> None:
    rng = np.random.default_rng(len(sizes))
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in sizes]
    spec = PreprocessSpec(2048, 48, min_width=320, **PP_OCR)
    tensor, boxes = preprocess(frames, [(0, 0, w, h) for w, h in sizes], spec)
    expected = pp_ocr_rec_batch([np.ascontiguousarray(f[..., ::-1]) for f in frames], 48, 320)
    assert tensor.shape == expected.shape
    assert tensor.flags.c_contiguous
    np.testing.assert_allclose(tensor, expected, atol=1e-5)
    assert {b.net_width for b in boxes} == {expected.shape[3]}


def test_min_width_is_capped_by_the_network_width() -> None:
    frame = np.zeros((20, 2000, 3), np.uint8)
    tensor, _ = preprocess([frame], [(0, 0, 2000, 20)], PreprocessSpec(640, 48, min_width=320,
                                                                       **PP_OCR))  # fmt: skip
    assert tensor.shape == (1, 3, 48, 640)


def test_min_width_needs_fixed_height_scaling() -> None:
    with pytest.raises(ValueError, match="needs fixed_height_scaling"):
        InferConfig(fixed_height_min_width=320)
