"""Multi-object tracking of one stream: target management shared by every algorithm, the
association step each algorithm defines, and the registry of algorithms by name.

Target life cycle (NvMultiObjectTracker's ``TargetManagement``), counted in frames of the stream:

* A detection below ``min_detector_confidence`` is not tracked (and not reported).
* A detection no target matches starts a *tentative* target, unless the stream already holds
  ``max_targets_per_stream`` targets or the detection overlaps an existing target (or one started
  before it in the same frame, more confident detections first) by an IoU above
  ``min_iou_diff_4_new_target``. Its id is taken from the element's counter at creation.
* A target's age is the number of frames since it was started, that frame included. A tentative
  target becomes *active* (reported) once its age exceeds ``probation_age``; it is terminated if
  it misses ``early_termination_age`` detector frames before that (0: never).
* An active target that misses a detector frame is in *shadow* tracking: it keeps its id and
  state estimate but is not reported; a match makes it active again. A target that misses more
  than ``max_shadow_tracking_age`` consecutive detector frames is terminated.
* On frames the detector skipped (``interval``), targets are predicted, no miss is counted, and
  active targets are reported at their estimated boxes with confidence −0.1.

Reported objects are the detections that matched an active target, with the target's box (the
filter's estimate; the detection's own box when there is no motion model), its ``tracker_id``
and the extra columns :data:`TRACKER_CONFIDENCE` (the matched detection's confidence: these
algorithms have no visual tracker to measure their own) and :data:`TRACK_AGE`. Every other
detection is removed, as ``nvtracker`` removes the objects the tracker does not report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from visionflow.core.meta import TRACK_AGE, TRACKER_CONFIDENCE, Detections
from visionflow.registry import Registry
from visionflow.track.association import iou_matrix, match_greedy, match_optimal, pair_scores
from visionflow.track.config import TrackerConfig
from visionflow.track.history import TrackHistory
from visionflow.track.kalman import KalmanFilter, state_estimator

SHADOW_TRACKS = "tracker_shadow_tracks"
"""``FrameMeta.user`` key of the targets in shadow tracking (with ``output_shadow_tracks``)."""
REID_EMBEDDING = "reid_embedding"
"""Extra column of (N, D) float re-identification embeddings a user (or an upstream element)
attaches to detections; ``nvdcf`` then compares them instead of its colour feature."""
PAST_FRAME = "tracker_past_frame"
"""``FrameMeta.user`` key of the targets confirmed on the frame with their probation frames
(with ``output_past_frame``)."""
TERMINATED_TRACKS = "tracker_terminated_tracks"
"""``FrameMeta.user`` key of the targets terminated on the frame with all their frames (with
``output_terminated_tracks``)."""

TENTATIVE, ACTIVE, SHADOW = 0, 1, 2


class IdCounter:
    """Hands out tracking ids: consecutive int64 from ``start``, never twice (thread-safe)."""

    def __init__(self, start: int = 0) -> None:
        self._next = start
        self._lock = threading.Lock()

    def take(self, count: int) -> np.ndarray:
        """(count,) int64 fresh ids."""
        with self._lock:
            first, self._next = self._next, self._next + count
        return np.arange(first, first + count, dtype=np.int64)


@dataclass(frozen=True)
class Association:
    """The matches of one frame: target rows and the detection (candidate) indices they took."""

    targets: np.ndarray
    detections: np.ndarray


class TrackerAlgorithm:
    """The targets of one stream and how detections update them.

    Target management (creation, probation, shadow tracking, termination, output) and the
    association are common; an algorithm chooses the motion model and may refine the rest.

    Args:
        config: the tracker's settings.
        ids: where new targets take their ids (one counter per element: ids are unique across
            the element's streams).
    """

    name: ClassVar[str]
    needs_pixels: ClassVar[bool] = False
    """Whether :meth:`update` wants the frame's pixels (the element then passes them)."""

    def __init__(self, config: TrackerConfig, ids: IdCounter | None = None) -> None:
        self.config = config
        self.ids_counter = ids or IdCounter()
        self.filter: KalmanFilter = state_estimator(config)
        self.ids = np.zeros(0, np.int64)
        self.class_id = np.zeros(0, np.int32)
        self.component_id = np.zeros(0, np.int32)
        self.labels: list[str] = []
        self.state = np.zeros(0, np.int8)
        self.age = np.zeros(0, np.int32)
        self.shadow = np.zeros(0, np.int32)
        self.confidence = np.zeros(0, np.float32)
        self.last_box = np.zeros((0, 4), np.float32)
        self.frame_num = -1
        self.history = TrackHistory()
        self.past_frame: list[dict[str, Any]] = []
        self.terminated: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        active = int((self.state == ACTIVE).sum())
        return f"<{type(self).__name__} targets={len(self)} active={active}>"

    def associate(
        self, boxes: np.ndarray, classes: np.ndarray, confidence: np.ndarray
    ) -> Association:
        """Match this frame's candidate detections (boxes (M, 4) xyxy, classes, confidences)
        with the targets; :attr:`filter` already holds the predictions for this frame.

        ``associationMatcherType: 0``: every target against every detection on the weighted
        score, best pairs first; ``1``: :func:`cascade`.
        """
        if self.config.association_matcher == "cascaded":
            return cascade(self, boxes, classes, confidence)
        t, d = match_greedy(self._scores(np.arange(len(self)), boxes, classes))
        return Association(t, d)

    def may_start(self, confidence: np.ndarray) -> np.ndarray:
        """(M,) bool: which unmatched candidates may start a target (with the cascaded matcher,
        tentative detections may not)."""
        if self.config.association_matcher == "cascaded":
            return confidence >= self.config.tentative_detector_confidence
        return np.ones(len(confidence), bool)

    def target_boxes(self) -> np.ndarray:
        """(N, 4) boxes the association compares detections with."""
        return self.filter.boxes() if self.config.use_prediction_4_assoc else self.last_box

    # --- one frame ------------------------------------------------------------------------------

    def update(
        self,
        detections: Detections,
        detected: bool = True,
        image: np.ndarray | None = None,
        frame_num: int | None = None,
    ) -> Detections:
        """Track one frame and return the objects to report.

        After the call, :attr:`past_frame` lists the targets confirmed on this frame with the
        frames they were on probation (with ``output_past_frame``) and :attr:`terminated` the
        confirmed targets terminated on it with all their frames (with
        ``output_terminated_tracks``); see :mod:`visionflow.track.history`.

        Args:
            detections: the frame's objects.
            detected: whether the detector ran on this frame (False on frames it skipped).
            image: the frame's pixels, (H, W, 3) uint8 RGB in the boxes' coordinates, for
                algorithms that declare :attr:`needs_pixels` (others ignore it).
            frame_num: the frame's number in its stream (default: one more than the last).
        """
        self.frame_num = self.frame_num + 1 if frame_num is None else frame_num
        self.past_frame, self.terminated = [], []
        self.filter.predict()
        self.age += 1
        if not detected:
            out = self._coasting()
            self._remember()
            return out
        cfg = self.config
        candidates = np.flatnonzero(detections.confidence >= cfg.min_detector_confidence)
        boxes = detections.xyxy[candidates]
        classes = detections.class_id[candidates]
        confidence = detections.confidence[candidates]
        embedding = detections.extra.get(REID_EMBEDDING)
        self.observe(image, boxes, None if embedding is None else embedding[candidates])
        match = self.associate(boxes, classes, confidence)
        t, d = match.targets, match.detections
        self.learn(t, d, boxes)

        self.filter.update(t, boxes[d])
        self.last_box[t] = boxes[d]
        self.confidence[t] = confidence[d]
        missed = np.ones(len(self), bool)
        missed[t] = False
        self.shadow[t] = 0
        self.shadow[missed] += 1
        self.filter.hold_size(np.flatnonzero(missed))
        seen = ~missed
        lost = np.flatnonzero(missed & (self.state != TENTATIVE))
        found, found_confidence = self.follow(image, lost)
        followed = lost[found_confidence >= cfg.min_tracker_confidence]
        if len(followed):
            kept = found_confidence >= cfg.min_tracker_confidence
            self.filter.update(followed, found[kept], noise_scale=self.tracker_noise_scale())
            self.confidence[followed] = found_confidence[kept]
            seen[followed] = True
        self.state[seen & (self.state == SHADOW)] = ACTIVE
        self.state[~seen & (self.state == ACTIVE)] = SHADOW
        dead = self.shadow > cfg.max_shadow_tracking_age
        if cfg.early_termination_age > 0:
            dead |= (self.state == TENTATIVE) & (self.shadow >= cfg.early_termination_age)
        alive = ~dead
        new_row = np.cumsum(alive) - 1  # a matched target is never terminated
        row_of_detection = np.full(len(candidates), -1, np.intp)
        row_of_detection[d] = new_row[t]
        followed = new_row[followed[alive[followed]]]
        self._forget(~alive)
        self._keep(alive)

        free = np.flatnonzero(row_of_detection < 0)
        free = free[self.may_start(confidence[free])]
        started = self._start(free, boxes, detections, candidates)
        row_of_detection[started] = np.arange(len(self) - len(started), len(self))

        promote = (self.state == TENTATIVE) & (self.age > cfg.probation_age)
        self.state[promote] = ACTIVE
        promoted = np.flatnonzero(promote)
        probation_ids = self.ids[promoted].copy()
        self.confirm(promoted)
        if cfg.output_past_frame and len(promoted):
            self.past_frame = self.history.release(
                probation_ids,
                self.ids[promoted],
                self.class_id[promoted],
                [self.labels[r] for r in promoted.tolist()],
                keep=cfg.output_terminated_tracks,
            )
        out = self._report(detections, candidates, row_of_detection, followed)
        self._remember()
        return out

    def _remember(self) -> None:
        """Record this frame of the targets whose history is kept: tentative ones (past-frame
        data) or all (terminated-track data)."""
        cfg = self.config
        if cfg.output_terminated_tracks:
            rows = np.arange(len(self))
        elif cfg.output_past_frame:
            rows = np.flatnonzero(self.state == TENTATIVE)
        else:
            return
        if len(rows):
            self.history.record(
                self.frame_num,
                self.ids[rows],
                self.filter.boxes()[rows],
                self.confidence[rows],
                self.age[rows],
                self.state[rows],
            )

    def _forget(self, dead: np.ndarray) -> None:
        """Targets ``dead`` are terminated: hand out the confirmed ones' history (with
        ``output_terminated_tracks``) and forget theirs."""
        if not dead.any() or not len(self.history):
            return
        rows = np.flatnonzero(dead)
        if self.config.output_terminated_tracks:
            confirmed = rows[self.state[rows] != TENTATIVE]
            self.terminated = self.history.release(
                self.ids[confirmed],
                self.ids[confirmed],
                self.class_id[confirmed],
                [self.labels[r] for r in confirmed.tolist()],
            )
        self.history.drop(self.ids[rows])

    def shadow_tracks(self) -> list[dict[str, Any]]:
        """The targets in shadow tracking, as JSON-ready records (``tracker_id``, ``class_id``,
        ``label``, ``bbox`` left/top/width/height of the estimate, ``age``, ``shadow_age``,
        ``confidence`` of the last matched detection)."""
        rows = np.flatnonzero(self.state == SHADOW)
        boxes = self.filter.boxes()[rows].astype(np.float64).round(2)
        return [
            {
                "tracker_id": int(self.ids[r]),
                "class_id": int(self.class_id[r]),
                "label": self.labels[r],
                "bbox": {
                    "left": float(b[0]),
                    "top": float(b[1]),
                    "width": float(b[2] - b[0]),
                    "height": float(b[3] - b[1]),
                },
                "age": int(self.age[r]),
                "shadow_age": int(self.shadow[r]),
                "confidence": round(float(self.confidence[r]), 4),
            }
            for r, b in zip(rows.tolist(), boxes, strict=True)
        ]

    # --- steps ----------------------------------------------------------------------------------

    def observe(
        self, image: np.ndarray | None, boxes: np.ndarray, embedding: np.ndarray | None = None
    ) -> None:
        """Before association: what an algorithm measures in the frame's pixels at the
        candidate ``boxes``, and their re-identification ``embedding`` rows when the detections
        carry the :data:`REID_EMBEDDING` column (nothing here)."""

    def learn(self, targets: np.ndarray, detections: np.ndarray, boxes: np.ndarray) -> None:
        """After association: update what an algorithm learns of matched targets (nothing
        here)."""

    def confirm(self, rows: np.ndarray) -> None:
        """Targets ``rows`` just passed probation (their ids not reported yet; nothing
        here)."""

    def follow(self, image: np.ndarray | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Confirmed targets ``rows`` the detector missed: where a visual tracker finds them in
        ``image`` — ``(boxes (len(rows), 4), tracker confidence (len(rows),))``. A target found
        with a confidence of at least ``min_tracker_confidence`` stays active and is reported at
        that box; here there is no visual tracker: nothing is found (confidence −1)."""
        return np.zeros((len(rows), 4), np.float32), np.full(len(rows), -1.0, np.float32)

    def tracker_noise_scale(self) -> float:
        """Measurement noise of a visual tracker's box relative to a detection's
        (``measurementNoiseVar4Tracker / measurementNoiseVar4Detector``)."""
        cfg = self.config
        return cfg.measurement_noise_var_4_tracker / max(cfg.measurement_noise_var_4_detector, 1e-9)

    def _keep(self, mask: np.ndarray) -> None:
        self.filter.keep(mask)
        self.ids, self.class_id = self.ids[mask], self.class_id[mask]
        self.component_id = self.component_id[mask]
        self.labels = [label for label, k in zip(self.labels, mask.tolist(), strict=True) if k]
        self.state, self.age, self.shadow = self.state[mask], self.age[mask], self.shadow[mask]
        self.confidence, self.last_box = self.confidence[mask], self.last_box[mask]

    def _start(
        self,
        free: np.ndarray,
        boxes: np.ndarray,
        detections: Detections,
        candidates: np.ndarray,
    ) -> np.ndarray:
        """Start targets from the candidate indices ``free``; returns those that started."""
        cfg = self.config
        if not len(free):
            return free
        free = free[np.argsort(-detections.confidence[candidates[free]], kind="stable")]
        existing = self.filter.boxes()
        overlap = iou_matrix(boxes[free], existing).max(axis=1) if len(existing) else None
        chosen: list[int] = []
        room = cfg.max_targets_per_stream - len(self)
        for i, index in enumerate(free.tolist()):
            if len(chosen) >= room:
                break
            if overlap is not None and overlap[i] > cfg.min_iou_diff_4_new_target:
                continue
            if chosen and iou_matrix(boxes[[index]], boxes[chosen]).max() > (
                cfg.min_iou_diff_4_new_target
            ):
                continue
            chosen.append(index)
        started = np.asarray(chosen, np.intp)
        if not len(started):
            return started
        rows = candidates[started]
        n = len(started)
        self.filter.add(boxes[started])
        self.ids = np.concatenate([self.ids, self.ids_counter.take(n)])
        self.class_id = np.concatenate([self.class_id, detections.class_id[rows]])
        self.component_id = np.concatenate([self.component_id, detections.component_id[rows]])
        self.labels += [detections.labels[r] for r in rows.tolist()]
        self.state = np.concatenate([self.state, np.full(n, TENTATIVE, np.int8)])
        self.age = np.concatenate([self.age, np.ones(n, np.int32)])
        self.shadow = np.concatenate([self.shadow, np.zeros(n, np.int32)])
        self.confidence = np.concatenate([self.confidence, detections.confidence[rows]])
        self.last_box = np.concatenate([self.last_box, boxes[started]])
        return started

    def _report(
        self,
        detections: Detections,
        candidates: np.ndarray,
        row_of_detection: np.ndarray,
        followed: np.ndarray,
    ) -> Detections:
        has_row = row_of_detection >= 0
        reported = has_row.copy()
        reported[has_row] = self.state[row_of_detection[has_row]] == ACTIVE
        chosen = np.flatnonzero(reported)
        rows = row_of_detection[chosen]
        picked = candidates[chosen]
        # detections[picked] with the tracker's columns, built in one go (once per frame at
        # every object: a second container would cost as much as the association)
        remap = np.full(len(detections) + 1, -1, np.int32)
        remap[picked] = np.arange(len(picked), dtype=np.int32)
        out = Detections(
            xyxy=self.filter.boxes()[rows],
            confidence=detections.confidence[picked],
            class_id=detections.class_id[picked],
            tracker_id=self.ids[rows],
            component_id=detections.component_id[picked],
            parent=remap[detections.parent[picked]],
            labels=tuple(map(detections.labels.__getitem__, picked.tolist())),
            masks=None if detections.masks is None else detections.masks[picked],
            mask_threshold=detections.mask_threshold,
            classifications=tuple(map(detections.classifications.__getitem__, picked.tolist())),
            extra={
                **{k: v[picked] for k, v in detections.extra.items()},
                TRACKER_CONFIDENCE: self.confidence[rows].astype(np.float32),
                TRACK_AGE: self.age[rows].astype(np.int32),
            },
        )
        if not len(followed):
            return out
        return Detections.concat([out, self._tracker_only(followed)])

    def _coasting(self) -> Detections:
        """A frame the detector skipped: the active targets at their estimated boxes."""
        return self._tracker_only(np.flatnonzero(self.state == ACTIVE))

    def _tracker_only(self, rows: np.ndarray) -> Detections:
        """Targets ``rows`` reported without a detection, at their estimated boxes, with
        DeepStream's confidence −0.1 for tracker-only objects."""
        return Detections(
            xyxy=self.filter.boxes()[rows],
            confidence=np.full(len(rows), -0.1, np.float32),
            class_id=self.class_id[rows],
            tracker_id=self.ids[rows],
            component_id=self.component_id[rows],
            labels=tuple(self.labels[r] for r in rows.tolist()),
            extra={
                TRACKER_CONFIDENCE: self.confidence[rows].astype(np.float32),
                TRACK_AGE: self.age[rows].astype(np.int32),
            },
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
        """(len(rows), len(boxes)) scores of targets ``rows`` against candidate ``boxes`` (the
        candidates ``cols`` of this frame, all of them when None); ``min_iou`` and
        ``min_overall`` replace the configured thresholds when given."""
        cfg = self.config
        if min_overall is None:
            min_overall = cfg.min_matching_score_4_overall
        return pair_scores(
            self.target_boxes()[rows],
            self.class_id[rows],
            boxes,
            classes,
            weight_iou=1.0 if iou_only else cfg.matching_score_weight_4_iou,
            weight_size=0.0 if iou_only else cfg.matching_score_weight_4_size_similarity,
            min_iou=cfg.min_matching_score_4_iou if min_iou is None else min_iou,
            min_size=0.0 if iou_only else cfg.min_matching_score_4_size_similarity,
            min_overall=0.0 if iou_only else min_overall,
            check_class=cfg.check_class_match,
        )


ALGORITHMS: Registry[type[TrackerAlgorithm]] = Registry("tracker")
"""Tracking algorithms by name (third parties: entry points ``visionflow.tracker``)."""


@ALGORITHMS.register("iou")
class IOUTracker(TrackerAlgorithm):
    """DeepStream's IOU preset: no motion model — a target is compared, and reported, where it
    was last detected (any ``StateEstimator`` section is not used)."""

    name = "iou"

    def __init__(self, config: TrackerConfig, ids: IdCounter | None = None) -> None:
        super().__init__(config.model_copy(update={"state_estimator": "none"}), ids)


@ALGORITHMS.register("nvsort")
class NvSORTTracker(TrackerAlgorithm):
    """NvSORT-class: a Kalman state estimator (the regular one when the config names none)
    predicts every target, and association compares the predictions (``usePrediction4Assoc``)
    or the last known boxes with the detections."""

    name = "nvsort"

    def __init__(self, config: TrackerConfig, ids: IdCounter | None = None) -> None:
        if config.state_estimator == "none":
            config = config.model_copy(update={"state_estimator": "regular"})
        super().__init__(config, ids)


def cascade(
    tracker: TrackerAlgorithm, boxes: np.ndarray, classes: np.ndarray, confidence: np.ndarray
) -> Association:
    """NvMultiObjectTracker's cascaded association, optimal assignment in each stage:

    1. confirmed targets (active or shadow) with confident detections (confidence ≥
       ``tentative_detector_confidence``), on the full weighted score;
    2. the confirmed targets left with tentative detections, on IoU ≥
       ``min_matching_score_4_tentative_iou``;
    3. tentative targets with the confident detections left, on IoU ≥ ``min_matching_score_4_iou``.
    """
    cfg = tracker.config
    confident = confidence >= cfg.tentative_detector_confidence
    confirmed = tracker.state != TENTATIVE
    found_t: list[np.ndarray] = []
    found_d: list[np.ndarray] = []

    def stage(rows: np.ndarray, cols: np.ndarray, **kw: Any) -> None:
        if not len(rows) or not len(cols):
            return
        t, d = match_optimal(tracker._scores(rows, boxes[cols], classes[cols], cols=cols, **kw))
        found_t.append(rows[t])
        found_d.append(cols[d])

    def left(mask: np.ndarray, taken: list[np.ndarray]) -> np.ndarray:
        out = mask.copy()
        for part in taken:
            out[part] = False
        return np.flatnonzero(out)

    stage(np.flatnonzero(confirmed), np.flatnonzero(confident))
    stage(
        left(confirmed, found_t),
        np.flatnonzero(~confident),
        iou_only=True,
        min_iou=cfg.min_matching_score_4_tentative_iou,
    )
    stage(np.flatnonzero(~confirmed), left(confident, found_d), iou_only=True)
    if not found_t:
        empty = np.zeros(0, np.intp)
        return Association(empty, empty)
    return Association(np.concatenate(found_t), np.concatenate(found_d))
