"""The tracker element in batches and in pipelines built from visionflow and DeepStream files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from support.corpus import DATA
from visionflow.app import App
from visionflow.compat.deepstream.app import read_deepstream_app
from visionflow.config.pipeline import load_pipeline_config
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.infer.element import Infer
from visionflow.track import SHADOW_TRACKS, TRACK_AGE, Tracker, preset
from visionflow.zoo import bundled_config


def batch(frame_num: int, objects: dict[int, list[list[float]]], *, inferred: bool = True) -> Batch:
    """One frame per stream; ``objects[stream]`` are its boxes."""
    frames = [
        Frame(
            np.zeros((240, 320, 3), np.uint8), PixelFormat.RGB24, source_id=s, frame_num=frame_num
        )
        for s in objects
    ]
    out = Batch(frames)
    for meta in out.meta.frames:
        boxes = objects[meta.source_id]
        meta.detections = Detections(
            np.asarray(boxes, np.float32).reshape(-1, 4), confidence=np.full(len(boxes), 0.9)
        )
        if inferred:
            meta.inferred.add(1)
    return out


def test_each_stream_has_its_own_targets_and_ids_are_unique_across_streams() -> None:
    tracker = Tracker(preset("nvsort", probation_age=0))
    tracker.start()
    same = [[10, 10, 50, 50]]

    first = tracker.process(batch(0, {0: same, 1: same}))
    second = tracker.process(batch(1, {0: same, 1: same}))

    assert [m.detections.tracker_id.tolist() for m in first.meta.frames] == [[0], [1]]
    assert [m.detections.tracker_id.tolist() for m in second.meta.frames] == [[0], [1]]
    assert [m.detections.extra[TRACK_AGE].tolist() for m in second.meta.frames] == [[2], [2]]
    assert sorted(tracker.streams) == [0, 1]


def test_frames_without_inference_carry_the_targets_and_count_no_miss() -> None:
    tracker = Tracker(preset("iou", probation_age=0, max_shadow_tracking_age=0))
    tracker.start()
    tracker.process(batch(0, {0: [[10, 10, 50, 50]]}))

    skipped = tracker.process(batch(1, {0: []}, inferred=False))
    missed = tracker.process(batch(2, {0: []}))

    assert skipped.meta.frames[0].detections.tracker_id.tolist() == [0]
    assert missed.meta.frames[0].detections.tracker_id.tolist() == []
    assert len(tracker.streams[0]) == 0  # one missed detector frame > max_shadow_tracking_age 0


def test_shadow_tracks_go_to_user_metadata_when_asked() -> None:
    tracker = Tracker(preset("iou", probation_age=0, output_shadow_tracks=True))
    tracker.start()
    tracker.process(batch(0, {0: [[10, 10, 50, 50]]}))

    out = tracker.process(batch(1, {0: []}))

    meta = out.meta.frames[0]
    assert len(meta.detections) == 0
    assert [t["tracker_id"] for t in meta.user[SHADOW_TRACKS]] == [0]


def test_start_begins_a_new_run() -> None:
    tracker = Tracker(preset("iou", probation_age=0))
    tracker.start()
    tracker.process(batch(0, {0: [[10, 10, 50, 50]]}))
    tracker.start()

    out = tracker.process(batch(0, {0: [[10, 10, 50, 50]]}))

    assert out.meta.frames[0].detections.tracker_id.tolist() == [0]


def test_pipeline_file_tracker_stage_settings_override_the_deepstream_file(tmp_path: Path) -> None:
    (tmp_path / "trackers").mkdir()
    ll = tmp_path / "trackers" / "iou.yml"
    ll.write_bytes((DATA / "tracker" / "config_tracker_IOU.yml").read_bytes())
    path = tmp_path / "pipeline.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            sources: [{{uri: clip.mp4}}]
            infer: [{{config: {bundled_config("shapes_det")}}}]
            tracker: {{config: trackers/iou.yml, probation_age: 1, name: track}}
            """
        )
    )

    config = load_pipeline_config(path)
    app = App.from_config(config)

    assert config.tracker is not None
    assert config.tracker.config == ll  # relative to the pipeline file

    kinds = [type(e).__name__ for e in app.pipeline.elements]
    assert kinds[:2] == ["Infer", "Tracker"]
    tracker = app.pipeline.elements[1]
    assert isinstance(tracker, Tracker)
    assert tracker.name == "track"
    assert tracker.config.algorithm == "iou"  # from the file
    assert tracker.config.matching_score_weight_4_iou == 0.6  # from the file
    assert tracker.config.probation_age == 1  # the stage's setting


