"""Plane geometry of the analytics rules: anchors, point in polygon, sides of a line, crossings.

Points are float64 ``(x, y)`` in one coordinate space (the rules' config space).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EPSILON = 1e-9


def anchors(xyxy: np.ndarray) -> np.ndarray:
    """(N, 2) float64 bottom-centre points of (N, 4) ``x1, y1, x2, y2`` boxes: DeepStream's
    ``(left + width / 2, top + height)``, the point every analytics rule tests."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def in_polygon(points: np.ndarray, polygon: Sequence[tuple[float, float]]) -> np.ndarray:
    """(N,) bool: which points lie inside the polygon or on its border.

    Even-odd rule (a self-intersecting polygon has holes where it overlaps itself); a point on
    an edge or a corner is inside. A polygon of one or two corners holds only its border.

    Args:
        points: (N, 2) points.
        polygon: its corners in order; an edge joins the last corner to the first.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    corners = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, :1], pts[:, 1:]  # (N, 1) against (1, M) edges
    ax, ay = corners[:, 0][None], corners[:, 1][None]
    bx, by = np.roll(corners[:, 0], -1)[None], np.roll(corners[:, 1], -1)[None]
    cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    within = (
        (np.minimum(ax, bx) - EPSILON <= x)
        & (x <= np.maximum(ax, bx) + EPSILON)
        & (np.minimum(ay, by) - EPSILON <= y)
        & (y <= np.maximum(ay, by) + EPSILON)
    )
    on_edge = (np.abs(cross) <= EPSILON * np.maximum(1.0, np.hypot(bx - ax, by - ay))) & within
    straddles = (ay > y) != (by > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (y - ay) * (bx - ax) / (by - ay)
    crossings = np.count_nonzero(straddles & (x < x_cross), axis=1)
    return (crossings % 2 == 1) | on_edge.any(axis=1)


def side(points: np.ndarray, line: Sequence[float]) -> np.ndarray:
    """(N,) int8: −1, 0 or +1 — which side of the line through ``(x1, y1) → (x2, y2)`` each
    point is on (the sign of the cross product; 0 on the line)."""
    x1, y1, x2, y2 = (float(v) for v in line)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cross = (x2 - x1) * (pts[:, 1] - y1) - (y2 - y1) * (pts[:, 0] - x1)
    scale = max(1.0, float(np.hypot(x2 - x1, y2 - y1)))
    return np.where(np.abs(cross) <= EPSILON * scale, 0, np.sign(cross)).astype(np.int8)


def side_of(point: Sequence[float], line: Sequence[float]) -> int:
    """:func:`side` of one point, in plain Python (−1, 0 or +1)."""
    x1, y1, x2, y2 = line
    cross = (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1)
    if abs(cross) <= EPSILON * max(1.0, math.hypot(x2 - x1, y2 - y1)):
        return 0
    return 1 if cross > 0 else -1


def crosses_segment(
    start: Sequence[float], end: Sequence[float], line: Sequence[float], *, extended: bool
) -> bool:
    """Whether the move ``start → end`` (on opposite sides of the line) passes through the
    segment ``line`` — or anywhere through the infinite line when ``extended``.

    The crossing point is where the move meets the line; it must lie between the segment's ends,
    ends included.
    """
    if extended:
        return True
    x1, y1, x2, y2 = (float(v) for v in line)
    px, py = float(start[0]), float(start[1])
    dx, dy = float(end[0]) - px, float(end[1]) - py
    ex, ey = x2 - x1, y2 - y1
    denominator = dx * ey - dy * ex
    if abs(denominator) <= EPSILON:
        return False
    t = ((x1 - px) * ey - (y1 - py) * ex) / denominator  # along the move
    cx, cy = px + t * dx, py + t * dy
    length2 = ex * ex + ey * ey
    if length2 <= EPSILON:
        return False
    u = ((cx - x1) * ex + (cy - y1) * ey) / length2  # along the segment
    return -EPSILON <= u <= 1 + EPSILON


def cosine(vector: Sequence[float], reference: Sequence[float]) -> float:
    """Cosine of the angle between two 2-D vectors (0 when either is null)."""
    norm = math.hypot(vector[0], vector[1]) * math.hypot(reference[0], reference[1])
    if norm <= EPSILON:
        return 0.0
    return (vector[0] * reference[0] + vector[1] * reference[1]) / norm
