"""A batch: the frames of up to N streams travelling together, with their metadata."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from visionflow.core.frame import Frame
from visionflow.core.meta import BatchMeta, FrameMeta


@dataclass(eq=False)
class Batch:
    """Frames and their metadata; ``meta.frames[i]`` describes ``frames[i]``.

    ``frames`` may be replaced by elements that transform pixels (e.g. drawing); the metadata
    travels with them. ``index`` numbers batches in the order the stream muxer emitted them.
    """

    frames: list[Frame]
    meta: BatchMeta = field(default_factory=BatchMeta)
    index: int = 0

    def __post_init__(self) -> None:
        if not self.meta.frames:
            self.meta.frames = [frame_meta_for(f) for f in self.frames]
        if len(self.meta.frames) != len(self.frames):
            raise ValueError(
                f"batch has {len(self.frames)} frames but {len(self.meta.frames)} frame metas"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[tuple[Frame, FrameMeta]]:
        return iter(zip(self.frames, self.meta.frames, strict=True))

    def __repr__(self) -> str:
        streams = sorted({f.source_id for f in self.frames})
        return f"<Batch #{self.index} frames={len(self)} streams={streams}>"


def frame_meta_for(frame: Frame) -> FrameMeta:
    """Fresh, empty metadata for a frame."""
    return FrameMeta(
        source_id=frame.source_id,
        frame_num=frame.frame_num,
        width=frame.width,
        height=frame.height,
        source_width=frame.source_width,
        source_height=frame.source_height,
        pts=frame.pts,
        time_base=frame.time_base,
        uri=frame.uri,
    )
