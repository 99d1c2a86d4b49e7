"""Elements: single-purpose stages of a pipeline, each run in its own worker thread; sinks are the
elements that write results out and fail alone."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from visionflow.core.batch import Batch

if TYPE_CHECKING:
    from visionflow.core.stats import PipelineStats


class Element(ABC):
    """A pipeline stage: receives batches, returns batches.

    Life cycle, all called from the element's own worker thread: :meth:`start` once, then
    :meth:`process` for every batch, then :meth:`flush` at end of stream, then :meth:`stop` (always,
    also after an error). An element that consumes a batch without passing it on returns None and
    accounts for the frames with ``self.stats.drop(...)``.
    """

    kind: ClassVar[str] = "element"
    stats: PipelineStats | None = None

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind

    def start(self) -> None:  # noqa: B027 - optional hook
        """Open resources (models, files, windows). Runs in the worker thread."""

    @abstractmethod
    def process(self, batch: Batch) -> Batch | None:
        """Handle one batch; return it (or a new one) to pass it on, or None to consume it."""

    def flush(self) -> Iterable[Batch]:
        """End of stream: return any batches still held back."""
        return ()

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Called once, after flush or after an error."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Sink(Element):
    """An element that writes results somewhere (a file, a socket) and passes every batch on.

    A sink fails alone: when its :meth:`start`, :meth:`process` or :meth:`flush` raises, the
    pipeline reports the error with the sink's name (``PipelineReport.sink_failures``), calls its
    :meth:`stop` at once so that what it wrote is closed and stays valid, and passes the batches
    on without it; the other sinks keep receiving. A sink's :meth:`process` returns the batch it
    was given.
    """

    kind = "sink"
