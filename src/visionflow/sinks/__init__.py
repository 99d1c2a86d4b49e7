"""Sinks: elements that write what the pipeline produced (video files, metadata) and pass it on."""

from __future__ import annotations

from visionflow.sinks.fake import FakeSink
from visionflow.sinks.metadata import SCHEMA, JsonLinesSink, frame_record, mask_to_rle
from visionflow.sinks.video import VideoFileSink

__all__ = ["SCHEMA", "FakeSink", "JsonLinesSink", "VideoFileSink", "frame_record", "mask_to_rle"]
