from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from support.conv_net import TAIL, conv_net
from visionflow.convert.engine import model_preprocess
from visionflow.convert.quantize import (
    Calibration,
    CalibrationCache,
    calibration_ranges,
    choose_precision,
    convert_fp16,
    has_qdq,
    head_nodes,
    quantize_int8,
    sample_images,
    tail_nodes,
)
from visionflow.errors import ConfigError, ConversionError
from visionflow.infer.config import InferConfig
from visionflow.infer.preprocess import preprocess
from visionflow.zoo.scenes import write_clip

FRAMES = 30


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_net(tmp_path / "net.onnx")


@pytest.fixture
def config(model: Path) -> InferConfig:
    return InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "net_scale_factor": 1 / 255,
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
            "scaling_filter": "BILINEAR",
        }
    )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 96, 64, FRAMES, seed=3)


def run(model: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": x})[0]


# --------------------------------------------------------------------------- precisions


@pytest.mark.parametrize(
    ("requested", "device", "int8_ready", "expected"),
    [
        ("fp32", "cpu", False, "fp32"),
        ("int8", "cpu", True, "int8"),
        ("best", "cpu", True, "int8"),
        ("best", "cpu", False, "fp32"),
        ("fp16", "cuda:0", False, "fp16"),
        ("best", "cuda:0", True, "fp16"),
    ],
)
def test_precision_choice(requested: str, device: str, int8_ready: bool, expected: str) -> None:
    assert choose_precision(requested, "onnxruntime", device, int8_ready=int8_ready) == expected


@pytest.mark.parametrize("device", ["cpu", "cuda:0", "dml:0"])
def test_auto_is_fp32_on_onnxruntime_never_int8_or_fp16(device: str) -> None:
    """``auto`` (visionflow YAML without a precision) never quantises: not even with a
    calibration cache at hand, and not to FP16 on a GPU."""
    assert choose_precision("auto", "onnxruntime", device, int8_ready=True) == "fp32"


def test_auto_is_bf16_where_openvino_runs_it_natively() -> None:
    pytest.importorskip("openvino")
    from visionflow.infer.backends.openvino import openvino_precisions

    native = "bf16" in openvino_precisions("cpu")
    with open("/proc/cpuinfo") as stream:
        flags = stream.read()
    assert native == ("avx512_bf16" in flags or "amx_bf16" in flags)
    expected = "bf16" if native else "fp32"
    assert choose_precision("auto", "openvino", "cpu", int8_ready=True) == expected
    assert choose_precision("best", "openvino", "cpu", int8_ready=False) == expected


def test_bf16_is_refused_where_the_backend_does_not_run_it() -> None:
    with pytest.raises(ConfigError, match="onnxruntime on cpu runs fp32, int8"):
        choose_precision("bf16", "onnxruntime", "cpu", int8_ready=False)


def test_fp16_on_cpu_onnxruntime_names_what_it_runs() -> None:
    with pytest.raises(ConfigError) as err:
        choose_precision("fp16", "onnxruntime", "cpu", int8_ready=True)
    assert str(err.value) == "precision = fp16: onnxruntime on cpu runs fp32, int8"


def test_int8_without_calibration_is_an_error_or_a_loud_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError, match="INT8 needs calibration"):
        choose_precision("int8", "onnxruntime", "cpu", int8_ready=False)
    with caplog.at_level(logging.WARNING):
        chosen = choose_precision(
            "int8", "onnxruntime", "cpu", int8_ready=False, allow_fallback=True
        )
    assert chosen == "fp32"
    assert "running fp32 as fallback is allowed" in caplog.text


# --------------------------------------------------------------------------- calibration data


