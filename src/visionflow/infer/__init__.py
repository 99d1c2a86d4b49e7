"""Inference: backends that run models, parsers that read their outputs, DeepStream clustering."""

from __future__ import annotations
