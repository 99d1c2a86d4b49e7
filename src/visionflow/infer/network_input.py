"""The preprocessing an inference config asks for on a model's input tensor.

nvinfer derives the network input from the model's input shape (``infer-dims`` fills or
overrides it), the colour format, scale factor, offsets or mean image, aspect-ratio and padding
keys. :func:`preprocess_spec` turns a config and the model's first input into the
:class:`~visionflow.infer.preprocess.PreprocessSpec` that inference and INT8 calibration both
use, so both see exactly the same pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig, TensorOrder
from visionflow.infer.preprocess import PreprocessSpec


def preprocess_spec(
    config: InferConfig, shape: tuple[int | None, ...], dtype: np.dtype | type
) -> PreprocessSpec:
    """The preprocessing of ``config`` for a model input of ``shape`` and ``dtype``.

    Args:
        config: the inference config.
        shape: the model's input shape, ``(N, C, H, W)`` or (``network-input-order=1``)
            ``(N, H, W, C)``; None marks a dynamic dimension.
        dtype: the input's element type.

    Raises:
        ConfigError: the input is not 4-D, has dynamic spatial dimensions without
            ``infer-dims``, or the ``mean-file`` cannot be read or has another size.
    """
    nhwc = config.network_input_order is TensorOrder.NHWC
    dims = shape[1:]
    if len(dims) != 3:
        raise ConfigError(f"model input must be 4-D (N, C, H, W) or (N, H, W, C); got {shape}")
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
        nhwc=nhwc,
        scaling_filter=config.scaling_filter,
        dtype=np.dtype(dtype),
    )


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
