"""The tracker's typed configuration, and which NvMultiObjectTracker YAML key sets which field.

Field names are the DeepStream keys in snake case; :data:`DEEPSTREAM_KEYS` maps each honoured
``Section.key`` of a low-level tracker YAML file onto its field. Field defaults are
NvMultiObjectTracker's where NVIDIA documents one (``minDetectorConfidence`` 0, greedy matching,
no state estimator, ``checkClassMatch`` on, ``matchingScoreWeight4Iou`` 1,
``tentativeDetectorConfidence`` 0.5, …) and the stock IOU sample file's values for the
target-management keys it gives none for: ``TrackerConfig()`` is what a DeepStream file that sets
nothing gives. :func:`preset` gives the values of NVIDIA's sample files instead
(``config_tracker_IOU.yml``, ``config_tracker_NvSORT.yml``, ``config_tracker_NvDCF_perf.yml``),
which NVIDIA tuned.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal["iou", "nvsort", "nvdcf"]
Matcher = Literal["greedy", "cascaded"]
StateEstimator = Literal["none", "simple", "regular"]


class TrackerConfig(BaseModel):
    """How a :class:`~visionflow.track.Tracker` associates detections and manages targets.

    A target is created from a detection no existing target matches; it stays *tentative*
    (not reported) until it has been seen in more than ``probation_age`` frames, and is dropped if
    it misses ``early_termination_age`` detector frames during probation. A reported (*active*)
    target that misses a detector frame goes into *shadow* tracking: it keeps its id, is not
    reported, and is terminated once it has missed more than ``max_shadow_tracking_age``
    consecutive detector frames. Ids come from one counter per element and are never given to
    another target (nvdcf's gallery may give a terminated target's id back to its object).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm = Field(
        "iou",
        description="iou: association on the last known boxes, no motion model (DeepStream's "
        "IOU preset); nvsort: a Kalman motion model (the regular one when state_estimator is "
        "none), as NvSORT; nvdcf: nvsort's motion model plus an appearance feature of "
        "each object's pixels in association and to re-associate lost targets (NvDCF-class).",
    )
    # BaseConfig
    min_detector_confidence: float = Field(
        0.0, description="BaseConfig.minDetectorConfidence: detections below are not tracked."
    )
    # TargetManagement
    max_targets_per_stream: int = Field(
        150,
        ge=1,
        description="TargetManagement.maxTargetsPerStream: targets per stream, shadow ones "
        "included; further new objects are discarded.",
    )
    min_iou_diff_4_new_target: float = Field(
        0.5,
        ge=0,
        le=1,
        description="TargetManagement.minIouDiff4NewTarget: an unmatched detection overlapping "
        "an existing target by more than this IoU does not start a new target.",
    )
    probation_age: int = Field(
        4,
        ge=0,
        description="TargetManagement.probationAge: a new target is reported once it has "
        "existed for more than this many frames.",
    )
    max_shadow_tracking_age: int = Field(
        38,
        ge=0,
        description="TargetManagement.maxShadowTrackingAge: consecutive missed detector frames "
        "after which a target is terminated (it survives up to this many).",
    )
    early_termination_age: int = Field(
        1,
        ge=0,
        description="TargetManagement.earlyTerminationAge: missed detector frames that end a "
        "tentative target (0: never).",
    )
    min_tracker_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        description="TargetManagement.minTrackerConfidence (nvdcf): a confirmed target the "
        "detector missed stays reported, at the box its visual tracker found, while the visual "
        "tracker's confidence is at least this; below it goes into shadow tracking.",
    )
    output_past_frame: bool = Field(
        True,
        description="Past-frame data (DeepStream's NVDS_TRACKER_PAST_FRAME_META, reported by "
        "NvMultiObjectTracker without a switch since DeepStream 6): a target confirmed on a "
        "frame is listed in its user metadata (key tracker_past_frame) with the frames it was "
        "on probation.",
    )
    output_terminated_tracks: bool = Field(
        False,
        description="TargetManagement.outputTerminatedTracks: a confirmed target terminated on "
        "a frame is listed in its user metadata (key tracker_terminated_tracks) with all its "
        "frames.",
    )
    output_shadow_tracks: bool = Field(
        False,
        description="TargetManagement.outputShadowTracks: list targets in shadow tracking in "
        "the frame's user metadata (key tracker_shadow_tracks).",
    )
    # DataAssociator
    association_matcher: Matcher = Field(
        "greedy",
        description="DataAssociator.associationMatcherType: greedy (0: best pairs first) or "
        "cascaded (1: confirmed targets with confident detections, then with tentative "
        "detections, then tentative targets; optimal assignment in each stage).",
    )
    check_class_match: bool = Field(
        True, description="DataAssociator.checkClassMatch: match only objects of one class."
    )
    min_matching_score_4_overall: float = Field(
        0.0, ge=0, description="DataAssociator.minMatchingScore4Overall: least weighted score."
    )
    min_matching_score_4_size_similarity: float = Field(
        0.0,
        ge=0,
        le=1,
        description="DataAssociator.minMatchingScore4SizeSimilarity: least size similarity "
        "(smaller box area over larger).",
    )
    min_matching_score_4_iou: float = Field(
        0.0, ge=0, le=1, description="DataAssociator.minMatchingScore4Iou: least IoU."
    )
    matching_score_weight_4_size_similarity: float = Field(
        0.0, ge=0, description="DataAssociator.matchingScoreWeight4SizeSimilarity."
    )
    matching_score_weight_4_iou: float = Field(
        1.0, ge=0, description="DataAssociator.matchingScoreWeight4Iou."
    )
    tentative_detector_confidence: float = Field(
        0.5,
        description="DataAssociator.tentativeDetectorConfidence (cascaded): detections below "
        "are tentative: they only extend confirmed targets and never start one.",
    )
    min_matching_score_4_tentative_iou: float = Field(
        0.0,
        ge=0,
        le=1,
        description="DataAssociator.minMatchingScore4TentativeIou: least IoU between a "
        "confirmed target and a tentative detection.",
    )
    min_matching_score_4_visual_similarity: float = Field(
        0.0,
        ge=0,
        le=1,
        description="DataAssociator.minMatchingScore4VisualSimilarity (nvdcf): least appearance "
        "similarity of a target and a detection.",
    )
    matching_score_weight_4_visual_similarity: float = Field(
        0.0,
        ge=0,
        description="DataAssociator.matchingScoreWeight4VisualSimilarity (nvdcf): weight of the "
        "appearance similarity in the score.",
    )
    use_prediction_4_assoc: bool = Field(
        False,
        description="DataAssociator.usePrediction4Assoc: associate on the motion model's "
        "predicted boxes instead of the last known ones.",
    )
    # StateEstimator
    state_estimator: StateEstimator = Field(
        "none",
        description="StateEstimator.stateEstimatorType: none (0), simple (1: Kalman filter on "
        "centre, size and centre velocity, fixed noises) or regular (2: Kalman filter on "
        "centre, aspect ratio or width, height and their velocities, noises proportional to "
        "the box height).",
    )
    process_noise_var_4_loc: float = Field(
        2.0, ge=0, description="StateEstimator.processNoiseVar4Loc (simple)."
    )
    process_noise_var_4_size: float = Field(
        1.0, ge=0, description="StateEstimator.processNoiseVar4Size (simple)."
    )
    process_noise_var_4_vel: float = Field(
        0.1, ge=0, description="StateEstimator.processNoiseVar4Vel (simple)."
    )
    measurement_noise_var_4_detector: float = Field(
        4.0, ge=0, description="StateEstimator.measurementNoiseVar4Detector (simple)."
    )
    measurement_noise_var_4_tracker: float = Field(
        16.0,
        ge=0,
        description="StateEstimator.measurementNoiseVar4Tracker (nvdcf): measurement noise "
        "variance of the visual tracker's box (simple filter; with the regular one, its ratio "
        "to measurementNoiseVar4Detector scales the detection noise).",
    )
    noise_weight_var_4_loc: float = Field(
        0.0025,
        ge=0,
        description="StateEstimator.noiseWeightVar4Loc (regular): location noise variance "
        "per squared box height (default DeepSORT's (1/20)²).",
    )
    noise_weight_var_4_vel: float = Field(
        0.0000390625,
        ge=0,
        description="StateEstimator.noiseWeightVar4Vel (regular): velocity noise variance per "
        "squared box height (default DeepSORT's (1/160)²).",
    )
    use_aspect_ratio: bool = Field(
        True,
        description="StateEstimator.useAspectRatio (regular): estimate the aspect ratio "
        "instead of the width.",
    )
    # VisualTracker (nvdcf's appearance model)
    filter_lr: float = Field(
        0.075,
        ge=0,
        le=1,
        description="VisualTracker.filterLr (nvdcf): learning rate of each target's appearance "
        "feature, an exponential moving average of its matched detections' features.",
    )
    visual_tracker: bool = Field(
        True,
        description="VisualTracker.visualTrackerType ≥ 1 (nvdcf): follow confirmed targets "
        "the detector missed with a correlation template (0: they go into shadow tracking).",
    )
    feature_img_size_level: int = Field(
        2,
        ge=1,
        le=5,
        description="VisualTracker.featureImgSizeLevel (nvdcf): template side 12, 18, 24, 36 "
        "or 48 pixels.",
    )
    search_region_padding_scale: float = Field(
        1.0,
        ge=0,
        description="VisualTracker.searchRegionPaddingScale (nvdcf): the search region is "
        "(1 + this) times the template (the box with its surroundings) on each side",
    )
    # visionflow's own (no DeepStream key)
    reassoc_min_visual_similarity: float = Field(
        0.85,
        ge=0,
        le=1,
        description="nvdcf, visionflow's own: least appearance similarity for a confirmed "
        "target left without a detection to take one its box does not overlap, or one a "
        "tentative target took (re-association); 1 turns re-association off.",
    )
    reassoc_gallery_age: int = Field(
        90,
        ge=0,
        description="nvdcf, visionflow's own: a confirmed target terminated after "
        "maxShadowTrackingAge is remembered (id, class, appearance, last box) this many frames "
        "more; a new target that looks like it when it passes probation takes its id "
        "(0: terminated targets are forgotten).",
    )
    reassoc_search_region_scale: float = Field(
        4.0,
        ge=0,
        description="nvdcf, visionflow's own: re-association takes detections whose centre "
        "lies within this many times the target's larger box side of its predicted centre or "
        "of where it was last detected.",
    )