def test_pipeline_file_tracker_stage_without_a_file_uses_the_algorithm_preset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pipeline.yml"
    path.write_text("sources: [{uri: clip.mp4}]\ntracker: {algorithm: iou}\n")

    app = App.from_config(load_pipeline_config(path))

    (tracker,) = [e for e in app.pipeline.elements if isinstance(e, Tracker)]
    assert tracker.config == preset("iou")


def test_deepstream_app_tracker_group_builds_the_tracker_after_the_primary_gie(
    tmp_path: Path,
) -> None:
    iou = DATA / "tracker" / "config_tracker_IOU.yml"
    (tmp_path / "tracker.yml").write_bytes(iou.read_bytes())
    model = bundled_config("shapes_det").with_name("shapes_det.onnx")
    (tmp_path / "pgie.txt").write_text(
        f"[property]\ngie-unique-id=1\nonnx-file={model}\nnetwork-type=0\nnum-detected-classes=3\n"
    )
    (tmp_path / "sgie.txt").write_text(
        f"[property]\ngie-unique-id=2\nprocess-mode=2\nnetwork-type=1\nonnx-file={model}\n"
    )
    app_path = tmp_path / "app.txt"
    app_path.write_text(
        "[source0]\nenable=1\ntype=2\nuri=file://clip.mp4\n\n"
        "[primary-gie]\nenable=1\ngie-unique-id=1\nconfig-file=pgie.txt\n\n"
        "[secondary-gie0]\nenable=1\ngie-unique-id=2\nconfig-file=sgie.txt\noperate-on-gie-id=1\n\n"
        "[tracker]\nenable=1\ntracker-width=640\ntracker-height=384\n"
        "ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so\n"
        "ll-config-file=tracker.yml\n"
    )

    config, report = read_deepstream_app(app_path)

    assert config.tracker is not None
    assert {"tracker.enable", "tracker.ll-lib-file", "tracker.ll-config-file"} <= set(
        report.honoured
    )
    assert "tracker/TargetManagement.probationAge" in report.honoured
    assert report.ignored["tracker.tracker-width"].startswith("visionflow's trackers work")
    elements = App.from_config(config).pipeline.elements
    assert [type(e).__name__ for e in elements[:3]] == ["Infer", "Tracker", "Infer"]
    assert isinstance(elements[0], Infer)
    tracker = elements[1]
    assert isinstance(tracker, Tracker)
    assert tracker.config.probation_age == 4


def test_deepstream_app_tracker_with_another_library_is_tracked_and_reported(
    tmp_path: Path,
) -> None:
    (tmp_path / "pgie.txt").write_text(
        f"[property]\nonnx-file={bundled_config('shapes_det').with_name('shapes_det.onnx')}\n"
    )
    app_path = tmp_path / "app.txt"
    app_path.write_text(
        "[source0]\nenable=1\ntype=2\nuri=file://clip.mp4\n\n"
        "[primary-gie]\nenable=1\nconfig-file=pgie.txt\n\n"
        "[tracker]\nenable=1\nll-lib-file=/opt/custom/libmytracker.so\n"
    )

    config, report = read_deepstream_app(app_path)

    assert config.tracker is not None
    assert config.tracker.config is None
    assert config.tracker.algorithm == "iou"  # no ll-config-file: NVIDIA's IOU settings
    reason = (
        "only NvMultiObjectTracker (libnvds_nvmultiobjecttracker.so) is reproduced; it tracks "
        "instead"
    )
    assert report.ignored["tracker.ll-lib-file"] == reason
    assert f"{app_path}: [tracker] ll-lib-file: /opt/custom/libmytracker.so: {reason}" in (
        report.warnings
    )
