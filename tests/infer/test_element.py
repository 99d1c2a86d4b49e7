from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from support.onnx_models import constant_output_model
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.core.pipeline import Pipeline
from visionflow.core.source import Source
from visionflow.errors import ConfigError, ParserError, PipelineError
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer
from visionflow.mux.streammux import StreamMux


class Frames(Source):
    def __init__(self, sizes: list[tuple[int, int]]) -> None:
        super().__init__("test://frames")
        self.sizes = sizes

    def frames(self) -> Iterator[Frame]:
        for i, (w, h) in enumerate(self.sizes):
            yield Frame(
                np.zeros((h, w, 3), np.uint8), PixelFormat.RGB24, self.source_id, i, uri=self.uri
            )


def yolo_output(
    boxes: list[tuple[float, float, float, float, int, float]], num_classes: int
) -> np.ndarray:
    """YOLOv8 layout (4 + nc, A) from (cx, cy, w, h, class, score) rows."""
    out = np.zeros((4 + num_classes, len(boxes)), np.float32)
    for a, (cx, cy, w, h, c, s) in enumerate(boxes):
        out[:4, a] = cx, cy, w, h
        out[4 + c, a] = s
    return out


def run_one(infer: Infer, frame_size: tuple[int, int]) -> Batch:
    infer.start()
    w, h = frame_size
    batch = Batch([Frame(np.zeros((h, w, 3), np.uint8), PixelFormat.RGB24, 0, 0)])
    return infer.process(batch)


def detector_config(model: Path, **extra: object) -> InferConfig:
    return InferConfig.model_validate(
        {
            "onnx_file": model,
            "parser": "yolov8",
            "num_detected_classes": 2,
            "labels": ["car", "person"],
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
            "cluster_mode": "nms",
            "class_attrs_all": {"pre_cluster_threshold": 0.25, "nms_iou_threshold": 0.45},
            "gie_unique_id": 1,
            **extra,
        }
    )


def test_known_outputs_give_exact_boxes_after_parsing_nms_and_letterbox(tmp_path: Path) -> None:
    # Network 64x64; boxes in network pixels (cx, cy, w, h, class, score).
    rows = [
        (20, 30, 10, 10, 0, 0.9),  # kept
        (21, 30, 10, 10, 0, 0.8),  # IoU with the first = 90/110 = 0.82 > 0.45: suppressed
        (40, 30, 8, 8, 1, 0.7),  # other class: kept
        (50, 30, 6, 6, 0, 0.2),  # below pre-cluster 0.25: dropped
    ]
    model = constant_output_model(tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)})
    batch = run_one(Infer(detector_config(model)), (128, 64))
    dets = batch.meta.frames[0].detections
    # Frame 128x64 letterboxed into 64x64: scale 0.5, image 64x32, padding (64-32)//2 = 16 on top.
    # x_frame = x_net / 0.5; y_frame = (y_net - 16) / 0.5
    # box 1: x 15..25 → 30..50, y 25..35 → 18..38; box 2: x 36..44 → 72..88, y 26..34 → 20..36
    expected = np.array([[30, 18, 50, 38], [72, 20, 88, 36]], np.float32)
    np.testing.assert_allclose(dets.xyxy, expected, atol=1e-4)
    assert dets.class_id.tolist() == [0, 1]
    assert dets.confidence.tolist() == pytest.approx([0.9, 0.7])
    assert dets.labels == ("car", "person")
    assert dets.component_id.tolist() == [1, 1]
    assert 1 in batch.meta.frames[0].inferred


def test_object_filters_roi_and_filter_out(tmp_path: Path) -> None:
    rows = [(10, 10, 4, 4, 0, 0.9), (40, 40, 20, 20, 0, 0.9), (32, 58, 6, 6, 1, 0.9)]
    model = constant_output_model(tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)})
    cfg = detector_config(
        model,
        maintain_aspect_ratio=False,
        class_attrs={0: {"detected_min_w": 8}, 1: {"roi_bottom_offset": 8}},
    )
    dets = run_one(Infer(cfg), (64, 64)).meta.frames[0].detections
    # class 0: the 4x4 box is narrower than detected-min-w 8; class 1 ends below 64 - 8 = 56.
    np.testing.assert_allclose(dets.xyxy, [[30, 30, 50, 50]])
    cfg = detector_config(model, maintain_aspect_ratio=False, filter_out_class_ids=(0,))
    dets = run_one(Infer(cfg), (64, 64)).meta.frames[0].detections
    assert dets.class_id.tolist() == [1]


