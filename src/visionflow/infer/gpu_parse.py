"""Output parsers on torch tensors: a whole batch at once, on the device the outputs are on.

Each function here is the batched twin of a host parser of :mod:`visionflow.infer.parsers`, with
the same float32 arithmetic in the same order, so that on the same tensors it keeps the same
candidates (``tests/infer/test_gpu_parse.py`` checks it on CPU tensors):

* YOLO (``yolov8``, ``yolov5``, ``deepstream_yolo``, ``yolo``) and DetectNet_v2 (``detectnet_v2``,
  ``resnet10``) return :class:`GpuCandidates`: every kept box of the batch with its image index,
  still on the device, for :mod:`visionflow.infer.gpu_cluster`;
* classifiers (``softmax``, ``softmax_logits``) and segmentation (``argmax``) reduce on the device
  and hand back the host results their host twins return.

Other parsers (TAO / SSD NMS-plugin outputs, masks, custom functions) have no twin:
:func:`gpu_parser` returns None for them and the element copies their (small) outputs to the host.
torch is imported by the caller; this module only uses the tensors it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.infer.parsers import classify, detectnet, segment, yolo
from visionflow.infer.parsers.base import (
    Attribute,
    ClassificationResult,
    ParseContext,
    SegmentationResult,
    parser_error,
)

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class GpuCandidates:
    """The candidates of a batch, on the device: (K,) image index, (K, 4) float32 xyxy in
    network pixels, (K,) float32 confidence, (K,) int64 class — image by image, each in its
    parser's order."""

    image: torch.Tensor
    xyxy: torch.Tensor
    confidence: torch.Tensor
    class_id: torch.Tensor


