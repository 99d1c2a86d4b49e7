"""Core types: frames, batches, metadata, elements and sources.

The pipeline that runs them lives in :mod:`visionflow.core.pipeline`.
"""

from __future__ import annotations

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import (
    BatchMeta,
    ClassifierLabel,
    Detections,
    FrameMeta,
    ObjectView,
    SegmentationMap,
    TensorMeta,
)
from visionflow.core.source import Source

__all__ = [
    "Batch",
    "BatchMeta",
    "ClassifierLabel",
    "Detections",
    "Element",
    "Frame",
    "FrameMeta",
    "ObjectView",
    "PixelFormat",
    "SegmentationMap",
    "Source",
    "TensorMeta",
]
