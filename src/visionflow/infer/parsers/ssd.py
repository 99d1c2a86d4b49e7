"""SSD / anchor-based detectors: raw box regressions decoded against anchors.

Two families share this decoder (MediaPipe's ``TfLiteTensorsToDetectionsCalculator``,
``mediapipe/calculators/tflite/tflite_tensors_to_detections_calculator.cc``):

* anchors **generated from a spec** (``parser_options.anchors``, MediaPipe's
  ``SsdAnchorsCalculatorOptions``; :mod:`visionflow.infer.parsers.anchors`) — BlazeFace, MediaPipe's
  palm and object detectors. Outputs: box regressions ``(A, num_coords)`` and class scores
  ``(A, C)``.
* the **classic TensorFlow SSD** that emits its anchors as a third output ``(A, 4)``
  (``anchor_format`` says their layout; TF Object Detection API anchors are
  ``ymin_xmin_ymax_xmax``). Its box coder is MediaPipe's with ``y/x_scale 10``, ``h/w_scale 5``
  and ``apply_exponential_on_box_size``.

Decoding, per anchor ``(xa, ya, wa, ha)`` (relative to the input) and regression
``(y, x, h, w)`` at ``box_coord_offset`` (``(x, y, w, h)`` with ``reverse_output_order``)::

    cx = x / x_scale · wa + xa          cy = y / y_scale · ha + ya
    w  = w / w_scale · wa               h  = h / h_scale · ha

(``exp(w / w_scale) · wa`` and ``exp(h / h_scale) · ha`` with ``apply_exponential_on_box_size``).

Scores: with ``sigmoid_score`` each raw score is clipped to ``±score_clipping_thresh`` (when
given) and passed through a sigmoid; a box's class is its best-scoring class outside
``ignore_classes`` (the first on ties) and its confidence that score. Boxes scoring below their
class's pre-cluster threshold are dropped; the rest are scaled to network pixels. Clustering
(NMS, or MediaPipe's weighted NMS with ``weighted_nms: true``) runs afterwards as for any
detector. With ``num_keypoints``, keypoint ``k`` is read at ``keypoint_coord_offset + k ·
num_values_per_keypoint`` as ``(y, x)`` (``(x, y)`` with ``reverse_output_order``) and decoded as
the box centre is (``x / x_scale · wa + xa``); the keypoints reach the objects' ``keypoints``
column (and JSON Lines), averaged by weighted NMS as MediaPipe does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from visionflow.infer.parsers.anchors import AnchorSpec, generate_anchors
from visionflow.infer.parsers.base import (
    DetectionCandidates,
    ParseContext,
    output_named,
    parser_error,
    register_parser,
)


class AnchorFormat(str, Enum):
    """Column order of an anchors output."""

    YCENTER_XCENTER_H_W = "ycenter_xcenter_h_w"  # MediaPipe's anchors tensor
    XCENTER_YCENTER_W_H = "xcenter_ycenter_w_h"
    YMIN_XMIN_YMAX_XMAX = "ymin_xmin_ymax_xmax"  # TF Object Detection API


class SsdOptions(BaseModel):
    """``parser_options`` of the ``ssd`` parser (MediaPipe's option names and meanings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anchors: AnchorSpec | None = Field(
        default=None, description="Anchor spec; omit when the model outputs its anchors."
    )
    anchor_format: AnchorFormat = Field(
        default=AnchorFormat.YMIN_XMIN_YMAX_XMAX, description="Layout of an anchors output."
    )
    boxes_output: str | None = Field(default=None, description="Name of the regressions output.")
    scores_output: str | None = Field(default=None, description="Name of the scores output.")
    anchors_output: str | None = Field(default=None, description="Name of the anchors output.")
    box_coord_offset: int = Field(default=0, ge=0)
    x_scale: float = Field(default=1.0, gt=0)
    y_scale: float = Field(default=1.0, gt=0)
    w_scale: float = Field(default=1.0, gt=0)
    h_scale: float = Field(default=1.0, gt=0)
    apply_exponential_on_box_size: bool = False
    reverse_output_order: bool = False
    sigmoid_score: bool = False
    score_clipping_thresh: float | None = Field(default=None, gt=0)
    ignore_classes: tuple[int, ...] = ()
    num_keypoints: int = Field(default=0, ge=0, description="Keypoints per box.")
    keypoint_coord_offset: int = Field(default=0, ge=0, description="First keypoint value.")
    num_values_per_keypoint: int = Field(default=2, ge=2, description="Values per keypoint.")

    @model_validator(mode="after")
    def _anchor_source(self) -> SsdOptions:
        if self.anchors is not None and self.anchors_output is not None:
            raise ValueError("give either anchors (a spec) or anchors_output, not both")
        return self


@lru_cache(maxsize=32)
def _options(text: str) -> SsdOptions:
    return SsdOptions.model_validate(json.loads(text))


@lru_cache(maxsize=32)
def _spec_anchors(spec: AnchorSpec, width: int, height: int) -> np.ndarray:
    anchors = generate_anchors(spec, width, height)
    anchors.flags.writeable = False
    return anchors


def ssd_options(options: Mapping[str, Any]) -> SsdOptions:
    """Validated ``parser_options`` of the ssd parser (cached; raises pydantic's error)."""
    return _options(json.dumps(dict(options), sort_keys=True, default=list))


