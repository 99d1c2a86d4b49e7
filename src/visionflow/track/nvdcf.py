"""The NvDCF-class tracker: NvSORT's motion model plus appearance, in association and to
re-associate targets that were lost.

* Every candidate detection gets an appearance feature of its pixels
  (:func:`visionflow.track.appearance.features`); every target keeps an exponential moving
  average of its matched detections' features, learning rate ``filter_lr``
  (``VisualTracker.filterLr``). A detection overlapping another one by IoU > ``_OCCLUDED_IOU``
  teaches its target nothing (its pixels are partly the other object's).
* Association (greedy or the cascade's first stage) scores a pair ``matchingScoreWeight4Iou ·
  IoU + matchingScoreWeight4SizeSimilarity · size similarity +
  matchingScoreWeight4VisualSimilarity · visual similarity``; a pair whose visual similarity is
  under ``minMatchingScore4VisualSimilarity`` is no candidate. The IoU is against the Kalman
  prediction (``usePrediction4Assoc``), standing in for NvDCF's correlation-filter box.
* Re-association: a confirmed target (active or in shadow tracking) left without a detection
  may take a left-over detection its box does not overlap — an object that came back where the
  motion model did not expect it — or one a tentative target took (the object back, started
  again as a new target while it was partly hidden; that tentative target then misses and ends
  at ``earlyTerminationAge``) when they look alike (visual similarity ≥
  ``reassoc_min_visual_similarity``), have one class (with ``checkClassMatch``), sizes at least
  ``minMatchingScore4SizeSimilarity`` alike, and the detection's centre lies within
  ``reassoc_search_region_scale`` times the target's larger side of its predicted centre or of
  the centre where it was last detected (an object may have stopped, or come back where it
  left). The
  most similar pairs win (optimal assignment). A target terminated after
  ``maxShadowTrackingAge`` missed frames is not re-associated.

Without pixels (``image`` None) detections have no feature and pairs are scored on boxes alone,
as ``nvsort`` does.
"""

from __future__ import annotations

import numpy as np

from visionflow.core.meta import Detections
from visionflow.track.algorithm import (
    ALGORITHMS,
    TENTATIVE,
    Association,
    IdCounter,
    NvSORTTracker,
)
from visionflow.track.appearance import DIM, features, similarity
from visionflow.track.association import (
    INVALID,
    iou_matrix,
    match_optimal,
    size_similarity,
)
from visionflow.track.config import TrackerConfig

_OCCLUDED_IOU = 0.3
"""A matched detection overlapping another detection by more than this does not update its
target's appearance."""


