"""nvinfer's per-frame detector post-processing: pre-cluster filter, clustering, top-K.

Reproduces ``DetectPostprocessor::fillDetectionOutput`` of DeepStream's
``libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp`` (identical in the 6.2 sources of
``hiennguyen9874/deepstream-sources`` and the 5.x sources) and the DBSCAN of
``nvdsinfer_dbscan.cpp`` (Apache-2.0 copy in ``NVIDIA-ISAAC-ROS/isaac_ros_object_detection``,
``gxf_isaac_detectnet/gxf/deepstream_utils/nvdsinferutils/dbscan``):

1. drop candidates with ``class_id >= num-detected-classes`` or ``confidence < pre-cluster``
   (a confidence equal to the threshold is kept);
2. per class, in ascending class order, cluster with ``cluster-mode``:

   * 0 groupRectangles — OpenCV ``cv::groupRectangles`` on integer rectangles; every output has
     confidence −0.1; no post-cluster threshold, no top-K (as DeepStream built with OpenCV);
   * 1 DBSCAN (only where ``minBoxes > 0``) — members merged into a confidence-weighted box with
     the members' maximum confidence; then drop ``confidence < post-cluster`` (equal is kept);
   * 2 NMS — stable sort by confidence, greedy, suppress IoU > ``nms-iou-threshold``; then keep
     ``confidence > post-cluster`` (equal is dropped);
   * 3 hybrid — DBSCAN (where ``minBoxes > 0``) only drops unclustered boxes, then NMS;
   * 4 none;

3. per class, keep the ``topk`` most confident (stable sort; ``topk < 0`` keeps all — and, in
   mode 4, keeps the parser's order).

Stock DeepStream builds lack OpenCV and turn mode 0 into NMS with topk 20 and IoU 0.5 at init;
that substitution belongs to the configuration, not here.

``class_agnostic=True`` (a visionflow extension, ``class_agnostic_nms``; DeepStream has none)
makes the NMS of modes 2 and 3 one pass over every class at once: boxes are visited by confidence
whatever their class, and a kept box suppresses any later box, of any class, whose IoU with it is
above the kept box's class ``nms-iou-threshold``; the kept box keeps its own class. Post-cluster
threshold and top-K stay per class.

``weighted=True`` (a visionflow extension, ``weighted_nms``; MediaPipe's
``NonMaxSuppressionCalculator`` with ``algorithm: WEIGHTED``, which BlazeFace-style detectors
expect) keeps the same boxes as the NMS of modes 2 and 3 but moves each kept box to the
confidence-weighted mean corners of itself and the boxes it suppressed — those whose IoU with it
is above the threshold and that no earlier kept box took. The kept box keeps its confidence and
class (and mask). It combines with ``class_agnostic``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

import numpy as np

from visionflow.core.geometry import box_iou, ltwh_to_xyxy, xyxy_to_ltwh
from visionflow.errors import ConfigError
from visionflow.infer.parsers.base import DetectionCandidates

GROUP_RECTANGLES_CONFIDENCE = np.float32(-0.1)
"""Confidence of every groupRectangles output (DeepStream has no score for a group)."""

ATHR_THRESHOLD = 60.0
"""DBSCAN drops clusters with sqrt(box area) / (members + 1) above this (nvinfer's ATHR filter)."""


class ClusterMode(IntEnum):
    """``cluster-mode`` of ``[property]``."""

    GROUP_RECTANGLES = 0
    DBSCAN = 1
    NMS = 2
    HYBRID = 3
    NONE = 4


@dataclass(frozen=True, eq=False)
class ClusterParams:
    """Per-class clustering attributes (``[class-attrs-all]`` / ``[class-attrs-N]``), one entry per
    class id.

    Attributes:
        pre_cluster: (C,) float32 ``pre-cluster-threshold``.
        post_cluster: (C,) float32 ``post-cluster-threshold``.
        nms_iou: (C,) float32 ``nms-iou-threshold``.
        topk: (C,) int32 ``topk``, negative for all.
        eps: (C,) float32 ``eps`` of DBSCAN and groupRectangles.
        min_boxes: (C,) int32 ``minBoxes`` of DBSCAN.
        dbscan_min_score: (C,) float32 ``dbscan-min-score``.
        group_threshold: (C,) int32 ``group-threshold`` of groupRectangles.
    """

    pre_cluster: np.ndarray
    post_cluster: np.ndarray
    nms_iou: np.ndarray
    topk: np.ndarray
    eps: np.ndarray
    min_boxes: np.ndarray
    dbscan_min_score: np.ndarray
    group_threshold: np.ndarray

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.pre_cluster))
        for name, dtype in _PARAM_DTYPES.items():
            column = np.asarray(getattr(self, name), dtype=dtype)
            if column.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {column.shape}")
            column = column.view()
            column.flags.writeable = False
            object.__setattr__(self, name, column)

    @property
    def num_classes(self) -> int:
        return len(self.pre_cluster)

    @classmethod
    def uniform(
        cls,
        num_classes: int,
        *,
        pre_cluster: float = 0.2,
        post_cluster: float = 0.0,
        nms_iou: float = 0.3,
        topk: int = -1,
        eps: float = 0.0,
        min_boxes: int = 0,
        dbscan_min_score: float = 0.0,
        group_threshold: int = 0,
    ) -> ClusterParams:
        """The same attributes for every class; the defaults are DeepStream's."""
        values = {
            "pre_cluster": pre_cluster,
            "post_cluster": post_cluster,
            "nms_iou": nms_iou,
            "topk": topk,
            "eps": eps,
            "min_boxes": min_boxes,
            "dbscan_min_score": dbscan_min_score,
            "group_threshold": group_threshold,
        }
        return cls(
            **{name: np.full(num_classes, values[name], _PARAM_DTYPES[name]) for name in values}
        )


