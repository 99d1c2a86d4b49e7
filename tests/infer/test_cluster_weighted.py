"""Weighted NMS (``weighted_nms``): MediaPipe's ``WeightedNonMaxSuppression`` on nvinfer's NMS."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.core.geometry import box_iou
from visionflow.errors import ConfigError
from visionflow.infer.cluster import ClusterMode, ClusterParams, cluster
from visionflow.infer.parsers.base import DetectionCandidates


def candidates(rows: list[tuple[float, float, float, float, float, int]]) -> DetectionCandidates:
    a = np.array(rows, np.float64).reshape(-1, 6)
    return DetectionCandidates(a[:, :4], a[:, 4], a[:, 5].astype(np.int32))


def test_kept_box_is_the_score_weighted_mean_of_itself_and_what_it_suppressed() -> None:
    dets = candidates(
        [
            (0, 0, 10, 10, 0.9, 0),
            (2, 2, 12, 12, 0.6, 0),  # IoU 64/136 = 0.47 with the first: suppressed, averaged in
            (40, 40, 50, 50, 0.5, 0),  # alone
        ]
    )
    params = ClusterParams.uniform(1, nms_iou=0.3)
    plain = cluster(dets, params, ClusterMode.NMS)
    out = cluster(dets, params, ClusterMode.NMS, weighted=True)
    assert plain.xyxy.tolist() == [[0, 0, 10, 10], [40, 40, 50, 50]]
    assert out.xyxy[0] == pytest.approx([0.8, 0.8, 10.8, 10.8])  # (0.9·0 + 0.6·2) / 1.5
    assert out.xyxy[1].tolist() == [40, 40, 50, 50]
    assert out.confidence.tolist() == pytest.approx([0.9, 0.5])  # the kept box's own score


def mediapipe_weighted_nms(
    xyxy: np.ndarray, score: np.ndarray, threshold: float
) -> list[tuple[list[float], float]]:
    """A line-by-line port of MediaPipe's ``WeightedNonMaxSuppression`` (one class)."""
    remained = [int(i) for i in np.argsort(-score, kind="stable")]
    out = []
    while remained:
        top = remained[0]
        candidates, rest = [], []
        for i in remained:
            iou = box_iou(xyxy[i : i + 1], xyxy[top : top + 1])[0, 0]
            (candidates if iou > threshold else rest).append(i)
        box = xyxy[top].astype(np.float64)
        if candidates:
            w = np.array([score[i] for i in candidates], np.float64)
            box = (w[:, None] * xyxy[candidates]).sum(axis=0) / w.sum()
        out.append((box.tolist(), float(score[top])))
        if len(rest) == len(remained):
            break
        remained = rest
    return out


def test_weighted_nms_equals_mediapipe_box_by_box() -> None:
    rng = np.random.default_rng(5)
    for case in range(200):
        n = int(rng.integers(0, 40))
        xy = rng.uniform(0, 80, (n, 2))
        wh = rng.uniform(4, 30, (n, 2))
        xyxy = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        score = rng.choice(np.linspace(0.3, 1.0, 8), n).astype(np.float32)  # with ties
        threshold = float(rng.choice([0.2, 0.3, 0.5]))
        dets = DetectionCandidates(xyxy, score, np.zeros(n, np.int32))
        params = ClusterParams.uniform(1, nms_iou=threshold, pre_cluster=0.0)
        out = cluster(dets, params, ClusterMode.NMS, weighted=True)
        expected = mediapipe_weighted_nms(xyxy, score, threshold)
        assert len(out) == len(expected), case
        for got_box, got_score, (box, s) in zip(out.xyxy, out.confidence, expected, strict=True):
            assert got_score == pytest.approx(s)
            assert got_box == pytest.approx(box, abs=1e-4), case


def test_weighted_nms_is_per_class_unless_class_agnostic() -> None:
    dets = candidates([(0, 0, 10, 10, 0.9, 0), (2, 2, 12, 12, 0.6, 1)])
    params = ClusterParams.uniform(2, nms_iou=0.3)
    per_class = cluster(dets, params, ClusterMode.NMS, weighted=True)
    assert per_class.xyxy.tolist() == [[0, 0, 10, 10], [2, 2, 12, 12]]
    agnostic = cluster(dets, params, ClusterMode.NMS, weighted=True, class_agnostic=True)
    assert agnostic.class_id.tolist() == [0]
    assert agnostic.xyxy[0] == pytest.approx([0.8, 0.8, 10.8, 10.8])


@pytest.mark.parametrize("mode", [ClusterMode.DBSCAN, ClusterMode.NONE])
def test_weighted_nms_needs_an_nms_mode(mode: ClusterMode) -> None:
    with pytest.raises(ConfigError, match="weighted NMS needs an NMS clustering"):
        cluster(candidates([(0, 0, 1, 1, 0.9, 0)]), ClusterParams.uniform(1), mode, weighted=True)


def test_weighted_nms_averages_keypoints_as_mediapipe_does() -> None:
    dets = DetectionCandidates(
        np.array([[0, 0, 10, 10], [2, 2, 12, 12]], np.float32),
        np.array([0.9, 0.6], np.float32),
        np.zeros(2, np.int32),
        keypoints=np.array([[[2, 2], [8, 8]], [[4, 4], [10, 10]]], np.float32),
    )
    out = cluster(dets, ClusterParams.uniform(1, nms_iou=0.3), ClusterMode.NMS, weighted=True)
    assert out.keypoints is not None
    np.testing.assert_allclose(out.keypoints[0], [[2.8, 2.8], [8.8, 8.8]], atol=1e-5)
    plain = cluster(dets, ClusterParams.uniform(1, nms_iou=0.3), ClusterMode.NMS)
    assert plain.keypoints is not None
    assert plain.keypoints[0].tolist() == [[2, 2], [8, 8]]  # plain NMS keeps the winner's
