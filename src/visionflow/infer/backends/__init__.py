"""Inference backends behind one small protocol, found by name in a registry."""

from __future__ import annotations

from visionflow.infer.backends.base import (
    BACKENDS,
    Backend,
    TensorSpec,
    load_backend,
)
from visionflow.infer.backends.onnxruntime import OnnxRuntimeBackend
from visionflow.infer.backends.openvino import OpenVINOBackend  # imports openvino only on use
from visionflow.infer.backends.torch import TorchBackend  # imports torch only on use

__all__ = [
    "BACKENDS",
    "Backend",
    "OnnxRuntimeBackend",
    "OpenVINOBackend",
    "TensorSpec",
    "TorchBackend",
    "load_backend",
]
