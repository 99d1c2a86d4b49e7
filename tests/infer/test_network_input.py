"""The preprocessing a config asks for on a model's input: shape, infer-dims, mean image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig
from visionflow.infer.network_input import preprocess_spec


def config(**fields: object) -> InferConfig:
    return InferConfig.model_validate({"onnx_file": "m.onnx", **fields})


@pytest.mark.parametrize(
    ("fields", "shape", "expected"),
    [
        ({}, (None, 3, 64, 96), (3, 64, 96)),
        ({"network_input_order": "nhwc"}, (None, 64, 96, 3), (3, 64, 96)),
        ({"infer_dims": (3, 32, 48)}, (None, 3, None, None), (3, 32, 48)),
        ({}, (1, 1, 20, 10), (1, 20, 10)),
    ],
)
def test_network_size_comes_from_the_model_or_infer_dims(
    fields: dict[str, object], shape: tuple[int | None, ...], expected: tuple[int, int, int]
) -> None:
    spec = preprocess_spec(config(**fields), shape, np.float32)
    assert (spec.channels, spec.height, spec.width) == expected
    assert spec.nhwc is (fields.get("network_input_order") == "nhwc")
    assert spec.dtype == np.float32


def test_config_keys_reach_the_spec() -> None:
    cfg = config(net_scale_factor=0.5, offsets=(1.0, 2.0, 3.0), maintain_aspect_ratio=True)
    spec = preprocess_spec(cfg, (None, 3, 8, 8), np.float16)
    assert spec.net_scale_factor == 0.5
    assert tuple(spec.offsets) == (1.0, 2.0, 3.0)
    assert spec.maintain_aspect_ratio is True
    assert spec.dtype == np.float16


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((None, 3, None, None), r"has dynamic spatial dimensions; set infer-dims"),
        ((None, 3, 8), r"model input must be 4-D .* got \(None, 3, 8\)"),
    ],
)
def test_unusable_inputs_are_config_errors(shape: tuple[int | None, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        preprocess_spec(config(), shape, np.float32)


def test_mean_image_is_read_as_rgb_float_and_must_match_the_network(tmp_path: Path) -> None:
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 10  # blue in the file
    cv2.imwrite(str(tmp_path / "mean.ppm"), bgr)
    spec = preprocess_spec(config(mean_file=tmp_path / "mean.ppm"), (None, 3, 4, 6), np.float32)
    assert spec.mean_image is not None
    assert spec.mean_image.dtype == np.float32
    np.testing.assert_array_equal(spec.mean_image[0, 0], [0, 0, 10])  # RGB order
    with pytest.raises(ConfigError, match="mean image is 6x4x3, the network input is 8x8x3"):
        preprocess_spec(config(mean_file=tmp_path / "mean.ppm"), (None, 3, 8, 8), np.float32)


@pytest.mark.parametrize("shape", [(None, 64, 96, 3), (1, 32, 32, 1), (None, 16, 20, 4)])
def test_channels_last_input_is_read_as_nhwc_when_the_order_is_unset(
    shape: tuple[int | None, ...],
) -> None:
    spec = preprocess_spec(config(), shape, np.float32)
    assert (spec.nhwc, spec.channels, spec.height, spec.width) == (True, shape[3], *shape[1:3])


def test_channels_last_input_with_nchw_set_names_network_input_order() -> None:
    with pytest.raises(ConfigError, match="set network-input-order=1") as info:
        preprocess_spec(config(network_input_order="nchw"), (1, 64, 96, 3), np.float32)
    assert info.value.key == "network-input-order"
