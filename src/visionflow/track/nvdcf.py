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
    REID_EMBEDDING,
    TENTATIVE,
    Association,
    IdCounter,
    NvSORTTracker,
)
from visionflow.track.appearance import DIM, histogram, inside, similarity
from visionflow.track.association import (
    INVALID,
    iou_matrix,
    match_optimal,
    size_similarity,
)
from visionflow.track.config import TrackerConfig
from visionflow.track.visual import CONTEXT, FEATURE_SIZES, localise, patches

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
        self._det_patch = np.zeros(
            (
                0,
                FEATURE_SIZES[config.feature_img_size_level],
                FEATURE_SIZES[config.feature_img_size_level],
                3,
            ),
            np.uint8,
        )
        self.frame = 0
        self.embedded = False
        """Whether the appearance is the detections' embeddings (:data:`REID_EMBEDDING`)
        rather than the colour feature."""
        self.gallery = Gallery()
        self._size = FEATURE_SIZES[config.feature_img_size_level]
        self.template = np.zeros((0, self._size, self._size, 3), np.float32)
        self._image: np.ndarray | None = None
        self._followed: dict[int, tuple[np.ndarray, float]] = {}

    # --- appearance ------------------------------------------------------------------------------

    def observe(
        self, image: np.ndarray | None, boxes: np.ndarray, embedding: np.ndarray | None = None
    ) -> None:
        self.frame += 1
        self.gallery.forget(self.frame - self.config.reassoc_gallery_age)
        if image is not None:  # gathers read it by flat index: one copy here if it is a view
            image = np.ascontiguousarray(image)
        self._image = image
        if embedding is not None:
            self._embedded(np.asarray(embedding, np.float32).reshape(len(boxes), -1))
            if image is not None:
                self._det_patch = patches(image, boxes, self._size, CONTEXT)
            return
        if self.embedded:
            raise ValueError(
                f"detections without the {REID_EMBEDDING!r} column after detections with it: "
                "a tracker compares one kind of appearance"
            )
        if image is None:
            self._det_feature = np.zeros((len(boxes), DIM), np.float32)
            self._det_valid = np.zeros(len(boxes), bool)
            self._det_patch = np.zeros((len(boxes), self._size, self._size, 3), np.uint8)
            return
        # one gather per detection: the template-sized grid with context; the colour feature
        # is the histogram of its inner part, the box itself
        self._det_patch = patches(image, boxes, self._size, CONTEXT)
        self._det_feature = self._inner_histogram(self._det_patch)
        self._det_valid = inside(image, boxes)
        self._det_feature[~self._det_valid] = 0.0

    def _embedded(self, embedding: np.ndarray) -> None:
        """This frame's appearance is the detections' embeddings (unit rows; a row of zeros
        or non-finite values has none)."""
        dim = embedding.shape[1]
        if not self.embedded:
            if len(self) or len(self.gallery):
                raise ValueError(
                    f"detections with the {REID_EMBEDDING!r} column after detections without "
                    "it: a tracker compares one kind of appearance"
                )
            self.embedded = True
            self.feature = np.zeros((0, dim), np.float32)
            self.gallery.feature = np.zeros((0, dim), np.float32)
        elif dim != self.feature.shape[1]:
            raise ValueError(f"{REID_EMBEDDING} has {dim} values, earlier {self.feature.shape[1]}")
        norm = np.linalg.norm(embedding, axis=1)
        valid = np.isfinite(norm) & (norm > 0)
        self._det_feature = np.where(
            valid[:, None], embedding / np.where(valid, norm, 1.0)[:, None], 0.0
        ).astype(np.float32)
        self._det_valid = valid

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
        if self.config.visual_tracker and self._image is not None and len(t):
            template = self.template[t]
            step = self._det_patch[d].astype(np.float32)
            step -= template
            step *= lr[:, None, None, None]
            template += step  # (1 - lr) · template + lr · patch
            self.template[t] = template
        self.has_feature[t] = True

    def follow(self, image: np.ndarray | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, confidence = super().follow(image, rows)
        if not self.config.visual_tracker or image is None or not len(rows):
            return boxes, confidence
        cached = self._followed
        todo = np.asarray([r not in cached for r in rows.tolist()], bool)
        known = np.flatnonzero(todo & self.has_feature[rows])
        if len(known):
            got_boxes, got_confidence = self._localise(image, rows[known])
            for k, r in enumerate(rows[known].tolist()):
                cached[r] = (got_boxes[k], float(got_confidence[k]))
        for k, r in enumerate(rows.tolist()):
            if r in cached:
                boxes[k], confidence[k] = cached[r]
        return boxes, confidence

    def _localise(self, image: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The visual tracker's boxes of targets ``rows`` and its confidence: the template's
        correlation peak, at most the colour feature's similarity at the box found."""
        boxes, confidence, found = localise(
            image,
            self.template[rows],
            self.filter.boxes()[rows],
            self.config.search_region_padding_scale,
        )
        valid = inside(image, boxes)
        if self.embedded:  # no colour feature to check the box found with
            return boxes, np.where(valid, confidence, 0.0).astype(np.float32)
        alike = np.einsum("nd,nd->n", self._inner_histogram(found), self.feature[rows])
        return boxes, np.where(valid, np.minimum(confidence, alike), 0.0).astype(np.float32)

    def _inner_histogram(self, grids: np.ndarray) -> np.ndarray:
        """Colour features of template-sized grids: the histogram of their inner part, the box
        without the surroundings the template adds."""
        margin = round(self._size * (1 - 1 / CONTEXT) / 2)
        return histogram(grids[:, margin : self._size - margin, margin : self._size - margin])

    # --- association -----------------------------------------------------------------------------

    def associate(
        self, boxes: np.ndarray, classes: np.ndarray, confidence: np.ndarray
    ) -> Association:
        self._followed = {}
        match = super().associate(boxes, classes, confidence)
        match = self._reassociate(match, boxes, classes)
        return self._rematch(match, boxes, classes)

    def _rematch(self, match: Association, boxes: np.ndarray, classes: np.ndarray) -> Association:
        """Confirmed targets left without a detection are looked for by the visual tracker;
        one found (confidence ≥ ``min_tracker_confidence``) where a detection no confirmed
        target took lies (IoU above ``min_iou_diff_4_new_target``, the overlap that makes two
        boxes one object for target creation) takes that detection, as NvDCF associates detections
        with its visual tracker's boxes."""
        cfg = self.config
        image = self._image
        if not cfg.visual_tracker or image is None or not len(boxes) or not len(self):
            return match
        lost = np.ones(len(self), bool)
        lost[match.targets] = False
        rows = np.flatnonzero(lost & (self.state != TENTATIVE) & self.has_feature)
        # detections no target took, or a tentative one did (the object, started again)
        free = np.ones(len(boxes), bool)
        free[match.detections[self.state[match.targets] != TENTATIVE]] = False
        cols = np.flatnonzero(free)
        if not len(rows) or not len(cols):
            return match
        found, found_confidence = self.follow(image, rows)
        overlap = iou_matrix(found, boxes[cols])
        valid = (overlap > cfg.min_iou_diff_4_new_target) & (
            found_confidence >= cfg.min_tracker_confidence
        )[:, None]
        if cfg.check_class_match:
            valid &= self.class_id[rows][:, None] == classes[cols][None, :]
        if not valid.any():
            return match
        t, d = match_optimal(np.where(valid, overlap, INVALID).astype(np.float32))
        taken = np.isin(match.detections, cols[d])  # a tentative target loses it: it misses
        return Association(
            np.concatenate([match.targets[~taken], rows[t]]),
            np.concatenate([match.detections[~taken], cols[d]]),
        )

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

    def confirm(self, rows: np.ndarray) -> None:
        """A target that passed probation and looks like a terminated one in the gallery
        takes its id (its own was never reported)."""
        cfg = self.config
        rows = rows[self.has_feature[rows]]
        if not len(rows) or not len(self.gallery):
            return
        g = self.gallery
        visual = similarity(self.feature[rows], g.feature)
        valid = visual >= cfg.reassoc_min_visual_similarity
        boxes = self.filter.boxes()[rows]
        valid &= size_similarity(boxes, g.box) >= cfg.min_matching_score_4_size_similarity
        if cfg.check_class_match:
            valid &= self.class_id[rows][:, None] == g.class_id[None, :]
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        seen = (g.box[:, :2] + g.box[:, 2:]) / 2
        distance = np.linalg.norm(centre[:, None] - seen[None], axis=2)
        reach = cfg.reassoc_search_region_scale * (g.box[:, 2:] - g.box[:, :2]).max(axis=1)
        valid &= distance <= reach[None, :]
        if not valid.any():
            return
        t, k = match_optimal(np.where(valid, visual, INVALID).astype(np.float32))
        self.ids[rows[t]] = g.ids[k]
        self.gallery.drop(k)

    def _keep(self, mask: np.ndarray) -> None:
        if self.config.reassoc_gallery_age and not mask.all():
            gone = ~mask & (self.state != TENTATIVE) & self.has_feature
            self.gallery.add(
                self.ids[gone], self.class_id[gone], self.feature[gone], self.last_box[gone],
                self.frame,
            )  # fmt: skip
        super()._keep(mask)
        self.feature, self.has_feature = self.feature[mask], self.has_feature[mask]
        self.template = self.template[mask]

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
        if self.config.visual_tracker and self._image is not None and len(started):
            seen = self._det_patch[started].astype(np.float32)
        else:
            seen = np.zeros((len(started), self._size, self._size, 3), np.float32)
        self.template = np.concatenate([self.template, seen])
        return started


class Gallery:
    """Terminated targets that may still come back: id, class, appearance feature, last
    detected box and the frame they were terminated on."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)
        self.class_id = np.zeros(0, np.int32)
        self.feature = np.zeros((0, DIM), np.float32)
        self.box = np.zeros((0, 4), np.float32)
        self.lost_at = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        ids: np.ndarray,
        class_id: np.ndarray,
        feature: np.ndarray,
        box: np.ndarray,
        frame: int,
    ) -> None:
        self.ids = np.concatenate([self.ids, ids])
        self.class_id = np.concatenate([self.class_id, class_id])
        self.feature = np.concatenate([self.feature, feature])
        self.box = np.concatenate([self.box, box])
        self.lost_at = np.concatenate([self.lost_at, np.full(len(ids), frame, np.int64)])

    def forget(self, before: int) -> None:
        """Drop the entries terminated before frame ``before``."""
        if len(self) and self.lost_at.min() < before:
            self._select(self.lost_at >= before)

    def drop(self, entries: np.ndarray) -> None:
        keep = np.ones(len(self), bool)
        keep[entries] = False
        self._select(keep)

    def _select(self, keep: np.ndarray) -> None:
        self.ids, self.class_id = self.ids[keep], self.class_id[keep]
        self.feature, self.box = self.feature[keep], self.box[keep]
        self.lost_at = self.lost_at[keep]
