"""The sink that does nothing (DeepStream ``fakesink``, ``[sinkN] type=1``)."""

from __future__ import annotations

from visionflow.core.batch import Batch
from visionflow.core.element import Sink


class FakeSink(Sink):
    """Passes every batch on untouched; the pipeline's end counts the frames.

    Useful to end a pipeline whose results are read by probes, or to measure throughput without
    the cost of an output.
    """

    kind = "fakesink"

    def process(self, batch: Batch) -> Batch:
        return batch
