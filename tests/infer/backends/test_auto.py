from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from support.conv_net import conv_net
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.infer.backends import load_backend
from visionflow.infer.backends.auto import (
    onnxruntime_has_cuda,
    openvino_installed,
    resolve_backend,
    torch_installed,
)
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer
from visionflow.infer.preprocess import preprocess

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def test_a_named_backend_is_kept() -> None:
    assert resolve_backend("onnxruntime", "cpu") == "onnxruntime"
    assert resolve_backend("openvino", "cuda:0") == "openvino"


def test_auto_is_openvino_on_the_cpu_where_installed_else_onnxruntime() -> None:
    assert openvino_installed() is HAS_OPENVINO
    assert resolve_backend("auto", "cpu") == ("openvino" if HAS_OPENVINO else "onnxruntime")
    gpu_torch = torch_installed() and not onnxruntime_has_cuda()
    assert resolve_backend("auto", "cuda:1") == ("torch" if gpu_torch else "onnxruntime")
    assert resolve_backend("auto", "openvino:NPU") == "openvino"


def test_the_element_and_pipeline_yaml_default_to_auto(tmp_path: Path) -> None:
    from visionflow.config.pipeline import InferStageConfig

    assert InferStageConfig(config=tmp_path / "m.yml").backend == "auto"
    config = InferConfig.model_validate({"onnx_file": tmp_path / "m.onnx"})
    assert Infer(config).backend_name == resolve_backend("auto", "cpu")
    assert Infer(config, backend="onnxruntime").backend_name == "onnxruntime"


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino (the test extra)")
def test_the_default_path_runs_openvino_close_to_onnxruntime_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No backend, no precision: OpenVINO at ``auto`` precision (BF16 on a BF16 CPU), with
    scores within BF16's rounding of ONNX Runtime at FP32."""
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))
    model = conv_net(tmp_path / "net.onnx")
    config = InferConfig.model_validate(
        {"onnx_file": model, "network_type": "classifier", "output_tensor_meta": True}
    )
    infer = Infer(config)
    infer.start()
    assert infer.backend is not None
    assert infer.backend.name == "openvino"
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    batch = Batch([Frame(image, PixelFormat.RGB24, 0, 0)])
    got = infer.process(batch).meta.frames[0].tensors[0].tensors["probabilities"]
    reference = load_backend(model, "onnxruntime")
    tensor, _ = preprocess([image], [(0, 0, 32, 32)], infer.preprocess_spec)
    expected = reference.infer({"images": tensor})["probabilities"][0]
    np.testing.assert_allclose(got, expected, atol=0.02)


def inverse_net(path: Path) -> Path:
    """A model ONNX Runtime runs and OpenVINO cannot: com.microsoft's Inverse of 8x8 matrices."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])
    node = helper.make_node("Inverse", ["images"], ["out"], domain="com.microsoft")
    graph = helper.make_graph([node], "inverse", [x], [y])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    return path


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino (the test extra)")
def test_auto_runs_onnxruntime_when_openvino_cannot_load_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from visionflow.errors import BackendError

    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))
    model = inverse_net(tmp_path / "inverse.onnx")
    config = InferConfig.model_validate({"onnx_file": model, "network_type": "other"})
    with pytest.raises(BackendError, match="OpenVINO cannot load"):
        Infer(config, backend="openvino").start()  # named: no second chance
    infer = Infer(config)
    with caplog.at_level("WARNING"):
        infer.start()
    assert infer.backend is not None
    assert infer.backend.name == "onnxruntime"
    assert "backend auto: openvino cannot run the model" in caplog.text
