"""Output parsers: raw tensors of one frame → detection candidates, attributes or class maps.

The contract lives in :mod:`visionflow.infer.parsers.base`; built-in parsers register themselves
in :data:`PARSERS` when their module is imported, which :func:`resolve_parser` does on demand.
"""

from __future__ import annotations

from visionflow.infer.parsers.base import (
    PARSERS,
    Attribute,
    ClassificationResult,
    DetectionCandidates,
    NetworkInfo,
    ParseContext,
    Parser,
    ParseResult,
    SegmentationResult,
    resolve_parser,
)

__all__ = [
    "PARSERS",
    "Attribute",
    "ClassificationResult",
    "DetectionCandidates",
    "NetworkInfo",
    "ParseContext",
    "ParseResult",
    "Parser",
    "SegmentationResult",
    "resolve_parser",
]
