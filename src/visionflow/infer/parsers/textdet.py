"""DB (differentiable binarisation) text detection, for PP-OCR-style probability maps.

The map ``(1, H, W)`` or ``(H, W)`` holds per-pixel text probabilities. As PP-OCR's
``DBPostProcess`` does, but with axis-aligned boxes:

1. binarise: probability > :data:`BINARY_THRESHOLD`;
2. each 8-connected component is a candidate; components whose box is under
   :data:`MIN_SIZE` pixels on a side are dropped;
3. its score is the mean probability inside its box; it is kept when the score reaches the
   class-0 pre-cluster threshold (PP-OCR's ``box_thresh``);
4. the box grows on every side by ``area · UNCLIP_RATIO / perimeter`` (the offset PP-OCR's
   unclip uses) and is scaled from the map to the network input, clipped to it.

Boxes are class 0 (``text``).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from visionflow.infer.parsers.base import (
    DetectionCandidates,
    ParseContext,
    parser_error,
    register_parser,
)

BINARY_THRESHOLD = 0.3
UNCLIP_RATIO = 1.5
MIN_SIZE = 3


@register_parser("db_text")
def parse_db_text(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """Axis-aligned text boxes from a DB probability map (see the module docstring)."""
    arrays = [np.asarray(a, np.float32) for a in outputs.values()]
    prob = arrays[0].squeeze() if len(arrays) == 1 else None
    if prob is None or prob.ndim != 2 or ctx.num_classes < 1:
        raise parser_error("db_text", "one probability map (1, H, W) and at least 1 class", outputs)
    binary = (prob > BINARY_THRESHOLD).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    x, y, w, h = stats[1:, :4].T.astype(np.int64)  # row 0 is the background
    integral = cv2.integral(prob, sdepth=cv2.CV_64F)
    inside = integral[y + h, x + w] - integral[y, x + w] - integral[y + h, x] + integral[y, x]
    score = (inside / (w * h)).astype(np.float32)
    keep = (np.minimum(w, h) >= MIN_SIZE) & (score >= ctx.pre_cluster_threshold[0])
    x, y, w, h, score = x[keep], y[keep], w[keep], h[keep], score[keep]
    grow = w * h * UNCLIP_RATIO / (2 * (w + h))
    boxes = np.stack([x - grow, y - grow, x + w + grow, y + h + grow], axis=1)
    net_w, net_h = ctx.network.width, ctx.network.height
    scale = np.array([net_w / prob.shape[1], net_h / prob.shape[0]] * 2)
    boxes = np.clip(boxes * scale, 0, [net_w, net_h, net_w, net_h])
    return DetectionCandidates(boxes, score, np.zeros(len(boxes), np.int32))
