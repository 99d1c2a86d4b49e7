"""The tiler on device frames (``nvmultistreamtiler`` on GPU buffers).

:class:`GpuTiler` composes the frames of a batch into one mosaic as :class:`Tiler` does — the
same grid, cells, letterboxing, metadata and frame accounting — with the pixels kept on the
frames' device as torch tensors: nothing is copied to the host. Each frame is scaled straight to
its tile size, plane by plane, and converted to RGB there: an NV12 frame (NVDEC) has its luma and
its half-resolution chroma scaled to the tile and is converted with the stream's matrix and range
(``Frame.color_matrix``, ``Frame.full_range``) at the tile's size, so a 1080p frame in a 240x135
tile costs a 240x135 conversion. Scaling follows the CPU tiler: OpenCV's INTER_AREA weights when
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
from visionflow.infer.gpu_preprocess import area_weights, crop_rgb, yuv_to_rgb
from visionflow.mux.gpu_batch import SlotRing
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

    # ------------------------------------------------------------------ pixels (on the device)
    def _surface(self, device: torch.device) -> torch.Tensor:
        """The canvas, allocated (black) on the first frame's device unless one was given."""
        if self._board is None:
            where = self.device or device
            self._board = torch.zeros((self.height, self.width, 3), dtype=torch.uint8, device=where)
            self._ring = SlotRing(self._board.shape, torch.uint8, where, slots=3)
        return self._board

    def _picture(self, frame: Frame) -> Any:
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
        tile = self._scaled(picture, (th, tw), board.device)
        self._blank(cell)
        board[top : top + th, left : left + tw] = tile
        return tile

    def _snapshot(self) -> Any:
        board = self._surface(self.device or torch.device("cpu"))
        assert self._ring is not None
        out: torch.Tensor = self._ring.acquire()
        return out.copy_(board)

    # ------------------------------------------------------------------ scaling
    def _scaled(self, picture: Any, size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """(th, tw, 3) uint8 RGB on ``device``: the picture scaled to ``size`` = (th, tw)."""
        if isinstance(picture, Frame):
            data, fmt = picture.data.to(device, non_blocking=True), picture.format
            matrix, full = picture.color_matrix, picture.full_range
        else:
            data, fmt, matrix, full = picture.to(device), PixelFormat.RGB24, "", False
        if fmt is PixelFormat.NV12:
            rows, width = data.shape[0] * 2 // 3, data.shape[1]
            luma = data[None, None, :rows].float()
            chroma = data[rows:].view(rows // 2, width // 2, 2).permute(2, 0, 1)[None].float()
            y = self._resize(luma, size, width)
            uv = self._resize(chroma, size, width)
            rgb = yuv_to_rgb(y[:, 0], uv[:, 0], uv[:, 1], matrix, full)[0]
        else:
            height, width = (data.shape[0], data.shape[1])
            planes = crop_rgb(data, fmt, (0, 0, width, height))  # (3, H, W) levels
            rgb = self._resize(planes[None], size, width)[0]
        return rgb.round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()

    def _resize(
        self, planes: torch.Tensor, size: tuple[int, int], frame_width: int
    ) -> torch.Tensor:
        """(1, C, h, w) float levels → (1, C, th, tw): INTER_AREA's weights when the tile is
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