def test_default_cluster_mode_becomes_nms_topk_20(tmp_path: Path) -> None:
    rows = [(4 + 2 * i, 10, 1, 1, 0, 0.5 + i / 100) for i in range(25)]  # 25 disjoint boxes
    model = constant_output_model(tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)})
    cfg = InferConfig.model_validate(
        {"onnx_file": model, "parser": "yolov8", "num_detected_classes": 2}
    )
    dets = run_one(Infer(cfg), (64, 64)).meta.frames[0].detections
    assert len(dets) == 20
    assert dets.confidence.min() == pytest.approx(0.55)


def test_secondary_classifier_labels_objects_of_the_chosen_producer(tmp_path: Path) -> None:
    probs = {
        "colour": np.array([0.1, 0.7, 0.2], np.float32),
        "kind": np.array([0.6, 0.4], np.float32),
    }
    model = constant_output_model(tmp_path / "cls.onnx", probs, input_shape=("N", 3, 32, 32))
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "process_mode": "secondary",
            "operate_on_gie_id": 1,
            "operate_on_class_ids": [0],
            "classifier_threshold": 0.5,
            "classifier_type": "colour",
            "labels": [["red", "green", "blue"], ["sedan", "suv"]],
            "gie_unique_id": 2,
        }
    )
    infer = Infer(cfg)
    infer.start()
    batch = Batch([Frame(np.zeros((100, 100, 3), np.uint8), PixelFormat.RGB24, 0, 0)])
    batch.meta.frames[0].detections = Detections(
        np.array([[10, 10, 50, 50], [60, 60, 90, 90], [0, 0, 30, 30]], np.float32),
        class_id=[0, 0, 1],
        component_id=[1, 3, 1],
    )
    dets = infer.process(batch).meta.frames[0].detections
    first, others = dets.classifications[0], dets.classifications[1:]
    assert [(c.attribute, c.class_id, c.label) for c in first] == [(0, 1, "green"), (1, 0, "sedan")]
    assert first[0].confidence == pytest.approx(0.7)
    assert first[0].classifier_type == "colour"
    assert others == ((), ())  # wrong producer, wrong class


def test_primary_classifier_adds_whole_frame_object(tmp_path: Path) -> None:
    model = constant_output_model(tmp_path / "cls.onnx", {"p": np.array([0.2, 0.8], np.float32)})
    cfg = InferConfig.model_validate(
        {"onnx_file": model, "network_type": "classifier", "labels": [["day", "night"]]}
    )
    dets = run_one(Infer(cfg), (40, 30)).meta.frames[0].detections
    assert dets.class_id.tolist() == [-1]
    assert dets.xyxy.tolist() == [[0, 0, 40, 30]]
    assert dets.classifications[0][0].label == "night"


def test_segmentation_and_tensor_meta(tmp_path: Path) -> None:
    logits = np.zeros((3, 4, 4), np.float32)
    logits[1, :2] = 1.0
    logits[2, 2:] = 1.0
    model = constant_output_model(tmp_path / "seg.onnx", {"seg": logits})
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "segmentation",
            "num_detected_classes": 3,
            "output_tensor_meta": True,
            "gie_unique_id": 4,
        }
    )
    meta = run_one(Infer(cfg), (64, 64)).meta.frames[0]
    (seg,) = meta.segmentation
    assert seg.class_map[:2].tolist() == [[1] * 4] * 2
    assert seg.class_map[2:].tolist() == [[2] * 4] * 2
    (tensors,) = meta.tensors
    assert tensors.component_id == 4
    assert tensors.tensors["seg"].shape == (3, 4, 4)
    assert tensors.network_size == (64, 64)


def test_interval_skips_batches(tmp_path: Path) -> None:
    model = constant_output_model(
        tmp_path / "det.onnx", {"output0": yolo_output([(10, 10, 4, 4, 0, 0.9)], 2)}
    )
    seen: list[int] = []
    pipe = Pipeline(
        [Frames([(64, 64)] * 7)],
        [Infer(detector_config(model, interval=2))],
        mux=StreamMux(1),
    )
    pipe.add_probe("infer", lambda b: seen.append(len(b.meta.frames[0].detections)))
    pipe.run()
    assert seen == [1, 0, 0, 1, 0, 0, 1]