PRESETS: dict[str, dict[str, object]] = {
    "iou": {  # config_tracker_IOU.yml (DeepStream 6.0 to 8.0)
        "algorithm": "iou",
        "max_targets_per_stream": 150,
        "min_iou_diff_4_new_target": 0.5,
        "probation_age": 4,
        "max_shadow_tracking_age": 38,
        "early_termination_age": 1,
        "association_matcher": "greedy",
        "matching_score_weight_4_size_similarity": 0.4,
        "matching_score_weight_4_iou": 0.6,
    },
    "nvsort": {  # config_tracker_NvSORT.yml (DeepStream 6.2 to 8.0)
        "algorithm": "nvsort",
        "min_detector_confidence": 0.1345,
        "max_targets_per_stream": 300,
        "min_iou_diff_4_new_target": 0.578,
        "probation_age": 5,
        "max_shadow_tracking_age": 26,
        "early_termination_age": 1,
        "association_matcher": "cascaded",
        "min_matching_score_4_overall": 0.2543,
        "min_matching_score_4_size_similarity": 0.4019,
        "min_matching_score_4_iou": 0.2159,
        "matching_score_weight_4_size_similarity": 0.1365,
        "matching_score_weight_4_iou": 0.3836,
        "tentative_detector_confidence": 0.2331,
        "min_matching_score_4_tentative_iou": 0.2867,
        "use_prediction_4_assoc": True,
        "state_estimator": "regular",
        "noise_weight_var_4_loc": 0.0301,
        "noise_weight_var_4_vel": 0.0017,
        "use_aspect_ratio": True,
    },
    "nvdcf": {  # config_tracker_NvDCF_perf.yml (DeepStream 6.0 to 8.0)
        "algorithm": "nvdcf",
        "min_detector_confidence": 0.0,
        "max_targets_per_stream": 150,
        "min_iou_diff_4_new_target": 0.5,
        "probation_age": 3,
        "max_shadow_tracking_age": 30,
        "early_termination_age": 1,
        "association_matcher": "greedy",
        "min_matching_score_4_overall": 0.0,
        "min_matching_score_4_size_similarity": 0.6,
        "min_matching_score_4_iou": 0.0,
        "min_matching_score_4_visual_similarity": 0.7,
        "matching_score_weight_4_visual_similarity": 0.6,
        "matching_score_weight_4_size_similarity": 0.0,
        "matching_score_weight_4_iou": 0.4,
        "use_prediction_4_assoc": True,
        "state_estimator": "simple",
        "process_noise_var_4_loc": 2.0,
        "process_noise_var_4_size": 1.0,
        "process_noise_var_4_vel": 0.1,
        "measurement_noise_var_4_detector": 4.0,
        "filter_lr": 0.075,
        "min_tracker_confidence": 0.2,
        "measurement_noise_var_4_tracker": 16.0,
        "feature_img_size_level": 2,
    },
}
"""The values of NVIDIA's sample file of each algorithm."""