_PARAM_DTYPES = {
    "pre_cluster": np.float32,
    "post_cluster": np.float32,
    "nms_iou": np.float32,
    "topk": np.int32,
    "eps": np.float32,
    "min_boxes": np.int32,
    "dbscan_min_score": np.float32,
    "group_threshold": np.int32,
}


def cluster(
    candidates: DetectionCandidates,
    params: ClusterParams,
    mode: ClusterMode | int,
    *,
    class_agnostic: bool = False,
    weighted: bool = False,
) -> DetectionCandidates:
    """Filter, cluster and cap the candidates of one frame as nvinfer does.

    Masks are carried through by the selecting modes (NMS, hybrid, none); DBSCAN and
    groupRectangles build new boxes and refuse candidates with masks. ``class_agnostic`` runs
    the NMS of modes 2 and 3 across classes and ``weighted`` makes it MediaPipe's weighted NMS
    (see the module docstring); other modes refuse both.

    Returns:
        The kept detections, grouped by ascending class id.
    """
    mode = ClusterMode(mode)
    if candidates.masks is not None and mode in (ClusterMode.DBSCAN, ClusterMode.GROUP_RECTANGLES):
        raise ConfigError(
            f"{mode.name} merges boxes and cannot carry instance masks",
            key="cluster-mode",
            value=str(int(mode)),
            allowed="4 (none), as DeepStream requires for instance segmentation, or 2 (NMS)",
        )
    if class_agnostic and mode not in (ClusterMode.NMS, ClusterMode.HYBRID):
        raise ConfigError(
            f"class-agnostic NMS needs an NMS clustering, not {mode.name}",
            key="class_agnostic_nms",
            value="true",
            allowed="with cluster-mode 2 (NMS) or 3 (hybrid)",
        )
    if weighted and mode not in (ClusterMode.NMS, ClusterMode.HYBRID):
        raise ConfigError(
            f"weighted NMS needs an NMS clustering, not {mode.name}",
            key="weighted_nms",
            value="true",
            allowed="with cluster-mode 2 (NMS) or 3 (hybrid)",
        )
    class_id = candidates.class_id
    known = (class_id >= 0) & (class_id < params.num_classes)
    if not known.any():
        return candidates.select(known)
    threshold = params.pre_cluster[np.where(known, class_id, 0)]
    kept = candidates.select(known & ~(candidates.confidence < threshold))

    if mode is ClusterMode.GROUP_RECTANGLES:
        return _concat([_group_class(kept, c, params) for c in np.unique(kept.class_id)])
    if mode is ClusterMode.DBSCAN:
        return _concat([_dbscan_class(kept, c, params) for c in np.unique(kept.class_id)])
    if not weighted:
        return kept.select(_selected(kept, params, mode, class_agnostic))
    boxes = np.array(kept.xyxy)
    points = None if kept.keypoints is None else np.array(kept.keypoints)
    index = _selected(kept, params, mode, class_agnostic, boxes, points)
    merged = replace(kept.select(index), xyxy=boxes[index])
    return merged if points is None else replace(merged, keypoints=points[index])


