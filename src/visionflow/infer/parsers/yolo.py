"""YOLO detector and instance-segmentation parsers.

Layouts (one frame, batch dimension removed; A anchors, nc = ``num-detected-classes``):

* ``yolov8`` — Ultralytics YOLOv8 / YOLO11 detect head: one output ``(4 + nc, A)`` (as
  Ultralytics exports it) or ``(A, 4 + nc)``; rows ``cx, cy, w, h`` then nc class scores, no
  objectness. Confidence = best class score.
* ``yolov5`` — YOLOv5 / YOLOv7 head: one output ``(A, 5 + nc)`` (as exported) or
  ``(5 + nc, A)``; ``cx, cy, w, h, objectness`` then nc class scores. Confidence = objectness ×
  best class score. (``yolo`` recognises only the exported ``(A, 5 + nc)``: transposed, it has
  the shape of a YOLOv8 head with one class more.)
* ``deepstream_yolo`` (``NvDsInferParseYolo``, ``NvDsInferParseYoloCuda``) — ONNX exports of
  marcoslucianops/DeepStream-Yolo: one output ``(A, 6)`` = ``x1, y1, x2, y2, score, class``
  (current ``export_yolo11.py``), or three outputs ``boxes (A, 4)`` = ``cx, cy, w, h``,
  ``scores (A, 1)``, ``classes (A, 1)`` (older ``export_yoloV8.py``), by position.
* ``yolo`` — any of these, told apart by shape in that order. With 1 or 2 classes a
  DeepStream-Yolo ``(A, 6)`` output has the shape of a raw head: name the parser then.
* ``yolo_seg`` (``NvDsInferParseYoloSeg``) — marcoslucianops/DeepStream-Yolo-Seg exports (four
  outputs ``boxes (A, 4)`` x1y1x2y2, ``scores (A, 1)``, ``classes (A, 1)``, box-relative
  ``masks (A, mh, mw)``), or a raw Ultralytics ``-seg`` head (two outputs: ``(4 + nc + nm, A)``
  boxes, scores and nm mask coefficients, and ``(nm, mh, mw)`` prototypes).

Every layout ends as ``nvdsparsebbox_Yolo.cpp`` does: keep ``score >= pre-cluster[class]``,
clamp the corners to ``[0, network size]``, drop boxes less than 1 pixel wide or high.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from visionflow.core.geometry import xywh_to_xyxy
from visionflow.infer.parsers.base import (
    DetectionCandidates,
    ParseContext,
    parser_error,
    register_parser,
)


def _outputs(outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(a, np.float32) for a in outputs.values()]


def _by_anchor(output: np.ndarray, channels: int) -> np.ndarray | None:
    """(A, channels) rows of a ``(channels, A)`` or ``(A, channels)`` output, else None."""
    if output.ndim != 2:
        return None
    if output.shape[0] == channels:
        return output.T
    if output.shape[1] == channels:
        return output
    return None


def _column(output: np.ndarray, anchors: int) -> np.ndarray | None:
    """An ``(A,)`` or ``(A, 1)`` output as (A,), else None."""
    return output.reshape(anchors) if output.shape in ((anchors,), (anchors, 1)) else None


def _keep(
    xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, ctx: ParseContext
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the boxes DeepStream-Yolo keeps, and their clamped (K, 4) xyxy."""
    known = (class_id >= 0) & (class_id < ctx.num_classes)
    threshold = ctx.pre_cluster_threshold[np.where(known, class_id, 0)]
    width, height = ctx.network.width, ctx.network.height
    x1 = np.clip(xyxy[:, 0], 0, width)
    y1 = np.clip(xyxy[:, 1], 0, height)
    w = np.clip(np.clip(xyxy[:, 2], 0, width) - x1, 0, width)
    h = np.clip(np.clip(xyxy[:, 3], 0, height) - y1, 0, height)
    index = np.flatnonzero(known & ~(score < threshold) & (w >= 1) & (h >= 1))
    boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1)[index]
    return index, boxes


def _candidates(
    xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, ctx: ParseContext
) -> DetectionCandidates:
    index, boxes = _keep(xyxy, score, class_id, ctx)
    return DetectionCandidates(boxes, score[index], class_id[index])


