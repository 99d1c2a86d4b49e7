"""``parser_options`` and ``weighted_nms``: checked when the config loads, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.config.infer_loader import load_infer_config
from visionflow.errors import ConfigError
from visionflow.infer.attach import DetectorAttach

SSD = """\
onnx_file: face.onnx
parser: ssd
num_detected_classes: 1
cluster_mode: nms
weighted_nms: true
parser_options:
  anchors: {num_layers: 4, min_scale: 0.1484375, max_scale: 0.75, strides: [8, 16, 16, 16]}
  x_scale: 128
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "detector.yml"
    path.write_text(text)
    return load_infer_config(path)


def test_ssd_options_and_weighted_nms_load(tmp_path: Path) -> None:
    config = load(tmp_path, SSD)
    assert config.parser_options["x_scale"] == 128  # type: ignore[attr-defined]
    assert DetectorAttach.from_config(config).weighted_nms  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("edit", "line", "reason"),
    [
        (("x_scale: 128", "x_sclae: 128"), 6, "x_sclae: unknown option (options of parser ssd:"),
        (("min_scale: 0.1484375, ", ""), 6, "num_layers, min_scale and max_scale are required"),
        (("parser: ssd", "parser: yolov8"), 6, "parser yolov8 takes no options"),
        (("cluster_mode: nms", "cluster_mode: dbscan"), 5, "needs an NMS clustering"),
    ],
)
def test_bad_options_name_line_and_option(
    tmp_path: Path, edit: tuple[str, str], line: int, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, SSD.replace(*edit))
    assert info.value.line == line
    assert reason in str(info.value)