def _anchors_from_output(array: np.ndarray, layout: AnchorFormat) -> np.ndarray:
    """(A, 4) ``x_center, y_center, w, h`` from an anchors output."""
    a = array.reshape(-1, 4).astype(np.float32)
    if layout is AnchorFormat.XCENTER_YCENTER_W_H:
        return a
    if layout is AnchorFormat.YCENTER_XCENTER_H_W:
        return a[:, [1, 0, 3, 2]]
    ymin, xmin, ymax, xmax = a.T
    return np.stack([(xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin], axis=1)


def _tensors(
    outputs: Mapping[str, np.ndarray], opts: SsdOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Regressions (A, coords), scores (A, C) and the anchors output (A, 4) or None."""
    want_anchors = opts.anchors is None
    named = [opts.boxes_output, opts.scores_output] + (
        [opts.anchors_output] if want_anchors else []
    )
    expected = (
        "box regressions (A, coords >= 4) and class scores (A, C)"
        + (", and anchors (A, 4)" if want_anchors else "")
        + " (a leading batch axis of 1 is allowed)"
    )
    if all(n is not None for n in named):
        arrays = [output_named("ssd", outputs, str(n)) for n in named]
    else:
        arrays = list(outputs.values())
    arrays = [np.asarray(a, np.float32) for a in arrays]
    arrays = [a[0] if a.ndim == 3 and a.shape[0] == 1 else a for a in arrays]
    if len(arrays) != len(named) or any(a.ndim != 2 for a in arrays):
        raise parser_error("ssd", expected, outputs)
    if all(n is not None for n in named):
        boxes, scores = arrays[0], arrays[1]
        anchors = arrays[2] if want_anchors else None
    else:
        anchors = None
        if want_anchors:  # the (A, 4) output listed last, or the only other 4-column one
            four = [i for i, a in enumerate(arrays) if a.shape[1] == 4]
            pick = len(arrays) - 1 if len(arrays) - 1 in four else (four[-1] if four else -1)
            if pick < 0:
                raise parser_error("ssd", expected, outputs)
            anchors = arrays.pop(pick)
        first, second = arrays
        if first.shape[1] == second.shape[1]:
            boxes, scores = first, second  # binding order: regressions first
        else:
            boxes, scores = (first, second) if first.shape[1] > second.shape[1] else (second, first)
    count = len(boxes)
    if (
        len(scores) != count
        or (anchors is not None and anchors.shape != (count, 4))
        or boxes.shape[1] < opts.box_coord_offset + 4
        or boxes.shape[1]
        < opts.keypoint_coord_offset + opts.num_keypoints * opts.num_values_per_keypoint
    ):
        raise parser_error("ssd", expected, outputs)
    return boxes, scores, anchors


@register_parser("ssd")
def parse_ssd(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """Anchor-based SSD decoding (see the module docstring); options in ``parser_options``."""
    opts = ssd_options(ctx.options)
    boxes, scores, anchor_output = _tensors(outputs, opts)
    if opts.anchors is not None:
        anchors = _spec_anchors(opts.anchors, ctx.network.width, ctx.network.height)
    else:
        assert anchor_output is not None
        anchors = _anchors_from_output(anchor_output, opts.anchor_format)
    if len(anchors) != len(boxes):
        raise parser_error(
            "ssd", f"{len(anchors)} boxes, one per anchor the spec generates", outputs
        )
    if opts.sigmoid_score:
        if opts.score_clipping_thresh is not None:
            limit = np.float32(opts.score_clipping_thresh)
            scores = np.clip(scores, -limit, limit)
        scores = 1 / (1 + np.exp(-scores))
    if opts.ignore_classes:
        ignored = [c for c in opts.ignore_classes if 0 <= c < scores.shape[1]]
        scores = scores.copy()
        scores[:, ignored] = -np.inf
    class_id = scores.argmax(axis=1)
    confidence = np.take_along_axis(scores, class_id[:, None], axis=1)[:, 0]
    known = class_id < ctx.num_classes
    threshold = ctx.pre_cluster_threshold[np.where(known, class_id, 0)]
    keep = np.flatnonzero(known & ~(confidence < threshold))

    o = opts.box_coord_offset
    raw = boxes[keep, o : o + 4]
    if opts.reverse_output_order:
        x, y, w, h = raw.T
    else:
        y, x, h, w = raw.T
    xa, ya, wa, ha = anchors[keep].T
    cx = x / np.float32(opts.x_scale) * wa + xa
    cy = y / np.float32(opts.y_scale) * ha + ya
    if opts.apply_exponential_on_box_size:
        h = np.exp(h / np.float32(opts.h_scale)) * ha
        w = np.exp(w / np.float32(opts.w_scale)) * wa
    else:
        h = h / np.float32(opts.h_scale) * ha
        w = w / np.float32(opts.w_scale) * wa
    size = np.array([ctx.network.width, ctx.network.height] * 2, np.float32)
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * size
    keypoints = None
    if opts.num_keypoints:
        start, step = opts.keypoint_coord_offset, opts.num_values_per_keypoint
        columns = start + step * np.arange(opts.num_keypoints)
        first, second = boxes[keep][:, columns], boxes[keep][:, columns + 1]
        kx, ky = (first, second) if opts.reverse_output_order else (second, first)
        kx = kx / np.float32(opts.x_scale) * wa[:, None] + xa[:, None]
        ky = ky / np.float32(opts.y_scale) * ha[:, None] + ya[:, None]
        keypoints = np.stack([kx * size[0], ky * size[1]], axis=-1)
    return DetectionCandidates(xyxy, confidence[keep], class_id[keep], keypoints=keypoints)


parse_ssd.options_model = SsdOptions  # type: ignore[attr-defined]