def _selected(
    kept: DetectionCandidates,
    params: ClusterParams,
    mode: ClusterMode,
    class_agnostic: bool,
    weighted_out: np.ndarray | None = None,
    weighted_points: np.ndarray | None = None,
) -> np.ndarray:
    """Indices into ``kept`` that NMS / hybrid / none keep, grouped by ascending class, in output
    order — every class at once, with no loop over classes. With ``weighted_out`` (a writable
    copy of ``kept.xyxy``), the kept boxes' rows are replaced by their weighted-NMS boxes (and,
    with ``weighted_points``, a copy of ``kept.keypoints``, their keypoints)."""
    class_id, confidence = kept.class_id, kept.confidence
    n = len(kept)
    if mode is ClusterMode.NONE:
        # Per class: the parser's order when topk < 0 (kept whole), else most confident first.
        by_confidence = np.empty(n, np.intp)
        by_confidence[np.argsort(-confidence, kind="stable")] = np.arange(n)
        key = np.where(params.topk[class_id] < 0, np.arange(n), by_confidence)
        order = np.lexsort((key, class_id))
        return order[_within_top_k(class_id[order], params.topk)]
    index = np.arange(n)
    if mode is ClusterMode.HYBRID:
        index = index[_clustered(kept, params)]
    if class_agnostic:
        # Every class at once, most confident first (stable for ties); then back into classes.
        order = index[np.argsort(-confidence[index], kind="stable")]
        keep = nms_sorted(kept.xyxy[order], class_id[order], params.nms_iou, class_agnostic=True)
        if weighted_out is not None:
            _weigh(kept, order, keep, params.nms_iou, True, weighted_out, weighted_points)
        order = order[keep]
        order = order[np.argsort(class_id[order], kind="stable")]
    else:
        # Per class, most confident first (stable for ties): the order NMS visits boxes in.
        order = index[np.lexsort((-confidence[index], class_id[index]))]
        keep = nms_sorted(kept.xyxy[order], class_id[order], params.nms_iou)
        if weighted_out is not None:
            _weigh(kept, order, keep, params.nms_iou, False, weighted_out, weighted_points)
        order = order[keep]
    order = order[confidence[order] > params.post_cluster[class_id[order]]]
    # Already sorted by confidence within each class, so top-K is the first K of each class.
    return order[_within_top_k(class_id[order], params.topk)]


