"""Sinks: elements that write what the pipeline produced (video files, metadata) and pass it on.

The names below are imported lazily, so a sink that needs no PyAV (``sinks.nvenc`` on a GPU
machine without PyAV, say) can be imported without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FakeSink": "visionflow.sinks.fake",
    "SCHEMA": "visionflow.sinks.metadata",
    "JsonLinesSink": "visionflow.sinks.metadata",
    "frame_record": "visionflow.sinks.metadata",
    "mask_to_rle": "visionflow.sinks.metadata",
    "VideoFileSink": "visionflow.sinks.video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'visionflow.sinks' has no attribute '{name}'")
