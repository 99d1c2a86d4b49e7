"""nvinfer config files → InferConfig, with DeepStream's rules (spec §1, §11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.corpus import DATA
from visionflow.compat.deepstream.nvinfer import read_nvinfer
from visionflow.errors import ConfigError
from visionflow.infer.cluster import ClusterMode
from visionflow.infer.config import (
    ClassAttributes,
    InferConfig,
    NetworkType,
    Precision,
    ProcessMode,
    TensorOrder,
)

TRAFFICCAMNET = DATA / "NVIDIA-AI-IOT__deepstream_tao_apps/configs/nvinfer/trafficcamnet_tao"


def write(folder: Path, text: str, name: str = "pgie.txt") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def detector(folder: Path, extra: str = "", groups: str = "", name: str = "pgie.txt") -> Path:
    return write(
        folder, f"[property]\nonnx-file=m.onnx\nnum-detected-classes=3\n{extra}\n{groups}", name
    )


@pytest.mark.parametrize(
    ("mode", "precision"),
    [(0, Precision.FP32), (1, Precision.INT8), (2, Precision.FP16), (3, Precision.BEST)],
)
def test_network_mode_numbering(tmp_path: Path, mode: int, precision: Precision) -> None:
    config, _ = read_nvinfer(detector(tmp_path, f"network-mode={mode}"))
    assert config.precision is precision


def test_network_mode_100_is_rejected_naming_file_line_key_and_allowed_values(
    tmp_path: Path,
) -> None:
    path = detector(tmp_path, "network-mode=100")
    with pytest.raises(ConfigError) as info:
        read_nvinfer(path)
    err = info.value
    assert (err.file, err.line, err.group, err.key, err.value) == (
        str(path),
        4,
        "property",
        "network-mode",
        "100",
    )
    assert str(err) == (
        f"{path}:4: [property] network-mode = 100: invalid value; "
        "expected 0 (FP32), 1 (INT8), 2 (FP16) or 3 (best)"
    )


@pytest.mark.parametrize(
    ("line", "reason", "allowed"),
    [
        (
            "network-type=4",
            "invalid value",
            "0 (detector), 1 (classifier), 2 (segmentation), 3 (instance segmentation) "
            "or 100 (other)",
        ),
        ("process-mode=3", "invalid value", "1 (primary) or 2 (secondary)"),
        (
            "cluster-mode=5",
            "invalid value",
            "0 (groupRectangles), 1 (DBSCAN), 2 (NMS), 3 (DBSCAN+NMS hybrid) or 4 (none)",
        ),
        ("batch-size=0", "out of range", "an integer from 1 to 1024"),
        ("batch-size=1025", "out of range", "an integer from 1 to 1024"),
        ("gie-unique-id=0", "out of range", "an integer > 0"),
        ("interval=-1", "out of range", "an integer ≥ 0"),
        ("num-detected-classes=-2", "out of range", "an integer ≥ 0"),
        ("model-color-format=3", "invalid value", "0 (RGB), 1 (BGR) or 2 (GRAY)"),
        ("network-input-order=2", "invalid value", "0 (NCHW) or 1 (NHWC)"),
        ("segmentation-output-order=2", "invalid value", "0 (NCHW) or 1 (NHWC)"),
        ("uff-input-order=3", "invalid value", "0 (NCHW), 1 (NHWC) or 2 (NC)"),
        ("infer-dims=3;224", "2 values", "3 positive integers c;h;w"),
        ("offsets=1;2;3;4;5", "5 values", "at most 4 numbers separated by ';'"),
        ("classifier-threshold=-0.1", "out of range", "a number ≥ 0"),
        ("operate-on-class-ids=0;-1", "negative class id", "class ids ≥ 0 separated by ';'"),
        ("network-mode=1.5", "not an integer", None),
        ("maintain-aspect-ratio=yes", "not a boolean", "true, false, 1 or 0"),
    ],
)
def test_property_values_out_of_range(
    tmp_path: Path, line: str, reason: str, allowed: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        read_nvinfer(detector(tmp_path, line))
    assert (info.value.line, info.value.key, info.value.reason) == (4, line.split("=")[0], reason)
    if allowed is not None:
        assert info.value.allowed == allowed


@pytest.mark.parametrize(
    ("line", "reason", "allowed"),
    [
        ("nms-iou-threshold=1.5", "out of range", "a number from 0 to 1"),
        ("topk=-2", "out of range", "an integer ≥ 0, or -1 for no limit"),
        ("pre-cluster-threshold=-0.1", "out of range", "a number ≥ 0"),
        ("border-color=1;0;0", "3 values", "4 numbers r;g;b;a between 0 and 1"),
    ],
)
def test_class_attribute_values_out_of_range(
    tmp_path: Path, line: str, reason: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        read_nvinfer(detector(tmp_path, groups=f"[class-attrs-all]\n{line}\n"))
    assert (info.value.group, info.value.line, info.value.reason) == ("class-attrs-all", 6, reason)
    assert info.value.allowed == allowed


def test_topk_minus_one_means_no_limit_as_deepstream_documents(tmp_path: Path) -> None:
    groups = "[class-attrs-all]\ntopk=3\n[class-attrs-1]\ntopk=-1\n"
    ini = detector(tmp_path, "cluster-mode=2", groups)
    config, _ = read_nvinfer(ini)
    assert (config.class_attributes(0).topk, config.class_attributes(1).topk) == (3, -1)
    yml = write(
        tmp_path,
        "property:\n  onnx-file: m.onnx\n  cluster-mode: 2\nclass-attrs-all:\n  topk: -1\n",
        "pgie.yml",
    )
    config, _ = read_nvinfer(yml)
    assert config.class_attrs_all.topk == -1


def test_class_attributes_layering(tmp_path: Path) -> None:
    groups = (
        "[class-attrs-all]\npre-cluster-threshold=0.5\neps=0.2\nbg-color=0;0;1;0.5\n"
        "[class-attrs-1]\ntopk=5\npre-cluster-threshold=0.7\n"
    )
    config, _ = read_nvinfer(detector(tmp_path, "cluster-mode=2", groups))
    shared = ClassAttributes(pre_cluster_threshold=0.5, eps=0.2, bg_color=(0.0, 0.0, 1.0, 0.5))
    assert config.class_attrs_all == shared
    assert config.class_attributes(0) == shared
    assert config.class_attributes(2) == shared
    assert config.class_attributes(1) == ClassAttributes(
        pre_cluster_threshold=0.7, eps=0.2, topk=5, bg_color=(0.0, 0.0, 1.0, 0.5)
    )
    # Defaults where nothing is set: post 0.0, IoU 0.3, topk -1, red border.
    assert (shared.post_cluster_threshold, shared.nms_iou_threshold, shared.topk) == (0.0, 0.3, -1)
    assert shared.border_color == (1.0, 0.0, 0.0, 1.0)


def test_default_cluster_mode_runs_as_nms_topk_20_iou_05(tmp_path: Path) -> None:
    groups = "[class-attrs-all]\npre-cluster-threshold=0.4\ntopk=300\nnms-iou-threshold=0.7\n"
    config, _ = read_nvinfer(detector(tmp_path, groups=groups))
    assert config.cluster_mode is ClusterMode.GROUP_RECTANGLES  # as configured
    assert config.effective_cluster_mode is ClusterMode.NMS
    for class_id in range(3):
        assert config.class_attributes(class_id) == ClassAttributes(
            pre_cluster_threshold=0.4, topk=20, nms_iou_threshold=0.5
        )
    explicit, _ = read_nvinfer(detector(tmp_path, "cluster-mode=2", groups))
    assert explicit.class_attributes(0) == ClassAttributes(
        pre_cluster_threshold=0.4, topk=300, nms_iou_threshold=0.7
    )


def test_class_group_beyond_num_detected_classes(tmp_path: Path) -> None:
    path = detector(tmp_path, groups="[class-attrs-3]\ntopk=1\n")
    with pytest.raises(ConfigError) as info:
        read_nvinfer(path)
    assert str(info.value) == (
        f"{path}:5: [class-attrs-3] sets class 3 but num-detected-classes is 3; "
        "expected class ids from 0 to 2"
    )
    with pytest.raises(ConfigError, match=r"\[class-attrs-x\] is not a class-attributes group"):
        read_nvinfer(detector(tmp_path, groups="[class-attrs-x]\ntopk=1\n"))


def test_class_groups_are_ignored_for_classifiers(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[property]\nnetwork-type=1\n[class-attrs-all]\ntopk=1\n[class-attrs-9]\ntopk=x\n"
    )
    config, report = read_nvinfer(path)
    assert config.network_type is NetworkType.CLASSIFIER
    assert config.class_attrs == {}
    reason = (
        "class attributes apply only to network-type 0 (detector) and 3 (instance segmentation)"
    )
    assert report.ignored == {"class-attrs-all.topk": reason, "class-attrs-9.topk": reason}


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "labels.txt").write_text("car\n")
    os.symlink(folder / "models" / "labels.txt", folder / "link.txt")
    path = write(
        folder,
        "[property]\nonnx-file=models/m.onnx\nmodel-engine-file=../engines/m.engine\n"
        "labelfile-path=link.txt\nint8-calib-file=/abs/cal.bin\ncustom-network-config=yolo.cfg\n"
        "custom-lib-path=lib/parsers.so\nnum-detected-classes=1\n",
    )
    config, _ = read_nvinfer(path)
    real = os.path.realpath(folder)
    assert config.onnx_file == Path(f"{real}/models/m.onnx")  # missing: joined, not resolved
    assert str(config.model_engine_file) == f"{real}/../engines/m.engine"
    assert config.labelfile_path == Path(os.path.realpath(folder / "models" / "labels.txt"))
    assert config.int8_calib_file == Path("/abs/cal.bin")
    assert config.custom_lib_path == Path(f"{real}/lib/parsers.so")
    assert config.custom_network_config == "yolo.cfg"  # passed to the custom builder verbatim


def test_labels_file_rules(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("car\n\nperson;pedestrian\nbike;\n")
    config, _ = read_nvinfer(detector(tmp_path, "labelfile-path=labels.txt"))
    assert config.labels == (("car",), ("person", "pedestrian"), ("bike", ""))  # blank line skipped
    assert config.class_labels == ("car", "person", "bike")  # detectors use token 0
    (tmp_path / "colors.txt").write_bytes(b"red;green;blue\r\nsedan;suv\r\n")
    path = write(tmp_path, "[property]\nnetwork-type=1\nlabelfile-path=colors.txt\n", "sgie.txt")
    classifier, _ = read_nvinfer(path)
    assert classifier.labels == (("red", "green", "blue"), ("sedan", "suv"))  # all tokens kept


def test_missing_labels_file_is_a_warning(tmp_path: Path) -> None:
    path = detector(tmp_path, "labelfile-path=nowhere/labels.txt")
    config, report = read_nvinfer(path)
    assert config.labels == ()
    assert config.labelfile_path == Path(os.path.realpath(tmp_path)) / "nowhere/labels.txt"
    assert "property.labelfile-path" in report.honoured
    assert any(
        w.startswith(f"{path}:4: [property] labelfile-path: labels file") for w in report.warnings
    )


def test_duplicate_keys_last_value_wins(tmp_path: Path) -> None:
    path = detector(tmp_path, "network-mode=7\nprocess-mode=1\nnetwork-mode=1\nprocess-mode=2")
    config, report = read_nvinfer(path)  # network-mode=7 is never parsed: GLib reads the last one
    assert config.precision is Precision.INT8
    assert config.process_mode is ProcessMode.SECONDARY
    assert "property.network-mode" in report.honoured
    assert "property.network-mode" not in report.ignored
    assert (
        f"{path}:4: [property] network-mode: duplicate key; the one on line 6 is used"
        in report.warnings
    )


def test_yaml_reads_every_duplicate(tmp_path: Path) -> None:
    path = write(tmp_path, "property:\n  network-mode: 7\n  network-mode: 1\n", "pgie.yml")
    with pytest.raises(ConfigError) as info:  # yaml-cpp iterates both entries
        read_nvinfer(path)
    assert (info.value.line, info.value.value) == (2, "7")


def test_comment_after_an_integer_is_accepted_but_not_after_a_double(tmp_path: Path) -> None:
    text = (
        "network-type=3 ## 3 is for instance segmentation\ncluster-mode=4\n"
        "parse-bbox-instance-mask-func-name=NvDsInferParseCustomMrcnnTLTV2"
    )
    config, _ = read_nvinfer(detector(tmp_path, text))
    assert config.network_type is NetworkType.INSTANCE_SEGMENTATION
    with pytest.raises(ConfigError) as info:
        read_nvinfer(detector(tmp_path, "net-scale-factor=0.5 # comment"))
    assert (info.value.reason, info.value.value) == ("not a number", "0.5 # comment")


def test_instance_segmentation_needs_cluster_mode_none(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r":4: \[property\] network-type = 3: instance segmentation"
    ):
        read_nvinfer(detector(tmp_path, "network-type=3"))


def test_legacy_aliases(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[property]\nis-classifier=1\nenable-dbscan=1\ninput-dims=3;224;224;1\n",
    )
    config, report = read_nvinfer(path)
    assert config.network_type is NetworkType.CLASSIFIER
    assert config.cluster_mode is ClusterMode.DBSCAN
    assert config.infer_dims == (3, 224, 224)
    assert config.uff_input_order is TensorOrder.NHWC
    assert set(report.honoured) == {
        "property.is-classifier",
        "property.enable-dbscan",
        "property.input-dims",
    }
    assert f"{path}:2: [property] is-classifier: deprecated; use network-type=1" in report.warnings

    path = write(
        tmp_path,
        "[property]\nis-classifier=1\nnetwork-type=0\nenable-dbscan=1\ncluster-mode=2\n"
        "uff-input-dims=3;10;10;0\ninfer-dims=3;544;960\nnum-detected-classes=1\n"
        "[class-attrs-all]\nthreshold=0.6\n",
    )
    config, report = read_nvinfer(path)
    assert config.network_type is NetworkType.DETECTOR
    assert config.cluster_mode is ClusterMode.NMS
    assert config.infer_dims == (3, 544, 960)
    assert config.class_attrs_all.pre_cluster_threshold == 0.6
    assert report.ignored == {
        "property.is-classifier": "legacy alias of network-type, which is set",
        "property.enable-dbscan": "deprecated alias of cluster-mode=1; cluster-mode is set",
        "property.uff-input-dims": "deprecated form of infer-dims, which is set",
    }
    assert "class-attrs-all.threshold" in report.honoured


def test_yaml_does_not_know_the_legacy_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, "property:\n  is-classifier: 1\n  onnx-file: m.onnx\n", "pgie.yaml")
    config, report = read_nvinfer(path)
    assert config.network_type is NetworkType.DETECTOR
    assert report.ignored == {
        "property.is-classifier": "legacy key; DeepStream's YAML reader does not know it"
    }


def test_yaml_flags_are_integers(tmp_path: Path) -> None:
    path = write(
        tmp_path, "property:\n  onnx-file: m.onnx\n  maintain-aspect-ratio: true\n", "pgie.yml"
    )
    with pytest.raises(ConfigError) as info:
        read_nvinfer(path)
    assert str(info.value) == (
        f"{path}:3: [property] maintain-aspect-ratio = true: not an integer; "
        "expected 0 or 1 (DeepStream's YAML reader takes no true/false)"
    )


def test_ignored_and_unknown_keys_are_reported_not_dropped(tmp_path: Path) -> None:
    path = detector(tmp_path, "workspace-size=2048\nfrobnicate=1\nparse-func=0", "[extra]\nx=1\n")
    config, report = read_nvinfer(path)
    assert config.onnx_file is not None
    assert report.kind == "nvinfer"
    assert report.ignored == {
        "property.workspace-size": "TensorRT builder setting; no TensorRT here",
        "property.frobnicate": "unknown key (DeepStream warns and ignores it)",
        "property.parse-func": "legacy key that nvinfer declares but never reads",
        "extra.x": "nvinfer does not read group [extra]",
    }
    assert f"{path}:5: [property] frobnicate: unknown key; ignored" in report.warnings
    keys = {"property.onnx-file", "property.num-detected-classes"}
    assert set(report.honoured) == keys


def test_async_mode_is_turned_off_for_a_primary(tmp_path: Path) -> None:
    path = write(tmp_path, "[property]\nnetwork-type=1\nclassifier-async-mode=1\n")
    config, report = read_nvinfer(path)
    assert config.classifier_async_mode is False
    assert any(
        "classifier-async-mode: applies to secondary classifiers only" in w for w in report.warnings
    )


def test_reinfer_interval_on_a_primary_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "[property]\nnetwork-type=1\nsecondary-reinfer-interval=5\n")
    _, report = read_nvinfer(path)
    assert "property.secondary-reinfer-interval" in report.honoured
    assert any("secondary-reinfer-interval: applies to secondary" in w for w in report.warnings)
    secondary = write(tmp_path, "[property]\nnetwork-type=1\nprocess-mode=2\n"
                      "secondary-reinfer-interval=5\n")  # fmt: skip
    assert not any("reinfer" in w for w in read_nvinfer(secondary)[1].warnings)


def test_missing_property_group(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\[property\\] group; nvinfer requires one"):
        read_nvinfer(write(tmp_path, "[class-attrs-all]\ntopk=1\n"))


def test_secondary_detector_fields(tmp_path: Path) -> None:
    text = (
        "process-mode=2\noperate-on-gie-id=1\noperate-on-class-ids=0;2;\nfilter-out-class-ids=2;0\n"
        "input-object-min-width=64\ninput-object-max-height=400\nsecondary-reinfer-interval=10\n"
        "gie-unique-id=3\ngpu-id=1\nbatch-size=16\ninterval=2\nmodel-color-format=1\n"
        "offsets=103.9;116.8;123.7\nnet-scale-factor=1\nmaintain-aspect-ratio=1\nsymmetric-padding=1\n"
        "scaling-filter=1\noutput-blob-names=cov;bbox\noutput-tensor-meta=1\n"
    )
    config, _ = read_nvinfer(detector(tmp_path, text))
    assert config.model_dump(
        include={
            "process_mode",
            "operate_on_gie_id",
            "operate_on_class_ids",
            "filter_out_class_ids",
            "input_object_min_width",
            "input_object_max_height",
            "secondary_reinfer_interval",
            "gie_unique_id",
            "gpu_id",
            "batch_size",
            "interval",
            "offsets",
            "net_scale_factor",
            "maintain_aspect_ratio",
            "symmetric_padding",
            "output_blob_names",
            "output_tensor_meta",
        }
    ) == {
        "process_mode": ProcessMode.SECONDARY,
        "operate_on_gie_id": 1,
        "operate_on_class_ids": (0, 2),
        "filter_out_class_ids": (0, 2),
        "input_object_min_width": 64,
        "input_object_max_height": 400,
        "secondary_reinfer_interval": 10,
        "gie_unique_id": 3,
        "gpu_id": 1,
        "batch_size": 16,
        "interval": 2,
        "offsets": (103.9, 116.8, 123.7),
        "net_scale_factor": 1.0,
        "maintain_aspect_ratio": True,
        "symmetric_padding": True,
        "output_blob_names": ("cov", "bbox"),
        "output_tensor_meta": True,
    }
    assert (config.model_color_format.name, config.scaling_filter.name) == ("BGR", "BILINEAR")


def test_element_defaults_when_keys_are_absent(tmp_path: Path) -> None:
    config, _ = read_nvinfer(write(tmp_path, "[property]\nonnx-file=m.onnx\n"))
    assert config.gie_unique_id == 15
    assert config.operate_on_gie_id == -1
    assert config.secondary_reinfer_interval == 2**31 - 1
    assert config.network_type is NetworkType.DETECTOR
    assert config.process_mode is ProcessMode.PRIMARY
    assert config.precision is Precision.FP32
    assert config.scaling_filter.name == "DEFAULT"


def test_trafficcamnet_ini_and_yaml_give_the_same_config() -> None:
    ini, ini_report = read_nvinfer(TRAFFICCAMNET / "pgie_trafficcamnet_config.txt")
    yml, _ = read_nvinfer(TRAFFICCAMNET / "pgie_trafficcamnet_config.yml")
    # The corpus pair lists the two output names in opposite orders; everything else matches.
    assert (
        set(ini.output_blob_names)
        == set(yml.output_blob_names)
        == {
            "output_bbox/BiasAdd:0",
            "output_cov/Sigmoid:0",
        }
    )
    assert ini.model_dump(exclude={"output_blob_names"}) == yml.model_dump(
        exclude={"output_blob_names"}
    )
    assert ini.infer_dims == (3, 544, 960)  # the INI gives it as input-dims=3;544;960;0
    assert ini.precision is Precision.FP16
    assert ini.class_attributes(0) == ClassAttributes(
        topk=20, nms_iou_threshold=0.5, pre_cluster_threshold=0.4
    )
    assert ini.class_attributes(3) == ClassAttributes(
        topk=20, nms_iou_threshold=0.5, pre_cluster_threshold=0.2
    )
    assert (
        ini.onnx_file
        == TRAFFICCAMNET / "../../../models/trafficcamnet/resnet18_trafficcamnet_pruned.onnx"
    )
    assert "property.input-dims" in ini_report.honoured
    assert isinstance(ini, InferConfig)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "offsets=103.9",  # one value: visionflow used to apply it to every channel
            ":4: [property] offsets = 103.9: 1 values for a RGB network input of 3 channel(s); "
            "nvinfer refuses to start (Preprocessor set scale and offsets failed); expected 3 "
            "value(s) separated by ';', one per channel",
        ),
        (
            "offsets=1;2",  # two values: visionflow used to fail on the first frame
            ":4: [property] offsets = 1;2: 2 values for a RGB network input of 3 channel(s); "
            "nvinfer refuses to start (Preprocessor set scale and offsets failed); expected 3 "
            "value(s) separated by ';', one per channel",
        ),
        (
            "model-color-format=1\noffsets=1;2;3;4",  # four: visionflow used to drop the fourth
            ":5: [property] offsets = 1;2;3;4: 4 values for a BGR network input of 3 channel(s); "
            "nvinfer refuses to start (Preprocessor set scale and offsets failed); expected 3 "
            "value(s) separated by ';', one per channel",
        ),
        (
            "model-color-format=2\noffsets=1;2;3",
            ":5: [property] offsets = 1;2;3: 3 values for a GRAY network input of 1 channel(s); "
            "nvinfer refuses to start (Preprocessor set scale and offsets failed); expected "
            "1 value",
        ),
        (
            "infer-dims=1;64;64",
            ":4: [property] infer-dims = 1;64;64: 1 channels, but model-color-format=0 (RGB) "
            "needs 3; nvinfer refuses to start; expected 3;<h>;<w>",
        ),
    ],
)
def test_offsets_and_channels_that_stop_nvinfer_fail_at_load(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = detector(tmp_path, extra)

    with pytest.raises(ConfigError) as info:
        read_nvinfer(path)

    assert str(info.value) == f"{path}{message}"


@pytest.mark.parametrize(
    "extra",
    [
        "offsets=103.9;116.7;123.6",
        "model-color-format=2\noffsets=127.5",
        "net-scale-factor=0\noffsets=1;2",  # nvinfer sets no offsets without a scale factor
        "input-tensor-from-meta=1\noffsets=1",  # nor any preprocessing for prepared tensors
    ],
)
def test_offsets_nvinfer_accepts(tmp_path: Path, extra: str) -> None:
    read_nvinfer(detector(tmp_path, extra))