def test_fixed_batch_model_in_a_multi_stream_pipeline(tmp_path: Path) -> None:
    rows = [(32, 32, 16, 16, 1, 0.9)]
    model = constant_output_model(
        tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)}, input_shape=(4, 3, 64, 64)
    )
    found: list[tuple[int, int]] = []
    pipe = Pipeline(
        [Frames([(64, 64)] * 5), Frames([(128, 64)] * 3), Frames([(64, 32)] * 2)],
        [Infer(detector_config(model, batch_size=4))],
        mux=StreamMux(3, -1),
    )
    pipe.add_probe(
        "infer", lambda b: found.extend((m.source_id, len(m.detections)) for m in b.meta.frames)
    )
    report = pipe.run()
    assert sorted(found) == sorted([(0, 1)] * 5 + [(1, 1)] * 3 + [(2, 1)] * 2)
    assert report.frames_out == 10


def test_parser_mismatch_is_reported_with_the_stream(tmp_path: Path) -> None:
    model = constant_output_model(tmp_path / "bad.onnx", {"weird": np.zeros((7,), np.float32)})
    pipe = Pipeline([Frames([(64, 64)])], [Infer(detector_config(model))])
    with pytest.raises(
        PipelineError,
        match=r"element 'infer' failed: ParserError: infer on stream 0 \(test://frames\)",
    ) as info:
        pipe.run()
    assert isinstance(info.value.__cause__, ParserError)


def test_so_parser_without_builtin_equivalent_points_to_python(tmp_path: Path) -> None:
    cfg = InferConfig.model_validate(
        {
            "onnx_file": tmp_path / "m.onnx",
            "custom_lib_path": tmp_path / "libmine.so",
            "parse_bbox_func_name": "MyParse",
        }
    )
    with pytest.raises(
        ConfigError, match=r"'MyParse' in libmine\.so has no built-in Python equivalent"
    ):
        Infer(cfg)


def test_python_file_parser(tmp_path: Path) -> None:
    (tmp_path / "myparsers.py").write_text(
        "import numpy as np\n"
        "from visionflow.infer.parsers.base import DetectionCandidates\n"
        "def parse(outputs, ctx):\n"
        "    v = outputs['v']\n"
        "    return DetectionCandidates(v[None, :4], v[4:5], np.zeros(1, np.int32))\n"
    )
    model = constant_output_model(
        tmp_path / "m.onnx", {"v": np.array([8, 8, 24, 24, 0.9], np.float32)}
    )
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "custom_lib_path": tmp_path / "myparsers.py",
            "parse_bbox_func_name": "parse",
            "num_detected_classes": 1,
            "cluster_mode": "none",
        }
    )
    dets = run_one(Infer(cfg), (64, 64)).meta.frames[0].detections
    np.testing.assert_allclose(dets.xyxy, [[8, 8, 24, 24]])


# -- DeepStream fidelity of the attach step (issue 10, items 11, 12, 16, 17, 18) ----------------


def test_box_geometry_deepstream_moves_boxes_and_drops_those_past_the_bottom(
    tmp_path: Path,
) -> None:
    # A 128x64 frame letterboxed into 64x64: scale 0.5, picture rows 16..48. The YOLO parser
    # clamps boxes to the network input, but boxes reaching into the padding map off the frame.
    rows = [
        (10, 14, 10, 10, 0, 0.9),  # network (5, 9, 15, 19) → frame (10, -14, 30, 6)
        (40, 46, 8, 8, 1, 0.8),  # network (36, 42, 44, 50) → frame (72, 52, 88, 68)
    ]
    model = constant_output_model(tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)})
    cfg = detector_config(model, box_geometry="deepstream")
    dets = run_one(Infer(cfg), (128, 64)).meta.frames[0].detections
    # attach_metadata_detector: the top moves to 0 with height 20 kept; the second box is dropped
    # as top + height > frame height - roi-bottom-offset (offset 0; DeepStream-Yolo issue #697)
    np.testing.assert_allclose(dets.xyxy, [[10, 0, 30, 20]])
    dets = run_one(Infer(detector_config(model)), (128, 64)).meta.frames[0].detections
    np.testing.assert_allclose(dets.xyxy, [[10, 0, 30, 6], [72, 52, 88, 64]])