def preset(algorithm: Algorithm, **fields: object) -> TrackerConfig:
    """The config of NVIDIA's sample file for ``algorithm``, ``fields`` overriding."""
    return TrackerConfig.model_validate({**PRESETS[algorithm], **fields})


DEEPSTREAM_KEYS: dict[str, str] = {
    "BaseConfig.minDetectorConfidence": "min_detector_confidence",
    "TargetManagement.maxTargetsPerStream": "max_targets_per_stream",
    "TargetManagement.minIouDiff4NewTarget": "min_iou_diff_4_new_target",
    "TargetManagement.probationAge": "probation_age",
    "TargetManagement.maxShadowTrackingAge": "max_shadow_tracking_age",
    "TargetManagement.earlyTerminationAge": "early_termination_age",
    "TargetManagement.outputShadowTracks": "output_shadow_tracks",
    "TargetManagement.outputTerminatedTracks": "output_terminated_tracks",
    "TargetManagement.minTrackerConfidence": "min_tracker_confidence",
    "DataAssociator.associationMatcherType": "association_matcher",
    "DataAssociator.checkClassMatch": "check_class_match",
    "DataAssociator.minMatchingScore4Overall": "min_matching_score_4_overall",
    "DataAssociator.minMatchingScore4SizeSimilarity": "min_matching_score_4_size_similarity",
    "DataAssociator.minMatchingScore4Iou": "min_matching_score_4_iou",
    "DataAssociator.matchingScoreWeight4SizeSimilarity": "matching_score_weight_4_size_similarity",
    "DataAssociator.matchingScoreWeight4Iou": "matching_score_weight_4_iou",
    "DataAssociator.tentativeDetectorConfidence": "tentative_detector_confidence",
    "DataAssociator.minMatchingScore4TentativeIou": "min_matching_score_4_tentative_iou",
    "DataAssociator.minMatchingScore4VisualSimilarity": "min_matching_score_4_visual_similarity",
    "DataAssociator.matchingScoreWeight4VisualSimilarity": (
        "matching_score_weight_4_visual_similarity"
    ),
    "DataAssociator.usePrediction4Assoc": "use_prediction_4_assoc",
    "StateEstimator.stateEstimatorType": "state_estimator",
    "StateEstimator.processNoiseVar4Loc": "process_noise_var_4_loc",
    "StateEstimator.processNoiseVar4Size": "process_noise_var_4_size",
    "StateEstimator.processNoiseVar4Vel": "process_noise_var_4_vel",
    "StateEstimator.measurementNoiseVar4Detector": "measurement_noise_var_4_detector",
    "StateEstimator.noiseWeightVar4Loc": "noise_weight_var_4_loc",
    "StateEstimator.noiseWeightVar4Vel": "noise_weight_var_4_vel",
    "StateEstimator.useAspectRatio": "use_aspect_ratio",
    "StateEstimator.measurementNoiseVar4Tracker": "measurement_noise_var_4_tracker",
    "VisualTracker.visualTrackerType": "visual_tracker",
    "VisualTracker.filterLr": "filter_lr",
    "VisualTracker.featureImgSizeLevel": "feature_img_size_level",
    "VisualTracker.searchRegionPaddingScale": "search_region_padding_scale",
}
"""Low-level YAML keys the trackers honour → :class:`TrackerConfig` field."""

