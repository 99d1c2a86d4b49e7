"""The native inference config: YAML loading, validation with located errors, dispatch."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from visionflow.config.infer_loader import load_infer_config
from visionflow.errors import ConfigError
from visionflow.infer.cluster import ClusterMode
from visionflow.infer.config import (
    ClassAttributes,
    InferConfig,
    NetworkType,
    Precision,
    ProcessMode,
    read_label_file,
)
from visionflow.infer.preprocess import ColorFormat, ScalingFilter

NATIVE = """\
onnx_file: models/yolov8n.onnx
labelfile_path: labels.txt
parser: yolov8
precision: fp16
batch_size: 4
model_color_format: bgr
scaling_filter: bilinear
net_scale_factor: 0.00392156862745098
maintain_aspect_ratio: true
num_detected_classes: 3
cluster_mode: nms
class_attrs_all: {pre_cluster_threshold: 0.25, nms_iou_threshold: 0.45, topk: 300}
class_attrs:
  1: {pre_cluster_threshold: 0.6}
"""


def write(folder: Path, text: str, name: str = "detector.yml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_native_yaml(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("car\nbus\n\nperson\n")
    config = load_infer_config(write(tmp_path, NATIVE))
    real = Path(os.path.realpath(tmp_path))
    assert config.onnx_file == real / "models/yolov8n.onnx"
    assert config.labelfile_path == real / "labels.txt"
    assert config.class_labels == ("car", "bus", "person")
    assert config.parser == "yolov8"
    assert (config.precision, config.batch_size) == (Precision.FP16, 4)
    assert (config.model_color_format, config.scaling_filter) == (
        ColorFormat.BGR,
        ScalingFilter.BILINEAR,
    )
    assert config.effective_cluster_mode is ClusterMode.NMS
    shared = ClassAttributes(pre_cluster_threshold=0.25, nms_iou_threshold=0.45, topk=300)
    assert config.class_attributes(0) == shared
    assert config.class_attributes(1) == ClassAttributes(
        pre_cluster_threshold=0.6, nms_iou_threshold=0.45, topk=300
    )
    assert config.class_attributes(2) == shared


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        (
            "onnx_file: m.onnx\nbatch_size: 0\n",
            2,
            "batch_size",
            "input should be greater than or equal to 1",
        ),
        (
            "onnx_file: m.onnx\nprecision: fp64\n",
            2,
            "precision",
            "input should be 'fp32', 'int8', 'fp16', 'best', 'bf16' or 'auto'",
        ),
        (
            "onnx_file: m.onnx\nnetwork_mode: 2\n",
            2,
            "network_mode",
            "unknown key; did you mean 'network_type'? known keys:",
        ),
        (
            "num_detected_classes: 2\nclass_attrs:\n  0:\n    topk: -5\n",
            4,
            "class_attrs.0.topk",
            "input should be greater than or equal to -1",
        ),
        (
            "num_detected_classes: 2\nclass_attrs:\n  2: {topk: 1}\n",
            2,
            "class_attrs",
            "value error, class 2 is outside 0..1 (num_detected_classes=2)",
        ),
        (
            "network_type: instance_segmentation\nnum_detected_classes: 1\n",
            None,
            None,
            "instance segmentation needs cluster_mode none",
        ),
        (
            "network_type: classifier\nclass_attrs_all: {topk: 1}\n",
            2,
            "class_attrs_all",
            "class attributes apply",
        ),
        ("classifier_async_mode: true\n", 1, "classifier_async_mode", "asynchronous mode needs"),
        ("parser: 'not a name!'\n", 1, "parser", "must be a registered parser name"),
    ],
)
def test_native_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, key: str | None, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_infer_config(path)
    err = info.value
    assert err.file == str(path)
    assert reason in err.reason
    if line is not None:
        assert (err.line, err.key) == (line, key)


def test_instance_segmentation_error_is_on_cluster_mode_line(tmp_path: Path) -> None:
    path = write(tmp_path, "network_type: instance_segmentation\ncluster_mode: nms\n")
    with pytest.raises(ConfigError) as info:
        load_infer_config(path)
    assert (info.value.line, info.value.key) == (2, "cluster_mode")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_infer_config(write(tmp_path, "onnx_file: m.onnx\nbatch_size: [1\n"))
    assert info.value.line == 3
    assert "invalid YAML" in info.value.reason


def test_dispatch_by_suffix_and_property_group(tmp_path: Path) -> None:
    ini = write(tmp_path, "[property]\nonnx-file=m.onnx\nnetwork-mode=2\n", "pgie.txt")
    assert load_infer_config(ini).precision is Precision.FP16
    ds_yaml = write(tmp_path, "property:\n  onnx-file: m.onnx\n  network-mode: 1\n", "pgie.yaml")
    assert load_infer_config(ds_yaml).precision is Precision.INT8
    native = write(tmp_path, "onnx_file: m.onnx\nprecision: best\n", "native.yaml")
    assert load_infer_config(native).precision is Precision.BEST
    with pytest.raises(ConfigError, match="unknown key"):  # a nvinfer key in a visionflow file
        load_infer_config(write(tmp_path, "network-mode: 1\n", "odd.yml"))


def test_missing_native_labels_file_is_not_an_error(tmp_path: Path) -> None:
    config = load_infer_config(write(tmp_path, "onnx_file: m.onnx\nlabelfile_path: none.txt\n"))
    assert config.labels == ()


def test_programmatic_construction() -> None:
    config = InferConfig(
        onnx_file=Path("m.onnx"),
        network_type=NetworkType.CLASSIFIER,
        process_mode=ProcessMode.SECONDARY,
        classifier_async_mode=True,
        labels=(("red", "green"), ("sedan", "suv")),
    )
    assert config.labels[1][1] == "suv"
    assert InferConfig.model_validate({"labels": ["car", ["red", "blue"]]}).labels == (
        ("car",),
        ("red", "blue"),
    )
    with pytest.raises(ValidationError):
        config.batch_size = 2  # frozen


@pytest.mark.parametrize(
    "fields",
    [
        {"network_type": "classifier", "process_mode": "secondary", "labels": [["a", "b"]]},
        {"num_detected_classes": 2, "class_attrs_all": {"topk": 3}, "class_attrs": {1: {"eps": 1}}},
    ],
)
def test_dump_and_validate_round_trip(fields: dict[str, object]) -> None:
    # The inference element applies overrides this way (deepstream-app GIE keys).
    config = InferConfig.model_validate(fields)
    assert InferConfig.model_validate(config.model_dump()) == config


def test_class_attributes_index_range() -> None:
    config = InferConfig(num_detected_classes=2, cluster_mode=ClusterMode.NMS)
    assert config.class_attributes(1) == ClassAttributes()
    with pytest.raises(IndexError, match=r"class 2 is outside 0..1"):
        config.class_attributes(2)


def test_group_rectangles_fallback_is_for_detectors_only() -> None:
    detector = InferConfig(num_detected_classes=1)
    assert detector.effective_cluster_mode is ClusterMode.NMS
    assert (detector.class_attributes(0).topk, detector.class_attributes(0).nms_iou_threshold) == (
        20,
        0.5,
    )
    classifier = InferConfig(network_type=NetworkType.CLASSIFIER, num_detected_classes=1)
    assert classifier.effective_cluster_mode is ClusterMode.GROUP_RECTANGLES
    assert classifier.class_attributes(0) == ClassAttributes()


def test_read_label_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes(b"a;b\r\n\r\n\nc\n ")
    # "\r\n" alone is not an empty line for nvinfer: it keeps its place (as an empty label).
    assert read_label_file(path) == (("a", "b"), ("",), ("c",), (" ",))
    with pytest.raises(ConfigError, match="labels file not found"):
        read_label_file(tmp_path / "none.txt")


@pytest.mark.parametrize("value", ["nms", "NMS", "2", 2])
def test_cluster_mode_by_name_or_number(tmp_path: Path, value: object) -> None:
    path = write(tmp_path, f"num_detected_classes: 1\ncluster_mode: {value!r}\n")
    assert load_infer_config(path).cluster_mode is ClusterMode.NMS


def test_unknown_cluster_mode_lists_names_and_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "num_detected_classes: 1\ncluster_mode: nmss\n")
    with pytest.raises(ConfigError, match=r"group_rectangles \(0\), dbscan \(1\), nms \(2\)"):
        load_infer_config(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"offsets": (1.0,)}, "1 values for the 3 channel(s) of a RGB network input"),
        ({"offsets": (1.0, 2.0)}, "2 values for the 3 channel(s) of a RGB network input"),
        (
            {"model_color_format": "gray", "offsets": (1.0, 2.0, 3.0)},
            "3 values for the 1 channel(s) of a GRAY network input",
        ),
        ({"infer_dims": (1, 32, 32)}, "RGB needs a network input of 3 channel(s); infer_dims"),
    ],
)
def test_offsets_must_match_the_channels_at_load(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        InferConfig(**fields)  # type: ignore[arg-type]


def test_offsets_in_visionflow_yaml_fail_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "detector.yml"
    path.write_text("onnx_file: m.onnx\noffsets: [1, 2]\n")

    with pytest.raises(ConfigError, match=r"detector.yml:2: offsets: value error, 2 values"):
        load_infer_config(path)