def _weigh(
    kept: DetectionCandidates,
    order: np.ndarray,
    keep: np.ndarray,
    iou_threshold: np.ndarray,
    class_agnostic: bool,
    out: np.ndarray,
    out_points: np.ndarray | None = None,
) -> None:
    """MediaPipe's weighted NMS boxes: each kept box (``order[keep]``) becomes the
    confidence-weighted mean corners of itself and of the boxes it took — those NMS suppressed
    whose first kept box above the IoU threshold, in visiting order, it is. Written into
    ``out`` (rows of ``kept``); keypoints, as MediaPipe averages them, into ``out_points``."""
    n = len(order)
    if n == 0:
        return
    xyxy = kept.xyxy[order]
    class_id = kept.class_id[order]
    if class_agnostic:
        group_end = np.full(n, n)
    else:
        group_end = np.searchsorted(class_id, class_id, side="right")
    later = group_end - np.arange(n) - 1
    first, second = _suppressions(xyxy, later, class_id, iou_threshold)
    by_kept = keep[first] & ~keep[second]
    first, second = first[by_kept], second[by_kept]
    owner = np.arange(n)  # each kept box owns itself
    taken = np.full(n, n)
    np.minimum.at(taken, second, first)  # the earliest kept box that overlaps a suppressed one
    owner = np.where(keep, owner, taken)
    member = owner < n
    weight = kept.confidence[order][member].astype(np.float64)
    total = np.bincount(owner[member], weights=weight, minlength=n)
    sums = np.zeros((n, 4))
    np.add.at(sums, owner[member], weight[:, None] * xyxy[member])
    rows = np.flatnonzero(keep & (total > 0))
    out[order[rows]] = (sums[rows] / total[rows, None]).astype(np.float32)
    if out_points is not None and kept.keypoints is not None:
        points = kept.keypoints[order][member].astype(np.float64)
        point_sums = np.zeros((n, *points.shape[1:]))
        np.add.at(point_sums, owner[member], weight[:, None, None] * points)
        out_points[order[rows]] = (point_sums[rows] / total[rows, None, None]).astype(np.float32)


def _clustered(kept: DetectionCandidates, params: ClusterParams) -> np.ndarray:
    """(N,) bool: hybrid mode's DBSCAN pass, False for boxes in no cluster of a class with
    ``minBoxes > 0``."""
    keep = np.ones(len(kept), bool)
    for c in np.unique(kept.class_id[params.min_boxes[kept.class_id] > 0]):
        index = np.flatnonzero(kept.class_id == c)
        labels = dbscan_labels(kept.xyxy[index], float(params.eps[c]), int(params.min_boxes[c]))
        keep[index[labels < 0]] = False
    return keep


def _within_top_k(class_id: np.ndarray, topk: np.ndarray) -> np.ndarray:
    """(N,) bool for ``class_id`` sorted into groups: the first ``topk[c]`` of each group
    (``filterTopKOutputs`` on already sorted boxes; topk < 0 keeps all)."""
    rank = np.arange(len(class_id)) - np.searchsorted(class_id, class_id, side="left")
    k = topk[class_id]
    return (k < 0) | (rank < k)


def _top_k(index: np.ndarray, confidence: np.ndarray, k: int) -> np.ndarray:
    """``filterTopKOutputs``: stable sort by confidence, keep ``k``; k < 0 keeps all, unsorted."""
    if k < 0:
        return index
    order = np.argsort(-confidence[index], kind="stable")
    return index[order[:k]]


def nms(xyxy: np.ndarray, confidence: np.ndarray, iou_threshold: float) -> np.ndarray:
    """nvinfer's greedy NMS over one class.

    Boxes are visited by confidence, highest first (stable for ties); a box is kept when its IoU
    (no +1 on sizes) with every box kept before it is ≤ ``iou_threshold``.

    Args:
        xyxy: (N, 4) float32 boxes.
        confidence: (N,) float32.
        iou_threshold: ``nms-iou-threshold``.

    Returns:
        (K,) indices of the kept boxes, in visiting order.
    """
    order = np.argsort(-np.asarray(confidence, np.float32), kind="stable")
    classes = np.zeros(len(order), np.int32)
    threshold = np.full(1, iou_threshold, np.float32)
    return order[nms_sorted(np.asarray(xyxy, np.float32)[order], classes, threshold)]


_PAIR_CHUNK = 1 << 20
"""Box pairs whose IoU is computed at once (bounds memory for classes with thousands of boxes)."""


