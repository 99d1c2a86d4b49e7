"""Core runtime: frames, batches, metadata, elements and the pipeline that runs them."""

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
from visionflow.core.pipeline import Pipeline, PipelineReport

__all__ = [
    "Batch",
    "BatchMeta",
    "ClassifierLabel",
    "Detections",
    "Element",
    "Frame",
    "FrameMeta",
    "ObjectView",
    "Pipeline",
    "PipelineReport",
    "PixelFormat",
    "SegmentationMap",
    "TensorMeta",
]
