"""SSD anchors generated from a spec, as MediaPipe's ``SsdAnchorsCalculator`` makes them.

Source: ``mediapipe/calculators/tflite/ssd_anchors_calculator.cc`` and its ``.proto``
(``google-ai-edge/mediapipe``). Every layer's feature map is ``ceil(input / stride)`` cells (or
given by ``feature_map_width`` / ``feature_map_height``); consecutive layers with the same stride
share one grid, their anchors interleaved per cell. A layer's scale is interpolated linearly
between ``min_scale`` and ``max_scale`` over the layers; each aspect ratio gives one anchor of
that scale, and ``interpolated_scale_aspect_ratio`` adds one of scale ``sqrt(scale · next
scale)``. Anchor centres are ``(cell + anchor_offset) / feature map size``; with
``fixed_anchor_size`` every anchor is 1 × 1 (BlazeFace). All values are relative to the input
(0-1). MediaPipe's ``multiscale_anchor_generation`` (RetinaNet-style levels) is not reproduced.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class AnchorSpec(BaseModel):
    """MediaPipe ``SsdAnchorsCalculatorOptions`` (same names and defaults).

    ``input_size_width`` / ``input_size_height`` default to the network input size.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_layers: int = Field(ge=1, description="Number of feature-map layers.")
    min_scale: float = Field(gt=0, description="Scale of the first layer (relative to the input).")
    max_scale: float = Field(gt=0, description="Scale of the last layer.")
    strides: tuple[int, ...] = Field(default=(), description="Stride of each layer, in pixels.")
    feature_map_width: tuple[int, ...] = Field(
        default=(), description="Feature-map width of each layer (replaces strides)."
    )
    feature_map_height: tuple[int, ...] = Field(
        default=(), description="Feature-map height of each layer (replaces strides)."
    )
    aspect_ratios: tuple[float, ...] = Field(default=(1.0,), description="Width / height ratios.")
    input_size_width: int | None = Field(default=None, ge=1)
    input_size_height: int | None = Field(default=None, ge=1)
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    reduce_boxes_in_lowest_layer: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False

    @model_validator(mode="after")
    def _layers(self) -> AnchorSpec:
        if self.feature_map_height or self.feature_map_width:
            if not (len(self.feature_map_height) == len(self.feature_map_width) == self.num_layers):
                raise ValueError(
                    f"feature_map_width and feature_map_height need {self.num_layers} entries "
                    "each (num_layers)"
                )
        elif len(self.strides) != self.num_layers:
            raise ValueError(
                f"strides has {len(self.strides)} entries for num_layers {self.num_layers}; "
                "give one stride per layer (or feature_map_width and feature_map_height)"
            )
        if any(s < 1 for s in self.strides):
            raise ValueError("strides must be positive")
        return self


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def generate_anchors(spec: AnchorSpec, input_width: int, input_height: int) -> np.ndarray:
    """The anchors of ``spec`` for an input of this size (used where the spec gives none).

    Returns:
        (A, 4) float32 ``x_center, y_center, width, height``, relative to the input, in
        MediaPipe's order (layer, cell row, cell column, anchor).
    """
    width = spec.input_size_width or input_width
    height = spec.input_size_height or input_height
    strides = spec.strides
    parts: list[np.ndarray] = []
    layer = 0
    while layer < spec.num_layers:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        # Layers sharing a stride share one grid (MediaPipe walks strides, not num_layers).
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(spec.min_scale, spec.max_scale, last, len(strides))
            if last == 0 and spec.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                ratios += list(spec.aspect_ratios)
                scales += [scale] * len(spec.aspect_ratios)
                if spec.interpolated_scale_aspect_ratio > 0:
                    following = (
                        1.0
                        if last == len(strides) - 1
                        else _scale(spec.min_scale, spec.max_scale, last + 1, len(strides))
                    )
                    scales.append(math.sqrt(scale * following))
                    ratios.append(spec.interpolated_scale_aspect_ratio)
            last += 1
        if last == layer:  # feature maps given, no strides: one layer at a time
            scale = _scale(spec.min_scale, spec.max_scale, layer, spec.num_layers)
            ratios, scales = list(spec.aspect_ratios), [scale] * len(spec.aspect_ratios)
            last = layer + 1
        root = np.sqrt(np.asarray(ratios, np.float32))
        anchor_h = np.asarray(scales, np.float32) / root
        anchor_w = np.asarray(scales, np.float32) * root
        if spec.feature_map_height:
            map_h, map_w = spec.feature_map_height[layer], spec.feature_map_width[layer]
        else:
            map_h = math.ceil(height / strides[layer])
            map_w = math.ceil(width / strides[layer])
        ys, xs, _ = np.meshgrid(np.arange(map_h), np.arange(map_w), anchor_h, indexing="ij")
        cx = ((xs + np.float32(spec.anchor_offset_x)) / np.float32(map_w)).astype(np.float32)
        cy = ((ys + np.float32(spec.anchor_offset_y)) / np.float32(map_h)).astype(np.float32)
        shape = cx.shape
        if spec.fixed_anchor_size:
            w, h = np.ones(shape, np.float32), np.ones(shape, np.float32)
        else:
            w, h = np.broadcast_to(anchor_w, shape), np.broadcast_to(anchor_h, shape)
        parts.append(np.stack([cx, cy, w, h], axis=-1).reshape(-1, 4))
        layer = last
    return np.concatenate(parts).astype(np.float32)
