"""The source contract: something that yields frames of one stream."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from visionflow.core.frame import Frame


class Source(ABC):
    """One input stream (a file, a URI, a camera, a folder of images, a synthetic generator).

    :meth:`frames` is a generator run in the source's own thread; it yields frames in order and
    returns at end of stream. It raises :class:`visionflow.errors.SourceError` (or a subclass)
    when the stream cannot be opened or read; the pipeline reports the error with the source's
    name and keeps the other streams running. Sources are context managers.

    Attributes:
        source_id: the stream index, assigned by the pipeline in the order sources are given.
        live: a live source produces frames at its own pace (camera, RTSP): when the pipeline
            falls behind, the oldest frames are dropped (and counted) rather than blocking it.
    """

    kind: ClassVar[str] = "source"
    live: bool = False

    def __init__(self, uri: str, source_id: int = 0) -> None:
        self.uri = uri
        self.source_id = source_id

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """Yield the stream's frames, opening it first if needed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the stream. Safe to call more than once."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook
        """Ask :meth:`frames` to return as soon as it can, without an error.

        Called from another thread (possibly from a signal handler) when the pipeline drains or
        stops, so a source blocked waiting for data (a stalled camera) does not hold the drain
        back. It must not block. By default nothing happens: the pipeline stops taking frames
        and :meth:`frames` ends when its next frame arrives or its own timeout passes.
        """

    @property
    def lost(self) -> bool:
        """Whether a live stream is away: lost and not back yet (a reconnecting camera). The
        stream muxer does not wait for its frames meanwhile. False unless a source says so."""
        return False

    @property
    def num_frames(self) -> int | None:
        """Total frames the stream will yield, when known (file sources), else None."""
        return None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.source_id} {self.uri}>"
