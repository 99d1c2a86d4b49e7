"""``visionflow validate FILE [--json]``: exit codes, precise messages, JSON report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from support.corpus import DATA
from visionflow.cli import app

APP = DATA / "marcoslucianops__DeepStream-Yolo/deepstream_app_config.txt"

runner = CliRunner()


def nvinfer_file(folder: Path, network_mode: str) -> Path:
    path = folder / "pgie.txt"
    path.write_text(
        "[property]\n"
        "onnx-file=model.onnx\n"
        f"network-mode={network_mode}\n"
        "num-detected-classes=2\n"
        "cluster-mode=2\n"
        "enable-dbscan=0\n"
    )
    return path


def test_valid_file_exits_0_with_a_summary(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "2")

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: nvinfer config, valid\n")
    assert "property.network-mode" in result.output


def test_invalid_file_exits_2_with_file_line_message(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "100")

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exit_code == 2
    assert (
        f"error: {path}:3: [property] network-mode = 100: invalid value; expected 0 (FP32), "
        "1 (INT8), 2 (FP16) or 3 (best)"
    ) in result.output


def test_json_lists_honoured_and_ignored_keys(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "0")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "nvinfer"
    assert report["valid"] is True
    assert {"property.onnx-file", "property.network-mode", "property.cluster-mode"} <= set(
        report["honoured"]
    )
    assert report["ignored"] == [
        {
            "key": "property.enable-dbscan",
            "reason": "deprecated alias of cluster-mode=1; cluster-mode is set",
        }
    ]
    assert report["errors"] == []


def test_unknown_file_is_invalid_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not=a config\n")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 2
    assert json.loads(result.output)["errors"] == [
        f"{path}:1: key outside any group; the file must start with a [group] line"
    ]


def test_corpus_deepstream_app_file() -> None:
    result = runner.invoke(app, ["validate", "--json", str(APP)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "deepstream-app"
    assert "primary-gie.config-file" in report["honoured"]
    assert report["errors"] == []
    assert any(item["key"] == "osd.font" for item in report["ignored"])
