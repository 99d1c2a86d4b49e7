from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from support.conv_net import conv_net
from visionflow.convert.cli import bench, convert
from visionflow.convert.quantize import has_qdq
from visionflow.zoo.scenes import write_clip

app = typer.Typer()
app.command()(convert)
app.command()(bench)
runner = CliRunner()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_net(tmp_path / "net.onnx")


@pytest.fixture
def config(tmp_path: Path, model: Path) -> Path:
    path = tmp_path / "net.yml"
    path.write_text(
        f"onnx_file: {model.name}\nnetwork_type: classifier\n"
        "net_scale_factor: 0.00392156862745098\nmaintain_aspect_ratio: true\nbatch_size: 4\n"
    )
    return path


def test_convert_fp32_builds_and_verifies_the_engine(tmp_path: Path, model: Path) -> None:
    engine, report = tmp_path / "out" / "net_fp32.onnx", tmp_path / "out" / "report.json"
    result = runner.invoke(app, ["convert", str(model), "-o", str(engine), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert f"engine: {engine} (fp32, onnxruntime)" in result.output
    data = json.loads(report.read_text())
    assert data["format"] == "onnx"
    assert data["import_parity"]["passed"] is True
    assert data["verification"]["parity"]["passed"] is True
    assert data["key"]["precision"] == "fp32"
    assert engine.with_name("net_fp32.onnx.json").is_file()


def test_convert_int8_calibrates_on_a_video_once(
    tmp_path: Path, model: Path, config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 96, 64, 24)
    engine = tmp_path / "out" / "net_int8.onnx"
    args = [
        "convert",
        str(model),
        "-o",
        str(engine),
        "--precision",
        "int8",
        "--config",
        str(config),
    ]
    args += ["--calib", str(clip), "--calib-samples", "8", "--report", str(tmp_path / "r.json")]
    with caplog.at_level(logging.INFO, logger="visionflow"):
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert has_qdq(engine)
    calib = json.loads((tmp_path / "out" / "net_int8.calib.json").read_text())
    assert calib["samples"] == 8
    assert calib["preprocess"]["maintain_aspect_ratio"] is True
    verification = json.loads((tmp_path / "r.json").read_text())["verification"]
    assert verification["precision"] == "int8"
    assert set(verification["parity"]["outputs"]) == {"probabilities"}
    assert "calibrating net.onnx" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="visionflow"):
        again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"engine {engine} is up to date" in caplog.text
    assert "calibrating" not in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--precision", "fp16"], "precision = fp16: onnxruntime on cpu runs fp32, int8"),
        (["--backend", "openvino"], "--output = "),
        (["--calib", "frames/"], "give it with --config"),
    ],
)
def test_convert_errors_exit_2(tmp_path: Path, model: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["convert", str(model), "-o", str(tmp_path / "e.onnx"), *extra])
    assert result.exit_code == 2
    assert message in result.output


def test_bench_times_each_precision_and_batch(tmp_path: Path, model: Path, config: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 64, 64, 8)
    calib = tmp_path / "calib.json"
    convert_args = ["convert", str(model), "-o", str(tmp_path / "q.onnx"), "--precision", "int8"]
    convert_args += ["--config", str(config), "--calib", str(clip), "--calib-file", str(calib)]
    convert_args += ["--report", str(tmp_path / "r.json")]
    assert runner.invoke(app, convert_args).exit_code == 0
    imported = json.loads((tmp_path / "r.json").read_text())["onnx"]  # what was calibrated
    args = ["bench", imported, "--precision", "fp32,int8", "--batch", "1,2"]
    args += ["--iterations", "5", "--warmup", "1", "--calib-file", str(calib), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    rows = {(r["precision"], r["batch"]): r for r in summary["results"]}
    assert set(rows) == {("fp32", 1), ("int8", 1), ("fp32", 2), ("int8", 2)}
    for row in rows.values():
        assert row["runs"] == 5
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["images_per_s"] == pytest.approx(row["batch"] * 1e3 / row["mean_ms"])

    table = runner.invoke(app, ["bench", str(model), "--iterations", "2", "--warmup", "0"])
    assert table.exit_code == 0, table.output
    assert "images/s" in table.output
    assert "p99 ms" in table.output
