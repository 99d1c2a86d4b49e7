"""nvinfer's per-track history: the re-inference rule, the cleanup, and a classifier behind the
real bundled detector and the real tracker on a real clip, run once per object."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.colour_net import colour_net
from visionflow.app import App
from visionflow.config.pipeline import (
    InferStageConfig,
    PipelineConfig,
    SourceConfig,
    StreamMuxConfig,
    TrackerStageConfig,
)
from visionflow.core.batch import Batch
from visionflow.core.meta import UNTRACKED
from visionflow.demo import SEED
from visionflow.infer.config import DEFAULT_REINFER_INTERVAL
from visionflow.infer.element import Infer
from visionflow.infer.track_cache import (
    CLEANUP_ACCESS_CRITERIA,
    MAP_CLEANUP_INTERVAL,
    TrackCache,
)
from visionflow.zoo import bundled_config
from visionflow.zoo.scenes import write_clip


def classifier_cache(interval: int) -> TrackCache:
    return TrackCache(interval, classifier=True, default_interval=DEFAULT_REINFER_INTERVAL)


def test_classifier_reinfers_after_more_than_the_interval_or_20_percent_growth() -> None:
    cache = classifier_cache(2)
    history = cache.inferred(0, 5, frame_num=10, area=100.0)
    assert not cache.needs_inference(history, 12, 100.0)  # 12 - 10 = 2, not > 2
    assert cache.needs_inference(history, 13, 100.0)
    assert not cache.needs_inference(history, 11, 120.0)  # 100 * 1.2 < 120 is false
    assert cache.needs_inference(history, 11, 120.5)
    assert not cache.needs_inference(history, 11, 50.0)  # shrinking never re-infers


def test_a_negative_interval_never_reinfers_for_age() -> None:
    """nvinfer: ``gulong frame difference > gint interval`` turns −1 into ULONG_MAX."""
    cache = classifier_cache(-1)
    history = cache.inferred(0, 5, frame_num=0, area=100.0)
    assert not cache.needs_inference(history, 10_000, 100.0)
    assert cache.needs_inference(history, 1, 200.0)


def test_detector_reinfers_every_frame_at_the_default_interval_else_after_it() -> None:
    default = TrackCache(DEFAULT_REINFER_INTERVAL, classifier=False, default_interval=2**31 - 1)
    history = default.inferred(0, 5, frame_num=0, area=100.0)
    assert default.needs_inference(history, 0, 100.0)
    every_third = TrackCache(2, classifier=False, default_interval=2**31 - 1)
    history = every_third.inferred(0, 5, frame_num=0, area=100.0)
    assert [every_third.needs_inference(history, f, 400.0) for f in (1, 2, 3)] == [
        False,
        False,
        True,  # a detector ignores growth
    ]


def test_tracks_unseen_for_more_than_150_frames_are_dropped_every_1800_batches() -> None:
    """``cleanup_history_map``: every MAP_CLEANUP_INTERVAL batches, histories of a source not
    accessed for more than CLEANUP_ACCESS_CRITERIA frames go; memory stays bounded."""
    cache = classifier_cache(DEFAULT_REINFER_INTERVAL)
    for frame in range(MAP_CLEANUP_INTERVAL + 1):
        cache.saw_frame(0, frame)
        cache.inferred(0, 1_000 + frame, frame, 100.0)  # a new track on every frame
        cache.inferred(0, 1, frame, 100.0)  # one track seen throughout
        if frame < MAP_CLEANUP_INTERVAL:
            cache.end_batch()
            assert len(cache) == frame + 2  # nothing dropped before the 1801st batch
    cache.end_batch()
    last = MAP_CLEANUP_INTERVAL
    kept = {1} | {1_000 + f for f in range(last - CLEANUP_ACCESS_CRITERIA, last + 1)}
    assert len(cache) == len(kept)
    assert all(cache.get(0, track) is not None for track in kept)
    assert cache.get(0, 1_000 + last - CLEANUP_ACCESS_CRITERIA - 1) is None


# -- a real clip through the bundled detector, the tracker and a secondary classifier ----------

WIDTH, HEIGHT, FRAMES = 640, 360, 60


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(
        tmp_path_factory.mktemp("clip") / "clip.mp4", WIDTH, HEIGHT, FRAMES, seed=SEED
    )


def run_with_classifier(
    clip: Path, tmp_path: Path, **settings: object
) -> tuple[Infer, list[list[tuple[int, int]]]]:
    """Runs detector → tracker → colour classifier; returns the classifier element and, per
    frame, (tracker id, number of classifier labels) of every object."""
    model = colour_net(tmp_path / "colour.onnx")
    lines = [
        f"onnx_file: {model}",
        "network_type: classifier",
        "process_mode: secondary",
        "operate_on_gie_id: 1",
        "gie_unique_id: 2",
        "batch_size: 16",
        "net_scale_factor: 0.00392156862745098",
        "model_color_format: RGB",
        "labels: [[red, green, blue]]",
        *(f"{k}: {str(v).lower()}" for k, v in settings.items()),
    ]
    config_file = tmp_path / "colour.yml"
    config_file.write_text("\n".join(lines) + "\n")
    config = PipelineConfig(
        sources=[SourceConfig(uri=str(clip))],
        streammux=StreamMuxConfig(batch_size=4, batched_push_timeout=-1),
        infer=[
            InferStageConfig(config=bundled_config("shapes_det")),
            InferStageConfig(config=config_file),
        ],
        tracker=TrackerStageConfig(algorithm="nvsort"),
    )
    app = App.from_config(config)
    seen: list[list[tuple[int, int]]] = []

    def record(batch: Batch) -> None:
        for meta in batch.meta.frames:
            dets = meta.detections
            seen.append(
                [
                    (int(t), sum(c.component_id == 2 for c in cs))
                    for t, cs in zip(dets.tracker_id, dets.classifications, strict=True)
                ]
            )

    app.pipeline.add_probe("infer2", record)
    report = app.run()
    assert report.frames_out == FRAMES
    element = app.pipeline.element("infer2")
    assert isinstance(element, Infer)
    return element, seen


def test_a_classifier_runs_once_per_tracked_object_and_labels_it_on_every_frame(
    clip: Path, tmp_path: Path
) -> None:
    every, seen_every = run_with_classifier(clip, tmp_path, secondary_reinfer_interval=0)
    once, seen_once = run_with_classifier(clip, tmp_path)  # the default: INT_MAX
    tenth, _ = run_with_classifier(clip, tmp_path, secondary_reinfer_interval=10)

    objects = [obj for frame in seen_once for obj in frame]
    tracks = {t for t, _ in objects}
    assert all(t != UNTRACKED for t, _ in objects)
    assert len(objects) > 5 * len(tracks) > 0  # objects stay several frames: caching matters
    # every tracked object carries its classification on every frame, inferred or cached
    assert all(labels == 1 for t, labels in objects)
    assert all(labels == 1 for frame in seen_every for _, labels in frame)
    # interval 0: every object on every frame; default: once per track, again only where a box
    # grew by more than 20 % since its last inference; 10: in between
    assert every.inputs_inferred == len(objects)
    assert len(tracks) <= once.inputs_inferred <= 1.5 * len(tracks)
    assert once.inputs_inferred < tenth.inputs_inferred < every.inputs_inferred
    assert tenth.inputs_inferred <= len(objects) / 11 + 2 * len(tracks)


def test_async_classifier_labels_a_track_from_its_second_frame_on(
    clip: Path, tmp_path: Path
) -> None:
    infer, seen = run_with_classifier(clip, tmp_path, classifier_async_mode=True)
    first: set[int] = set()
    for frame in seen:
        for track, labels in frame:
            assert labels == (0 if track not in first else 1), (track, frame)
        first |= {t for t, _ in frame}
    assert infer.inputs_inferred <= 1.5 * len(first)