ENUMS: dict[str, dict[int, str]] = {
    "association_matcher": {0: "greedy", 1: "cascaded"},
    "state_estimator": {0: "none", 1: "simple", 2: "regular"},
}
"""Integer codes of the enumerated keys (DeepStream numbers → field values)."""

_APPEARANCE_ONLY = "only the nvdcf tracker uses appearance (a file without visual tracker or ReID)"
_SECTION_REASONS = {
    "VisualTracker": "nvdcf's visual tracker is a correlation template of colour pixels, not "
    "NvDCF's learnt filter on ColorNames/HOG features: its feature and filter-shape keys have "
    "no counterpart",
    "ReID": "the re-identification network is not run: nvdcf's built-in colour-histogram "
    "feature stands in for its embeddings",
    "TrajectoryManagement": "trajectory re-association is not built; nvdcf re-associates targets "
    "in shadow tracking by appearance (reassoc_* settings)",
    "ObjectModelProjection": "single-view 3D tracking is not built",
    "PoseEstimator": "single-view 3D tracking is not built",
}
_KEY_REASONS = {
    "TrajectoryManagement.useUniqueID": "ids are small sequential numbers from one counter per "
    "tracker element (as useUniqueID: 0)",
    "TargetManagement.enableBboxUnClipping": "boxes clipped by the frame border are kept as "
    "they are",
    "TargetManagement.preserveStreamUpdateOrder": "streams are updated in batch order, so ids "
    "are deterministic anyway",
    "TargetManagement.terminatedTrackFilename": "terminated tracks go to the metadata (and "
    "the JSON Lines sink), not to files of their own",
    "DataAssociator.dataAssociatorType": "only the default data associator exists",
    "DataAssociator.minMatchingScore4VisualSimilarity": _APPEARANCE_ONLY,
    "DataAssociator.matchingScoreWeight4VisualSimilarity": _APPEARANCE_ONLY,
    "DataAssociator.minMatchingScore4ReidSimilarity": _APPEARANCE_ONLY,
    "DataAssociator.matchingScoreWeight4ReidSimilarity": _APPEARANCE_ONLY,
    "DataAssociator.thresholdMahalanobis": "the Mahalanobis gate of NvDeepSORT is not built yet",
}


