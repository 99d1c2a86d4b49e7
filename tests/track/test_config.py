"""DeepStream low-level tracker files → TrackerConfig, and what the report says of each key."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.corpus import DATA
from visionflow.compat.deepstream.tracker import read_tracker, tracker_config
from visionflow.errors import ConfigError
from visionflow.track import Tracker, TrackerConfig, preset

FILES = DATA / "tracker"

# NvSORT's sample values (DeepStream 7.x config_tracker_NvSORT.yml; that file's licence does not
# allow copying it, the values are facts NVIDIA documents).
NVSORT = """\
%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0.1345
TargetManagement:
  enableBboxUnClipping: 0
  maxTargetsPerStream: 300
  minIouDiff4NewTarget: 0.5780
  minTrackerConfidence: 0.8216
  probationAge: 5
  maxShadowTrackingAge: 26
  earlyTerminationAge: 1
TrajectoryManagement:
  useUniqueID: 0
DataAssociator:
  dataAssociatorType: 0
  associationMatcherType: 1
  checkClassMatch: 1
  minMatchingScore4Overall: 0.2543
  minMatchingScore4SizeSimilarity: 0.4019
  minMatchingScore4Iou: 0.2159
  matchingScoreWeight4SizeSimilarity: 0.1365
  matchingScoreWeight4Iou: 0.3836
  tentativeDetectorConfidence: 0.2331
  minMatchingScore4TentativeIou: 0.2867
  usePrediction4Assoc: 1
StateEstimator:
  stateEstimatorType: 2
  noiseWeightVar4Loc: 0.0301
  noiseWeightVar4Vel: 0.0017
  useAspectRatio: 1
