"""Inference backends behind one small protocol, found by name in a registry."""

from __future__ import annotations

from visionflow.infer.backends.base import (
    BACKENDS,
    Backend,
    TensorSpec,
    load_backend,
)
from visionflow.infer.backends.onnxruntime import OnnxRuntimeBackend

__all__ = ["BACKENDS", "Backend", "OnnxRuntimeBackend", "TensorSpec", "load_backend"]

