"""Data association: scoring target–detection pairs and choosing the matches (NvMultiObjectTracker's
``DataAssociator``).

A pair's score is ``matchingScoreWeight4Iou · IoU + matchingScoreWeight4SizeSimilarity · size
similarity`` (size similarity: the smaller box area over the larger). A pair is a candidate only
when its boxes overlap (IoU > 0, chosen: NVIDIA's thresholds default to 0, and a pair of disjoint
boxes is no evidence of one object), its IoU, size similarity and score reach their minimums and,
with ``checkClassMatch``, both have one class. Matching picks candidates greedily (best score
first) or optimally (the assignment of largest total score,
``scipy.optimize.linear_sum_assignment``).
"""

from __future__ import annotations

import numpy as np

from visionflow.errors import MissingDependencyError

INVALID = -1.0
"""Score of a pair that may not be matched."""


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float32 IoU of (N, 4) and (M, 4) xyxy boxes; the same values as
    :func:`visionflow.core.geometry.box_iou` (no +1 on widths), computed on coordinate columns
    in place (no (N, M, 2) temporaries: several times faster at a few hundred boxes)."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    inter = np.minimum(ax1, bx1)
    inter -= np.maximum(ax0, bx0)
    ih = np.minimum(ay1, by1)
    ih -= np.maximum(ay0, by0)
    np.maximum(inter, 0, out=inter)
    np.maximum(ih, 0, out=ih)
    inter *= ih
    union = _area(a)[:, None] + _area(b)[None, :]
    union -= inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def _area(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) xyxy boxes, 0 for empty ones."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return np.maximum(w, 0) * np.maximum(h, 0)


def size_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) smaller area over larger area of (N, 4) and (M, 4) xyxy boxes (0 for empty boxes)."""
    area_a = _area(np.asarray(a))[:, None]
    area_b = _area(np.asarray(b))[None, :]
    low, high = np.minimum(area_a, area_b), np.maximum(area_a, area_b)
    out = np.zeros(high.shape, np.float32)
    np.divide(low, high, out=out, where=high > 0)
    return out


def pair_scores(
    targets: np.ndarray,
    target_class: np.ndarray,
    detections: np.ndarray,
    detection_class: np.ndarray,
    *,
    weight_iou: float,
    weight_size: float,
    min_iou: float,
    min_size: float,
    min_overall: float,
    check_class: bool,
) -> np.ndarray:
    """(N, M) float32 scores of N target boxes against M detection boxes; :data:`INVALID` where
    the pair is no candidate."""
    if not len(targets) or not len(detections):
        return np.zeros((len(targets), len(detections)), np.float32)
    iou = iou_matrix(targets, detections)
    valid = (iou > 0) & (iou >= min_iou)
    score = weight_iou * iou
    if weight_size or min_size:
        size = size_similarity(targets, detections)
        valid &= size >= min_size
        score = score + weight_size * size
    valid &= score >= min_overall
    if check_class:
        valid &= target_class[:, None] == detection_class[None, :]
    return np.where(valid, score, INVALID).astype(np.float32)


def match_greedy(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (rows, columns) chosen best score first, each row and column at most once."""
    rows, cols = np.nonzero(scores > INVALID)
    if not len(rows):
        return rows, cols
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_r = np.zeros(scores.shape[0], bool)
    used_c = np.zeros(scores.shape[1], bool)
    keep_r, keep_c = [], []
    for r, c in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if not used_r[r] and not used_c[c]:
            used_r[r] = used_c[c] = True
            keep_r.append(r)
            keep_c.append(c)
    return np.asarray(keep_r, np.intp), np.asarray(keep_c, np.intp)


def match_optimal(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (rows, columns) of the largest total score among candidates."""
    valid = scores > INVALID
    if not valid.any():
        empty = np.zeros(0, np.intp)
        return empty, empty
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:  # pragma: no cover - scipy is a dependency
        raise MissingDependencyError("scipy", "track", "optimal track association") from exc
    # A row and a column that are each other's only candidate are matched in every optimal
    # assignment (every candidate beats leaving it out): taken directly. Only the rows and
    # columns left with a candidate take part in the assignment — at a frame's scale, the few
    # objects whose boxes overlap several others.
    per_row, per_col = valid.sum(axis=1), valid.sum(axis=0)
    single = np.flatnonzero(per_row == 1)
    partner = valid[single].argmax(axis=1)
    alone = per_col[partner] == 1
    pair_r, pair_c = single[alone], partner[alone]
    per_row[pair_r] = 0
    per_col[pair_c] = 0
    live_r, live_c = np.flatnonzero(per_row), np.flatnonzero(per_col)
    if not len(live_r):
        return pair_r, pair_c
    sub = scores[live_r][:, live_c]
    cost = np.where(sub > INVALID, -sub - 1.0, 0.0)  # every candidate beats leaving it out
    rows, cols = linear_sum_assignment(cost)
    keep = sub[rows, cols] > INVALID
    return (
        np.concatenate([pair_r, live_r[rows[keep]]]),
        np.concatenate([pair_c, live_c[cols[keep]]]),
    )
