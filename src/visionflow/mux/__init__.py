"""Batching across streams (streammux), and the tiler that composes streams into one picture."""

from __future__ import annotations

from visionflow.mux.streammux import SourceQueues, StreamMux
from visionflow.mux.tiler import MERGED, Tiler, grid_shape

__all__ = ["MERGED", "SourceQueues", "StreamMux", "Tiler", "grid_shape"]
