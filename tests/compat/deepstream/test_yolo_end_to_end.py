"""A DeepStream-Yolo config, keys unchanged, runs end to end and matches the native YAML route.

The model is the bundled shapes detector re-exported with DeepStream-Yolo's output layout
(``output`` (N, A, 6): x1, y1, x2, y2, score, class), as DeepStream-Yolo's exporter does. The
DeepStream files are DeepStream-Yolo's own (shipped in ``tests/data/deepstream``), with only their
values pointed at the test's files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from support.corpus import DATA
from support.deepstream_yolo import to_deepstream_yolo
from visionflow.cli import app
from visionflow.zoo import bundled_config
from visionflow.zoo.scenes import CLASSES, write_clip

YOLO = DATA / "marcoslucianops__DeepStream-Yolo"
runner = CliRunner()


def set_values(text: str, values: dict[str, str]) -> str:
    """Change the values of existing keys, leaving every key (and everything else) as it is."""
    for key, value in values.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)}=.*$", f"{key}={value}", text)
        assert count >= 1, f"{key} not in the file"
    return text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dsyolo")
    model_dir = bundled_config("shapes_det").parent
    to_deepstream_yolo(model_dir / "shapes_det.onnx", work / "yolov8s.onnx")
    (work / "labels.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    write_clip(work / "clip.mp4", 640, 360, 12, seed=11)
    nvinfer = set_values(
        (YOLO / "config_infer_primary_yoloV8.txt").read_text(encoding="utf-8"),
        {"onnx-file": "yolov8s.onnx", "num-detected-classes": "3"},
    )
    (work / "config_infer_primary_yoloV8.txt").write_text(nvinfer, encoding="utf-8")
    app_config = set_values(
        (YOLO / "deepstream_app_config.txt").read_text(encoding="utf-8"),
        {
            "uri": f"file://{work / 'clip.mp4'}",
            "config-file": "config_infer_primary_yoloV8.txt",
            "width": "640",
            "height": "360",
        },
    )
    (work / "deepstream_app_config.txt").write_text(app_config, encoding="utf-8")
    # The native route: the ultralytics-layout model with the same preprocessing and thresholds.
    (work / "native.yml").write_text(
        f"onnx_file: {model_dir / 'shapes_det.onnx'}\nparser: yolov8\nlabels: {list(CLASSES)}\n"
        "num_detected_classes: 3\nnet_scale_factor: 0.0039215697906911373\nprecision: fp32\n"
        "maintain_aspect_ratio: true\n"
        "symmetric_padding: true\ncluster_mode: nms\ngie_unique_id: 1\n"
        "class_attrs_all: {nms_iou_threshold: 0.45, pre_cluster_threshold: 0.25, topk: 300}\n",
        encoding="utf-8",
    )
    return work


def objects(meta: Path) -> list[list[tuple[str, tuple[float, ...], float]]]:
    frames = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines()]
    return [
        sorted((o["label"], tuple(o["bbox"].values()), o["confidence"]) for o in f["objects"])
        for f in sorted(frames, key=lambda f: f["frame_num"])
    ]


def infer(
    workdir: Path, config: str, meta: str
) -> list[list[tuple[str, tuple[float, ...], float]]]:
    result = runner.invoke(
        app,
        [
            "infer",
            "--config",
            str(workdir / config),
            "--input",
            str(workdir / "clip.mp4"),
            "--meta",
            str(workdir / meta),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    return objects(workdir / meta)


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a, b, strict=True):
        assert [o[0] for o in fa] == [o[0] for o in fb]
        np.testing.assert_allclose([o[1] for o in fa], [o[1] for o in fb], atol=0.02)
        np.testing.assert_allclose([o[2] for o in fa], [o[2] for o in fb], atol=1e-4)


def test_yolov8_config_through_infer_matches_native_yaml(workdir: Path) -> None:
    deepstream = infer(workdir, "config_infer_primary_yoloV8.txt", "ds.jsonl")
    native = infer(workdir, "native.yml", "native.jsonl")
    assert sum(len(f) for f in native) >= 12  # the shapes are found
    assert_same(deepstream, native)


def test_deepstream_app_config_runs_and_matches(workdir: Path, tmp_path: Path) -> None:
    app_file = workdir / "deepstream_app_config.txt"
    text = app_file.read_text(encoding="utf-8").replace(
        "[sink0]", "[sink1]\nenable=1\ntype=1\n\n[sink0]"
    )
    app_file.write_text(text, encoding="utf-8")
    probe_meta = workdir / "app.jsonl"
    # the app's sinks are a display (mapped to a file with a notice) and a fakesink; metadata is
    # read through a JSON Lines sink added by a pipeline probe-free route: visionflow run.
    result = runner.invoke(app, ["run", str(app_file), "--no-progress"])
    assert result.exit_code == 0, result.output
    native = infer(workdir, "native.yml", "native2.jsonl")
    from visionflow.app import load_app
    from visionflow.sinks import JsonLinesSink

    built = load_app(app_file)
    sink = JsonLinesSink(probe_meta)
    sink.name = "test-jsonl"
    built.pipeline.elements.insert(1, sink)
    built.run()
    assert_same(objects(probe_meta), native)
