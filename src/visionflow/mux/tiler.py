"""The tiler: composes the frames of several streams into one picture (``nvmultistreamtiler``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.core.meta import BatchMeta, Detections, FrameMeta, SegmentationMap
from visionflow.core.stats import COMPOSED_OF, ComposedFrame
from visionflow.errors import ConfigError
from visionflow.osd.draw import segmentation_letterbox


def no_cell(source_id: int, grid: tuple[int, int]) -> str:
    """The drop reason of the frames of a stream that a fixed grid has no cell for."""
    return f"tiler: stream {source_id} has no cell in the {grid[0]}x{grid[1]} grid"


def grid_shape(num_sources: int, rows: int = 0, columns: int = 0) -> tuple[int, int]:
    """``(rows, columns)`` of the grid: as given, or derived from the number of sources.

    With both 0 the grid is square-ish: ``columns = ⌈√n⌉``, ``rows = ⌈n / columns⌉`` (2 → 1×2,
    3 or 4 → 2×2, 5 or 6 → 2×3). With one of them given, the other is whatever fits ``n``.
    """
    n = max(num_sources, 1)
    if rows and columns:
        return rows, columns
    if rows:
        return rows, math.ceil(n / rows)
    if columns:
        return math.ceil(n / columns), columns
    columns = math.ceil(math.sqrt(n))
    return math.ceil(n / columns), columns


@dataclass(frozen=True)
class _Tile:
    """A stream's last frame as placed on the canvas: what paints it again when the grid changes,
    and its metadata in canvas pixels."""

    picture: Any  # what ``_paint`` takes (the tiler's choice); None when not shown
    size: tuple[int, int]  # the stream's frame size (width, height)
    meta: FrameMeta
    placement: Letterbox | None  # frame → canvas; None when the grid has no cell for the stream
    detections: Detections
    segmentation: tuple[SegmentationMap, ...]


class Tiler(Element):
    """Composes every frame of a batch into one ``width × height`` canvas of ``rows × columns``.

    Stream ``source_id`` goes to cell ``source_id`` in row-major order, letterboxed (aspect kept,
    centred, black bars; the rounding of :meth:`~visionflow.core.geometry.Letterbox.place`).
    With ``rows`` or ``columns`` 0 the grid follows the number of sources seen so far (the
    highest ``source_id`` + 1; see :func:`grid_shape`) and grows when a new stream appears (give
    both to keep it fixed from the first frame); streams beyond a fixed grid are not shown. A
    stream with no frame in a batch keeps its last frame on the canvas (and its objects in the
    metadata), so the mosaic does not flicker.

    Output: one mosaic per batch (more for a batch made by hand, see below), each a frame (RGB24,
    ``source_id`` 0, ``frame_num`` counting mosaics from 0, ``pts``/``time_base`` of its first
    source frame, ``created_ns`` of its oldest). Its :class:`FrameMeta` carries the objects of
    every shown stream mapped into canvas pixels (clipped to their tile) with an extra column
    ``source_id``; segmentation maps with their transforms mapped onto the canvas; analytics
    results with their shapes mapped onto the canvas (one entry per stream); ``inferred``
    as the union of the streams'; and ``user["tiles"]``: source_id → the
    :class:`~visionflow.core.geometry.Letterbox` placing that stream on the canvas
    (``tiles[s].to_frame(xyxy)`` maps canvas boxes back to stream pixels). Raw tensor metadata is
    not carried. An OSD after the tiler therefore draws correctly (each stream's objects inside
    its tile); a metadata sink after it sees canvas coordinates, so put sinks that want
    per-stream metadata before the tiler.

    No frame is lost: a batch from the stream muxer holds at most one frame per stream and
    becomes one mosaic; a batch holding several frames of one stream (made by hand) becomes as
    many mosaics, in order, each showing one of them. Each mosaic lists the frames drawn into it
    under ``user[COMPOSED_OF]`` (:data:`~visionflow.core.stats.COMPOSED_OF`:
    ``[source_id, frame_num, created_ns]`` each), and the run's report counts it as those frames,
    each under its own stream. Frames of a stream that a fixed grid has no cell for are counted
    as dropped (reason :func:`no_cell`).

    Args:
        rows, columns: the grid (DeepStream ``[tiled-display]`` rows/columns); 0 = automatic.
        width, height: the canvas size in pixels.
    """

    kind = "tiler"

    def __init__(
        self,
        rows: int = 0,
        columns: int = 0,
        width: int = 1280,
        height: int = 720,
        name: str = "tiler",
    ) -> None:
        super().__init__(name)
        limits = {
            "rows": (rows, 0),
            "columns": (columns, 0),
            "width": (width, 1),
            "height": (height, 1),
        }
        for key, (value, least) in limits.items():
            if value < least:
                raise ConfigError(
                    f"must be at least {least}", group="tiled-display", key=key, value=str(value)
                )
        self.rows, self.columns = rows, columns
        self.width, self.height = width, height
        self.grid: tuple[int, int] = (0, 0)
        self._canvas = np.zeros((height, width, 3), np.uint8)
        self._tiles: dict[int, _Tile] = {}
        self._count = 0

    def process(self, batch: Batch) -> Batch:
        rounds: list[list[tuple[Frame, FrameMeta]]] = []
        seen: Counter[int] = Counter()
        for frame, meta in batch:  # the k-th frame of a stream goes to the k-th mosaic
            k = seen[frame.source_id]
            seen[frame.source_id] += 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append((frame, meta))
        mosaics = [self._compose(frames) for frames in rounds]
        return Batch(
            [f for f, _ in mosaics],
            BatchMeta([m for _, m in mosaics], dict(batch.meta.user)),
            index=batch.index,
        )

    def _compose(self, frames: list[tuple[Frame, FrameMeta]]) -> tuple[Frame, FrameMeta]:
        """Paint one frame per stream into the canvas and return the mosaic."""
        latest = {frame.source_id: (frame, meta) for frame, meta in frames}
        grid = self._grid_with(latest)
        if grid != self.grid:
            self.grid = grid
            self._blank(None)
            for sid, tile in self._tiles.items():
                self._tiles[sid] = self._place(sid, tile.picture, tile.size, tile.meta)
        composed = []
        for sid, (frame, meta) in latest.items():
            size = (frame.width, frame.height)
            tile = self._tiles[sid] = self._place(sid, self._picture(frame), size, meta)
            if tile.placement is not None:
                composed.append(ComposedFrame(sid, frame.frame_num, frame.created_ns))
            elif self.stats is not None:
                self.stats.drop(no_cell(sid, self.grid))
        return self._mosaic([f for f, _ in frames], composed)

    def _grid_with(self, streams: Iterable[int]) -> tuple[int, int]:
        """The grid once ``streams`` are shown too."""
        return grid_shape(max([*self._tiles, *streams]) + 1, self.rows, self.columns)

    def end_stream(self, source_id: int) -> None:
        """A stream ended or left the pipeline: forget its last picture and black out its cell
        (the next mosaics show it empty)."""
        if self._tiles.pop(source_id, None) is None:
            return
        cell = self.cell(source_id)
        if cell is not None:
            self._blank(cell)

    def cell(
        self, source_id: int, grid: tuple[int, int] | None = None
    ) -> tuple[int, int, int, int] | None:
        """The ``(x1, y1, x2, y2)`` canvas cell of a stream in ``grid`` (default: the current
        grid), or None."""
        rows, columns = grid or self.grid
        if source_id >= rows * columns:
            return None
        r, c = divmod(source_id, columns)
        return (
            c * self.width // columns,
            r * self.height // rows,
            (c + 1) * self.width // columns,
            (r + 1) * self.height // rows,
        )

    def _place(self, source_id: int, picture: Any, size: tuple[int, int], meta: FrameMeta) -> _Tile:
        """Paint a stream's frame into its cell and map its metadata into canvas pixels."""
        cell = self.cell(source_id)
        if cell is None or picture is None:
            return _Tile(None, size, meta, None, Detections.empty(), ())
        fw, fh = size
        placement = Letterbox.place(size, cell, (self.width, self.height))
        (tw, th), left, top = placement.scaled_size, int(placement.pad_left), int(placement.pad_top)
        kept = self._paint(picture, cell, placement)
        dets = meta.detections
        xyxy = placement.to_network(dets.xyxy)
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], left, left + tw)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], top, top + th)
        extra = {**dets.extra, "source_id": np.full(len(dets), source_id, np.int32)}
        segmentation = tuple(
            _onto_canvas(segmap, placement, dets, fw, fh) for segmap in meta.segmentation
        )
        return _Tile(
            kept, size, meta, placement, dets.replace(xyxy=xyxy, extra=extra), segmentation
        )

    # ------------------------------------------------------------------ pixels (on the host)
    def _picture(self, frame: Frame) -> Any:
        """What the tiler keeps of a stream's frame to paint it (again): its RGB pixels."""
        return frame.to_numpy(PixelFormat.RGB24)

    def _blank(self, cell: tuple[int, int, int, int] | None) -> None:
        """Black out a cell, or (None) the whole canvas."""
        if cell is None:
            self._canvas[...] = 0
        else:
            x1, y1, x2, y2 = cell
            self._canvas[y1:y2, x1:x2] = 0

    def _paint(self, picture: Any, cell: tuple[int, int, int, int], placement: Letterbox) -> Any:
        """Black out ``cell`` and paint ``picture`` scaled into it (INTER_AREA when shrinking,
        INTER_LINEAR when enlarging); returns what to keep for painting the stream again."""
        (tw, th), left, top = placement.scaled_size, int(placement.pad_left), int(placement.pad_top)
        fw = picture.shape[1]
        interpolation = cv2.INTER_AREA if tw < fw else cv2.INTER_LINEAR
        self._blank(cell)
        self._canvas[top : top + th, left : left + tw] = cv2.resize(
            picture, (tw, th), interpolation=interpolation
        )
        return picture

    def _snapshot(self) -> Any:
        """The mosaic's pixels: a copy of the canvas that later mosaics do not change."""
        return self._canvas.copy()

    def _mosaic(
        self, frames: list[Frame], composed: list[ComposedFrame]
    ) -> tuple[Frame, FrameMeta]:
        first = frames[0]
        shown = [
            self._tiles[s] for s in sorted(self._tiles) if self._tiles[s].placement is not None
        ]
        offsets = np.cumsum([0] + [len(t.detections) for t in shown])
        frame = Frame(
            data=self._snapshot(),
            format=PixelFormat.RGB24,
            source_id=0,
            frame_num=self._count,
            pts=first.pts,
            time_base=first.time_base,
            uri=f"tiler://{self.name}",
            created_ns=min(f.created_ns for f in frames),
        )
        meta = FrameMeta(
            source_id=0,
            frame_num=self._count,
            width=self.width,
            height=self.height,
            source_width=self.width,
            source_height=self.height,
            pts=first.pts,
            time_base=first.time_base,
            uri=frame.uri,
            detections=Detections.concat([t.detections for t in shown]),
            segmentation=[
                replace(s, object_index=s.object_index + offset) if s.object_index >= 0 else s
                for t, offset in zip(shown, offsets.tolist(), strict=False)
                for s in t.segmentation
            ],
            inferred=set().union(*(t.meta.inferred for t in shown)),
            analytics=[
                a.moved(
                    t.placement.scale_x,
                    t.placement.scale_y,
                    t.placement.pad_left,
                    t.placement.pad_top,
                )
                for t in shown
                if t.placement is not None
                for a in t.meta.analytics
            ],
            user={
                "tiles": {t.meta.source_id: t.placement for t in shown},
                COMPOSED_OF: composed,
            },
        )
        self._count += 1
        return frame, meta


def _onto_canvas(
    segmap: SegmentationMap, placement: Letterbox, dets: Detections, fw: int, fh: int
) -> SegmentationMap:
    """The map with a transform from canvas pixels, composing its own with the tile placement."""
    index = segmap.object_index
    box = dets.xyxy[index] if 0 <= index < len(dets) else None
    geo = segmentation_letterbox(segmap, fw, fh, box)
    on_canvas = Letterbox(
        net_width=geo.net_width,
        net_height=geo.net_height,
        roi_left=placement.pad_left + geo.roi_left * placement.scale_x,
        roi_top=placement.pad_top + geo.roi_top * placement.scale_y,
        roi_width=geo.roi_width * placement.scale_x,
        roi_height=geo.roi_height * placement.scale_y,
        scale_x=geo.scale_x / placement.scale_x,
        scale_y=geo.scale_y / placement.scale_y,
        pad_left=geo.pad_left,
        pad_top=geo.pad_top,
    )
    return SegmentationMap(
        component_id=segmap.component_id,
        class_map=segmap.class_map,
        probabilities=segmap.probabilities,
        transform=on_canvas,
        object_index=segmap.object_index,
    )
