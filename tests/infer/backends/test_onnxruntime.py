from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from visionflow.errors import DeviceUnavailableError, ModelNotFoundError
from visionflow.infer.backends import load_backend


def scale_model(path: Path, batch: int | str) -> Path:
    """y = 2 * x, x of shape (batch, 3)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "g", [x], [y], [two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("n", [1, 3, 4, 9])
def test_fixed_batch_model_is_padded_and_padding_discarded(tmp_path: Path, n: int) -> None:
    backend = load_backend(scale_model(tmp_path / "m.onnx", 4))
    assert backend.max_batch == 4
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    assert np.array_equal(backend.infer({"x": x})["y"], 2 * x)


def test_dynamic_batch_model(tmp_path: Path) -> None:
    backend = load_backend(scale_model(tmp_path / "m.onnx", "N"))
    assert backend.max_batch is None
    assert backend.inputs[0].shape == (None, 3)
    x = np.ones((5, 3), np.float32)
    assert backend.infer({"x": x})["y"].shape == (5, 3)


def test_missing_provider_is_an_error_not_a_silent_cpu_run(tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    model = scale_model(tmp_path / "m.onnx", "N")
    with pytest.raises(
        DeviceUnavailableError,
        match=r"device 'cuda:0' needs ONNX Runtime's CUDAExecutionProvider"
        r".*pip install 'visionflow\[gpu\]'",
    ):
        load_backend(model, device="cuda:0")
    fallback = load_backend(model, device="cuda:0", allow_fallback=True)
    assert fallback.device == "cpu"


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        load_backend(tmp_path / "nope.onnx")
    with pytest.raises(FileNotFoundError):
        load_backend(tmp_path / "nope.onnx")


@pytest.mark.parametrize(
    ("device", "provider", "options"),
    [
        ("cpu", "CPUExecutionProvider", {}),
        ("cuda", "CUDAExecutionProvider", {}),
        ("cuda:1", "CUDAExecutionProvider", {"device_id": 1}),
        ("dml:2", "DmlExecutionProvider", {"device_id": 2}),
        ("openvino:NPU", "OpenVINOExecutionProvider", {"device_type": "NPU"}),
    ],
)
def test_provider_for_devices(device: str, provider: str, options: dict) -> None:
    from visionflow.infer.backends.onnxruntime import provider_for

    assert provider_for(device) == (provider, options)


def test_unknown_device_lists_the_known_ones() -> None:
    from visionflow.infer.backends.onnxruntime import provider_for

    with pytest.raises(
        DeviceUnavailableError, match="unknown device 'tpu'; expected one of: coreml, cpu, cuda"
    ):
        provider_for("tpu")
