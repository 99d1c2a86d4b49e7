"""DB (differentiable binarisation) text detection, for PP-OCR-style probability maps.

The map ``(1, H, W)`` or ``(H, W)`` holds per-pixel text probabilities. As PP-OCR's
``DBPostProcess`` (``score_mode: fast``) does:

1. binarise: probability > ``binary_threshold`` (0.3); optionally dilate with a 2×2 kernel;
2. each outer or inner contour of the binary map (at most ``max_candidates``) is a candidate;
   its minimum-area rotated rectangle is its box, dropped when its short side is under
   ``min_size`` (3) map pixels;
3. its score is the mean probability inside that rotated rectangle (filled as a polygon, so a
   tilted line is not diluted by the background an upright box would take in); it is kept when
   the score reaches the class-0 pre-cluster threshold (PP-OCR's ``box_thresh``);
4. unclip: the rectangle grows on every side by ``area · unclip_ratio / perimeter`` — what
   PP-OCR's round-joined polygon offset gives once its minimum-area rectangle is taken again —
   and is dropped when its short side is then under ``min_size + 2``;
5. the four corners are scaled from the map to the network input, clipped to it and ordered
   clockwise from the top-left one (``order_points_clockwise``).

Each candidate carries its rotated box as a 4-point polygon (:attr:`DetectionCandidates.polygons`,
object column ``polygon`` on the frame) and the upright box around it as ``xyxy``; class 0
(``text``). ``db_text`` uses PaddleOCR's defaults (unclip 1.5, no dilation); ``db_text_dilated``
RapidOCR's (unclip 1.6, 2×2 dilation). Other settings: ``parser_options`` (visionflow YAML,
:class:`DBTextOptions`: ``{unclip_ratio: 2.0, dilate: true}``), or a :class:`DBTextParser` of
your own named as a parser reference ``package.module:attribute``.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from visionflow.infer.parsers.base import (
    DetectionCandidates,
    ParseContext,
    parser_error,
    register_parser,
)

BINARY_THRESHOLD = 0.3
UNCLIP_RATIO = 1.5
MIN_SIZE = 3
MAX_CANDIDATES = 1000

RotatedRect = tuple[tuple[float, float], tuple[float, float], float]
"""OpenCV's rotated rectangle: centre, (width, height), angle in degrees."""


