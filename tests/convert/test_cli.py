from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from support.colour_net import CLASSES, colour_frames, colour_net
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
    # a random-weight network's classes are near ties, so INT8 flips some of them: this test is
    # about the calibration cache; how INT8 is judged is tested below with a decisive network
    args += ["--min-agreement", "0"]
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


def test_convert_fp32_fails_on_an_engine_that_differs_and_passes_once_rebuilt(
    tmp_path: Path, model: Path
) -> None:
    """The check compares two different things: the FP32 model and the engine file on disk.
    An engine file replaced by another network (same interface, other weights) under a still
    valid key must fail; the rebuilt engine must pass."""
    engine = tmp_path / "out" / "net_fp32.onnx"
    args = ["convert", str(model), "-o", str(engine), "--report", str(tmp_path / "r.json")]
    assert runner.invoke(app, args).exit_code == 0
    engine.write_bytes(conv_net(tmp_path / "other.onnx", seed=1).read_bytes())

    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"{model} does not match its source model" in result.output
    assert "FAIL" in result.output
    assert not engine.exists()  # never left for the next run to load

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    parity = json.loads((tmp_path / "r.json").read_text())["verification"]["parity"]
    assert parity["passed"] is True
    assert all(out["max_abs_diff"] <= 1e-4 for out in parity["outputs"].values())


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
    assert json.loads((tmp_path / "r.json").read_text())["onnx"] == str(model)  # calibrated
    args = ["bench", str(model), "--precision", "fp32,int8", "--batch", "1,2"]
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


def test_int8_that_loses_accuracy_fails_with_a_clear_message(tmp_path: Path, config: Path) -> None:
    """Calibrated on near-black frames, the INT8 engine cannot represent brighter pictures: with
    labelled images it must exit non-zero and say how much accuracy fell; well calibrated, it
    passes."""
    model = colour_net(tmp_path / "net.onnx")  # the config fixture names net.onnx
    frames = colour_frames(24, (32, 32))
    data = tmp_path / "labelled"
    for i, image in enumerate(frames):
        (data / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / CLASSES[i % 3] / f"{i}.png"), image[..., ::-1])
    (tmp_path / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    with config.open("a") as stream:
        stream.write("labelfile_path: labels.txt\n")
    black = tmp_path / "black"
    black.mkdir()
    for i in range(4):
        cv2.imwrite(str(black / f"{i}.png"), np.full((32, 32, 3), 8, np.uint8))
    args = ["convert", str(model), "-o", str(tmp_path / "q.onnx"), "--precision", "int8"]
    args += ["--config", str(config), "--eval-data", str(data), "--report", str(tmp_path / "r")]
    result = runner.invoke(app, [*args, "--calib", str(black)])
    assert result.exit_code == 1, result.output
    assert "INT8 verification failed: top1 fell by" in result.output
    assert "more than --max-drop 1" in result.output

    assert not (tmp_path / "q.onnx").exists()  # the failed engine is gone, not reused later
    assert not (tmp_path / "q.calib.json").exists()
    flat = tmp_path / "calib"
    flat.mkdir()
    for i, image in enumerate(colour_frames(12, (40, 30), seed=1)):
        cv2.imwrite(str(flat / f"{i}.png"), image[..., ::-1])
    good = runner.invoke(app, [*args, "--calib", str(flat)])
    assert good.exit_code == 0, good.output
    accuracy = json.loads((tmp_path / "r").read_text())["verification"]["accuracy"]
    assert accuracy == {"before": {"top1": 1.0}, "after": {"top1": 1.0}}


TINY_CAFFE = """
name: "tiny"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
"""


def test_caffe_without_a_caffe_runtime_never_claims_parity(tmp_path: Path) -> None:
    from google.protobuf import text_format

    from visionflow.convert.importers.caffe_pb import NetParameter

    try:
        import caffe  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pycaffe is installed: the import is checked against Caffe")
    net = text_format.Parse(TINY_CAFFE, NetParameter())
    trained = NetParameter()
    trained.CopyFrom(net)
    rng = np.random.default_rng(0)
    for blob_shape in ((4, 3, 3, 3), (4,)):
        blob = trained.layer[1].blobs.add()
        blob.shape.dim.extend(blob_shape)
        blob.data.extend(rng.standard_normal(blob_shape).astype(np.float32).ravel())
    proto, weights = tmp_path / "deploy.prototxt", tmp_path / "tiny.caffemodel"
    proto.write_text(text_format.MessageToString(net))
    weights.write_bytes(trained.SerializeToString())
    engine, report = tmp_path / "out" / "tiny_fp32.onnx", tmp_path / "out" / "report.json"

    args = ["convert", str(weights), "--proto", str(proto), "-o", str(engine)]
    result = runner.invoke(app, [*args, "--report", str(report)])

    assert result.exit_code == 0, result.output
    assert "parity passed" not in result.output
    assert "parity against Caffe not checked (no Caffe runtime installed)" in result.output
    assert "engine vs imported ONNX: within fp32 tolerance" in result.output
    data = json.loads(report.read_text())
    assert data["import_parity"] is None
    assert data["import_parity_note"].startswith("parity against Caffe not checked")


def test_convert_accepts_minus_one_dims_as_dynamic(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "dyn", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "dyn.onnx"
    path.write_bytes(model.SerializeToString())
    engine, report = tmp_path / "out" / "dyn_fp32.onnx", tmp_path / "out" / "report.json"

    args = ["convert", str(path), "-o", str(engine), "--input-shape", "1x3x-1x-1"]
    result = runner.invoke(app, [*args, "--report", str(report)])

    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["import_parity"]["outputs"]["y"]["shape"] == [1, 3, 224, 224]
    assert data["verification"]["parity"]["passed"] is True
    # the engine keeps the dynamic dimensions
    import onnx

    dims = onnx.load(str(engine)).graph.input[0].type.tensor_type.shape.dim
    assert [d.HasField("dim_value") for d in dims[2:]] == [False, False]
