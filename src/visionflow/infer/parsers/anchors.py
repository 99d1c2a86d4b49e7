"""SSD anchors generated from a spec, as MediaPipe's ``SsdAnchorsCalculator`` makes them.

Source: ``mediapipe/calculators/tflite/ssd_anchors_calculator.cc`` and its ``.proto``
(``google-ai-edge/mediapipe``). Every layer's feature map is ``ceil(input / stride)`` cells (or
given by ``feature_map_width`` / ``feature_map_height``); consecutive layers with the same stride
share one grid, their anchors interleaved per cell. A layer's scale is interpolated linearly
between ``min_scale`` and ``max_scale`` over the layers; each aspect ratio gives one anchor of
that scale, and ``interpolated_scale_aspect_ratio`` adds one of scale ``sqrt(scale · next
scale)``. Anchor centres are ``(cell + anchor_offset) / feature map size``; with
``fixed_anchor_size`` every anchor is 1 × 1 (BlazeFace). All values are relative to the input
(0-1).

With ``multiscale_anchor_generation`` (RetinaNet / EfficientDet-style levels, MediaPipe's
``GenerateMultiScaleAnchors``) level ``l`` of ``min_level``…``max_level`` has stride ``2^l``
and base size ``2^l · anchor_scale``; each cell gets one anchor per aspect ratio and per scale
``2^(k / scales_per_octave)``, centred at ``cell · stride`` plus half a stride where the input
size divides by ``2^l``; coordinates are divided by the input size unless
``normalize_coordinates`` is false. ``fixed_anchors`` gives the anchors outright instead.
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

    num_layers: int | None = Field(default=None, ge=1, description="Feature-map layers.")
    min_scale: float | None = Field(
        default=None, gt=0, description="Scale of the first layer (relative to the input)."
    )
    max_scale: float | None = Field(default=None, gt=0, description="Scale of the last layer.")
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
    multiscale_anchor_generation: bool = False
    min_level: int = Field(default=3, ge=0)
    max_level: int = Field(default=7, ge=0)
    anchor_scale: float = Field(default=4.0, gt=0)
    scales_per_octave: int = Field(default=2, ge=1)
    normalize_coordinates: bool = True
    fixed_anchors: tuple[tuple[float, float, float, float], ...] = Field(
        default=(), description="Anchors given outright: x_center, y_center, w, h (relative)."
    )

    @property
    def layers(self) -> int:
        """Feature-map layers: ``max_level - min_level + 1`` for multiscale generation."""
        if self.multiscale_anchor_generation:
            return self.max_level - self.min_level + 1
        return self.num_layers or 0

    @model_validator(mode="after")
    def _layers(self) -> AnchorSpec:
        if self.fixed_anchors:
            fields = (
                "num_layers",
                "min_scale",
                "max_scale",
                "input_size_width",
                "input_size_height",
            )
            generating = [name for name in fields if getattr(self, name) is not None]
            if self.multiscale_anchor_generation:
                generating.append("multiscale_anchor_generation")
            if generating:
                raise ValueError(
                    "fixed_anchors excludes the fields that generate anchors: "
                    + ", ".join(generating)
                )
            return self
        if self.multiscale_anchor_generation:
            if self.max_level < self.min_level:
                raise ValueError("max_level must not be below min_level")
            if self.num_layers is not None and self.num_layers != self.layers:
                raise ValueError(
                    f"num_layers {self.num_layers} disagrees with levels {self.min_level}-"
                    f"{self.max_level}; leave it out with multiscale_anchor_generation"
                )
        elif self.num_layers is None or self.min_scale is None or self.max_scale is None:
            raise ValueError("num_layers, min_scale and max_scale are required (or fixed_anchors)")
        layers = self.layers
        if self.feature_map_height or self.feature_map_width:
            if not (len(self.feature_map_height) == len(self.feature_map_width) == layers):
                raise ValueError(
                    f"feature_map_width and feature_map_height need {layers} entries each "
                    "(one per layer)"
                )
        elif len(self.strides) != layers:
            raise ValueError(
                f"strides has {len(self.strides)} entries for {layers} layers; give one stride "
                "per layer (or feature_map_width and feature_map_height)"
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
    if spec.fixed_anchors:
        return np.array(spec.fixed_anchors, np.float32).reshape(-1, 4)
    width = spec.input_size_width or input_width
    height = spec.input_size_height or input_height
    if spec.multiscale_anchor_generation:
        return _multiscale(spec, width, height)
    assert spec.num_layers is not None
    assert spec.min_scale is not None
    assert spec.max_scale is not None
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


def _feature_map(spec: AnchorSpec, layer: int, width: int, height: int) -> tuple[int, int]:
    if spec.feature_map_height:
        return spec.feature_map_height[layer], spec.feature_map_width[layer]
    stride = spec.strides[layer]
    return math.ceil(height / stride), math.ceil(width / stride)


def _multiscale(spec: AnchorSpec, width: int, height: int) -> np.ndarray:
    """MediaPipe's ``GenerateMultiScaleAnchors``: (A, 4) x_center, y_center, w, h."""
    scales = np.array(
        [2.0 ** (k / spec.scales_per_octave) for k in range(spec.scales_per_octave)], np.float32
    )
    root = np.sqrt(np.asarray(spec.aspect_ratios, np.float32))
    parts = []
    for layer, level in enumerate(range(spec.min_level, spec.max_level + 1)):
        stride = float(2**level)
        base = stride * spec.anchor_scale
        denominator = 2**level
        offset_y = stride / 2 if height % denominator == 0 or height == 1 else 0.0
        offset_x = stride / 2 if width % denominator == 0 or width == 1 else 0.0
        map_h, map_w = _feature_map(spec, layer, width, height)
        # Per cell: aspect ratio outer, scale inner (MediaPipe's loop order).
        h = (scales[None, :] * base / root[:, None]).reshape(-1)
        w = (scales[None, :] * root[:, None] * base).reshape(-1)
        ys, xs, k = np.meshgrid(
            np.arange(map_h), np.arange(map_w), np.arange(len(h)), indexing="ij"
        )
        cx = xs * stride + offset_x
        cy = ys * stride + offset_y
        anchor = np.stack([cx, cy, w[k], h[k]], axis=-1).reshape(-1, 4).astype(np.float64)
        if spec.normalize_coordinates:
            anchor /= [width, height, width, height]
        parts.append(anchor.astype(np.float32))
    return np.concatenate(parts)
