"""The tiler on device frames (``nvmultistreamtiler`` on GPU buffers).

:class:`GpuTiler` composes the frames of a batch into one mosaic as :class:`Tiler` does — the
same grid, cells, letterboxing, metadata and frame accounting — with the pixels kept on the
frames' device as torch tensors: nothing is copied to the host. Each frame is scaled straight to
its tile size, plane by plane, and converted to RGB there: an NV12 frame (NVDEC) has its luma and
its half-resolution chroma scaled to the tile and is converted with the stream's matrix and range
(``Frame.color_matrix``, ``Frame.full_range``) at the tile's size, so a 1080p frame in a 240x135
tile costs a 240x135 conversion. The frames of a batch that share size, layout, colour matrix and
tile size (a stream muxer's batch: all of them) are scaled and converted together, in one set of
batched operations, then placed. Scaling follows the CPU tiler: OpenCV's INTER_AREA weights when
shrinking (exact, as two small weight matrices), bilinear (INTER_LINEAR's pixel centres, no
antialiasing) when enlarging.

Against the CPU tiler on the same RGB frames the mosaic agrees within one level (OpenCV rounds
fixed-point arithmetic, this is float32). On NV12 frames it differs a little more at colour
edges: the CPU tiler converts at full resolution with chroma replicated (OpenCV's BT.601
converter), this one scales the chroma plane before converting.

The mosaic is an RGB24 tensor (H, W, 3) on the device, a copy of the canvas from a small ring of
reused buffers, so a later mosaic never changes one an element still holds. A stream's tile is
kept (at its tile size) to repaint it when the automatic grid grows; until that stream's next
frame arrives, its repainted tile is rescaled from the kept one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.core.meta import FrameMeta
from visionflow.infer.gpu_preprocess import area_weights, crop_rgb, yuv_to_rgb
from visionflow.mux.gpu_batch import SlotRing, stacked
from visionflow.mux.tiler import Tiler


class GpuTiler(Tiler):
    """:class:`Tiler` whose canvas and mosaics are torch tensors on the frames' device (see the
    module doc). Arguments as :class:`Tiler`; ``device`` places the canvas (default: the device
    of the first frame). Host frames are uploaded to it."""

    def __init__(
        self,
        rows: int = 0,
        columns: int = 0,
        width: int = 1280,
        height: int = 720,
        name: str = "tiler",
        *,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(rows, columns, width, height, name)
        self.device = torch.device(device) if device is not None else None
        self._board: torch.Tensor | None = None
        self._ring: SlotRing | None = None
        self._weights: dict[tuple[int, int, str], torch.Tensor] = {}
        self._ready: dict[int, torch.Tensor] = {}  # id(frame) → its tile, scaled for this mosaic

    def _compose(self, frames: list[tuple[Frame, FrameMeta]]) -> tuple[Frame, FrameMeta]:
        """Scale the mosaic's frames to their tiles in groups of like frames, then compose."""
        latest = {frame.source_id: frame for frame, _ in frames}
        grid = self._grid_with(latest)
        groups: dict[tuple[Any, ...], list[Frame]] = {}
        for sid, frame in latest.items():
            cell = self.cell(sid, grid)
            if cell is None or not isinstance(frame.data, torch.Tensor):
                continue
            size = Letterbox.place((frame.width, frame.height), cell, (self.width, self.height))
            key = (
                tuple(frame.data.shape), frame.data.device, frame.format, frame.color_matrix,
                frame.full_range, size.scaled_size,
            )  # fmt: skip
            groups.setdefault(key, []).append(frame)
        for key, members in groups.items():
            tw, th = key[-1]
            tiles = self._scaled(members, (th, tw), self._surface(key[1]).device)
            self._ready.update((id(f), tile) for f, tile in zip(members, tiles, strict=True))
        try:
            return super()._compose(frames)
        finally:
            self._ready.clear()

    # ------------------------------------------------------------------ pixels (on the device)
    def _surface(self, device: torch.device) -> torch.Tensor:
        """The canvas, allocated (black) on the first frame's device unless one was given."""
        if self._board is None:
            where = self.device or device
            self._board = torch.zeros((self.height, self.width, 3), dtype=torch.uint8, device=where)
            self._ring = SlotRing(self._board.shape, torch.uint8, where, slots=3)
        return self._board

    def _picture(self, frame: Frame) -> Any:
        ready = self._ready.pop(id(frame), None)
        if ready is not None:
            return ready
        if isinstance(frame.data, torch.Tensor):
            return frame
        return frame.with_pixels(
            torch.from_numpy(np.ascontiguousarray(frame.to_numpy(PixelFormat.RGB24))),
            PixelFormat.RGB24,
        )

    def _blank(self, cell: tuple[int, int, int, int] | None) -> None:
        if self._board is None:
            return
        if cell is None:
            self._board.zero_()
        else:
            x1, y1, x2, y2 = cell
            self._board[y1:y2, x1:x2] = 0

    def _paint(self, picture: Any, cell: tuple[int, int, int, int], placement: Letterbox) -> Any:
        """Scale ``picture`` (a frame with tensor pixels, or a kept (h, w, 3) RGB tile) into
        ``cell``; returns the scaled tile (kept to repaint the stream when the grid grows)."""
        data = picture.data if isinstance(picture, Frame) else picture
        board = self._surface(data.device)
        (tw, th), left, top = placement.scaled_size, int(placement.pad_left), int(placement.pad_top)
        if isinstance(picture, Frame):
            tile = self._scaled([picture], (th, tw), board.device)[0]
        elif tuple(picture.shape[:2]) == (th, tw):  # scaled for this mosaic already
            tile = picture.to(board.device)
        else:  # a kept tile, for a grid that has grown
            kept = Frame(picture, PixelFormat.RGB24, 0, 0)
            tile = self._scaled([kept], (th, tw), board.device)[0]
        self._blank(cell)
        board[top : top + th, left : left + tw] = tile
        return tile

    def _snapshot(self) -> Any:
        board = self._surface(self.device or torch.device("cpu"))
        assert self._ring is not None
        out: torch.Tensor = self._ring.acquire()
        return out.copy_(board)

    # ------------------------------------------------------------------ scaling
    def _scaled(
        self, frames: list[Frame], size: tuple[int, int], device: torch.device
    ) -> torch.Tensor:
        """(n, th, tw, 3) uint8 RGB on ``device``: like frames (same shape, layout, matrix)
        scaled to ``size`` = (th, tw) together."""
        first = frames[0]
        data = stacked(frames)
        if data is None:
            data = torch.stack([f.data for f in frames])
        data = data.to(device, non_blocking=True)
        width = first.width
        if first.format is PixelFormat.NV12:
            rows = first.height
            luma = data[:, None, :rows].float()
            chroma = data[:, rows:].unflatten(-1, (-1, 2)).permute(0, 3, 1, 2).float()
            y = self._resize(luma, size, width)
            uv = self._resize(chroma, size, width)
            rgb = yuv_to_rgb(y[:, 0], uv[:, 0], uv[:, 1], first.color_matrix, first.full_range)
        else:
            planes = crop_rgb(data, first.format, (0, 0, width, first.height))  # (n, 3, H, W)
            rgb = self._resize(planes, size, width)
        return rgb.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    def _resize(
        self, planes: torch.Tensor, size: tuple[int, int], frame_width: int
    ) -> torch.Tensor:
        """(n, C, h, w) float levels → (n, C, th, tw): INTER_AREA's weights when the tile is
        narrower than the frame (as the CPU tiler chooses), else bilinear."""
        th, tw = size
        if tuple(planes.shape[-2:]) == size:
            return planes
        if tw >= frame_width:
            return F.interpolate(planes, size=size, mode="bilinear", align_corners=False)
        rows = self._matrix(planes.shape[-2], th, planes.device)
        cols = self._matrix(planes.shape[-1], tw, planes.device)
        return torch.matmul(torch.matmul(rows, planes), cols.T)

    def _matrix(self, src: int, dst: int, device: torch.device) -> torch.Tensor:
        key = (src, dst, str(device))
        weights = self._weights.get(key)
        if weights is None:
            weights = self._weights[key] = area_weights(src, dst).to(device, torch.float32)
        return weights