@ALGORITHMS.register("nvdcf")
class NvDCFTracker(NvSORTTracker):
    """NvDCF-class: Kalman motion (as ``nvsort``) and a colour appearance feature per target,
    used in association and to re-associate lost targets (see :mod:`visionflow.track.nvdcf`)."""

    name = "nvdcf"
    needs_pixels = True

    def __init__(self, config: TrackerConfig, ids: IdCounter | None = None) -> None:
        super().__init__(config, ids)
        self.feature = np.zeros((0, DIM), np.float32)
        self.has_feature = np.zeros(0, bool)
        self._det_feature = np.zeros((0, DIM), np.float32)
        self._det_valid = np.zeros(0, bool)

    # --- appearance ------------------------------------------------------------------------------

    def observe(self, image: np.ndarray | None, boxes: np.ndarray) -> None:
        if image is None:
            self._det_feature = np.zeros((len(boxes), DIM), np.float32)
            self._det_valid = np.zeros(len(boxes), bool)
        else:
            self._det_feature, self._det_valid = features(image, boxes)

    def learn(self, targets: np.ndarray, detections: np.ndarray, boxes: np.ndarray) -> None:
        if not len(targets):
            return
        clean = self._det_valid[detections]
        if len(boxes) > 1:
            overlap = iou_matrix(boxes[detections], boxes)
            overlap[np.arange(len(detections)), detections] = 0.0
            clean &= overlap.max(axis=1) <= _OCCLUDED_IOU
        t, d = targets[clean], detections[clean]
        new = self._det_feature[d]
        lr = np.where(self.has_feature[t], self.config.filter_lr, 1.0).astype(np.float32)
        mixed = (1 - lr)[:, None] * self.feature[t] + lr[:, None] * new
        mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
        self.feature[t] = mixed
        self.has_feature[t] = True

    # --- association -----------------------------------------------------------------------------

    def associate(
        self, boxes: np.ndarray, classes: np.ndarray, confidence: np.ndarray
    ) -> Association:
        match = super().associate(boxes, classes, confidence)
        return self._reassociate(match, boxes, classes)

    def _scores(
        self,
        rows: np.ndarray,
        boxes: np.ndarray,
        classes: np.ndarray,
        *,
        iou_only: bool = False,
        min_iou: float | None = None,
        min_overall: float | None = None,
        cols: np.ndarray | None = None,
    ) -> np.ndarray:
        cfg = self.config
        weight = cfg.matching_score_weight_4_visual_similarity
        least = cfg.min_matching_score_4_visual_similarity
        if iou_only or not (weight or least):
            return super()._scores(
                rows, boxes, classes, iou_only=iou_only, min_iou=min_iou, min_overall=min_overall
            )
        # motion and size first, the overall threshold checked below with the visual term
        score = super()._scores(rows, boxes, classes, min_iou=min_iou, min_overall=0.0)
        if min_overall is None:
            min_overall = cfg.min_matching_score_4_overall
        cols = np.arange(len(boxes)) if cols is None else cols
        both = self.has_feature[rows][:, None] & self._det_valid[cols][None, :]
        visual = similarity(self.feature[rows], self._det_feature[cols])
        valid = (score > INVALID) & (~both | (visual >= least))
        score = np.where(both, score + weight * visual, score)
        valid &= score >= min_overall
        return np.where(valid, score, INVALID).astype(np.float32)

    def _reassociate(
        self, match: Association, boxes: np.ndarray, classes: np.ndarray
    ) -> Association:
        cfg = self.config
        if cfg.reassoc_min_visual_similarity >= 1 or not len(boxes) or not len(self):
            return match
        lost = np.ones(len(self), bool)
        lost[match.targets] = False
        lost &= (self.state != TENTATIVE) & self.has_feature
        # detections left over, or taken by a tentative target (likely the lost object, back)
        tentative = self.state[match.targets] == TENTATIVE
        free = np.ones(len(boxes), bool)
        free[match.detections[~tentative]] = False
        free &= self._det_valid
        rows, cols = np.flatnonzero(lost), np.flatnonzero(free)
        if not len(rows) or not len(cols):
            return match
        predicted = self.filter.boxes()[rows]
        found = boxes[cols]
        visual = similarity(self.feature[rows], self._det_feature[cols])
        valid = visual >= cfg.reassoc_min_visual_similarity
        valid &= size_similarity(predicted, found) >= cfg.min_matching_score_4_size_similarity
        seen = self.last_box[rows]
        centre_d = ((found[:, :2] + found[:, 2:]) / 2)[None]
        distance = np.minimum(
            np.linalg.norm((predicted[:, :2] + predicted[:, 2:])[:, None] / 2 - centre_d, axis=2),
            np.linalg.norm((seen[:, :2] + seen[:, 2:])[:, None] / 2 - centre_d, axis=2),
        )
        reach = cfg.reassoc_search_region_scale * (seen[:, 2:] - seen[:, :2]).max(axis=1)
        valid &= distance <= reach[:, None]
        if cfg.check_class_match:
            valid &= self.class_id[rows][:, None] == classes[cols][None, :]
        if not valid.any():
            return match
        t, d = match_optimal(np.where(valid, visual, INVALID).astype(np.float32))
        taken = np.isin(match.detections, cols[d])  # a tentative target loses it: it misses
        return Association(
            np.concatenate([match.targets[~taken], rows[t]]),
            np.concatenate([match.detections[~taken], cols[d]]),
        )

    # --- target bookkeeping ----------------------------------------------------------------------

    def _keep(self, mask: np.ndarray) -> None:
        super()._keep(mask)
        self.feature, self.has_feature = self.feature[mask], self.has_feature[mask]

    def _start(
        self,
        free: np.ndarray,
        boxes: np.ndarray,
        detections: Detections,
        candidates: np.ndarray,
    ) -> np.ndarray:
        started = super()._start(free, boxes, detections, candidates)
        self.feature = np.concatenate([self.feature, self._det_feature[started]])
        self.has_feature = np.concatenate([self.has_feature, self._det_valid[started]])
        return started
