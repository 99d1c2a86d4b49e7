"""Batching across streams (streammux), and the tiler that composes streams into one picture."""

from __future__ import annotations

from visionflow.mux.streammux import SourceQueues, StreamMux
from visionflow.mux.tiler import Tiler, grid_shape, no_cell

__all__ = ["SourceQueues", "StreamMux", "Tiler", "grid_shape", "no_cell"]
