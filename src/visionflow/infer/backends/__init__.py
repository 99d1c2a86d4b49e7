"""Inference backends behind one small protocol, found by name in a registry."""

from __future__ import annotations

from visionflow.infer.backends.base import (
    BACKENDS,
    Backend,
    TensorSpec,
    load_backend,
)

__all__ = ["BACKENDS", "Backend", "TensorSpec", "load_backend"]