"""


def test_iou_file_makes_the_iou_tracker_with_its_values() -> None:
    path = FILES / "config_tracker_IOU.yml"

    config = tracker_config(path)
    report = read_tracker(path)

    assert config == preset(
        "iou",
        min_detector_confidence=0.0,
        max_targets_per_stream=150,
        min_iou_diff_4_new_target=0.5,
        probation_age=4,
        max_shadow_tracking_age=38,
        early_termination_age=1,
        association_matcher="greedy",
        check_class_match=True,
        min_matching_score_4_overall=0.0,
        min_matching_score_4_size_similarity=0.0,
        min_matching_score_4_iou=0.0,
        matching_score_weight_4_size_similarity=0.4,
        matching_score_weight_4_iou=0.6,
    )
    assert config.state_estimator == "none"
    assert report.valid
    assert report.warnings == []
    assert set(report.ignored) == {
        "TargetManagement.preserveStreamUpdateOrder",
        "TrajectoryManagement.useUniqueID",
        "DataAssociator.dataAssociatorType",
    }
    assert len(report.honoured) == 13
    assert "DataAssociator.matchingScoreWeight4Iou" in report.honoured


def test_nvsort_file_makes_the_nvsort_tracker(tmp_path: Path) -> None:
    path = tmp_path / "config_tracker_NvSORT.yml"
    path.write_text(NVSORT)

    config = tracker_config(path)
    report = read_tracker(path)

    assert config.algorithm == "nvsort"
    assert config.association_matcher == "cascaded"
    assert config.state_estimator == "regular"
    assert config.use_prediction_4_assoc is True
    assert config.use_aspect_ratio is True
    assert (config.noise_weight_var_4_loc, config.noise_weight_var_4_vel) == (0.0301, 0.0017)
    assert (config.tentative_detector_confidence, config.min_matching_score_4_tentative_iou) == (
        0.2331,
        0.2867,
    )
    assert (config.probation_age, config.max_shadow_tracking_age) == (5, 26)
    assert report.warnings == []
    assert report.ignored == {
        "TargetManagement.enableBboxUnClipping": "boxes clipped by the frame border are kept "
        "as they are",
        "TargetManagement.minTrackerConfidence": "only the nvdcf tracker has a visual tracker",
        "TrajectoryManagement.useUniqueID": "ids are small sequential numbers from one counter "
        "per tracker element (as useUniqueID: 0)",
        "DataAssociator.dataAssociatorType": "only the default data associator exists",
    }


def test_nvdeepsort_file_is_tracked_by_nvdcf_with_its_reid_weights_and_says_so() -> None:
    path = FILES / "config_tracker_NvDeepSORT.yml"

    config = tracker_config(path)
    report = read_tracker(path)

    assert config.algorithm == "nvdcf"
    assert config.state_estimator == "regular"
    assert config.association_matcher == "cascaded"
    assert config.min_iou_diff_4_new_target == 0.9847
    # the ReID similarity's threshold and weight set the visual ones
    assert config.min_matching_score_4_visual_similarity == 0.7505
    assert config.matching_score_weight_4_visual_similarity == 0.3197
    assert "DataAssociator.minMatchingScore4ReidSimilarity" in report.honoured
    assert "DataAssociator.matchingScoreWeight4ReidSimilarity" in report.honoured
    assert report.warnings == [
        f"{path}: NvDeepSORT file: tracked with the nvdcf tracker; the ReID network is not run, "
        "the built-in appearance feature (colour histogram) stands in for its embeddings"
    ]
    assert report.ignored["ReID.reidType"].startswith("the re-identification network is not run")
    assert report.ignored["DataAssociator.thresholdMahalanobis"].startswith("the Mahalanobis")
    assert "StateEstimator.noiseWeightVar4Loc" in report.honoured


def test_nvdcf_file_makes_the_nvdcf_tracker_with_its_appearance_keys() -> None:
    path = FILES / "config_tracker_NvDCF_perf.yml"

    config = tracker_config(path)
    report = read_tracker(path)

    assert config.algorithm == "nvdcf"
    assert config.state_estimator == "simple"
    assert config.association_matcher == "greedy"
    assert config.use_prediction_4_assoc is True  # stands in for the visual tracker's box
    assert (config.process_noise_var_4_loc, config.measurement_noise_var_4_detector) == (2.0, 4.0)
    assert config.min_matching_score_4_visual_similarity == 0.7
    assert config.matching_score_weight_4_visual_similarity == 0.6
    assert config.matching_score_weight_4_iou == 0.4
    assert config.filter_lr == 0.075
    for key in (
        "DataAssociator.minMatchingScore4VisualSimilarity",
        "DataAssociator.matchingScoreWeight4VisualSimilarity",
        "VisualTracker.filterLr",
    ):
        assert key in report.honoured
    assert report.warnings == []  # appearance is used: no warning
    assert report.ignored["VisualTracker.useColorNames"].startswith(
        "nvdcf's visual tracker is a correlation template"
    )
    assert config.visual_tracker is True
    assert config.min_tracker_confidence == 0.2
    assert config.measurement_noise_var_4_tracker == 16.0
    assert config.feature_img_size_level == 2
    for key in (
        "StateEstimator.measurementNoiseVar4Tracker",
        "TargetManagement.minTrackerConfidence",
        "VisualTracker.visualTrackerType",
        "VisualTracker.featureImgSizeLevel",
    ):
        assert key in report.honoured
    assert len(report.honoured) + len(report.ignored) == 33  # every key accounted for
    # the file gives NVIDIA's values: the nvdcf preset is this file
    assert config.model_dump() == preset("nvdcf").model_dump()


def test_appearance_keys_without_visual_tracker_or_reid_are_not_honoured(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text(
        "%YAML:1.0\nStateEstimator:\n  stateEstimatorType: 2\nDataAssociator:\n"
        "  matchingScoreWeight4VisualSimilarity: 0.5\nVisualTracker:\n  filterLr: 0.2\n"
    )

    config = tracker_config(path)
    report = read_tracker(path)

    assert config.algorithm == "nvsort"
    assert config.matching_score_weight_4_visual_similarity == 0.0
    assert report.ignored["DataAssociator.matchingScoreWeight4VisualSimilarity"].startswith(
        "only the nvdcf tracker uses appearance"
    )
    assert report.ignored["VisualTracker.filterLr"].startswith("only the nvdcf tracker")


def test_a_file_without_state_estimator_or_appearance_is_iou_with_library_defaults(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.yml"
    path.write_text("%YAML:1.0\nTargetManagement:\n  probationAge: 0\n")

    config = tracker_config(path)

    assert config == TrackerConfig(probation_age=0)
    assert config.algorithm == "iou"
    assert config.matching_score_weight_4_iou == 1.0  # the library's default, not the sample's


def test_stateestimator_3d_falls_back_to_the_simple_filter_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("%YAML:1.0\nStateEstimator:\n  stateEstimatorType: 3\n")

    report = read_tracker(path)

    assert tracker_config(path).state_estimator == "simple"
    assert "single-view 3D tracking is not built" in report.warnings[0]


def test_a_bad_value_names_file_line_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("%YAML:1.0\nDataAssociator:\n  associationMatcherType: 2\n")

    with pytest.raises(ConfigError) as err:
        tracker_config(path)

    assert str(err.value).startswith(f"{path}:3: [DataAssociator] associationMatcherType = 2")
    assert "0 (greedy) or 1 (cascaded)" in str(err.value)


def test_the_element_reads_a_deepstream_file() -> None:
    tracker = Tracker(FILES / "config_tracker_IOU.yml")

    assert tracker.config.algorithm == "iou"
    assert tracker.config.probation_age == 4


def test_tracker_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="probation"):
        TrackerConfig.model_validate({"probation": 3})


def test_validate_accounts_for_the_tracker_file_of_a_pipeline(tmp_path: Path) -> None:
    from visionflow.validate import validate_file

    (tmp_path / "iou.yml").write_bytes((FILES / "config_tracker_IOU.yml").read_bytes())
    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text("sources: [{uri: clip.mp4}]\ntracker: {config: iou.yml}\n")

    report = validate_file(pipeline)

    assert report.valid
    assert "tracker/TargetManagement.probationAge" in report.honoured
    assert report.ignored["tracker/TrajectoryManagement.useUniqueID"].startswith("ids are small")

    pipeline.write_text("sources: [{uri: clip.mp4}]\ntracker: {config: gone.yml}\n")
    report = validate_file(pipeline)
    assert f"{pipeline}:2: tracker.config: {tmp_path / 'gone.yml'} not found" in report.warnings
