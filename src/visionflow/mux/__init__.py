"""Batching across streams (streammux), and the tiler that composes streams into one picture."""

from __future__ import annotations

from visionflow.mux.streammux import SourceQueues, StreamMux

__all__ = ["SourceQueues", "StreamMux"]