def test_odd_frame_is_cut_to_even_size_before_scaling(tmp_path: Path) -> None:
    rows = [(20, 30, 10, 10, 0, 0.9), (40, 30, 8, 8, 1, 0.7)]
    model = constant_output_model(tmp_path / "det.onnx", {"output0": yolo_output(rows, 2)})
    batch = run_one(Infer(detector_config(model, output_tensor_meta=True)), (129, 65))
    meta = batch.meta.frames[0]
    # nvinfer scales the frame's even part, 128x64: scale 0.5, as for a 128x64 frame
    transform = meta.tensors[0].transform
    assert (transform.roi_width, transform.roi_height) == (128, 64)
    np.testing.assert_allclose(meta.detections.xyxy, [[30, 18, 50, 38], [72, 20, 88, 36]])


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (40, 1)])
def test_a_frame_with_no_even_part_is_not_inferred(tmp_path: Path, size: tuple[int, int]) -> None:
    # 1 pixel wide or high rounds down to 0: nothing to scale, so no objects and no error
    model = constant_output_model(
        tmp_path / "det.onnx", {"output0": yolo_output([(20, 30, 10, 10, 0, 0.9)], 2)}
    )
    meta = run_one(Infer(detector_config(model, output_tensor_meta=True)), size).meta.frames[0]
    assert len(meta.detections) == 0
    assert meta.tensors == []


def secondary_detector(model: Path, **extra: object) -> Infer:
    infer = Infer(
        detector_config(
            model,
            process_mode="secondary",
            operate_on_gie_id=1,
            maintain_aspect_ratio=False,
            symmetric_padding=False,
            output_tensor_meta=True,
            gie_unique_id=2,
            **extra,
        )
    )
    infer.start()
    return infer


def frame_with_objects(boxes: list[list[float]], size: tuple[int, int] = (100, 80)) -> Batch:
    w, h = size
    batch = Batch([Frame(np.zeros((h, w, 3), np.uint8), PixelFormat.RGB24, 0, 0)])
    batch.meta.frames[0].detections = Detections(
        np.array(boxes, np.float32), component_id=[1] * len(boxes)
    )
    return batch


def test_secondary_detector_crop_and_mapping(tmp_path: Path) -> None:
    # network 64x64; one box (24, 24, 40, 40) in network pixels
    model = constant_output_model(
        tmp_path / "det.onnx", {"output0": yolo_output([(32, 32, 16, 16, 0, 0.9)], 2)}
    )
    parent = [13.5, 21.25, 77.5, 61.25]  # left 13.5, top 21.25, width 64, height 40
    infer = secondary_detector(model, box_geometry="deepstream")
    meta = infer.process(frame_with_objects([parent])).meta.frames[0]
    # the crop: left/top truncated and rounded up to even (14, 22); width/height truncated and
    # rounded down to even (64, 40) — not "right edge minus rounded left" (62, 38)
    t = meta.tensors[0].transform
    assert (t.roi_left, t.roi_top, t.roi_width, t.roi_height) == (14, 22, 64, 40)
    # scale 64/64 and 64/40: crop coordinates x 24..40, y 15..25; DeepStream adds the parent's
    # stored left/top (13.5, 21.25), not the crop's (14, 22)
    np.testing.assert_allclose(meta.detections.xyxy[1:], [[37.5, 36.25, 53.5, 46.25]])
    assert meta.detections.parent.tolist() == [-1, 0]
    # clipped geometry maps through the rectangle actually cut
    meta = secondary_detector(model).process(frame_with_objects([parent])).meta.frames[0]
    np.testing.assert_allclose(meta.detections.xyxy[1:], [[38, 37, 54, 47]])
    # DeepStream filters in crop coordinates: crop-relative top 15 < roi-top-offset 20 drops the
    # box although its frame top is 36.25
    infer = secondary_detector(
        model, box_geometry="deepstream", class_attrs_all={"roi_top_offset": 20}
    )
    assert len(infer.process(frame_with_objects([parent])).meta.frames[0].detections) == 1


