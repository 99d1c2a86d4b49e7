"""nvinfer clustering, checked against values worked out by hand from DeepStream's rules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from visionflow.core.geometry import box_iou, xyxy_to_ltwh
from visionflow.errors import ConfigError
from visionflow.infer.cluster import (
    ClusterMode,
    ClusterParams,
    cluster,
    dbscan_labels,
    group_rectangles,
    nms,
)
from visionflow.infer.parsers.base import DetectionCandidates


def candidates(rows: list[tuple[float, float, float, float, float, int]]) -> DetectionCandidates:
    """Rows of ``x1, y1, x2, y2, confidence, class``."""
    table = np.array(rows, np.float64).reshape(-1, 6)
    return DetectionCandidates(table[:, :4], table[:, 4], table[:, 5])


def rows_of(dets: DetectionCandidates) -> list[tuple[float, ...]]:
    """Rows of ``x1, y1, x2, y2, confidence (to 6 decimals: it is float32), class``."""
    return [
        (*map(float, box), round(float(conf), 6), int(cls))
        for box, conf, cls in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)
    ]


# --- pre-cluster filter ---------------------------------------------------------------------


def test_pre_cluster_keeps_equal_and_drops_below_and_unknown_classes() -> None:
    dets = candidates(
        [
            (0, 0, 10, 10, 0.5, 0),  # equal to the threshold: kept
            (20, 0, 30, 10, 0.25, 0),  # below 0.5: dropped
            (40, 0, 50, 10, 0.9, 2),  # class 2 of 2 classes: dropped
            (60, 0, 70, 10, 0.9, -1),  # negative class: dropped
            (80, 0, 90, 10, 0.125, 1),  # class 1 threshold 0.125: kept
        ]
    )
    params = replace(ClusterParams.uniform(2), pre_cluster=np.array([0.5, 0.125]))
    out = cluster(dets, params, ClusterMode.NONE)
    assert rows_of(out) == [(0, 0, 10, 10, 0.5, 0), (80, 0, 90, 10, 0.125, 1)]


# --- NMS ------------------------------------------------------------------------------------


def test_nms_keeps_iou_equal_to_threshold_and_suppresses_above() -> None:
    dets = candidates(
        [
            (0, 0, 10, 10, 0.9, 0),
            (0, 0, 10, 5, 0.8, 0),  # IoU 50 / 100 = 0.5: equal, kept
            (0, 4, 10, 10, 0.7, 0),  # IoU with box 0: 60 / 100 = 0.6 > 0.5: suppressed
        ]
    )
    out = cluster(dets, ClusterParams.uniform(1, pre_cluster=0.0, nms_iou=0.5), ClusterMode.NMS)
    assert rows_of(out) == [(0, 0, 10, 10, 0.9, 0), (0, 0, 10, 5, 0.8, 0)]


def test_nms_is_greedy_over_kept_boxes_only() -> None:
    # B overlaps A (IoU 40/160 = 0.25 > 0.2) and is suppressed; C overlaps only B (0.25), so C
    # survives although B, had it been kept, would have removed it.
    dets = candidates([(12, 0, 22, 10, 0.7, 0), (0, 0, 10, 10, 0.9, 0), (6, 0, 16, 10, 0.8, 0)])
    out = cluster(dets, ClusterParams.uniform(1, pre_cluster=0.0, nms_iou=0.2), ClusterMode.NMS)
    assert rows_of(out) == [(0, 0, 10, 10, 0.9, 0), (12, 0, 22, 10, 0.7, 0)]


def test_nms_post_cluster_equal_is_dropped() -> None:
    dets = candidates([(0, 0, 10, 10, 0.5, 0), (20, 0, 30, 10, 0.75, 0)])
    params = ClusterParams.uniform(1, pre_cluster=0.0, post_cluster=0.5)
    assert rows_of(cluster(dets, params, ClusterMode.NMS)) == [(20, 0, 30, 10, 0.75, 0)]


def test_nms_orders_equal_confidences_stably_and_caps_topk() -> None:
    dets = candidates(
        [
            (0, 0, 10, 10, 0.5, 0),
            (20, 0, 30, 10, 0.75, 0),
            (40, 0, 50, 10, 0.5, 0),
            (60, 0, 70, 10, 0.5, 0),
        ]
    )
    params = ClusterParams.uniform(1, pre_cluster=0.0, topk=3)
    assert rows_of(cluster(dets, params, ClusterMode.NMS)) == [
        (20, 0, 30, 10, 0.75, 0),
        (0, 0, 10, 10, 0.5, 0),
        (40, 0, 50, 10, 0.5, 0),
    ]


def test_nms_runs_per_class_and_groups_output_by_class() -> None:
    dets = candidates([(0, 0, 10, 10, 0.6, 1), (0, 0, 10, 10, 0.9, 0), (0, 0, 10, 10, 0.8, 1)])
    out = cluster(dets, ClusterParams.uniform(2, pre_cluster=0.0), ClusterMode.NMS)
    assert rows_of(out) == [(0, 0, 10, 10, 0.9, 0), (0, 0, 10, 10, 0.8, 1)]


def test_nms_carries_masks_of_kept_boxes() -> None:
    masks = np.stack([np.full((2, 2), i, np.float32) for i in range(3)])
    boxes = candidates([(0, 0, 10, 10, 0.5, 0), (0, 0, 10, 10, 0.9, 0), (20, 0, 30, 10, 0.7, 0)])
    dets = DetectionCandidates(boxes.xyxy, boxes.confidence, boxes.class_id, masks)
    out = cluster(dets, ClusterParams.uniform(1, pre_cluster=0.0), ClusterMode.NMS)
    assert out.masks is not None
    assert out.masks[:, 0, 0].tolist() == [1.0, 2.0]


# --- none -----------------------------------------------------------------------------------


def test_none_keeps_parser_order_without_topk_and_sorts_with_it() -> None:
    dets = candidates([(0, 0, 1, 1, 0.3, 0), (0, 0, 1, 1, 0.9, 0), (0, 0, 1, 1, 0.6, 0)])
    unsorted = cluster(dets, ClusterParams.uniform(1, pre_cluster=0.0), ClusterMode.NONE)
    assert unsorted.confidence.tolist() == pytest.approx([0.3, 0.9, 0.6])
    capped = cluster(dets, ClusterParams.uniform(1, pre_cluster=0.0, topk=2), ClusterMode.NONE)
    assert capped.confidence.tolist() == pytest.approx([0.9, 0.6])


# --- DBSCAN ---------------------------------------------------------------------------------


def test_dbscan_merges_a_cluster_into_its_confidence_weighted_box() -> None:
    # Boxes 0 and 1: IoU 80 / 120 = 0.667, distance 0.33 < 0.5 → one cluster.
    # left = (0.75·0 + 0.25·2) / 1.0 = 0.5; top, width, height unchanged; confidence max = 0.75.
    # Box 2 is alone: with minBoxes 2 it is noise and disappears.
    dets = candidates(
        [(0, 0, 10, 10, 0.75, 0), (2, 0, 12, 10, 0.25, 0), (100, 100, 110, 110, 0.5, 0)]
    )
    params = ClusterParams.uniform(1, pre_cluster=0.0, eps=0.5, min_boxes=2)
    assert rows_of(cluster(dets, params, ClusterMode.DBSCAN)) == [(0.5, 0, 10.5, 10, 0.75, 0)]


def test_dbscan_expands_one_level_only() -> None:
    # A chain: 0~1 and 1~2 (IoU 80/120 = 0.667), but 0≁2 (IoU 60/140 = 0.43, distance 0.57).
    # Seed 0 takes its direct neighbour 1; 2 is not walked and later seeds its own cluster.
    xyxy = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [4, 0, 14, 10]], np.float32)
    assert dbscan_labels(xyxy, eps=0.5, min_boxes=2).tolist() == [0, 0, 1]

    dets = candidates([(*box, 0.5, 0) for box in xyxy.tolist()])
    params = ClusterParams.uniform(1, pre_cluster=0.0, eps=0.5, min_boxes=2)
    assert rows_of(cluster(dets, params, ClusterMode.DBSCAN)) == [
        (1, 0, 11, 10, 0.5, 0),
        (4, 0, 14, 10, 0.5, 0),
    ]


def test_dbscan_min_score_and_post_cluster_equal_is_kept() -> None:
    dets = candidates(
        [
            (0, 0, 10, 10, 0.5, 0),
            (0, 0, 10, 10, 0.5, 0),  # cluster A: total 1.0
            (50, 0, 60, 10, 0.25, 0),
            (50, 0, 60, 10, 0.25, 0),  # cluster B: total 0.5 < 0.75 → dropped
        ]
    )
    params = ClusterParams.uniform(
        1, pre_cluster=0.0, eps=0.5, min_boxes=2, dbscan_min_score=0.75, post_cluster=0.5
    )
    # cluster A scores max(0.5, 0.5) = 0.5, equal to post-cluster: kept on the DBSCAN path.
    assert rows_of(cluster(dets, params, ClusterMode.DBSCAN)) == [(0, 0, 10, 10, 0.5, 0)]


def test_dbscan_drops_clusters_failing_the_area_hit_ratio() -> None:
    # Two identical 200×200 boxes: sqrt(40000) / (2 + 1) = 66.7 > 60 → dropped.
    dets = candidates([(0, 0, 200, 200, 0.5, 0), (0, 0, 200, 200, 0.5, 0)])
    params = ClusterParams.uniform(1, pre_cluster=0.0, eps=0.5, min_boxes=2)
    assert len(cluster(dets, params, ClusterMode.DBSCAN)) == 0


def test_dbscan_without_min_boxes_passes_boxes_through_then_filters() -> None:
    dets = candidates([(0, 0, 10, 10, 0.25, 0), (0, 0, 10, 10, 0.5, 0)])
    params = ClusterParams.uniform(1, pre_cluster=0.0, post_cluster=0.5, min_boxes=0)
    assert rows_of(cluster(dets, params, ClusterMode.DBSCAN)) == [(0, 0, 10, 10, 0.5, 0)]


def test_hybrid_drops_unclustered_then_runs_nms() -> None:
    # The chain above (labels 0, 0, 1) plus a lone confident box (noise, dropped). NMS at 0.5:
    # box 0 kept, box 1 (IoU 0.667 with 0) suppressed, box 2 (IoU 0.43 with 0) kept.
    dets = candidates(
        [
            (0, 0, 10, 10, 0.5, 0),
            (2, 0, 12, 10, 0.5, 0),
            (4, 0, 14, 10, 0.5, 0),
            (100, 100, 110, 110, 0.9, 0),
        ]
    )
    params = ClusterParams.uniform(1, pre_cluster=0.0, eps=0.5, min_boxes=2, nms_iou=0.5)
    assert rows_of(cluster(dets, params, ClusterMode.HYBRID)) == [
        (0, 0, 10, 10, 0.5, 0),
        (4, 0, 14, 10, 0.5, 0),
    ]


# --- groupRectangles ------------------------------------------------------------------------


def test_group_rectangles_averages_similar_rectangles() -> None:
    # delta = 0.2 · (20 + 20) / 2 = 4 for every pair of the first three; all edges within 2.
    # Mean of x 10, 11, 12 → 11; y 10, 11, 10 → 10.33 → 10; w 20; h 20, 20, 21 → 20.33 → 20.
    # The lone fourth rectangle has 1 member, not more than the threshold 1: dropped.
    rects = np.array([[10, 10, 20, 20], [11, 11, 20, 20], [12, 10, 20, 21], [100, 100, 10, 10]])
    assert group_rectangles(rects, 1, 0.2).tolist() == [[11, 10, 20, 20]]


def test_group_rectangles_drops_a_small_group_inside_a_large_one() -> None:
    # Group S (2 × [10, 10, 5, 5]) lies inside group L (2 × [0, 0, 40, 40]) and has < 3 members.
    rects = np.array([[10, 10, 5, 5], [0, 0, 40, 40], [10, 10, 5, 5], [0, 0, 40, 40]])
    assert group_rectangles(rects, 1, 0.2).tolist() == [[0, 0, 40, 40]]


def test_group_rectangles_mode_truncates_boxes_and_scores_minus_point_one() -> None:
    dets = candidates([(10.5, 10.25, 30.5, 30.25, 0.9, 0), (11.75, 10.0, 31.75, 30.0, 0.8, 0)])
    params = ClusterParams.uniform(1, pre_cluster=0.0, eps=0.2, group_threshold=1, topk=0)
    out = cluster(dets, params, ClusterMode.GROUP_RECTANGLES)
    # Integer rects [10, 10, 20, 20] and [11, 10, 20, 20]: mean x 10.5 rounds to even → 10.
    # topk is not applied on this path.
    assert out.xyxy.tolist() == [[10, 10, 30, 30]]
    assert out.confidence.tolist() == pytest.approx([-0.1])


def test_merging_modes_refuse_masks() -> None:
    box = candidates([(0, 0, 1, 1, 0.9, 0)])
    dets = DetectionCandidates(box.xyxy, box.confidence, box.class_id, np.zeros((1, 2, 2)))
    with pytest.raises(ConfigError) as err:
        cluster(dets, ClusterParams.uniform(1), ClusterMode.DBSCAN)
    assert str(err.value) == (
        "cluster-mode = 1: DBSCAN merges boxes and cannot carry instance masks; expected 4 "
        "(none), as DeepStream requires for instance segmentation, or 2 (NMS)"
    )


def test_cluster_params_validate_lengths() -> None:
    with pytest.raises(ValueError, match=r"topk must have shape \(2,\), got \(3,\)"):
        replace(ClusterParams.uniform(2), topk=np.array([1, 2, 3]))


# --- the vectorised NMS against the per-class loop it replaced -------------------------------
# The loop below is the implementation visionflow shipped before NMS was vectorised, kept as the
# reference: every case must come out identical, bit for bit and in the same order.


def _reference_nms(xyxy: np.ndarray, confidence: np.ndarray, iou_threshold: float) -> np.ndarray:
    order = np.argsort(-confidence, kind="stable")
    boxes = xyxy[order]
    threshold = np.float32(iou_threshold)
    alive = np.ones(len(order), bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        later = i + 1 + np.flatnonzero(alive[i + 1 :])
        alive[later[box_iou(boxes[i : i + 1], boxes[later])[0] > threshold]] = False
    return order[np.asarray(keep, np.intp)]


def _reference_top_k(index: np.ndarray, confidence: np.ndarray, k: int) -> np.ndarray:
    if k < 0:
        return index
    order = np.argsort(-confidence[index], kind="stable")
    return index[order[:k]]


def _reference_dbscan_labels(xyxy: np.ndarray, eps: float, min_boxes: int) -> np.ndarray:
    n = len(xyxy)
    ltwh = xyxy_to_ltwh(xyxy)
    area = ltwh[:, 2] * ltwh[:, 3]
    distance = np.float32(1) - box_iou(xyxy, xyxy)
    neighbours = (distance < np.float32(eps)) & ((area[:, None] > 0) | (area[None, :] > 0))
    np.fill_diagonal(neighbours, False)
    core = neighbours.sum(axis=1) + 1 >= min_boxes
    labels = np.full(n, -1, np.int32)
    visited = np.zeros(n, bool)
    next_label = 0
    for seed in range(n):
        if visited[seed]:
            continue
        visited[seed] = True
        if not core[seed]:
            continue
        members = np.flatnonzero(neighbours[seed] & ~visited)
        visited[members] = True
        labels[seed] = next_label
        labels[members[core[members]]] = next_label
        next_label += 1
    return labels


def reference_selection(
    dets: DetectionCandidates, params: ClusterParams, mode: ClusterMode
) -> np.ndarray:
    """Indices of ``dets`` that the former per-class loop kept (NMS, hybrid, none), in order."""
    class_id = dets.class_id
    known = (class_id >= 0) & (class_id < params.num_classes)
    threshold = params.pre_cluster[np.where(known, class_id, 0)]
    kept_index = np.flatnonzero(known & ~(dets.confidence < threshold))
    xyxy, confidence, class_id = (
        dets.xyxy[kept_index],
        dets.confidence[kept_index],
        class_id[kept_index],
    )
    parts = []
    for c in np.unique(class_id):
        index = np.flatnonzero(class_id == c)
        if mode is ClusterMode.NONE:
            parts.append(_reference_top_k(index, confidence, int(params.topk[c])))
            continue
        if mode is ClusterMode.HYBRID and params.min_boxes[c] > 0:
            labels = _reference_dbscan_labels(
                xyxy[index], float(params.eps[c]), int(params.min_boxes[c])
            )
            index = index[labels >= 0]
        index = index[_reference_nms(xyxy[index], confidence[index], float(params.nms_iou[c]))]
        index = index[confidence[index] > params.post_cluster[c]]
        parts.append(_reference_top_k(index, confidence, int(params.topk[c])))
    return kept_index[np.concatenate(parts)] if parts else np.zeros(0, np.intp)


def random_case(rng: np.random.Generator, n: int, classes: int) -> DetectionCandidates:
    """Boxes on a coarse grid (so IoUs hit thresholds exactly), a few confidences (ties), some
    empty, inverted and NaN boxes, NaN confidences and out-of-range classes."""
    xy = rng.integers(0, 12, (n, 2)).astype(np.float32) * 4
    wh = rng.integers(0, 6, (n, 2)).astype(np.float32) * 4
    wh[rng.random(n) < 0.05] *= -1  # inverted boxes
    xyxy = np.concatenate([xy, xy + wh], axis=1)
    xyxy[rng.random(n) < 0.02, 0] = np.nan
    confidence = rng.choice(np.float32([0.0, 0.125, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0, -0.0]), n)
    confidence[rng.random(n) < 0.03] = np.nan
    class_id = rng.integers(-1, classes + 1, n)
    masks = np.arange(n, dtype=np.float32).reshape(n, 1, 1)  # to read back the kept indices
    return DetectionCandidates(xyxy, confidence, class_id, masks)


def random_params(rng: np.random.Generator, classes: int) -> ClusterParams:
    return ClusterParams(
        pre_cluster=rng.choice(np.float32([0.0, 0.125, 0.5]), classes),
        post_cluster=rng.choice(np.float32([-1.0, 0.0, 0.25, 0.5]), classes),
        nms_iou=rng.choice(np.float32([0.0, 0.25, 0.3, 0.5, 0.6, 1.0]), classes),
        topk=rng.choice(np.int32([-1, 0, 1, 2, 5, 100]), classes),
        eps=rng.choice(np.float32([0.2, 0.5, 0.7]), classes),
        min_boxes=rng.choice(np.int32([0, 1, 2, 3]), classes),
        dbscan_min_score=np.zeros(classes, np.float32),
        group_threshold=np.zeros(classes, np.int32),
    )


@pytest.mark.parametrize("mode", [ClusterMode.NMS, ClusterMode.HYBRID, ClusterMode.NONE])
def test_vectorised_selection_equals_the_per_class_loop(mode: ClusterMode) -> None:
    rng = np.random.default_rng(int(mode))
    for case in range(400):
        n, classes = int(rng.integers(0, 60)), int(rng.integers(1, 6))
        dets = random_case(rng, n, classes)
        params = random_params(rng, classes)
        out = cluster(dets, params, mode)
        assert out.masks is not None
        expected = reference_selection(dets, params, mode)
        assert out.masks[:, 0, 0].astype(np.intp).tolist() == expected.tolist(), case
        assert out.xyxy.tobytes() == dets.xyxy[expected].tobytes()
        assert out.confidence.tobytes() == dets.confidence[expected].tobytes()
        assert out.class_id.tobytes() == dets.class_id[expected].tobytes()


def test_vectorised_nms_on_dense_overlaps_and_many_classes() -> None:
    rng = np.random.default_rng(7)
    for n, classes in ((300, 80), (2000, 80), (500, 1), (64, 3)):
        centre = rng.uniform(0, 600, (n, 2)).astype(np.float32)
        size = rng.uniform(5, 80, (n, 2)).astype(np.float32)
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        confidence = rng.uniform(0.25, 1, n).astype(np.float32)
        confidence[: n // 4] = confidence[n // 4 : n // 2]  # many exact ties
        masks = np.arange(n, dtype=np.float32).reshape(n, 1, 1)
        dets = DetectionCandidates(xyxy, confidence, rng.integers(0, classes, n), masks)
        params = ClusterParams.uniform(classes, pre_cluster=0.25, nms_iou=0.45)
        out = cluster(dets, params, ClusterMode.NMS)
        assert out.masks is not None
        expected = reference_selection(dets, params, ClusterMode.NMS)
        assert out.masks[:, 0, 0].astype(np.intp).tolist() == expected.tolist()


def test_nms_of_one_class_equals_the_loop_and_handles_pair_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import visionflow.infer.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "_PAIR_CHUNK", 7)  # many chunks, rows split across them
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(0, 40))
        dets = random_case(rng, n, 1)
        threshold = float(rng.choice([0.0, 0.3, 0.5]))
        assert nms(dets.xyxy, dets.confidence, threshold).tolist() == (
            _reference_nms(dets.xyxy, dets.confidence, threshold).tolist()
        )


def test_nms_resolves_a_long_chain_of_suppressions() -> None:
    # Each box overlaps the next (IoU 0.6) and not the one after: kept, suppressed, kept, …
    n = 101
    left = np.arange(n, dtype=np.float32) * 4
    xyxy = np.stack([left, np.zeros(n), left + 16, np.full(n, 10)], axis=1).astype(np.float32)
    confidence = np.linspace(1, 0.5, n).astype(np.float32)
    kept = nms(xyxy, confidence, 0.5)
    assert kept.tolist() == _reference_nms(xyxy, confidence, 0.5).tolist()
    assert len(kept) < n


def test_dbscan_labels_equal_the_former_walk() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        dets = random_case(rng, int(rng.integers(0, 40)), 1)
        eps, min_boxes = float(rng.choice([0.2, 0.5, 0.8])), int(rng.integers(0, 4))
        assert dbscan_labels(dets.xyxy, eps, min_boxes).tolist() == (
            _reference_dbscan_labels(dets.xyxy, eps, min_boxes).tolist()
        )


# --- class-agnostic NMS (a visionflow extension) ---------------------------------------------


def reference_agnostic_selection(
    dets: DetectionCandidates, params: ClusterParams, mode: ClusterMode
) -> np.ndarray:
    """Indices of ``dets`` kept by class-agnostic NMS, box by box: visit every box by confidence
    whatever its class; keep it unless its IoU with a kept box is above that kept box's class
    threshold; then per class (ascending), post-cluster and top-K."""
    class_id = dets.class_id
    known = (class_id >= 0) & (class_id < params.num_classes)
    threshold = params.pre_cluster[np.where(known, class_id, 0)]
    kept_index = np.flatnonzero(known & ~(dets.confidence < threshold))
    xyxy, confidence, class_id = (
        dets.xyxy[kept_index],
        dets.confidence[kept_index],
        class_id[kept_index],
    )
    alive = np.ones(len(kept_index), bool)
    if mode is ClusterMode.HYBRID:
        for c in np.unique(class_id):
            index = np.flatnonzero(class_id == c)
            if params.min_boxes[c] > 0:
                labels = _reference_dbscan_labels(
                    xyxy[index], float(params.eps[c]), int(params.min_boxes[c])
                )
                alive[index[labels < 0]] = False
    keep: list[int] = []
    for i in np.argsort(-confidence, kind="stable"):
        if not alive[i]:
            continue
        if not any(
            box_iou(xyxy[k : k + 1], xyxy[i : i + 1])[0, 0] > params.nms_iou[class_id[k]]
            for k in keep
        ):
            keep.append(int(i))
    parts = []
    for c in np.unique(class_id):
        index = np.array([i for i in keep if class_id[i] == c], np.intp)
        index = index[confidence[index] > params.post_cluster[c]]
        parts.append(index if params.topk[c] < 0 else index[: params.topk[c]])
    return kept_index[np.concatenate(parts)] if parts else np.zeros(0, np.intp)


def test_class_agnostic_nms_suppresses_across_classes_and_keeps_the_winners_class() -> None:
    dets = candidates([(0, 0, 10, 10, 0.6, 0), (1, 0, 11, 10, 0.9, 1), (30, 30, 40, 40, 0.5, 0)])
    params = ClusterParams.uniform(2, nms_iou=0.5)
    assert len(cluster(dets, params, ClusterMode.NMS)) == 3  # per class: no overlap within one
    out = cluster(dets, params, ClusterMode.NMS, class_agnostic=True)
    assert rows_of(out) == [(30.0, 30.0, 40.0, 40.0, 0.5, 0), (1.0, 0.0, 11.0, 10.0, 0.9, 1)]


@pytest.mark.parametrize("mode", [ClusterMode.NMS, ClusterMode.HYBRID])
def test_class_agnostic_nms_equals_the_box_by_box_reference(mode: ClusterMode) -> None:
    rng = np.random.default_rng(11 + int(mode))
    for case in range(300):
        n, classes = int(rng.integers(0, 60)), int(rng.integers(1, 6))
        dets = random_case(rng, n, classes)
        params = random_params(rng, classes)
        out = cluster(dets, params, mode, class_agnostic=True)
        assert out.masks is not None
        expected = reference_agnostic_selection(dets, params, mode)
        assert out.masks[:, 0, 0].astype(np.intp).tolist() == expected.tolist(), case
        assert out.class_id.tobytes() == dets.class_id[expected].tobytes()


@pytest.mark.parametrize(
    "mode", [ClusterMode.DBSCAN, ClusterMode.GROUP_RECTANGLES, ClusterMode.NONE]
)
def test_class_agnostic_nms_needs_an_nms_mode(mode: ClusterMode) -> None:
    dets = candidates([(0, 0, 10, 10, 0.6, 0)])
    with pytest.raises(ConfigError, match="class-agnostic NMS needs an NMS clustering"):
        cluster(dets, ClusterParams.uniform(1), mode, class_agnostic=True)
