"""Box formats and the geometry that maps network-input pixels back onto frames.

Boxes in visionflow are ``xyxy`` absolute pixels unless a name says otherwise. All conversions go
through the named functions here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre-x, centre-y, width, height → (N, 4) x1, y1, x2, y2 (float32)."""
    boxes = np.asarray(boxes, np.float32)
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def ltwh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) left, top, width, height → (N, 4) x1, y1, x2, y2 (float32)."""
    boxes = np.asarray(boxes, np.float32)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:4]], axis=1)


def xyxy_to_ltwh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 → (N, 4) left, top, width, height (float32)."""
    boxes = np.asarray(boxes, np.float32)
    return np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU between (N, 4) and (M, 4) xyxy boxes (no +1 on widths, as DeepStream)."""
    a = np.asarray(a, np.float32)[:, None, :]
    b = np.asarray(b, np.float32)[None, :, :]
    inter_wh = np.clip(
        np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None
    )
    inter = inter_wh[..., 0] * inter_wh[..., 1]
    area_a = np.prod(np.clip(a[..., 2:] - a[..., :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0).astype(np.float32)


@dataclass(frozen=True)
class Letterbox:
    """How a network input was cut and scaled from a frame (DeepStream's nvinfer geometry).

    A region of interest ``(roi_left, roi_top, roi_width, roi_height)`` of the frame (the whole
    frame for primary inference, an object's box for secondary inference) is scaled by
    ``(scale_x, scale_y)`` and placed at ``(pad_left, pad_top)`` in a ``net_width × net_height``
    input; the rest is padding.
    """

    net_width: int
    net_height: int
    roi_left: float
    roi_top: float
    roi_width: float
    roi_height: float
    scale_x: float
    scale_y: float
    pad_left: float
    pad_top: float

    @classmethod
    def fit(
        cls,
        roi: tuple[float, float, float, float],
        net_size: tuple[int, int],
        *,
        maintain_aspect_ratio: bool,
        symmetric_padding: bool,
    ) -> Letterbox:
        """The geometry nvinfer uses for a region ``(left, top, width, height)``.

        With ``maintain_aspect_ratio`` the region is scaled to fit inside the network input and the
        scaled size is truncated to whole pixels (at least one); padding goes right/bottom, or is
        split equally (integer halves, the odd pixel right/bottom) with ``symmetric_padding``.
        Without it the region is stretched. This is the one letterbox of visionflow: the stream
        muxer and the tiler place frames with it too (:meth:`place`).
        """
        left, top, width, height = roi
        net_w, net_h = net_size
        dst_w, dst_h = float(net_w), float(net_h)
        if maintain_aspect_ratio:
            h_dest = net_w * height / width
            w_dest = net_h * width / height
            if h_dest <= net_h:
                dst_h = float(max(int(h_dest), 1))
            else:
                dst_w = float(max(int(w_dest), 1))
        pad_left = pad_top = 0.0
        if maintain_aspect_ratio and symmetric_padding:
            pad_left = float((net_w - int(dst_w)) // 2)
            pad_top = float((net_h - int(dst_h)) // 2)
        return cls(
            net_width=net_w,
            net_height=net_h,
            roi_left=left,
            roi_top=top,
            roi_width=width,
            roi_height=height,
            scale_x=dst_w / width,
            scale_y=dst_h / height,
            pad_left=pad_left,
            pad_top=pad_top,
        )

    @classmethod
    def place(
        cls,
        frame_size: tuple[int, int],
        cell: tuple[int, int, int, int],
        canvas_size: tuple[int, int],
    ) -> Letterbox:
        """A whole ``(width, height)`` frame scaled into the ``(x1, y1, x2, y2)`` cell of a
        ``(width, height)`` canvas, aspect kept and centred, with :meth:`fit`'s rounding.

        This is how the stream muxer (``enable-padding``, the cell being the whole canvas) and the
        tiler (one cell per stream) place frames: ``scaled_size`` is the picture's size in pixels,
        ``(pad_left, pad_top)`` its top-left corner on the canvas.
        """
        width, height = frame_size
        x1, y1, x2, y2 = cell
        inner = cls.fit(
            (0.0, 0.0, float(width), float(height)),
            (x2 - x1, y2 - y1),
            maintain_aspect_ratio=True,
            symmetric_padding=True,
        )
        return replace(
            inner,
            net_width=canvas_size[0],
            net_height=canvas_size[1],
            pad_left=inner.pad_left + x1,
            pad_top=inner.pad_top + y1,
        )

    @property
    def scaled_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the region once scaled into the network input."""
        return round(self.roi_width * self.scale_x), round(self.roi_height * self.scale_y)

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from network-input pixels to frame pixels (float32)."""
        xyxy = np.asarray(xyxy, np.float32)
        offset = np.array([self.pad_left, self.pad_top] * 2, np.float32)
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        origin = np.array([self.roi_left, self.roi_top] * 2, np.float32)
        return (xyxy - offset) / scale + origin

    def to_network(self, xyxy: np.ndarray) -> np.ndarray:
        """Map (N, 4) xyxy boxes from frame pixels to network-input pixels (float32)."""
        xyxy = np.asarray(xyxy, np.float32)
        offset = np.array([self.pad_left, self.pad_top] * 2, np.float32)
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        origin = np.array([self.roi_left, self.roi_top] * 2, np.float32)
        return (xyxy - origin) * scale + offset
