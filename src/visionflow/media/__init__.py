"""Media sources: video files and streams decoded by FFmpeg, still images, synthetic frames."""

from __future__ import annotations

from visionflow.media.images import IMAGE_SUFFIXES, ImageSource
from visionflow.media.synthetic import PATTERNS, SyntheticSource, decode_stamp
from visionflow.media.uri import open_source
from visionflow.media.video import StreamInfo, VideoSource, is_live_uri

__all__ = [
    "IMAGE_SUFFIXES",
    "PATTERNS",
    "ImageSource",
    "StreamInfo",
    "SyntheticSource",
    "VideoSource",
    "decode_stamp",
    "is_live_uri",
    "open_source",
]