def _outputs(outputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    return [t.float() for t in outputs.values()]


def _host_view(outputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Shapes of one item, for error messages (no data copied)."""
    return {k: np.empty(tuple(v.shape[1:]), np.float32) for k, v in outputs.items()}


def _thresholds(ctx: ParseContext, like: torch.Tensor) -> torch.Tensor:
    return _tensor(ctx.pre_cluster_threshold, like)


def _tensor(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.as_tensor(np.array(values), device=like.device)


def _keep(
    xyxy: torch.Tensor, score: torch.Tensor, class_id: torch.Tensor, ctx: ParseContext
) -> GpuCandidates:
    """``yolo._keep`` on (B, A) tensors: threshold per class, clamp to the network, ≥ 1 pixel."""
    import torch

    nc = ctx.num_classes
    known = (class_id >= 0) & (class_id < nc)
    threshold = _thresholds(ctx, score)[torch.where(known, class_id, 0)]
    width, height = float(ctx.network.width), float(ctx.network.height)
    x1 = xyxy[..., 0].clamp(0, width)
    y1 = xyxy[..., 1].clamp(0, height)
    w = (xyxy[..., 2].clamp(0, width) - x1).clamp(0, width)
    h = (xyxy[..., 3].clamp(0, height) - y1).clamp(0, height)
    keep = known & ~(score < threshold) & (w >= 1) & (h >= 1)
    image, anchor = keep.nonzero(as_tuple=True)
    x1, y1 = x1[image, anchor], y1[image, anchor]
    boxes = torch.stack([x1, y1, x1 + w[image, anchor], y1 + h[image, anchor]], dim=1)
    return GpuCandidates(image, boxes, score[image, anchor], class_id[image, anchor].long())


def _xywh_to_xyxy(rows: torch.Tensor) -> torch.Tensor:
    import torch

    half = rows[..., 2:4] / 2
    return torch.cat([rows[..., :2] - half, rows[..., :2] + half], dim=-1)


def _by_anchor(output: torch.Tensor, channels: int) -> torch.Tensor | None:
    """(B, A, channels) rows of a ``(B, channels, A)`` or ``(B, A, channels)`` output."""
    if output.dim() != 3:
        return None
    if output.shape[1] == channels:
        return output.transpose(1, 2)
    if output.shape[2] == channels:
        return output
    return None


def _v8(rows: torch.Tensor, ctx: ParseContext) -> GpuCandidates:
    score, class_id = rows[..., 4:].max(dim=-1)
    return _keep(_xywh_to_xyxy(rows[..., :4]), score, class_id, ctx)


def _v5(rows: torch.Tensor, ctx: ParseContext) -> GpuCandidates:
    score, class_id = rows[..., 5:].max(dim=-1)
    return _keep(_xywh_to_xyxy(rows[..., :4]), score * rows[..., 4], class_id, ctx)


def _deepstream_yolo(arrays: list[torch.Tensor], ctx: ParseContext) -> GpuCandidates | None:
    import torch

    if len(arrays) == 1 and arrays[0].dim() == 3 and arrays[0].shape[2] == 6:
        rows = arrays[0]
        return _keep(rows[..., :4], rows[..., 4], rows[..., 5].long(), ctx)
    if len(arrays) != 3 or arrays[0].dim() != 3 or arrays[0].shape[2] != 4:
        return None
    boxes = arrays[0]
    batch, anchors = boxes.shape[:2]
    if any(a.numel() != batch * anchors for a in arrays[1:]):
        return None
    score, classes = (a.reshape(batch, anchors) for a in arrays[1:])
    x1 = boxes[..., 0] - boxes[..., 2] / 2
    y1 = boxes[..., 1] - boxes[..., 3] / 2
    xyxy = torch.stack([x1, y1, x1 + boxes[..., 2], y1 + boxes[..., 3]], dim=-1)
    return _keep(xyxy, score, classes.long(), ctx)


def gpu_yolov8(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    arrays = _outputs(outputs)
    rows = _by_anchor(arrays[0], 4 + ctx.num_classes) if len(arrays) == 1 else None
    if rows is None:
        raise parser_error("yolov8", yolo._v8_expected(ctx.num_classes), _host_view(outputs))
    return _v8(rows, ctx)


def gpu_yolov5(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    arrays = _outputs(outputs)
    if len(arrays) != 1 or arrays[0].dim() != 3 or arrays[0].shape[2] != 5 + ctx.num_classes:
        raise parser_error("yolov5", yolo._v5_expected(ctx.num_classes), _host_view(outputs))
    return _v5(arrays[0], ctx)


def gpu_deepstream_yolo(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    found = _deepstream_yolo(_outputs(outputs), ctx)
    if found is None:
        raise parser_error("deepstream_yolo", yolo._DEEPSTREAM_YOLO_EXPECTED, _host_view(outputs))
    return found


def gpu_yolo(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    arrays, nc = _outputs(outputs), ctx.num_classes
    if len(arrays) == 1:
        rows = _by_anchor(arrays[0], 4 + nc)
        if rows is not None:
            return _v8(rows, ctx)
        if arrays[0].dim() == 3 and arrays[0].shape[2] == 5 + nc:
            return _v5(arrays[0], ctx)
    found = _deepstream_yolo(arrays, ctx)
    if found is None:
        expected = (
            f"{yolo._v8_expected(nc)}, {yolo._v5_expected(nc)}, or {yolo._DEEPSTREAM_YOLO_EXPECTED}"
        )
        raise parser_error("yolo", expected, _host_view(outputs))
    return found


def _grid(
    parser: str, cov: torch.Tensor, bbox: torch.Tensor, ctx: ParseContext, outputs: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``detectnet._decode_grid`` on (B, C, gh, gw) / (B, 4C, gh, gw): confidence (B, K), raw
    boxes (B, K, 4), class (K,), threshold (K,), K in class → row → column order."""
    import torch

    cov, bbox = cov.float(), bbox.float()
    if cov.dim() != 4 or bbox.dim() != 4 or bbox.shape[2:] != cov.shape[2:]:
        raise parser_error(
            parser, "a coverage output (C, gh, gw) and a bbox output (4·C, gh, gw)", outputs
        )
    num_classes = min(cov.shape[1], ctx.num_classes)
    if bbox.shape[1] < 4 * num_classes:
        raise parser_error(parser, f"a bbox output with {4 * num_classes} planes", outputs)
    batch, grid_h, grid_w = cov.shape[0], cov.shape[2], cov.shape[3]
    norm = float(detectnet.BBOX_NORM)
    stride_x = -(-ctx.network.width // grid_w)
    stride_y = -(-ctx.network.height // grid_h)
    centre_x = _tensor((np.arange(grid_w) * stride_x + 0.5).astype(np.float32), cov) / norm
    centre_y = _tensor((np.arange(grid_h) * stride_y + 0.5).astype(np.float32), cov) / norm
    planes = bbox[:, : 4 * num_classes].reshape(batch, num_classes, 4, grid_h, grid_w)
    x1 = (planes[:, :, 0] - centre_x) * -norm
    y1 = (planes[:, :, 1] - centre_y[:, None]) * -norm
    x2 = (planes[:, :, 2] + centre_x) * norm
    y2 = (planes[:, :, 3] + centre_y[:, None]) * norm
    boxes = torch.stack([x1, y1, x2, y2], dim=-1).reshape(batch, -1, 4)
    class_id = torch.arange(num_classes, device=cov.device).repeat_interleave(grid_h * grid_w)
    threshold = _thresholds(ctx, cov)[class_id]
    return cov[:, :num_classes].reshape(batch, -1), boxes, class_id, threshold


def _gather(
    keep: torch.Tensor, boxes: torch.Tensor, conf: torch.Tensor, cls: torch.Tensor
) -> GpuCandidates:
    image, cell = keep.nonzero(as_tuple=True)
    return GpuCandidates(image, boxes[image, cell], conf[image, cell], cls[cell].long())


def gpu_detectnet_v2(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    import torch

    cov_name = bbox_name = None
    for name in outputs:
        if "bbox" in name:
            bbox_name = name
        if "cov" in name:
            cov_name = name
    view = _host_view(outputs)
    if cov_name is None or bbox_name is None:
        raise parser_error(
            "detectnet_v2", "an output whose name contains 'cov' and one containing 'bbox'", view
        )
    conf, boxes, cls, threshold = _grid(
        "detectnet_v2", outputs[cov_name], outputs[bbox_name], ctx, view
    )
    limit = _tensor(np.array([ctx.network.width, ctx.network.height] * 2, np.float32), boxes)
    boxes = torch.where(boxes >= limit, limit - 1, boxes)
    boxes = torch.where(boxes < 0, torch.zeros_like(boxes), boxes)
    keep = ~(conf < threshold)
    keep &= ~(boxes[..., 2] - boxes[..., 0] < 0) & ~(boxes[..., 3] - boxes[..., 1] < 0)
    return _gather(keep, boxes, conf, cls)


def gpu_resnet10(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> GpuCandidates:
    import torch

    view = _host_view(outputs)

    def named(name: str) -> torch.Tensor:
        for candidate in (name, f"{name}:0"):
            if candidate in outputs:
                return outputs[candidate]
        raise parser_error("resnet10", f"an output named '{name}'", view)

    conf, boxes, cls, threshold = _grid(
        "resnet10", named("conv2d_cov/Sigmoid"), named("conv2d_bbox"), ctx, view
    )
    limit = _tensor(np.array([ctx.network.width, ctx.network.height] * 2, np.float32) - 1, boxes)
    boxes = torch.minimum(torch.clamp(boxes, min=0), limit)
    boxes = torch.cat([boxes[..., :2], boxes[..., 2:] + 1], dim=-1)
    return _gather(conf >= threshold, boxes, conf, cls)


GpuDetector = Callable[[Mapping[str, "torch.Tensor"], ParseContext], GpuCandidates]

_DETECTORS: dict[Callable[..., Any], GpuDetector] = {
    yolo.parse_yolov8: gpu_yolov8,
    yolo.parse_yolov5: gpu_yolov5,
    yolo.parse_deepstream_yolo: gpu_deepstream_yolo,
    yolo.parse_yolo: gpu_yolo,
    detectnet.parse_detectnet_v2: gpu_detectnet_v2,
    detectnet.parse_resnet10: gpu_resnet10,
}


# ----------------------------------------------------------------------------- classifiers


def _classify(
    outputs: Mapping[str, torch.Tensor], ctx: ParseContext, softmax: bool, parser: str
) -> list[ClassificationResult]:
    """``classify._classify`` for a batch: the winner of each output on the device, one copy of
    (B, outputs) winners and confidences to the host."""
    import torch

    batch = len(next(iter(outputs.values())))
    confidences, winners = [], []
    for output in outputs.values():
        vectors = output.float().reshape(batch, -1)
        if sum(d != 1 for d in output.shape[1:]) > 1:
            raise parser_error(
                parser,
                "one probability vector per output, e.g. (C,) or (C, 1, 1)",
                _host_view(outputs),
            )
        if softmax:
            exp = torch.exp(vectors - vectors.max(dim=1, keepdim=True).values.clamp(min=0))
            vectors = exp / exp.sum(dim=1, keepdim=True)
        if vectors.shape[1] == 0:
            confidences.append(torch.full((batch,), -1.0, device=vectors.device))
            winners.append(torch.full((batch,), -1, device=vectors.device))
            continue
        best, winner = vectors.max(dim=1)
        confidences.append(best)
        winners.append(winner)
    conf_host = torch.stack(confidences, 1).cpu().numpy()
    cls_host = torch.stack(winners, 1).cpu().numpy()
    results = []
    for row in range(batch):
        attributes = []
        for index in range(conf_host.shape[1]):
            class_id, confidence = int(cls_host[row, index]), np.float32(conf_host[row, index])
            if class_id < 0 or not (confidence > ctx.classifier_threshold and confidence > 0):
                continue
            names = ctx.labels[index] if index < len(ctx.labels) else ()
            label = names[class_id] if class_id < len(names) else None
            attributes.append(Attribute(index, class_id, float(confidence), label))
        description = "".join(f"{a.label} " for a in attributes if a.label is not None)
        results.append(ClassificationResult(tuple(attributes), description))
    return results


def gpu_softmax(
    outputs: Mapping[str, torch.Tensor], ctx: ParseContext
) -> list[ClassificationResult]:
    return _classify(outputs, ctx, False, "softmax")


def gpu_softmax_logits(
    outputs: Mapping[str, torch.Tensor], ctx: ParseContext
) -> list[ClassificationResult]:
    return _classify(outputs, ctx, True, "softmax_logits")


def gpu_argmax(outputs: Mapping[str, torch.Tensor], ctx: ParseContext) -> list[SegmentationResult]:
    """``segment.parse_argmax`` for a batch: the class map on the device; the probabilities,
    which the result carries, come to the host with it."""
    import torch

    output = next(iter(outputs.values())).float()
    if output.dim() != 4:
        layout = "(H, W, C)" if ctx.segmentation_output_order == 1 else "(C, H, W)"
        raise parser_error("argmax", f"a first output of shape {layout}", _host_view(outputs))
    probabilities = output.movedim(-1, 1) if ctx.segmentation_output_order == 1 else output
    if probabilities.shape[1] == 0:
        return [segment.parse_argmax({"o": o}, ctx) for o in output.cpu().numpy()]
    best, class_map = probabilities.max(dim=1)
    passed = (best > ctx.segmentation_threshold) & (best > -1)
    maps = torch.where(passed, class_map, -1).cpu().numpy()
    probs = probabilities.cpu().numpy()
    return [SegmentationResult(m, p) for m, p in zip(maps, probs, strict=True)]


_BATCH_PARSERS: dict[Callable[..., Any], Callable[..., Any]] = {
    classify.parse_softmax: gpu_softmax,
    classify.parse_softmax_logits: gpu_softmax_logits,
    segment.parse_argmax: gpu_argmax,
}


def gpu_parser(parser: Callable[..., Any]) -> Callable[..., Any] | None:
    """The device twin of a host parser function: a detector twin returns
    :class:`GpuCandidates`, a classifier / segmentation twin a list of host results, one per
    batch item; None when the parser has no twin."""
    return _DETECTORS.get(parser) or _BATCH_PARSERS.get(parser)


def is_detector(twin: Callable[..., Any]) -> bool:
    """Whether a twin from :func:`gpu_parser` returns :class:`GpuCandidates`."""
    return twin in _DETECTORS.values()
