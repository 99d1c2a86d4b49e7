"""detect_kind decides a config's kind from its content."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.corpus import DATA
from visionflow.compat.deepstream.detect import KINDS, detect_kind
from visionflow.errors import ConfigError

CASES = [
    ("pgie.txt", "[property]\nonnx-file=m.onnx\nnetwork-type=0\n", "nvinfer"),
    ("pgie.yml", "property:\n  onnx-file: m.onnx\nclass-attrs-all:\n  topk: 20\n", "nvinfer"),
    (
        "app.txt",
        "[application]\nenable-perf-measurement=1\n[source0]\nenable=1\n",
        "deepstream-app",
    ),
    ("app.txt", "[streammux]\nbatch-size=1\n[primary-gie]\nenable=1\n", "deepstream-app"),
    ("app.yml", "source:\n  csv-file-path: s.csv\nsink0:\n  type: 1\n", "deepstream-app"),
    ("tracker.yml", "%YAML:1.0\nBaseConfig:\n  minDetectorConfidence: 0\n", "tracker"),
    ("no_suffix", "%YAML:1.0\nTargetManagement:\n  probationAge: 3\n", "tracker"),
    ("tracker.txt", "[tracker]\ntracker-width=640\n", "tracker-ini"),
    ("a.txt", "[property]\nenable=1\nconfig-width=1920\n", "nvdsanalytics"),
    (
        "a.txt",
        "[property]\nenable=1\n[roi-filtering-stream-0]\nroi-A=1;1;5;5;9;1\n",
        "nvdsanalytics",
    ),
    ("m.txt", "[sensor0]\nenable=1\n[place0]\nenable=1\n[analytics0]\nenable=1\n", "msgconv"),
    ("k.txt", "[message-broker]\npartition-key=sensor.id\n", "msgbroker"),
    ("p.txt", "[property]\nprocessing-width=960\n[group-0]\nsrc-ids=0\n", "preprocess"),
    ("post.yml", "property:\n  network-type: 4\n  num-detected-classes: 17\n", "nvdspostprocess"),
    ("triton.txt", "# comment\ninfer_config {\n  unique_id: 1\n}\n", "nvinferserver"),
    ("triton.yml", "infer_config {\n  max_batch_size: 2\n}\n", "nvinferserver"),
    (
        "run.yml",
        "source-list:\n  list: file:///a.mp4\nprimary-gie:\n  config-file-path: x\n",
        "deepstream-sample-app",
    ),
    ("labels.txt", "car\nbicycle\nperson\nroad_sign\n", "labels"),
    ("pipeline.yml", "sources:\n  - uri: clip.mp4\n", "visionflow-pipeline"),
    ("model.yml", "onnx_file: m.onnx\nnetwork_type: detector\n", "visionflow-infer"),
    ("x.txt", "key=value\n", "unknown"),
]


@pytest.mark.parametrize(("name", "text", "kind"), CASES)
def test_kinds_from_content(tmp_path: Path, name: str, text: str, kind: str) -> None:
    path = tmp_path / name
    path.write_text(text)

    assert detect_kind(path) == kind
    assert kind in KINDS


def test_unreadable_files_raise_a_config_error(tmp_path: Path) -> None:
    binary = tmp_path / "model.onnx"
    binary.write_bytes(b"\x08\x07\x12\xff\xfe")

    with pytest.raises(ConfigError, match="not UTF-8 text"):
        detect_kind(binary)
    with pytest.raises(ConfigError, match="file not found"):
        detect_kind(tmp_path / "absent.txt")


PY = "NVIDIA-AI-IOT__deepstream_python_apps/apps"
TAO = "NVIDIA-AI-IOT__deepstream_tao_apps"
YOLO = "marcoslucianops__DeepStream-Yolo"
CORPUS_KINDS = {
    f"{YOLO}/deepstream_app_config.txt": "deepstream-app",
    f"{YOLO}/config_infer_primary_yoloV8.txt": "nvinfer",
    f"{YOLO}/labels.txt": "labels",
    f"{PY}/deepstream-test2/config_tracker_NvDCF_perf.yml": "tracker",
    f"{PY}/deepstream-test2/dstest2_tracker_config.txt": "tracker-ini",
    f"{PY}/deepstream-nvdsanalytics/config_nvdsanalytics.txt": "nvdsanalytics",
    f"{PY}/deepstream-test4/dstest4_msgconv_config.txt": "msgconv",
    f"{PY}/deepstream-test4/cfg_kafka.txt": "msgbroker",
    f"{PY}/deepstream-preprocess-test/config_preprocess.txt": "preprocess",
    f"{PY}/deepstream-test3/config_triton_infer_primary_peoplenet.txt": "nvinferserver",
    f"{TAO}/configs/triton/peoplenet_tao/config_infer_primary_peoplenet.yml": "nvinferserver",
    f"{TAO}/configs/nvinfer/citysemsegformer_tao/pgie_citysemsegformer_tao_config.yml": "nvinfer",
    f"{TAO}/configs/nvinfer/bodypose3d_tao/config_bodypose_post_process_sgie.yml": (
        "nvdspostprocess"
    ),
    f"{TAO}/configs/app/det_app_config.yml": "deepstream-sample-app",
    f"{TAO}/configs/app/peoplenet_reidentification.yml": "deepstream-app",
    f"{TAO}/deepstream_app_tao_configs/deepstream_app_source1_peoplenet.yml": "deepstream-app",
}


@pytest.mark.parametrize(("name", "kind"), CORPUS_KINDS.items())
def test_corpus_kinds(name: str, kind: str) -> None:
    assert detect_kind(DATA / name) == kind