def nms_sorted(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    iou_threshold: np.ndarray,
    *,
    class_agnostic: bool = False,
) -> np.ndarray:
    """Greedy NMS of many classes at once, over boxes already in visiting order.

    Boxes are grouped by class (ascending ``class_id``) and, within a class, sorted by decreasing
    confidence. A box is kept when its IoU with every kept box of its class before it is
    ≤ ``iou_threshold[class]`` — the same result, bit for bit, as visiting each class's boxes
    one by one (the IoU is :func:`~visionflow.core.geometry.box_iou`'s float32 formula).

    Instead of a Python loop per box, the IoU of every same-class pair is computed in one pass,
    and the greedy decisions are resolved together: a box whose suppressors are all suppressed is
    kept, a box with a kept suppressor is suppressed, repeated until every box is decided (as
    many rounds as the longest chain of suppressions, usually two or three).

    With ``class_agnostic`` every box is in one group (``class_id`` need not be sorted, the
    boxes are sorted by decreasing confidence alone) and a pair is compared with the threshold
    of the earlier box's class.

    Args:
        xyxy: (N, 4) float32 boxes.
        class_id: (N,) int class of each box, sorted ascending.
        iou_threshold: (C,) float32 ``nms-iou-threshold`` per class.
        class_agnostic: suppress across classes.

    Returns:
        (N,) bool: the kept boxes.
    """
    n = len(xyxy)
    if n == 0:
        return np.zeros(0, bool)
    if class_agnostic:
        group_end = np.full(n, n)
    else:
        group_end = np.searchsorted(class_id, class_id, side="right")
    later = group_end - np.arange(n) - 1  # same-class boxes after each box
    first, second = _suppressions(np.asarray(xyxy, np.float32), later, class_id, iou_threshold)
    state = np.zeros(n, np.int8)  # 0 undecided, 1 kept, -1 suppressed
    while True:
        undecided = state == 0
        if not undecided.any():
            return state > 0
        # Only a suppressor still in play matters, and only for a box still undecided.
        live = (state[first] >= 0) & undecided[second]
        first, second = first[live], second[live]
        blocked = np.zeros(n, bool)
        blocked[second] = True
        state[undecided & ~blocked] = 1
        state[second[state[first] > 0]] = -1


def _suppressions(
    xyxy: np.ndarray, later: np.ndarray, class_id: np.ndarray, iou_threshold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All same-class pairs ``(i, j)``, i before j, whose IoU exceeds the class threshold."""
    columns = [np.ascontiguousarray(xyxy[:, k]) for k in range(4)]
    x1, y1, x2, y2 = columns
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    threshold = iou_threshold[class_id]
    ends = np.cumsum(later)
    firsts, seconds = [], []
    start_row, start_pair = 0, 0
    while start_row < len(xyxy):
        stop_row = int(np.searchsorted(ends, start_pair + _PAIR_CHUNK, side="right"))
        stop_row = max(stop_row, start_row + 1)
        rows = np.arange(start_row, stop_row)
        counts = later[rows]
        first = np.repeat(rows, counts)
        second = np.arange(len(first)) - np.repeat(np.cumsum(counts) - counts - rows - 1, counts)
        # Values of the first box of each pair repeat row by row: np.repeat, not a gather.
        a = [np.repeat(column[rows], counts) for column in columns]
        b = [column[second] for column in columns]
        iou = _pair_iou(a, b, np.repeat(area[rows], counts), area[second])
        above = iou > np.repeat(threshold[rows], counts)
        firsts.append(first[above])
        seconds.append(second[above])
        start_row, start_pair = stop_row, int(ends[stop_row - 1])
    return np.concatenate(firsts), np.concatenate(seconds)


def _pair_iou(
    a: list[np.ndarray], b: list[np.ndarray], area_a: np.ndarray, area_b: np.ndarray
) -> np.ndarray:
    """(P,) IoU of box ``a[p]`` with box ``b[p]`` (each given as ``x1, y1, x2, y2`` columns):
    element for element the float32 operations of :func:`~visionflow.core.geometry.box_iou`,
    so the results are identical."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter_w = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0, None)
    inter_h = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0, None)
    inter = inter_w * inter_h
    union = area_a + area_b - inter
    positive = union > 0
    return np.where(positive, inter / np.where(positive, union, 1), 0.0).astype(np.float32)


