"""The preprocessing an inference config asks for on a model's input tensor.

nvinfer derives the network input from the model's input shape (``infer-dims`` fills or
overrides it), the colour format, scale factor, offsets or mean image, aspect-ratio and padding
keys. :func:`preprocess_spec` turns a config and the model's first input into the
:class:`~visionflow.infer.preprocess.PreprocessSpec` that inference and INT8 calibration both
use, so both see exactly the same pixels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig, TensorOrder
from visionflow.infer.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

_CHANNEL_COUNTS = (1, 3, 4)


def preprocess_spec(
    config: InferConfig, shape: tuple[int | None, ...], dtype: np.dtype | type
) -> PreprocessSpec:
    """The preprocessing of ``config`` for a model input of ``shape`` and ``dtype``.

    Args:
        config: the inference config.
        shape: the model's input shape, ``(N, C, H, W)`` or (``network-input-order=1``)
            ``(N, H, W, C)``; None marks a dynamic dimension.
        dtype: the input's element type.

    A channels-last input (last dimension 1, 3 or 4, the two before it larger: TFLite and
    TensorFlow models) with ``network_input_order`` left unset — a visionflow YAML without the
    key — is read as NHWC, and a log line says so. Where the order is set to NCHW, and in every
    DeepStream nvinfer file (whose ``network-input-order`` defaults to 0), such an input is an
    error naming ``network-input-order``: DeepStream reads the key, not the model.

    Raises:
        ConfigError: the input is not 4-D, is channels-last while the config says NCHW, has
            dynamic spatial dimensions without ``infer-dims``, or the ``mean-file`` cannot be
            read or has another size.
    """
    nhwc = config.network_input_order is TensorOrder.NHWC
    dims = shape[1:]
    if len(dims) != 3:
        raise ConfigError(f"model input must be 4-D (N, C, H, W) or (N, H, W, C); got {shape}")
    if not nhwc and _channels_last(dims):
        if "network_input_order" in config.model_fields_set:
            shown = "x".join("?" if d is None else str(d) for d in shape)
            raise ConfigError(
                f"the model's input {shown} is channels-last (NHWC) but the config reads it as "
                "NCHW; set network-input-order=1 (visionflow YAML: network_input_order: nhwc)",
                key="network-input-order",
                value="0",
                allowed="1 (NHWC) for this model",
            )
        log.info("model input %s is channels-last: reading it as NHWC (network_input_order)", shape)
        nhwc = True
    c, h, w = (dims[2], dims[0], dims[1]) if nhwc else dims
    if config.infer_dims is not None:
        c, h, w = config.infer_dims
    if c is None or h is None or w is None:
        raise ConfigError(
            f"the model's input {shape} has dynamic spatial dimensions; set infer-dims (c;h;w)",
            key="infer-dims",
        )
    mean = None
    if config.mean_file is not None:
        mean = read_mean_image(config.mean_file, w, h, c)
    return PreprocessSpec(
        width=w,
        height=h,
        channels=c,
        color_format=config.model_color_format,
        net_scale_factor=config.net_scale_factor,
        offsets=config.offsets,
        mean_image=mean,
        maintain_aspect_ratio=config.maintain_aspect_ratio,
        symmetric_padding=config.symmetric_padding,
        fixed_height=config.fixed_height_scaling,
        min_width=config.fixed_height_min_width,
        nhwc=nhwc,
        scaling_filter=config.scaling_filter,
        dtype=np.dtype(dtype),
    )


def _channels_last(dims: tuple[int | None, ...]) -> bool:
    """Whether ``(d1, d2, d3)`` after the batch look like ``H, W, C``: C of 1, 3 or 4 and both
    H and W larger (an NCHW input's last dimension is a width, larger than its channels)."""
    h, w, c = dims
    if h is None or w is None or c is None:
        return False
    return c in _CHANNEL_COUNTS and h > c and w > c


def read_mean_image(path: Path, width: int, height: int, channels: int) -> np.ndarray:
    """A PPM mean image (``mean-file``) as ``(H, W, C) float32`` in the file's channel order (RGB).

    Raises:
        ConfigError: the file cannot be read or its size is not the network input's.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ConfigError("cannot read the mean image", file=str(path), key="mean-file")
    image = image[..., None] if image.ndim == 2 else image[..., ::-1]
    if image.shape != (height, width, channels):
        raise ConfigError(
            f"mean image is {image.shape[1]}x{image.shape[0]}x{image.shape[2]}, "
            f"the network input is {width}x{height}x{channels}",
            file=str(path),
            key="mean-file",
        )
    return image.astype(np.float32)
