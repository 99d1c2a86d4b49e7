"""DetectNet_v2 grid parsers: nvinfer's built-in detector parser and ``NvDsInferParseCustomResnet``.

DetectNet_v2 (the resnet10 sample, TAO PeopleNet, TrafficCamNet, DashCamNet…) has two outputs:
a coverage map ``(C, gh, gw)`` of per-cell confidences and a box map ``(4·C, gh, gw)`` holding,
per class, the planes ``x1, y1, x2, y2`` as offsets from the cell centre in units of 35 pixels.
Both parsers below decode it as DeepStream does (``bboxNorm = 35``, centre offset 0.5,
``stride = ceil(network size / grid size)``, float32 arithmetic in the same order)::

    cx = float32(gx * stride_x + 0.5) / 35
    left  = (x1 - cx) * -35        right  = (x2 + cx) * 35      (same with y, stride_y)

Sources: ``DetectPostprocessor::parseBoundingBox`` in
``libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp`` and ``NvDsInferParseCustomResnet``
in ``libs/nvdsinfer_customparser/nvdsinfer_custombboxparser.cpp`` (DeepStream 6.2 sources,
``hiennguyen9874/deepstream-sources``). They differ in layer lookup, threshold test and clipping.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from visionflow.infer.parsers.base import (
    DetectionCandidates,
    ParseContext,
    output_named,
    parser_error,
    register_parser,
)

BBOX_NORM = np.float32(35.0)


def _decode_grid(
    parser: str,
    cov: np.ndarray,
    bbox: np.ndarray,
    ctx: ParseContext,
    outputs: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw boxes of every cell of the parsed classes.

    Returns:
        confidence (K,), raw (K, 4) ``x1, y1, x2, y2`` float32, class id (K,), and the
        per-class pre-cluster threshold (K,), in DeepStream's class → row → column order.
    """
    cov = np.asarray(cov, np.float32)
    bbox = np.asarray(bbox, np.float32)
    if cov.ndim != 3 or bbox.ndim != 3 or bbox.shape[1:] != cov.shape[1:]:
        raise parser_error(
            parser, "a coverage output (C, gh, gw) and a bbox output (4·C, gh, gw)", outputs
        )
    num_classes = min(cov.shape[0], ctx.num_classes)
    if bbox.shape[0] < 4 * num_classes:
        raise parser_error(parser, f"a bbox output with {4 * num_classes} planes", outputs)
    grid_h, grid_w = cov.shape[1:]
    stride_x = -(-ctx.network.width // grid_w)
    stride_y = -(-ctx.network.height // grid_h)
    centre_x = (np.arange(grid_w) * stride_x + 0.5).astype(np.float32) / BBOX_NORM
    centre_y = (np.arange(grid_h) * stride_y + 0.5).astype(np.float32) / BBOX_NORM
    planes = bbox[: 4 * num_classes].reshape(num_classes, 4, grid_h, grid_w)
    x1 = (planes[:, 0] - centre_x) * -BBOX_NORM
    y1 = (planes[:, 1] - centre_y[:, None]) * -BBOX_NORM
    x2 = (planes[:, 2] + centre_x) * BBOX_NORM
    y2 = (planes[:, 3] + centre_y[:, None]) * BBOX_NORM
    boxes = np.stack([x1, y1, x2, y2], axis=-1).reshape(-1, 4)
    class_id = np.repeat(np.arange(num_classes, dtype=np.int32), grid_h * grid_w)
    threshold = ctx.pre_cluster_threshold[class_id]
    return cov[:num_classes].reshape(-1), boxes, class_id, threshold


@register_parser("detectnet_v2")
def parse_detectnet_v2(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """nvinfer's built-in detector parser, used when no parser is named.

    The coverage output is the last whose name contains ``cov``, the box output the last whose
    name contains ``bbox``. A cell is kept unless its confidence is below the class's
    pre-cluster threshold; coordinates ≥ the network size become size − 1, negative ones 0, and
    boxes whose right < left or bottom < top are dropped.
    """
    cov_name = bbox_name = None
    for name in outputs:
        if "bbox" in name:
            bbox_name = name
        if "cov" in name:
            cov_name = name
    if cov_name is None or bbox_name is None:
        raise parser_error(
            "detectnet_v2", "an output whose name contains 'cov' and one containing 'bbox'", outputs
        )
    confidence, boxes, class_id, threshold = _decode_grid(
        "detectnet_v2", outputs[cov_name], outputs[bbox_name], ctx, outputs
    )
    limit = np.array([ctx.network.width, ctx.network.height] * 2, np.float32)
    boxes = np.where(boxes >= limit, limit - 1, boxes)
    boxes = np.where(boxes < 0, np.float32(0), boxes)
    keep = ~(confidence < threshold)
    keep &= ~(boxes[:, 2] - boxes[:, 0] < 0) & ~(boxes[:, 3] - boxes[:, 1] < 0)
    return DetectionCandidates(boxes[keep], confidence[keep], class_id[keep])


@register_parser("resnet10", "NvDsInferParseCustomResnet")
def parse_resnet10(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """The SDK sample parser ``NvDsInferParseCustomResnet`` for the resnet10 sample detector.

    It reads the outputs named ``conv2d_cov/Sigmoid`` and ``conv2d_bbox``, keeps cells with
    confidence ≥ the threshold, clips corners to ``[0, size − 1]`` and makes boxes one pixel
    wider and higher than their corners (``width = right − left + 1``).
    """
    confidence, boxes, class_id, threshold = _decode_grid(
        "resnet10",
        output_named("resnet10", outputs, "conv2d_cov/Sigmoid"),
        output_named("resnet10", outputs, "conv2d_bbox"),
        ctx,
        outputs,
    )
    limit = np.array([ctx.network.width, ctx.network.height] * 2, np.float32) - 1
    boxes = np.clip(boxes, 0, limit)
    boxes[:, 2:] += 1
    keep = confidence >= threshold
    return DetectionCandidates(boxes[keep], confidence[keep], class_id[keep])