def dbscan_labels(xyxy: np.ndarray, eps: float, min_boxes: int) -> np.ndarray:
    """Cluster labels of nvinfer's DBSCAN (``NvDsInferDBScan::clusterObjects``).

    Two boxes are neighbours when ``1 − IoU < eps``. Boxes are visited in input order; an
    unvisited box with at least ``min_boxes − 1`` neighbours starts a cluster, which takes those
    of its *direct* neighbours that are unvisited and have enough neighbours themselves.
    DeepStream expands only this one level (it merges neighbour lists but never walks the merged
    entries), so a chain of boxes may split into several clusters; this reproduces that.

    Returns:
        (N,) int32 cluster id per box, −1 for boxes in no cluster.
    """
    n = len(xyxy)
    ltwh = xyxy_to_ltwh(xyxy)
    area = ltwh[:, 2] * ltwh[:, 3]
    distance = np.float32(1) - box_iou(xyxy, xyxy)
    # DeepStream divides by a zero union for two empty boxes: NaN, never a neighbour.
    neighbours = (distance < np.float32(eps)) & ((area[:, None] > 0) | (area[None, :] > 0))
    np.fill_diagonal(neighbours, False)
    core = neighbours.sum(axis=1) + 1 >= min_boxes
    labels = np.full(n, -1, np.int32)
    # Only core boxes are ever labelled, and whether a non-core box was visited changes no
    # label: the walk can skip non-core seeds and members without changing the result.
    visited = ~core
    next_label = 0
    for seed in np.flatnonzero(core):
        if visited[seed]:
            continue
        members = np.flatnonzero(neighbours[seed] & ~visited)
        visited[seed] = True
        visited[members] = True
        labels[seed] = next_label
        labels[members] = next_label
        next_label += 1
    return labels


def _dbscan_class(kept: DetectionCandidates, c: int, params: ClusterParams) -> DetectionCandidates:
    index = np.flatnonzero(kept.class_id == c)
    xyxy, confidence = kept.xyxy[index], kept.confidence[index]
    if params.min_boxes[c] > 0:
        labels = dbscan_labels(xyxy, float(params.eps[c]), int(params.min_boxes[c]))
        xyxy, confidence = _merge_clusters(
            xyxy, confidence, labels, float(params.dbscan_min_score[c])
        )
    keep = ~(confidence < params.post_cluster[c])
    xyxy, confidence = xyxy[keep], confidence[keep]
    top = _top_k(np.arange(len(xyxy)), confidence, int(params.topk[c]))
    return DetectionCandidates(xyxy[top], confidence[top], np.full(len(top), c, np.int32))


