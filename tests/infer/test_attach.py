"""The attach step pinned against DeepStream's ``attach_metadata_detector``
(``gst-nvinfer/gstnvinfer_meta_utils.cpp``, DeepStream 7.x) and the clipped geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionflow.compat.deepstream.nvinfer import read_nvinfer
from visionflow.config.infer_loader import load_infer_config
from visionflow.core.geometry import Letterbox
from visionflow.errors import ConfigError
from visionflow.infer.attach import CLASS_PARAMS, DetectorAttach, class_table
from visionflow.infer.cluster import ClusterMode
from visionflow.infer.config import BoxGeometry, InferConfig
from visionflow.infer.parsers.base import DetectionCandidates

FRAME = (100, 80)  # width, height

#: network pixels = frame pixels
IDENTITY = Letterbox(100, 80, 0, 0, 100, 80, 1.0, 1.0, 0, 0)

DS = BoxGeometry.DEEPSTREAM
CLIPPED = BoxGeometry.CLIPPED


def attach(
    geometry: BoxGeometry,
    *,
    crop: bool = False,
    filter_out: tuple[int, ...] = (),
    classes: int = 2,
    **class_attrs: Any,
) -> DetectorAttach:
    config = InferConfig(
        num_detected_classes=classes,
        cluster_mode=ClusterMode.NONE,
        class_attrs_all=class_attrs,
        crop_objects_to_roi_boundary=crop,
        filter_out_class_ids=filter_out,
        box_geometry=geometry,
    )
    return DetectorAttach.from_config(config)


def place(
    rules: DetectorAttach,
    box: tuple[float, float, float, float],
    transform: Letterbox = IDENTITY,
    parent: tuple[float, float] | None = None,
    class_id: int = 0,
) -> list[list[float]]:
    xyxy, rows = rules.place(np.array([box]), np.array([class_id]), transform, FRAME, parent)
    assert rows.tolist() == ([0] if len(xyxy) else [])
    return xyxy.tolist()


# (case, geometry, rules, network box, expected frame boxes); frame 100x80
CASES: list[tuple[str, BoxGeometry, dict[str, Any], tuple[float, ...], list[list[float]]]] = [
    # "top and left should not be less than 0": obj.top = 0 / obj.left = 0, width/height kept
    ("negative left/top moves", DS, {}, (-10, -5, 20, 15), [[0, 0, 30, 20]]),
    ("negative left/top clipped", CLIPPED, {}, (-10, -5, 20, 15), [[0, 0, 20, 15]]),
    # no clipping of the right edge outside crop-objects-to-roi-boundary
    ("right edge kept", DS, {}, (90, 10, 120, 30), [[90, 10, 120, 30]]),
    ("right edge clipped", CLIPPED, {}, (90, 10, 120, 30), [[90, 10, 100, 30]]),
    # obj.top + obj.height > H - roiBottomOffset → continue, with roiBottomOffset 0 too
    ("bottom past frame dropped", DS, {}, (10, 70, 30, 90), []),
    ("bottom at frame kept", DS, {}, (10, 60, 30, 80), [[10, 60, 30, 80]]),
    ("bottom past frame clipped", CLIPPED, {}, (10, 70, 30, 90), [[10, 70, 30, 80]]),
    # obj.width < detectionMinWidth: the width of the moved, unclipped box (30)
    ("min-w sees unclipped width", DS, {"detected_min_w": 25}, (-10, 0, 20, 10), [[0, 0, 30, 10]]),
    ("min-w sees clipped width", CLIPPED, {"detected_min_w": 25}, (-10, 0, 20, 10), []),
    ("max-w sees unclipped width", DS, {"detected_max_w": 25}, (90, 0, 120, 10), []),
    (
        "max-w sees clipped width",
        CLIPPED,
        {"detected_max_w": 25},
        (90, 0, 120, 10),
        [[90, 0, 100, 10]],
    ),
    ("min-h", DS, {"detected_min_h": 11}, (0, 0, 10, 10), []),
    ("max-h", DS, {"detected_max_h": 9}, (0, 0, 10, 10), []),
    ("max 0 is no limit", DS, {"detected_max_w": 0}, (0, 0, 99, 10), [[0, 0, 99, 10]]),
    # obj.top < roiTopOffset → continue
    ("roi-top drops", DS, {"roi_top_offset": 10}, (10, 5, 30, 30), []),
    ("roi-top equal kept", DS, {"roi_top_offset": 10}, (10, 10, 30, 30), [[10, 10, 30, 30]]),
    ("roi-bottom drops", DS, {"roi_bottom_offset": 10}, (10, 50, 30, 71), []),
    ("roi-bottom equal kept", DS, {"roi_bottom_offset": 10}, (10, 50, 30, 70), [[10, 50, 30, 70]]),
]


@pytest.mark.parametrize(
    ("geometry", "attrs", "box", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_boxes_mapped_and_filtered(
    geometry: BoxGeometry,
    attrs: dict[str, Any],
    box: tuple[float, ...],
    expected: list[list[float]],
) -> None:
    assert place(attach(geometry, **attrs), box) == expected  # type: ignore[arg-type]


# crop-objects-to-roi-boundary: the size filters run first, then (DeepStream)
#   obj.top < roiTopOffset → obj.top = roiTopOffset            (moved, height kept)
#   obj.left + obj.width >= W → obj.width = W - obj.left
#   obj.top + obj.height > H - roiBottomOffset → obj.height = H - roiBottomOffset - obj.top
CROP_CASES: list[tuple[str, BoxGeometry, dict[str, Any], tuple[float, ...], list[list[float]]]] = [
    ("top moved down", DS, {"roi_top_offset": 10}, (10, 0, 30, 40), [[10, 10, 30, 50]]),
    ("right edge cut", DS, {}, (90, 10, 120, 30), [[90, 10, 100, 30]]),
    ("bottom cut to H", DS, {}, (10, 70, 30, 90), [[10, 70, 30, 80]]),
    ("bottom cut to band", DS, {"roi_bottom_offset": 10}, (10, 50, 30, 90), [[10, 50, 30, 70]]),
    # height 40 passes min-h 30 before the cut leaves 20
    (
        "filters before cutting",
        DS,
        {"roi_bottom_offset": 10, "detected_min_h": 30},
        (10, 50, 30, 90),
        [[10, 50, 30, 70]],
    ),
    # height 30 passes min-h 25, then the bottom is cut to the frame; clipped first, it is 20
    ("min-h before cut", DS, {"detected_min_h": 25}, (10, 60, 30, 90), [[10, 60, 30, 80]]),
    ("min-h after clip", CLIPPED, {"detected_min_h": 25}, (10, 60, 30, 90), []),
    # the band is below the box: DeepStream attaches a negative height; visionflow drops it
    ("empty after cut dropped", DS, {"roi_bottom_offset": 60}, (10, 30, 30, 50), []),
]


@pytest.mark.parametrize(
    ("geometry", "attrs", "box", "expected"),
    [case[1:] for case in CROP_CASES],
    ids=[case[0] for case in CROP_CASES],
)
def test_crop_objects_to_roi_boundary(
    geometry: BoxGeometry,
    attrs: dict[str, Any],
    box: tuple[float, ...],
    expected: list[list[float]],
) -> None:
    assert place(attach(geometry, crop=True, **attrs), box) == expected  # type: ignore[arg-type]


def test_letterboxed_frame_maps_back_as_nvinfer() -> None:
    # 200x100 frame into a 100x100 input, symmetric padding: scale 0.5, 25 rows of padding on top.
    # obj.left = (obj.left - offset_left) / scale_ratio_x = 20; obj.top = (20 - 25) / 0.5 = -10 → 0
    transform = Letterbox.fit(
        (0, 0, 200, 100), (100, 100), maintain_aspect_ratio=True, symmetric_padding=True
    )
    rules = attach(DS)
    xyxy, _ = rules.place(np.array([[10, 20, 30, 40]]), np.array([0]), transform, (200, 100))
    assert xyxy.tolist() == [[20, 0, 60, 40]]  # moved down by 10, height 40 kept
    rules = attach(CLIPPED)
    xyxy, _ = rules.place(np.array([[10, 20, 30, 40]]), np.array([0]), transform, (200, 100))
    assert xyxy.tolist() == [[20, 0, 60, 30]]


# Secondary mode: the crop was cut at the even-rounded (14, 22) of a parent stored at
# (13.5, 21.25). DeepStream maps boxes into crop coordinates (roi_left = roi_top = 0), filters
# them there against the frame's size, then adds parent_obj_meta->rect_params.left/top.
CROP = Letterbox(64, 40, 14, 22, 64, 40, 1.0, 1.0, 0, 0)
PARENT = (13.5, 21.25)


@pytest.mark.parametrize(
    ("geometry", "attrs", "box", "expected"),
    [
        (DS, {}, (2, 3, 12, 13), [[15.5, 24.25, 25.5, 34.25]]),
        (CLIPPED, {}, (2, 3, 12, 13), [[16, 25, 26, 35]]),
        # roi-top-offset 10 compared with the crop-relative top 3: dropped
        (DS, {"roi_top_offset": 10}, (2, 3, 12, 13), []),
        (CLIPPED, {"roi_top_offset": 10}, (2, 3, 12, 13), [[16, 25, 26, 35]]),
        # a crop-relative bottom of 75 is inside H = 80 although the frame bottom is 96.25
        (DS, {}, (2, 65, 12, 75), [[15.5, 86.25, 25.5, 96.25]]),
        (CLIPPED, {}, (2, 65, 12, 75), []),  # frame rows 87..97 lie below the frame
        # a negative crop-relative left becomes 0, i.e. the parent's left
        (DS, {}, (-4, 3, 6, 13), [[13.5, 24.25, 23.5, 34.25]]),
    ],
)
def test_secondary_boxes_use_the_parent_origin_and_crop_coordinates(
    geometry: BoxGeometry,
    attrs: dict[str, Any],
    box: tuple[float, ...],
    expected: list[list[float]],
) -> None:
    rules = attach(geometry, **attrs)
    assert place(rules, box, CROP, PARENT) == expected  # type: ignore[arg-type]


def test_filter_out_class_ids_and_rows_returned() -> None:
    rules = attach(DS, filter_out=(1,))
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
    xyxy, rows = rules.place(boxes, np.array([0, 1, 0]), IDENTITY, FRAME)
    assert rows.tolist() == [0, 2]
    assert xyxy.tolist() == [[0, 0, 10, 10], [40, 0, 50, 10]]
    empty, none = rules.place(np.zeros((0, 4)), np.zeros(0, int), IDENTITY, FRAME)
    assert empty.shape == (0, 4)
    assert none.tolist() == []


def test_per_class_filters_come_from_one_table() -> None:
    config = InferConfig(
        num_detected_classes=3,
        cluster_mode=ClusterMode.NMS,
        class_attrs_all={"pre_cluster_threshold": 0.3, "detected_min_w": 5},
        class_attrs={2: {"pre_cluster_threshold": 0.6, "roi_top_offset": 7}},
    )
    table = class_table(config)
    assert table.dtype == CLASS_PARAMS
    assert table["pre_cluster_threshold"].tolist() == pytest.approx([0.3, 0.3, 0.6])
    # class_attrs[2] is layered on class_attrs_all
    assert table["detected_min_w"].tolist() == [5, 5, 5]
    assert table["roi_top_offset"].tolist() == [0, 0, 7]
    rules = DetectorAttach.from_config(config)
    assert rules.cluster_params.pre_cluster.tolist() == pytest.approx([0.3, 0.3, 0.6])
    boxes = np.array([[0, 0, 4, 20], [0, 7, 10, 20], [0, 5, 10, 20], [0, 5, 10, 20]])
    _, rows = rules.place(boxes, np.array([0, 2, 2, 1]), IDENTITY, FRAME)
    # class 0: too narrow; class 2: one kept, one above its roi-top-offset 7; class 1 kept
    assert rows.tolist() == [1, 3]


def test_cluster_mode_is_the_effective_one() -> None:
    # a detector's group_rectangles runs as NMS with topk 20 and IoU 0.5 (stock DeepStream)
    rules = DetectorAttach.from_config(InferConfig(num_detected_classes=1))
    assert rules.cluster_mode is ClusterMode.NMS
    assert rules.table["topk"].tolist() == [20]
    assert rules.table["nms_iou_threshold"].tolist() == pytest.approx([0.5])
    boxes = [[4 * i, 0, 4 * i + 2, 2] for i in range(25)]
    found = DetectionCandidates(np.array(boxes), np.linspace(0.5, 0.9, 25), np.zeros(25))
    assert len(rules.cluster(found)) == 20


def test_table_must_be_class_params() -> None:
    with pytest.raises(ValueError, match="table must be a 1-D CLASS_PARAMS array"):
        DetectorAttach(np.zeros(3, np.float32))


def test_nvinfer_files_get_deepstream_geometry_visionflow_yaml_clipped(tmp_path: Path) -> None:
    ini = tmp_path / "pgie.txt"
    ini.write_text("[property]\nnum-detected-classes=1\n")
    config, _ = read_nvinfer(ini)
    assert config.box_geometry is BoxGeometry.DEEPSTREAM
    yaml = tmp_path / "model.yml"
    yaml.write_text("num_detected_classes: 1\n")
    assert load_infer_config(yaml).box_geometry is BoxGeometry.CLIPPED
    yaml.write_text("num_detected_classes: 1\nbox_geometry: deepstream\n")
    assert load_infer_config(yaml).box_geometry is BoxGeometry.DEEPSTREAM


def test_class_agnostic_nms_from_visionflow_yaml(tmp_path: Path) -> None:
    yaml = tmp_path / "model.yml"
    body = "num_detected_classes: 2\ncluster_mode: nms\nclass_attrs_all: {nms_iou_threshold: 0.5}\n"
    # two classes on one object: class-aware NMS keeps both, class-agnostic the surer one
    found = DetectionCandidates(
        np.array([[0, 0, 10, 10], [1, 0, 11, 10]]), np.array([0.6, 0.9]), np.array([0, 1])
    )
    yaml.write_text(body)
    assert len(DetectorAttach.from_config(load_infer_config(yaml)).cluster(found)) == 2
    yaml.write_text(body + "class_agnostic_nms: true\n")
    kept = DetectorAttach.from_config(load_infer_config(yaml)).cluster(found)
    assert (kept.class_id.tolist(), kept.confidence.tolist()) == ([1], [pytest.approx(0.9)])
    yaml.write_text(body.replace("nms", "dbscan", 1) + "class_agnostic_nms: true\n")
    with pytest.raises(ConfigError, match="class_agnostic_nms") as info:
        load_infer_config(yaml)
    assert "needs an NMS clustering" in str(info.value)
