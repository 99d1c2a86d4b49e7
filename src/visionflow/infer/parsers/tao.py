"""Parsers of NVIDIA's custom-parser libraries for TAO and TensorFlow detectors.

Each reproduces one function of ``libnvds_infercustomparser.so`` (DeepStream
``libs/nvdsinfer_customparser/nvdsinfer_custombboxparser.cpp``) or of the TAO apps' post-processor
(``NVIDIA-AI-IOT/deepstream_tao_apps``, ``post_processor/nvdsinfer_custombboxparser_tao.cpp``):
the same outputs, thresholds, clipping (``CLIP(v, 0, size − 1)``) and quirks, noted per function.
Several use the class-0 pre-cluster threshold for every class, as the C code does.
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

BATCHED_NMS_LIMIT = 201
"""The BatchedNMS parsers stop once they hold more than keep_top_k = 200 objects: at most 201."""

DDETR_KEEP_TOP_K = 200


def _count(output: np.ndarray) -> int:
    """The scalar in a keep-count / num-detections output."""
    return int(np.asarray(output).reshape(-1)[0])


def _limits(ctx: ParseContext) -> tuple[int, int]:
    return ctx.network.width - 1, ctx.network.height - 1


def _ltwh_candidates(
    left: np.ndarray,
    top: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    confidence: np.ndarray,
    class_id: np.ndarray,
) -> DetectionCandidates:
    xyxy = np.stack([left, top, left + width, top + height], axis=1)
    return DetectionCandidates(xyxy, confidence, class_id)


@register_parser("tao_nms", "NvDsInferParseCustomNMSTLT")
def parse_tao_nms(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """TensorRT NMS plugin: ``(keepTopK, 7)`` rows ``image_id, label, conf, xmin, ymin, xmax,
    ymax`` (normalised) and a keep count, in that binding order.

    Rows up to the keep count with ``conf >= pre-cluster[0]`` are kept; corners and sizes are
    scaled to the network input and each clipped to ``[0, size − 1]``.
    """
    arrays = [np.asarray(a) for a in outputs.values()]
    if len(arrays) != 2 or arrays[0].size % 7:
        raise parser_error(
            "tao_nms", "two outputs, detections (keepTopK, 7) and keep_count", outputs
        )
    rows = arrays[0].astype(np.float32).reshape(-1, 7)[: max(_count(arrays[1]), 0)]
    rows = rows[~(rows[:, 2] < ctx.pre_cluster_threshold[0])]
    max_x, max_y = _limits(ctx)
    width, height = ctx.network.width, ctx.network.height
    return _ltwh_candidates(
        np.clip(rows[:, 3] * width, 0, max_x),
        np.clip(rows[:, 4] * height, 0, max_y),
        np.clip((rows[:, 5] - rows[:, 3]) * width, 0, max_x),
        np.clip((rows[:, 6] - rows[:, 4]) * height, 0, max_y),
        rows[:, 2],
        rows[:, 1].astype(np.int32),
    )


def _batched_nms(
    parser: str, outputs: Mapping[str, np.ndarray], ctx: ParseContext, normalised: bool
) -> DetectionCandidates:
    arrays = [np.asarray(a) for a in outputs.values()]
    if len(arrays) != 4 or arrays[1].size != 4 * arrays[2].size or arrays[2].size != arrays[3].size:
        raise parser_error(
            parser, "four outputs keep_count, boxes (K, 4), scores (K,), classes (K,)", outputs
        )
    count = max(min(_count(arrays[0]), arrays[2].size), 0)
    raw = arrays[1].astype(np.float32).reshape(-1, 4)[:count]
    scores = arrays[2].astype(np.float32).reshape(-1)[:count]
    classes = arrays[3].astype(np.float32).reshape(-1)[:count]
    boxes = (
        raw * np.array([ctx.network.width, ctx.network.height] * 2, np.float32)
        if normalised
        else raw
    )
    max_x, max_y = _limits(ctx)
    left = np.clip(boxes[:, 0], 0, max_x)
    top = np.clip(boxes[:, 1], 0, max_y)
    width = np.clip(boxes[:, 2], 0, max_x) - left
    height = np.clip(boxes[:, 3], 0, max_y) - top
    valid = (
        ~(scores < ctx.pre_cluster_threshold[0])
        & (classes >= 0)
        & (np.trunc(classes) < ctx.num_classes)
        & ~(raw[:, 2] < raw[:, 0])
        & ~(raw[:, 3] < raw[:, 1])
        & ~(width < 0)
        & ~(height < 0)
    )
    keep = np.flatnonzero(valid)[:BATCHED_NMS_LIMIT]
    return _ltwh_candidates(
        left[keep],
        top[keep],
        width[keep],
        height[keep],
        scores[keep],
        classes[keep].astype(np.int32),
    )


@register_parser("tao_batched_nms", "NvDsInferParseCustomBatchedNMSTLT")
def parse_tao_batched_nms(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> DetectionCandidates:
    """TensorRT BatchedNMS plugin (TAO YOLOv3/v4, SSD, RetinaNet, FasterRCNN…): outputs
    ``keep_count, boxes (K, 4) x1 y1 x2 y2 normalised, scores (K,), classes (K,)`` by position.

    Of the first keep-count entries, those with ``score >= pre-cluster[0]``, a class below
    ``num-detected-classes`` and ``x2 >= x1, y2 >= y1`` are kept, at most 201; corners are scaled
    and clipped to ``[0, size − 1]``.
    """
    return _batched_nms("tao_batched_nms", outputs, ctx, normalised=True)


@register_parser(
    "tao_batched_nms_pixels",
    "NvDsInferParseYoloV5CustomBatchedNMSTLT",
    "NvDsInferParseCustomBatchedYoloV5NMSTLT",
)
def parse_tao_batched_nms_pixels(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> DetectionCandidates:
    """:func:`parse_tao_batched_nms` with boxes already in network-input pixels (YOLOv5 exports
    with a BatchedNMS plugin)."""
    return _batched_nms("tao_batched_nms_pixels", outputs, ctx, normalised=False)


@register_parser("tao_efficientdet", "NvDsInferParseCustomEfficientDetTAO")
def parse_tao_efficientdet(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> DetectionCandidates:
    """TAO EfficientDet (EfficientNMS): ``num_detections``, ``detection_boxes (K, 4)`` ``ymin,
    xmin, ymax, xmax`` in pixels, ``detection_scores (K,)``, ``detection_classes (K,)`` — found
    by name, else by that position.

    Entries with ``score < pre-cluster[0]`` are skipped; the first remaining one whose class is
    ≥ ``num-detected-classes`` ends the list (the TAO code breaks there); inverted boxes are
    skipped. ``left`` and ``width = xmax − xmin`` are clipped separately to ``[0, size − 1]``.
    """
    parser = "tao_efficientdet"
    names = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")
    if len(outputs) != 4:
        raise parser_error(parser, f"four outputs {', '.join(names)}", outputs)
    if all(n in outputs or f"{n}:0" in outputs for n in names):
        arrays = [output_named(parser, outputs, n) for n in names]
    else:
        arrays = [np.asarray(a) for a in outputs.values()]
    count = max(min(_count(arrays[0]), arrays[2].size), 0)
    boxes = arrays[1].astype(np.float32).reshape(-1, 4)[:count]
    scores = arrays[2].astype(np.float32).reshape(-1)[:count]
    classes = np.trunc(arrays[3].astype(np.float64).reshape(-1)[:count]).astype(np.int64)
    passing = ~(scores < ctx.pre_cluster_threshold[0])
    stop = np.flatnonzero(passing & (classes >= ctx.num_classes))
    passing[stop[0] if len(stop) else count :] = False
    keep = np.flatnonzero(passing & ~(boxes[:, 2] < boxes[:, 0]) & ~(boxes[:, 3] < boxes[:, 1]))
    ymin, xmin, ymax, xmax = (boxes[keep, i] for i in range(4))
    max_x, max_y = _limits(ctx)
    return _ltwh_candidates(
        np.clip(xmin, 0, max_x),
        np.clip(ymin, 0, max_y),
        np.clip(xmax - xmin, 0, max_x),
        np.clip(ymax - ymin, 0, max_y),
        scores[keep],
        classes[keep].astype(np.int32),
    )


@register_parser("tao_ddetr", "NvDsInferParseCustomDDETRTAO")
def parse_tao_ddetr(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """TAO Deformable DETR / DINO: ``pred_logits (Q, C)`` and ``pred_boxes (Q, 4)`` ``cx, cy, w,
    h`` normalised. C must equal ``num-detected-classes`` (class 0 is the background).

    Per query: the best class, confidence ``sigmoid(logit)``, kept unless below that class's
    pre-cluster threshold; ``x1 = (cx − w/2)·W``, ``x2 = x1 + w·W``, corners clipped to
    ``[0, size − 1]``. DeepStream then files queries in a map keyed by confidence — a later query
    with the same confidence replaces an earlier one — walks the 200 most confident entries and
    emits those not of class 0. Reproduced here.
    """
    parser = "tao_ddetr"
    logits = output_named(parser, outputs, "pred_logits").astype(np.float32)
    boxes = output_named(parser, outputs, "pred_boxes").astype(np.float32)
    if logits.ndim != 2 or logits.shape[1] != ctx.num_classes or boxes.shape != (len(logits), 4):
        raise parser_error(
            parser, f"pred_logits (Q, {ctx.num_classes}) and pred_boxes (Q, 4)", outputs
        )
    class_id = logits.argmax(axis=1)
    best = np.take_along_axis(logits, class_id[:, None], axis=1)[:, 0].astype(np.float64)
    confidence = (1.0 / (1.0 + np.exp(-best))).astype(np.float32)
    passing = np.flatnonzero(~(confidence < ctx.pre_cluster_threshold[class_id]))
    # std::map<float, …>: one entry per distinct confidence, the last query wins; walk downwards.
    reversed_conf = confidence[passing][::-1]
    first_in_reversed = np.unique(reversed_conf, return_index=True)[1]
    walk = passing[::-1][first_in_reversed][::-1][:DDETR_KEEP_TOP_K]
    walk = walk[class_id[walk] != 0]

    width, height = ctx.network.width, ctx.network.height
    max_x, max_y = _limits(ctx)
    cx, cy, w, h = (boxes[walk, i] for i in range(4))
    x1 = (cx - w / 2) * width
    y1 = (cy - h / 2) * height
    x2 = np.clip(x1 + w * width, 0, max_x)
    y2 = np.clip(y1 + h * height, 0, max_y)
    x1, y1 = np.clip(x1, 0, max_x), np.clip(y1, 0, max_y)
    return DetectionCandidates(np.stack([x1, y1, x2, y2], axis=1), confidence[walk], class_id[walk])


@register_parser("tao_mrcnn", "NvDsInferParseCustomMrcnnTLT", "NvDsInferParseCustomMrcnnTLTV2")
def parse_tao_mrcnn(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """TAO MaskRCNN: ``generate_detections (K, 6)`` rows ``y1, x1, y2, x2, class, score`` in
    pixels and per-class mask logits ``(K, C, mh, mw)`` named ``mask_fcn_logits/BiasAdd``
    (TLTV2) or ``mask_head/mask_fcn_logits/BiasAdd`` (TLT).

    Detections with ``score >= pre-cluster[0]`` are kept; ``left = CLIP(x1)`` but
    ``width = CLIP(x2) − x1`` with the unclipped x1 (so ``x2' = CLIP(x1) + CLIP(x2) − x1``);
    boxes with width or height ≤ 0 are dropped. Each keeps the mask plane of its class.
    """
    parser = "tao_mrcnn"
    detections = output_named(parser, outputs, "generate_detections").astype(np.float32)
    mask_name = next(
        (
            n
            for n in ("mask_fcn_logits/BiasAdd", "mask_head/mask_fcn_logits/BiasAdd")
            if n in outputs
        ),
        None,
    )
    masks = np.asarray(outputs[mask_name], np.float32) if mask_name else None
    if masks is None or masks.ndim != 4 or detections.size < 6 * len(masks):
        raise parser_error(
            parser,
            "generate_detections (K, 6) and mask_fcn_logits/BiasAdd (K, C, mh, mw)",
            outputs,
        )
    rows = detections.reshape(-1, 6)[: len(masks)]
    y1, x1, y2, x2, class_value, score = (rows[:, i] for i in range(6))
    class_id = class_value.astype(np.int64)
    max_x, max_y = _limits(ctx)
    left, top = np.clip(x1, 0, max_x), np.clip(y1, 0, max_y)
    width, height = np.clip(x2, 0, max_x) - x1, np.clip(y2, 0, max_y) - y1
    keep = np.flatnonzero(
        ~(score < ctx.pre_cluster_threshold[0])
        & (width > 0)
        & (height > 0)
        & (class_id >= 0)
        & (class_id < masks.shape[1])
    )
    xyxy = np.stack([left, top, left + width, top + height], axis=1)[keep]
    return DetectionCandidates(xyxy, score[keep], class_id[keep], masks[keep, class_id[keep]])


@register_parser("tf_ssd", "NvDsInferParseCustomTfSSD")
def parse_tf_ssd(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """TensorFlow Object Detection API SSD: ``detection_boxes (K, 4)`` ``ymin, xmin, ymax, xmax``
    normalised, ``detection_scores (K,)``, ``detection_classes (K,)`` and an optional
    ``num_detections`` that limits K.

    Detections of a class below ``num-detected-classes`` whose score reaches its pre-cluster
    threshold are kept; corners are scaled, clipped to ``[0, size − 1]``, and boxes with no area
    after clipping dropped.
    """
    parser = "tf_ssd"
    scores = output_named(parser, outputs, "detection_scores").astype(np.float32).reshape(-1)
    classes = output_named(parser, outputs, "detection_classes").astype(np.float32).reshape(-1)
    boxes = output_named(parser, outputs, "detection_boxes").astype(np.float32)
    if boxes.size != 4 * classes.size or scores.size != classes.size:
        raise parser_error(
            parser, "detection_boxes (K, 4), detection_scores (K,), detection_classes (K,)", outputs
        )
    count = classes.size
    if "num_detections" in outputs or "num_detections:0" in outputs:
        count = min(
            max(int(output_named(parser, outputs, "num_detections").reshape(-1)[0]), 0), count
        )
    boxes, scores = boxes.reshape(-1, 4)[:count], scores[:count]
    class_id = np.trunc(classes[:count]).astype(np.int64)
    known = (class_id >= 0) & (class_id < ctx.num_classes)
    threshold = ctx.pre_cluster_threshold[np.where(known, class_id, 0)]
    max_x, max_y = _limits(ctx)
    scale = np.array([ctx.network.height, ctx.network.width] * 2, np.float32)
    limit = np.array([max_y, max_x] * 2, np.float32)
    ymin, xmin, ymax, xmax = np.clip(boxes * scale, 0, limit).T
    keep = known & ~(scores < threshold) & (xmax > xmin) & (ymax > ymin)
    xyxy = np.stack([xmin, ymin, xmax, ymax], axis=1)[keep]
    return DetectionCandidates(xyxy, scores[keep], class_id[keep])