def not_honoured(key: str) -> str:
    """Why a low-level ``Section.key`` has no effect."""
    if key in _REID_KEYS:
        return (
            f"{_APPEARANCE_ONLY}; with nvdcf it sets the visual-similarity setting unless the "
            "file gives that key too"
        )
    if key.startswith("VisualTracker.") and key in DEEPSTREAM_KEYS:
        return _APPEARANCE_ONLY
    if key in _VISUAL_ONLY:
        return "only the nvdcf tracker has a visual tracker"
    return _KEY_REASONS.get(key) or _SECTION_REASONS.get(
        key.partition(".")[0], "not used by visionflow's trackers"
    )


def from_deepstream(values: dict[str, object]) -> tuple[TrackerConfig, list[str], list[str]]:
    """The config a low-level tracker file's checked values give.

    The algorithm follows the file's contents, as NvMultiObjectTracker's presets do: no state
    estimator, visual tracker or ReID → ``iou``; a state estimator → ``nvsort``; an NvDCF visual
    tracker or NvDeepSORT ReID → ``nvdcf``. For NvDeepSORT a warning says the ReID network is not
    run, and its ReID similarity weight and threshold set the visual ones (:data:`_REID_KEYS`)
    unless the file gives those too.

    Args:
        values: ``Section.key`` → value, as read from the file (numbers already checked).

    Returns:
        ``(config, honoured keys, warnings)``.
    """
    visual = int(values.get("VisualTracker.visualTrackerType", 0))  # type: ignore[call-overload]
    reid = int(values.get("ReID.reidType", 0))  # type: ignore[call-overload]
    estimator = int(values.get("StateEstimator.stateEstimatorType", 0))  # type: ignore[call-overload]
    warnings: list[str] = []
    if visual or reid in (1, 3):
        if not visual:
            warnings.append(
                "NvDeepSORT file: tracked with the nvdcf tracker; the ReID network is not run, "
                "the built-in appearance feature (colour histogram) stands in for its embeddings"
            )
        algorithm = "nvdcf"
    else:
        algorithm = "nvsort" if estimator else "iou"
    fields: dict[str, object] = {"algorithm": algorithm}
    if algorithm == "nvdcf":
        fields["visual_tracker"] = bool(visual)
    if visual and "DataAssociator.usePrediction4Assoc" not in values:
        # NvDCF associates its visual tracker's box in the new frame; the prediction stands in.
        fields["use_prediction_4_assoc"] = True
    honoured = []
    for key, value in values.items():
        field = DEEPSTREAM_KEYS.get(key)
        if key in _REID_KEYS and _REID_KEYS[key] not in values:
            field = DEEPSTREAM_KEYS[_REID_KEYS[key]]
        if field is None or (field.startswith(_KALMAN) and algorithm == "iou"):
            continue
        if field in _APPEARANCE_FIELDS and algorithm != "nvdcf":
            continue
        if field in ENUMS:
            if field == "state_estimator" and value == 3:
                warnings.append(
                    "StateEstimator.stateEstimatorType 3 (3D): single-view 3D tracking is not "
                    "built; the simple 2D Kalman filter is used"
                )
                value = 1
            value = ENUMS[field][int(value)]  # type: ignore[call-overload]
        elif isinstance(TrackerConfig.model_fields[field].default, bool):
            value = bool(value)
        fields[field] = value
        honoured.append(key)
    return TrackerConfig.model_validate(fields), honoured, warnings


_REID_KEYS = {
    "DataAssociator.minMatchingScore4ReidSimilarity": (
        "DataAssociator.minMatchingScore4VisualSimilarity"
    ),
    "DataAssociator.matchingScoreWeight4ReidSimilarity": (
        "DataAssociator.matchingScoreWeight4VisualSimilarity"
    ),
}
"""NvDeepSORT's ReID keys → the visual-similarity key whose field they set for nvdcf."""
_APPEARANCE_FIELDS = (
    "min_matching_score_4_visual_similarity",
    "matching_score_weight_4_visual_similarity",
    "filter_lr",
    "visual_tracker",
    "feature_img_size_level",
    "search_region_padding_scale",
    "min_tracker_confidence",
    "measurement_noise_var_4_tracker",
)
_VISUAL_ONLY = (
    "TargetManagement.minTrackerConfidence",
    "StateEstimator.measurementNoiseVar4Tracker",
)
_KALMAN = ("state_estimator", "process_noise", "measurement_noise", "noise_weight", "use_aspect")
