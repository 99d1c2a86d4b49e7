"""The tracker's typed configuration, and which NvMultiObjectTracker YAML key sets which field.

Field names are the DeepStream keys in snake case; :data:`DEEPSTREAM_KEYS` maps each honoured
``Section.key`` of a low-level tracker YAML file onto its field. Field defaults are
NvMultiObjectTracker's where NVIDIA documents one (``minDetectorConfidence`` 0, greedy matching,
no state estimator, ``checkClassMatch`` on, ``matchingScoreWeight4Iou`` 1,
``tentativeDetectorConfidence`` 0.5, …) and the stock IOU sample file's values for the
target-management keys it gives none for: ``TrackerConfig()`` is what a DeepStream file that sets
nothing gives. :func:`preset` gives the values of NVIDIA's sample files instead
(``config_tracker_IOU.yml``, ``config_tracker_NvSORT.yml``), which NVIDIA tuned.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal["iou", "nvsort"]
Matcher = Literal["greedy", "cascaded"]
StateEstimator = Literal["none", "simple", "regular"]


class TrackerConfig(BaseModel):
    """How a :class:`~visionflow.track.Tracker` associates detections and manages targets.

    A target is created from a detection no existing target matches; it stays *tentative*
    (not reported) until it has been seen in more than ``probation_age`` frames, and is dropped if
    it misses ``early_termination_age`` detector frames during probation. A reported (*active*)
    target that misses a detector frame goes into *shadow* tracking: it keeps its id, is not
    reported, and is terminated once it has missed more than ``max_shadow_tracking_age``
    consecutive detector frames. Ids come from one counter per element and are never reused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Algorithm = Field(
        "iou",
        description="iou: association on the last known boxes, no motion model (DeepStream's "
        "IOU preset); nvsort: a Kalman motion model (the regular one when state_estimator is "
        "none), as NvSORT.",
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
    "DataAssociator.associationMatcherType": "association_matcher",
    "DataAssociator.checkClassMatch": "check_class_match",
    "DataAssociator.minMatchingScore4Overall": "min_matching_score_4_overall",
    "DataAssociator.minMatchingScore4SizeSimilarity": "min_matching_score_4_size_similarity",
    "DataAssociator.minMatchingScore4Iou": "min_matching_score_4_iou",
    "DataAssociator.matchingScoreWeight4SizeSimilarity": "matching_score_weight_4_size_similarity",
    "DataAssociator.matchingScoreWeight4Iou": "matching_score_weight_4_iou",
    "DataAssociator.tentativeDetectorConfidence": "tentative_detector_confidence",
    "DataAssociator.minMatchingScore4TentativeIou": "min_matching_score_4_tentative_iou",
    "DataAssociator.usePrediction4Assoc": "use_prediction_4_assoc",
    "StateEstimator.stateEstimatorType": "state_estimator",
    "StateEstimator.processNoiseVar4Loc": "process_noise_var_4_loc",
    "StateEstimator.processNoiseVar4Size": "process_noise_var_4_size",
    "StateEstimator.processNoiseVar4Vel": "process_noise_var_4_vel",
    "StateEstimator.measurementNoiseVar4Detector": "measurement_noise_var_4_detector",
    "StateEstimator.noiseWeightVar4Loc": "noise_weight_var_4_loc",
    "StateEstimator.noiseWeightVar4Vel": "noise_weight_var_4_vel",
    "StateEstimator.useAspectRatio": "use_aspect_ratio",
}
"""Low-level YAML keys the trackers honour → :class:`TrackerConfig` field."""

ENUMS: dict[str, dict[int, str]] = {
    "association_matcher": {0: "greedy", 1: "cascaded"},
    "state_estimator": {0: "none", 1: "simple", 2: "regular"},
}
"""Integer codes of the enumerated keys (DeepStream numbers → field values)."""

_APPEARANCE = "appearance features are not used yet (NvDCF visual tracker, ReID)"
_SECTION_REASONS = {
    "VisualTracker": "NvDCF's correlation-filter visual tracker is not built yet; "
    "tracking uses motion and boxes only",
    "ReID": "re-identification embeddings (NvDeepSORT, re-association) are not built yet",
    "TrajectoryManagement": "trajectory re-association is not built yet",
    "ObjectModelProjection": "single-view 3D tracking is not built",
    "PoseEstimator": "single-view 3D tracking is not built",
}
_KEY_REASONS = {
    "TrajectoryManagement.useUniqueID": "ids are small sequential numbers from one counter per "
    "tracker element (as useUniqueID: 0)",
    "TargetManagement.minTrackerConfidence": "IOU and NvSORT-class trackers have no visual "
    "tracker confidence: a target's tracker confidence is its matched detection's",
    "TargetManagement.enableBboxUnClipping": "boxes clipped by the frame border are kept as "
    "they are",
    "TargetManagement.preserveStreamUpdateOrder": "streams are updated in batch order, so ids "
    "are deterministic anyway",
    "TargetManagement.outputTerminatedTracks": "terminated-track metadata is not produced yet",
    "TargetManagement.terminatedTrackFilename": "terminated-track metadata is not produced yet",
    "DataAssociator.dataAssociatorType": "only the default data associator exists",
    "DataAssociator.minMatchingScore4VisualSimilarity": _APPEARANCE,
    "DataAssociator.matchingScoreWeight4VisualSimilarity": _APPEARANCE,
    "DataAssociator.minMatchingScore4ReidSimilarity": _APPEARANCE,
    "DataAssociator.matchingScoreWeight4ReidSimilarity": _APPEARANCE,
    "DataAssociator.thresholdMahalanobis": "the Mahalanobis gate of NvDeepSORT is not built yet",
    "StateEstimator.measurementNoiseVar4Tracker": "there is no visual tracker measurement",
}


def not_honoured(key: str) -> str:
    """Why a low-level ``Section.key`` has no effect."""
    return _KEY_REASONS.get(key) or _SECTION_REASONS.get(
        key.partition(".")[0], "not used by visionflow's trackers"
    )


def from_deepstream(values: dict[str, object]) -> tuple[TrackerConfig, list[str], list[str]]:
    """The config a low-level tracker file's checked values give.

    The algorithm follows the file's contents, as NvMultiObjectTracker's presets do: no state
    estimator, visual tracker or ReID → ``iou``; a state estimator → ``nvsort``; an NvDCF visual
    tracker or NvDeepSORT ReID → ``nvsort`` too, with a warning (appearance is not used yet).

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
        kind = "NvDCF" if visual else "NvDeepSORT"
        warnings.append(f"{kind} file: tracked with the NvSORT-class tracker; {_APPEARANCE}")
        algorithm = "nvsort"
    else:
        algorithm = "nvsort" if estimator else "iou"
    fields: dict[str, object] = {"algorithm": algorithm}
    if visual and "DataAssociator.usePrediction4Assoc" not in values:
        # NvDCF associates its visual tracker's box in the new frame; the prediction stands in.
        fields["use_prediction_4_assoc"] = True
    honoured = []
    for key, value in values.items():
        field = DEEPSTREAM_KEYS.get(key)
        if field is None or (field.startswith(_KALMAN) and algorithm == "iou"):
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


_KALMAN = ("state_estimator", "process_noise", "measurement_noise", "noise_weight", "use_aspect")