def _best_class(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the (first) highest score and its column."""
    class_id = scores.argmax(axis=1)
    return np.take_along_axis(scores, class_id[:, None], axis=1)[:, 0], class_id


def _v8_expected(nc: int) -> str:
    return f"one output shaped ({4 + nc}, A) or (A, {4 + nc}) (cx, cy, w, h, {nc} class scores)"


def _v5_expected(nc: int, transposed: bool = False) -> str:
    shapes = f"(A, {5 + nc}) or ({5 + nc}, A)" if transposed else f"(A, {5 + nc})"
    return f"one output shaped {shapes} (cx, cy, w, h, objectness, {nc} class scores)"


_DEEPSTREAM_YOLO_EXPECTED = (
    "one output shaped (A, 6) (x1, y1, x2, y2, score, class), "
    "or three outputs boxes (A, 4), scores (A, 1), classes (A, 1)"
)


def _above_floor(best: np.ndarray, ctx: ParseContext) -> np.ndarray:
    """Indices of anchors whose best score reaches the lowest pre-cluster threshold.

    Every other anchor would be dropped anyway; selecting first keeps the per-anchor work (arg-max,
    box conversion) to the few candidates of a real frame. ``max`` over a (C, A) output's class
    axis is a fast vectorised reduction where ``argmax`` is not.
    """
    floor = ctx.pre_cluster_threshold.min() if ctx.num_classes else np.float32(0)
    return np.flatnonzero(~(best < floor))


def _decode_v8(rows: np.ndarray, ctx: ParseContext) -> DetectionCandidates:
    rows = rows[_above_floor(rows[:, 4:].max(axis=1), ctx)]
    score, class_id = _best_class(rows[:, 4:])
    return _candidates(xywh_to_xyxy(rows[:, :4]), score, class_id, ctx)


def _decode_v5(rows: np.ndarray, ctx: ParseContext) -> DetectionCandidates:
    rows = rows[_above_floor(rows[:, 5:].max(axis=1) * rows[:, 4], ctx)]
    score, class_id = _best_class(rows[:, 5:])
    return _candidates(xywh_to_xyxy(rows[:, :4]), score * rows[:, 4], class_id, ctx)


def _decode_deepstream_yolo(
    arrays: list[np.ndarray], ctx: ParseContext
) -> DetectionCandidates | None:
    if len(arrays) == 1 and arrays[0].ndim == 2 and arrays[0].shape[1] == 6:
        rows = arrays[0]
        return _candidates(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64), ctx)
    if len(arrays) != 3 or arrays[0].ndim != 2 or arrays[0].shape[1] != 4:
        return None
    boxes, anchors = arrays[0], len(arrays[0])
    score, classes = _column(arrays[1], anchors), _column(arrays[2], anchors)
    if score is None or classes is None:
        return None
    # decodeTensorYolo: x1 = cx - w / 2, x2 = x1 + w.
    x1 = boxes[:, 0] - boxes[:, 2] / 2
    y1 = boxes[:, 1] - boxes[:, 3] / 2
    xyxy = np.stack([x1, y1, x1 + boxes[:, 2], y1 + boxes[:, 3]], axis=1)
    return _candidates(xyxy, score, classes.astype(np.int64), ctx)


@register_parser("yolov8")
def parse_yolov8(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """Ultralytics YOLOv8 / YOLO11 head, ``(4 + nc, A)`` or ``(A, 4 + nc)``."""
    arrays = _outputs(outputs)
    rows = _by_anchor(arrays[0], 4 + ctx.num_classes) if len(arrays) == 1 else None
    if rows is None:
        raise parser_error("yolov8", _v8_expected(ctx.num_classes), outputs)
    return _decode_v8(rows, ctx)


@register_parser("yolov5")
def parse_yolov5(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """YOLOv5 / YOLOv7 head with objectness, ``(A, 5 + nc)`` or ``(5 + nc, A)``."""
    arrays = _outputs(outputs)
    rows = None
    if len(arrays) == 1 and arrays[0].ndim == 2:  # the exported (A, 5 + nc) first
        channels = 5 + ctx.num_classes
        output = arrays[0]
        rows = output if output.shape[1] == channels else _by_anchor(output, channels)
    if rows is None:
        raise parser_error("yolov5", _v5_expected(ctx.num_classes, transposed=True), outputs)
    return _decode_v5(rows, ctx)


@register_parser("deepstream_yolo", "NvDsInferParseYolo", "NvDsInferParseYoloCuda")
def parse_deepstream_yolo(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> DetectionCandidates:
    """DeepStream-Yolo exports: ``(A, 6)``, or boxes / scores / classes."""
    candidates = _decode_deepstream_yolo(_outputs(outputs), ctx)
    if candidates is None:
        raise parser_error("deepstream_yolo", _DEEPSTREAM_YOLO_EXPECTED, outputs)
    return candidates


@register_parser("yolo")
def parse_yolo(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """Any YOLO layout above, recognised by shape: YOLOv8, then YOLOv5, then DeepStream-Yolo."""
    arrays, nc = _outputs(outputs), ctx.num_classes
    if len(arrays) == 1:
        rows = _by_anchor(arrays[0], 4 + nc)
        if rows is not None:
            return _decode_v8(rows, ctx)
        if arrays[0].ndim == 2 and arrays[0].shape[1] == 5 + nc:
            return _decode_v5(arrays[0], ctx)
    candidates = _decode_deepstream_yolo(arrays, ctx)
    if candidates is None:
        expected = f"{_v8_expected(nc)}, {_v5_expected(nc)}, or {_DEEPSTREAM_YOLO_EXPECTED}"
        raise parser_error("yolo", expected, outputs)
    return candidates


@register_parser("yolo_seg", "NvDsInferParseYoloSeg")
def parse_yolo_seg(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """YOLO instance segmentation: DeepStream-Yolo-Seg exports or a raw Ultralytics seg head.

    Masks are box-relative, ``(N, mh, mw)`` at the prototype resolution, values in [0, 1]. For a
    raw head they are made as the DeepStream-Yolo-Seg export does in-graph: each object's mask
    logits (coefficients · prototypes) are RoI-aligned over its box, then passed through a
    sigmoid. A raw head has had no NMS: cluster it with cluster-mode 2, which visionflow allows
    with masks (DeepStream does not).
    """
    arrays, nc = _outputs(outputs), ctx.num_classes
    if len(arrays) == 4:
        candidates = _decode_deepstream_yolo_seg(arrays, ctx)
    elif len(arrays) == 2:
        candidates = _decode_raw_seg(arrays, ctx)
    else:
        candidates = None
    if candidates is None:
        expected = (
            "four outputs boxes (A, 4), scores (A, 1), classes (A, 1), masks (A, mh, mw), "
            f"or two outputs ({4 + nc} + nm, A) and prototypes (nm, mh, mw)"
        )
        raise parser_error("yolo_seg", expected, outputs)
    return candidates


def _decode_deepstream_yolo_seg(
    arrays: list[np.ndarray], ctx: ParseContext
) -> DetectionCandidates | None:
    boxes, scores, classes, masks = arrays
    if boxes.ndim != 2 or boxes.shape[1] != 4 or masks.ndim != 3 or len(masks) != len(boxes):
        return None
    score, class_id = _column(scores, len(boxes)), _column(classes, len(boxes))
    if score is None or class_id is None:
        return None
    index, kept = _keep(boxes, score, class_id.astype(np.int64), ctx)
    return DetectionCandidates(kept, score[index], class_id[index], masks[index])


def _decode_raw_seg(arrays: list[np.ndarray], ctx: ParseContext) -> DetectionCandidates | None:
    protos, pred = sorted(arrays, key=np.ndim, reverse=True)
    if protos.ndim != 3 or pred.ndim != 2:
        return None
    nm, mask_h, mask_w = protos.shape
    rows = _by_anchor(pred, 4 + ctx.num_classes + nm)
    if rows is None:
        return None
    xyxy = xywh_to_xyxy(rows[:, :4])
    score, class_id = _best_class(rows[:, 4 : 4 + ctx.num_classes])
    index, kept = _keep(xyxy, score, class_id, ctx)
    logits = (rows[index, 4 + ctx.num_classes :] @ protos.reshape(nm, -1)).reshape(
        -1, mask_h, mask_w
    )
    scale = np.array([mask_w / ctx.network.width, mask_h / ctx.network.height] * 2, np.float32)
    pooled = roi_align(logits, xyxy[index] * scale, (mask_h, mask_w))
    masks = 1 / (1 + np.exp(-pooled))
    return DetectionCandidates(kept, score[index], class_id[index], masks)


def roi_align(maps: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ONNX ``RoiAlign`` (half_pixel, avg) of each map over its own box, one sample per bin.

    One sample per bin is what ``sampling_ratio=0`` gives while a box is no larger than
    ``size`` × the map's stride — every box inside the network input.

    Args:
        maps: (N, H, W) float32, one map per box.
        boxes: (N, 4) float32 ``x1, y1, x2, y2`` in map pixels.
        size: (oh, ow) output size.

    Returns:
        (N, oh, ow) float32 bilinear samples at the bin centres (0 outside ``[-1, H] × [-1, W]``).
    """
    n, height, width = maps.shape
    out_h, out_w = size
    centre_y = (np.arange(out_h, dtype=np.float32) + 0.5)[None, :]
    centre_x = (np.arange(out_w, dtype=np.float32) + 0.5)[None, :]
    ys = boxes[:, 1:2] - 0.5 + centre_y * (boxes[:, 3:4] - boxes[:, 1:2]) / out_h
    xs = boxes[:, 0:1] - 0.5 + centre_x * (boxes[:, 2:3] - boxes[:, 0:1]) / out_w
    y_low, y_high, fy, y_out = _bilinear_axis(ys, height)
    x_low, x_high, fx, x_out = _bilinear_axis(xs, width)
    obj = np.arange(n)[:, None, None]
    fy, fx = fy[:, :, None], fx[:, None, :]
    y_low, y_high = y_low[:, :, None], y_high[:, :, None]
    x_low, x_high = x_low[:, None, :], x_high[:, None, :]
    value = (
        (1 - fy) * (1 - fx) * maps[obj, y_low, x_low]
        + (1 - fy) * fx * maps[obj, y_low, x_high]
        + fy * (1 - fx) * maps[obj, y_high, x_low]
        + fy * fx * maps[obj, y_high, x_high]
    )
    return np.where(y_out[:, :, None] | x_out[:, None, :], 0, value).astype(np.float32)


def _bilinear_axis(
    coords: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Low / high neighbour, weight of high, and out-of-range flag along one axis (RoiAlign)."""
    outside = (coords < -1) | (coords > size)
    coords = np.maximum(coords, 0)
    low = np.floor(coords).astype(np.intp)
    edge = low >= size - 1
    low = np.where(edge, size - 1, low)
    high = np.where(edge, size - 1, low + 1)
    return low, high, np.where(edge, 0, coords - low).astype(np.float32), outside