class DBTextOptions(BaseModel):
    """``parser_options`` of the ``db_text`` parsers; a value left out keeps the parser's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    binary_threshold: float | None = Field(
        default=None, gt=0, lt=1, description="Pixels above this probability are text (0.3)."
    )
    unclip_ratio: float | None = Field(
        default=None,
        gt=0,
        description="Boxes grow by area · unclip_ratio / perimeter on every side (1.5 / 1.6).",
    )
    dilate: bool | None = Field(
        default=None, description="Dilate the binary map 2×2 first (db_text_dilated: true)."
    )
    max_candidates: int | None = Field(default=None, ge=1, description="Contours looked at (1000).")
    min_size: float | None = Field(
        default=None, ge=0, description="Short side (map pixels) under which a box is dropped (3)."
    )


class DBTextParser:
    """A DB post-processor with its settings (see the module docstring).

    Args:
        binary_threshold: pixels above this probability are text.
        unclip_ratio: how far boxes grow: ``area · unclip_ratio / perimeter`` on every side.
        dilate: dilate the binary map with a 2×2 kernel first (RapidOCR's ``use_dilation``).
        max_candidates: contours looked at, at most.
        min_size: short side (map pixels) under which a box is dropped.
        name: the name used in error messages.
    """

    def __init__(
        self,
        *,
        binary_threshold: float = BINARY_THRESHOLD,
        unclip_ratio: float = UNCLIP_RATIO,
        dilate: bool = False,
        max_candidates: int = MAX_CANDIDATES,
        min_size: float = MIN_SIZE,
        name: str = "db_text",
    ) -> None:
        self.binary_threshold = binary_threshold
        self.unclip_ratio = unclip_ratio
        self.dilate = dilate
        self.max_candidates = max_candidates
        self.min_size = min_size
        self.name = name
        self.options_model = DBTextOptions

    def configured(self, options: Mapping[str, object]) -> DBTextParser:
        """This parser with ``parser_options`` (:class:`DBTextOptions`) applied."""
        given = DBTextOptions.model_validate(options).model_dump(exclude_none=True)
        settings = {
            "binary_threshold": self.binary_threshold,
            "unclip_ratio": self.unclip_ratio,
            "dilate": self.dilate,
            "max_candidates": self.max_candidates,
            "min_size": self.min_size,
            **given,
        }
        return DBTextParser(**settings, name=self.name)

    def __repr__(self) -> str:
        return (
            f"DBTextParser(binary_threshold={self.binary_threshold}, "
            f"unclip_ratio={self.unclip_ratio}, dilate={self.dilate})"
        )

    def __call__(self, outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
        if ctx.options:
            return self.configured(ctx.options)._parse(outputs, ctx)
        return self._parse(outputs, ctx)

    def _parse(self, outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
        arrays = [np.asarray(a, np.float32) for a in outputs.values()]
        prob = arrays[0].squeeze() if len(arrays) == 1 else None
        if prob is None or prob.ndim != 2 or ctx.num_classes < 1:
            raise parser_error(
                self.name, "one probability map (1, H, W) and at least 1 class", outputs
            )
        bitmap: np.ndarray = (prob > self.binary_threshold).astype(np.uint8)
        if self.dilate:
            bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
        contours = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
        threshold = float(ctx.pre_cluster_threshold[0])
        quads, scores = [], []
        for contour in contours[: self.max_candidates]:
            (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
            rect: RotatedRect = ((cx, cy), (w, h), angle)
            if min(rect[1]) < self.min_size:
                continue
            box = corners(rect)
            score = polygon_score(prob, box)
            if score < threshold:
                continue
            grown = unclip(rect, box, self.unclip_ratio)
            if min(grown[1]) < self.min_size + 2:
                continue
            quads.append(corners(grown))
            scores.append(score)
        if not quads:
            return DetectionCandidates.empty()
        net_w, net_h = ctx.network.width, ctx.network.height
        polygons = np.stack(quads) * np.array([net_w / prob.shape[1], net_h / prob.shape[0]])
        polygons = np.clip(polygons, 0, [net_w, net_h]).astype(np.float32)
        polygons = np.stack([clockwise(quad) for quad in polygons])
        xyxy = np.concatenate([polygons.min(axis=1), polygons.max(axis=1)], axis=1)
        return DetectionCandidates(
            xyxy,
            np.asarray(scores, np.float32),
            np.zeros(len(xyxy), np.int32),
            polygons=polygons,
        )


def corners(rect: RotatedRect) -> np.ndarray:
    """(4, 2) float32 corners of a rotated rectangle in PP-OCR's ``get_mini_boxes`` order:
    of the two left-most corners the upper one first, then the upper right, lower right, lower
    left."""
    points = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = (points[0], points[1]) if points[1][1] > points[0][1] else (points[1], points[0])
    right = (points[2], points[3]) if points[3][1] > points[2][1] else (points[3], points[2])
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def clockwise(quad: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left (PP-OCR's ``order_points_clockwise``:
    the two left-most points by x, each pair ordered by y)."""
    by_x = quad[np.argsort(quad[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def polygon_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean of ``prob`` inside the polygon ``quad`` (PP-OCR's ``box_score_fast``: the polygon's
    corners truncated to whole pixels, filled, over its bounding pixels clipped to the map)."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    local = (quad - np.array([x0, y0], np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [local.reshape(-1, 2)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip(rect: RotatedRect, box: np.ndarray, ratio: float) -> RotatedRect:
    """The rotated rectangle ``rect`` (corners ``box``) grown by ``area · ratio / perimeter`` on
    every side.

    PP-OCR offsets the box polygon — its corners truncated to whole pixels, as pyclipper takes
    them — with round joins and takes the minimum-area rectangle of the result: the minimum-area
    rectangle of the truncated corners, ``2·d`` wider and higher. pyclipper's result has integer
    vertices and arcs of a few points, so its rectangle differs from this one by up to about
    1.5 map pixels.
    """
    (w, h) = rect[1]
    distance = w * h * ratio / (2 * (w + h))
    (cx, cy), (tw, th), angle = cv2.minAreaRect(np.trunc(box).astype(np.int32))
    return (cx, cy), (tw + 2 * distance, th + 2 * distance), angle


parse_db_text = register_parser("db_text")(DBTextParser())
"""PaddleOCR's DB post-processing defaults: threshold 0.3, unclip 1.5, no dilation."""

parse_db_text_dilated = register_parser("db_text_dilated")(
    DBTextParser(unclip_ratio=1.6, dilate=True, name="db_text_dilated")
)
"""RapidOCR's DB post-processing: threshold 0.3, unclip 1.6, 2×2 dilation of the binary map."""