def test_secondary_detector_children_point_at_their_parents(tmp_path: Path) -> None:
    model = constant_output_model(
        tmp_path / "det.onnx", {"output0": yolo_output([(32, 32, 16, 16, 0, 0.9)], 2)}
    )
    parents = [[0, 0, 40, 40], [50, 0, 90, 40], [0, 40, 40, 80]]
    for batch_size in (1, 2, 4):
        infer = secondary_detector(model, batch_size=batch_size)
        dets = infer.process(frame_with_objects(parents)).meta.frames[0].detections
        assert dets.parent.tolist() == [-1, -1, -1, 0, 1, 2]
        children = dets[dets.component_id == 2]
        assert children.parent.tolist() == [-1, -1, -1]  # parents not selected
        assert dets[[0, 3, 5]].parent.tolist() == [-1, 0, -1]


@pytest.mark.parametrize("output_instance_mask", [False, True])
def test_instance_masks_only_with_output_instance_mask(
    tmp_path: Path, output_instance_mask: bool
) -> None:
    (tmp_path / "maskparser.py").write_text(
        "import numpy as np\n"
        "from visionflow.infer.parsers.base import DetectionCandidates\n"
        "def parse(outputs, ctx):\n"
        "    v = outputs['v']\n"
        "    masks = np.ones((1, 4, 4), np.float32)\n"
        "    return DetectionCandidates(v[None, :4], v[4:5], np.zeros(1, np.int32), masks)\n"
    )
    model = constant_output_model(
        tmp_path / "m.onnx", {"v": np.array([8, 8, 24, 24, 0.9], np.float32)}
    )
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "instance_segmentation",
            "custom_lib_path": tmp_path / "maskparser.py",
            "parse_bbox_instance_mask_func_name": "parse",
            "num_detected_classes": 1,
            "cluster_mode": "none",
            "output_instance_mask": output_instance_mask,
        }
    )
    dets = run_one(Infer(cfg), (64, 64)).meta.frames[0].detections
    assert len(dets) == 1
    assert (dets.masks is not None) == output_instance_mask


# -- secondary inference on tracked objects (nvinfer's object history) -------------------------

UNTRACKED_BOX = [70, 70, 90, 90]


def tracked_classifier(tmp_path: Path, **extra: object) -> Infer:
    model = constant_output_model(
        tmp_path / "cls.onnx",
        {"colour": np.array([0.1, 0.7, 0.2], np.float32)},
        input_shape=("N", 3, 32, 32),
    )
    cfg = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "process_mode": "secondary",
            "labels": [["red", "green", "blue"]],
            "gie_unique_id": 2,
            **extra,
        }
    )
    infer = Infer(cfg)
    infer.start()
    return infer


def tracked_frame(frame_num: int, track_8_side: float = 20.0) -> Batch:
    """Track 7 (a 20-pixel square), track 8 (a square of ``track_8_side``) and an untracked
    object, on frame ``frame_num`` of stream 0."""
    batch = Batch([Frame(np.zeros((100, 100, 3), np.uint8), PixelFormat.RGB24, 0, frame_num)])
    batch.meta.frames[0].detections = Detections(
        np.array([[10, 10, 30, 30], [40, 10, 40 + track_8_side, 30], UNTRACKED_BOX], np.float32),
        tracker_id=[7, 8, -1],
    )
    return batch


def run_tracked(infer: Infer, frames: int, grow_at: int = -1) -> list[list[str]]:
    """Per frame, per object: the labels it carries; counts ``infer.inputs_inferred``."""
    out = []
    for f in range(frames):
        side = 20.0 * (1.1 if f >= grow_at >= 0 else 1.0)  # 10 % wider: 10 % more area
        if f == grow_at:
            side = 20.0 * 1.25  # 25 % more area than at the last inference: re-inferred
        dets = infer.process(tracked_frame(f, side)).meta.frames[0].detections
        out.append([" ".join(c.label for c in cs) for cs in dets.classifications])
    return out