def test_video_frames_are_sampled_evenly(clip: Path) -> None:
    frames = list(sample_images(clip, 4))
    with av.open(str(clip)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    expected = [decoded[i] for i in (0, 10, 19, 29)]  # linspace(0, 29, 4) rounded
    assert len(frames) == 4
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_image_folders_are_sampled_evenly(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((8, 8, 3), i, np.uint8))
    values = [int(image[0, 0, 0]) for image in sample_images(folder, 3)]
    assert values == [0, 4, 9]  # natural order, linspace(0, 9, 3) rounded


def test_calibration_runs_through_the_models_preprocessing_and_is_cached(
    tmp_path: Path, model: Path, config: InferConfig, clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = model_preprocess(config)
    assert (spec.width, spec.height, spec.maintain_aspect_ratio) == (32, 32, True)
    calib_file = tmp_path / "calib.json"
    with caplog.at_level(logging.INFO):
        ranges = calibration_ranges(
            model, calib_file=calib_file, calibration=Calibration.from_media(clip, spec, samples=8)
        )
    assert "calibrating net.onnx: int8-calib-file" in caplog.text
    # the input range is that of the 8 sampled frames after letterboxing and /255
    images = list(sample_images(clip, 8))
    tensor = preprocess(images, [(0, 0, 96, 64)] * 8, spec)[0]
    lo, hi = ranges.ranges["images"]
    assert lo == pytest.approx(float(tensor.min()), abs=1e-6)
    assert hi == pytest.approx(float(tensor.max()), abs=1e-6)
    assert lo == 0.0  # letterbox padding is black
    data = json.loads(calib_file.read_text())
    assert data["format"] == "visionflow-int8-calibration"
    assert data["samples"] == 8
    assert data["preprocess"]["maintain_aspect_ratio"] is True

    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = calibration_ranges(model, calib_file=calib_file, preprocess=spec)
    assert "calibration skipped" in caplog.text
    assert "calibrating" not in caplog.text
    assert again == ranges


def test_a_cache_made_with_other_preprocessing_is_stale(
    tmp_path: Path, model: Path, config: InferConfig, clip: Path
) -> None:
    calib_file = tmp_path / "calib.json"
    spec = model_preprocess(config)
    calibration_ranges(
        model, calib_file=calib_file, calibration=Calibration.from_media(clip, spec, samples=4)
    )
    stretched = model_preprocess(config.model_copy(update={"maintain_aspect_ratio": False}))
    with pytest.raises(ConfigError, match=r"stale: the preprocessing changed \(maintain_aspect"):
        calibration_ranges(model, calib_file=calib_file, preprocess=stretched)


def test_a_cache_of_another_model_is_stale(tmp_path: Path, model: Path, clip: Path) -> None:
    calib_file = tmp_path / "calib.json"
    calibration_ranges(
        model,
        calib_file=calib_file,
        calibration=Calibration([np.random.default_rng(0).random((2, 3, 32, 32), np.float32)]),
    )
    other = conv_net(tmp_path / "other.onnx", seed=1)
    with pytest.raises(ConfigError, match="computed for another model"):
        calibration_ranges(other, calib_file=calib_file)


def test_a_tensorrt_calibration_table_is_not_mistaken_for_a_cache(tmp_path: Path) -> None:
    table = tmp_path / "cal_trt.bin"
    table.write_text("TRT-8601-EntropyCalibration2\ninput: 3c010a14\n")
    with pytest.raises(ConversionError, match="not a visionflow INT8 calibration cache"):
        CalibrationCache.load(table)


# --------------------------------------------------------------------------- quantisation


def test_int8_model_is_qdq_keeps_the_head_in_fp32_and_stays_close(
    tmp_path: Path, model: Path
) -> None:
    rng = np.random.default_rng(1)
    batches = [rng.random((4, 3, 32, 32), np.float32) for _ in range(4)]
    ranges = calibration_ranges(model, calibration=Calibration(batches))
    quantized = quantize_int8(model, tmp_path / "int8.onnx", ranges)
    assert has_qdq(quantized)
    assert not has_qdq(model)
    graph = onnx.load(str(quantized)).graph
    by_output = {out: node for node in graph.node for out in node.output}
    assert by_output["probabilities"].op_type == "Softmax"
    assert by_output[by_output["probabilities"].input[0]].op_type == "Flatten"
    c3 = next(node for node in graph.node if node.name == "c3")
    assert c3.op_type == "Conv"  # the head's convolution stays a float Conv …
    weights = {init.name: init for init in graph.initializer}
    assert weights[c3.input[1]].data_type == onnx.TensorProto.FLOAT  # … with float weights
    x = np.concatenate(batches)
    expected, got = run(model, x), run(quantized, x)
    assert np.abs(got - expected).max() < 0.05
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9


def test_tail_nodes_are_the_nodes_after_the_last_convolution(model: Path) -> None:
    assert tail_nodes(onnx.load(str(model))) == list(TAIL)


def test_head_nodes_add_the_last_learned_layer(model: Path) -> None:
    assert head_nodes(onnx.load(str(model))) == ["c3", *TAIL]


def test_ranges_of_another_model_are_refused(tmp_path: Path, model: Path) -> None:
    ranges = calibration_ranges(
        model, calibration=Calibration([np.zeros((1, 3, 32, 32), np.float32)])
    )
    other = conv_net(tmp_path / "other.onnx", seed=1)
    with pytest.raises(ConversionError, match="computed for another model"):
        quantize_int8(other, tmp_path / "q.onnx", ranges)


def test_calibration_needs_data(model: Path) -> None:
    with pytest.raises(ConversionError, match="at least one input batch"):
        calibration_ranges(model, calibration=Calibration([]))


def test_fp16_model_has_fp16_weights_and_fp32_io(tmp_path: Path, model: Path) -> None:
    half = convert_fp16(model, tmp_path / "fp16.onnx")
    proto = onnx.load(str(half))
    weights = {i.name: i.data_type for i in proto.graph.initializer}
    assert weights["c1.w"] == onnx.TensorProto.FLOAT16
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = np.random.default_rng(2).random((2, 3, 32, 32), np.float32)
    np.testing.assert_allclose(run(half, x), run(model, x), atol=1e-2)


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_methods_give_ranges_inside_the_observed_ones(model: Path, method: str) -> None:
    rng = np.random.default_rng(3)
    batches = [rng.random((4, 3, 32, 32), np.float32) for _ in range(3)]
    observed = calibration_ranges(model, calibration=Calibration(batches))
    ranges = calibration_ranges(model, calibration=Calibration(batches, method=method))  # type: ignore[arg-type]
    assert ranges.method == method
    assert set(ranges.ranges) == set(observed.ranges)
    for name, (lo, hi) in ranges.ranges.items():
        assert lo >= observed.ranges[name][0] - 1e-6
        assert hi <= observed.ranges[name][1] + 1e-6


def test_an_expectation_over_a_softmax_belongs_to_the_tail() -> None:
    # conv → softmax over bins → 1x1 conv with weights 0..3 (DFL) → output: only "conv" is learned
    bins = onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1), "bins")
    w = onnx.numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    nodes = [
        onnx.helper.make_node("Conv", ["x", "w"], ["logits"], name="conv"),
        onnx.helper.make_node("Softmax", ["logits"], ["p"], name="softmax", axis=1),
        onnx.helper.make_node("Conv", ["p", "bins"], ["y"], name="dfl"),
    ]
    graph = onnx.helper.make_graph(
        nodes,
        "dfl",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
        [bins, w],
    )
    assert tail_nodes(onnx.helper.make_model(graph)) == ["softmax", "dfl"]