def _merge_clusters(
    xyxy: np.ndarray, confidence: np.ndarray, labels: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """One box per cluster, in cluster order: the confidence-weighted mean left/top/width/height,
    scored by the highest member confidence. Clusters whose summed confidence is below
    ``min_score``, or that fail the area-to-hit-ratio filter, are dropped."""
    clusters = int(labels.max(initial=-1)) + 1
    member = labels >= 0
    label, weight = labels[member], confidence[member].astype(np.float64)
    total = np.bincount(label, weights=weight, minlength=clusters)
    weighted = np.zeros((clusters, 4))
    np.add.at(weighted, label, weight[:, None] * xyxy_to_ltwh(xyxy[member]))
    best = np.zeros(clusters, np.float32)  # DeepStream starts the maximum at 0
    np.maximum.at(best, label, confidence[member])
    with np.errstate(divide="ignore", invalid="ignore"):
        box = (weighted / total[:, None]).astype(np.float32)
        # nElements starts at 1 and counts every member: members + 1.
        hit_ratio = np.sqrt(box[:, 2] * box[:, 3]) / (np.bincount(label, minlength=clusters) + 1)
    valid = ~(total < min_score) & ~(hit_ratio > ATHR_THRESHOLD)
    return ltwh_to_xyxy(box[valid]), best[valid]


def _group_class(kept: DetectionCandidates, c: int, params: ClusterParams) -> DetectionCandidates:
    # DeepStream stores left/top/width/height into an integer cv::Rect: truncation toward zero.
    rects = np.trunc(xyxy_to_ltwh(kept.xyxy[kept.class_id == c])).astype(np.int64)
    if params.group_threshold[c] > 0:
        rects = group_rectangles(rects, int(params.group_threshold[c]), float(params.eps[c]))
    n = len(rects)
    return DetectionCandidates(
        ltwh_to_xyxy(rects.astype(np.float32)),
        np.full(n, GROUP_RECTANGLES_CONFIDENCE),
        np.full(n, c, np.int32),
    )


def group_rectangles(rects: np.ndarray, group_threshold: int, eps: float) -> np.ndarray:
    """OpenCV's ``cv::groupRectangles(rectList, groupThreshold, eps)`` (``cascadedetect.cpp``).

    Rectangles are similar when all four edges differ by at most
    ``eps · (min widths + min heights) / 2``; similarity classes (OpenCV ``partition``, numbered
    by first member) with more than ``group_threshold`` members become their rounded mean
    rectangle, unless it lies inside another such group's rectangle (grown by ``eps`` of its
    size) that has more than max(3, n) members — or the group has fewer than 3.

    Args:
        rects: (N, 4) integer ``x, y, width, height``.
        group_threshold: minimum group size minus one; ≤ 0 returns ``rects`` unchanged.
        eps: the relative tolerance (a float32 ``eps`` from the config, widened to double).

    Returns:
        (M, 4) int64 grouped rectangles.
    """
    rects = np.asarray(rects, np.int64).reshape(-1, 4)
    if group_threshold <= 0 or len(rects) == 0:
        return rects
    eps = float(np.float32(eps))
    x, y, w, h = (rects[:, i] for i in range(4))
    delta = eps * (np.minimum.outer(w, w) + np.minimum.outer(h, h)) * 0.5
    similar = (
        (np.abs(np.subtract.outer(x, x)) <= delta)
        & (np.abs(np.subtract.outer(y, y)) <= delta)
        & (np.abs(np.subtract.outer(x + w, x + w)) <= delta)
        & (np.abs(np.subtract.outer(y + h, y + h)) <= delta)
    )
    labels = _components(similar)
    count = np.bincount(labels)
    sums = np.zeros((len(count), 4), np.int64)
    np.add.at(sums, labels, rects)
    # OpenCV: float s = 1.f / n; saturate_cast<int>(sum * s), which rounds half to even.
    scale = np.float32(1) / count.astype(np.float32)
    mean = np.rint(sums.astype(np.float32) * scale[:, None]).astype(np.int64)

    gx, gy, gw, gh = (mean[:, i] for i in range(4))
    dx, dy = np.rint(gw * eps).astype(np.int64), np.rint(gh * eps).astype(np.int64)
    big = count > group_threshold
    inside = (  # row i inside column j
        (gx[:, None] >= gx - dx)
        & (gy[:, None] >= gy - dy)
        & ((gx + gw)[:, None] <= gx + gw + dx)
        & ((gy + gh)[:, None] <= gy + gh + dy)
        & ((count > np.maximum(3, count[:, None])) | (count[:, None] < 3))
        & big
    )
    np.fill_diagonal(inside, False)
    return mean[big & ~inside.any(axis=1)]


def _components(adjacency: np.ndarray) -> np.ndarray:
    """Connected-component label per node, numbered in order of each component's first node."""
    n = len(adjacency)
    linked = adjacency | adjacency.T | np.eye(n, dtype=bool)
    root = np.arange(n)
    while True:  # propagate the smallest index through each component
        spread = np.where(linked, root[None, :], n).min(axis=1)
        if np.array_equal(spread, root):
            break
        root = spread
    return np.unique(root, return_inverse=True)[1]


def _concat(parts: list[DetectionCandidates]) -> DetectionCandidates:
    if not parts:
        return DetectionCandidates.empty()
    return DetectionCandidates(
        np.concatenate([p.xyxy for p in parts]),
        np.concatenate([p.confidence for p in parts]),
        np.concatenate([p.class_id for p in parts]),
    )