def test_tracked_objects_are_reinferred_after_more_than_the_interval(tmp_path: Path) -> None:
    """nvinfer: ``frame_num - last_inferred_frame_num > secondary-reinfer-interval`` (strictly), or
    the box area grew by more than 20 %; untracked objects are inferred on every frame; the
    cached classification is attached on every frame in between."""
    infer = tracked_classifier(tmp_path, secondary_reinfer_interval=2)
    labels = run_tracked(infer, 6, grow_at=1)
    # track 7: frames 0, 3; track 8: 0, 1 (25 % more area than at frame 0), 4 (3 frames after
    # 1; from frame 2 on it is 10 % larger than at frame 0, smaller than at 1); untracked: 0..5
    assert infer.inputs_inferred == 2 + 3 + 6
    assert labels == [["green"] * 3] * 6


def test_interval_zero_infers_every_frame_and_default_infers_once(tmp_path: Path) -> None:
    every = tracked_classifier(tmp_path, secondary_reinfer_interval=0)
    run_tracked(every, 5)
    once = tracked_classifier(tmp_path)  # INT_MAX: once per track (and at >20 % growth)
    assert run_tracked(once, 5) == [["green"] * 3] * 5
    assert (every.inputs_inferred, once.inputs_inferred) == (15, 2 + 5)


def test_async_mode_classifies_tracked_objects_only_from_their_next_frame(tmp_path: Path) -> None:
    """DeepStream attaches the cached result and queues the crop; the new result is there from a
    later frame on. visionflow: from the track's next frame on; untracked objects never."""
    infer = tracked_classifier(tmp_path, classifier_async_mode=True, secondary_reinfer_interval=2)
    labels = run_tracked(infer, 4)
    assert infer.inputs_inferred == 2 + 2  # tracks 7 and 8 at frames 0 and 3
    assert labels == [["", "", ""]] + [["green", "green", ""]] * 3


def test_a_track_with_a_history_keeps_its_classification_when_filtered_out(
    tmp_path: Path,
) -> None:
    """nvinfer attaches a tracked object's cached result even when the object no longer passes
    the element's filters (``should_infer_object`` is false, the history is there)."""
    infer = tracked_classifier(tmp_path, input_object_max_width=22)
    first = run_tracked(infer, 1)
    later = infer.process(tracked_frame(1, track_8_side=30.0)).meta.frames[0].detections
    assert first == [["green"] * 3]
    assert [len(c) for c in later.classifications] == [1, 1, 1]
    assert infer.inputs_inferred == 3 + 1  # frame 1: the untracked object only


def test_track_histories_are_per_stream(tmp_path: Path) -> None:
    infer = tracked_classifier(tmp_path)
    infer.process(tracked_frame(0))
    other = tracked_frame(0)
    other.meta.frames[0].source_id = 1
    infer.process(other)
    assert infer.inputs_inferred == 6


def test_a_channels_last_model_runs_from_yaml_and_is_refused_by_nvinfer_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a TFLite/TensorFlow model keeps its NHWC input after conversion
    scores = {"p": np.array([0.2, 0.8], np.float32)}
    constant_output_model(tmp_path / "nhwc.onnx", scores, input_shape=("N", 32, 48, 3))
    (tmp_path / "labels.txt").write_text("day;night\n")
    yaml = tmp_path / "cls.yml"
    yaml.write_text("onnx_file: nhwc.onnx\nnetwork_type: classifier\nlabelfile_path: labels.txt\n")
    with caplog.at_level("INFO", logger="visionflow.infer.network_input"):
        infer = Infer(yaml)
        dets = run_one(infer, (40, 30)).meta.frames[0].detections
    assert dets.classifications[0][0].label == "night"
    spec = infer.preprocess_spec
    assert (spec.nhwc, spec.channels, spec.height, spec.width) == (True, 3, 32, 48)
    assert "channels-last: reading it as NHWC" in caplog.text

    ini = tmp_path / "cls.txt"
    body = "[property]\nonnx-file=nhwc.onnx\nnetwork-type=1\nlabelfile-path=labels.txt\n"
    ini.write_text(body)
    with pytest.raises(ConfigError) as info:
        Infer(ini).start()
    assert info.value.key == "network-input-order"
    assert "set network-input-order=1" in str(info.value)
    ini.write_text(body + "network-input-order=1\n")
    dets = run_one(Infer(ini), (40, 30)).meta.frames[0].detections
    assert dets.classifications[0][0].label == "night"
