"""Media sources: video files and streams decoded by FFmpeg, still images, synthetic frames, and
(optionally) NVIDIA's hardware decoder.

The names below are imported lazily, so a submodule that needs no PyAV (``media.nvdec`` on a GPU
machine without PyAV, say) can be imported without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "IMAGE_SUFFIXES": "visionflow.media.images",
    "ImageSource": "visionflow.media.images",
    "PATTERNS": "visionflow.media.synthetic",
    "SyntheticSource": "visionflow.media.synthetic",
    "decode_stamp": "visionflow.media.synthetic",
    "open_source": "visionflow.media.uri",
    "StreamInfo": "visionflow.media.video",
    "VideoSource": "visionflow.media.video",
    "is_live_uri": "visionflow.media.schemes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'visionflow.media' has no attribute '{name}'")
