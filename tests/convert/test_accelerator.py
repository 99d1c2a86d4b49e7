from __future__ import annotations

import logging
from pathlib import Path

import pytest

from support.conv_net import conv_net
from visionflow.convert.accelerator import offered_devices, offload_device, offload_target
from visionflow.errors import DeviceUnavailableError
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer


@pytest.mark.parametrize(
    ("backend", "core", "offered", "expected"),
    [
        ("openvino", 0, ["CPU", "GPU", "NPU"], "NPU"),
        ("openvino", 1, ["CPU", "NPU.0", "NPU.1"], "NPU.1"),
        ("openvino", 1, ["CPU", "NPU"], None),
        ("openvino", 0, ["CPU", "GPU"], None),
        ("ov", 0, ["NPU"], "NPU"),
        ("onnxruntime", 0, ["OpenVINOExecutionProvider", "CPUExecutionProvider"], "openvino:NPU"),
        ("onnxruntime", 1, ["DmlExecutionProvider", "CPUExecutionProvider"], "dml:1"),
        ("onnxruntime", 0, ["CUDAExecutionProvider", "CPUExecutionProvider"], None),
        ("torch", 0, ["cuda:0"], None),
    ],
)
def test_dla_mapping_table(
    backend: str, core: int, offered: list[str], expected: str | None
) -> None:
    assert offload_target(backend, core, offered) == expected


def test_without_enable_dla_the_device_is_kept() -> None:
    assert offload_device(InferConfig(use_dla_core=1), "onnxruntime", "cuda:0") == "cuda:0"


needs_no_accelerator = pytest.mark.skipif(
    offload_target("onnxruntime", 0, offered_devices("onnxruntime")) is not None,
    reason="this machine has an accelerator for enable-dla",
)


@needs_no_accelerator
def test_dla_without_an_accelerator_is_an_error() -> None:
    with pytest.raises(DeviceUnavailableError) as err:
        offload_device(InferConfig(enable_dla=True), "onnxruntime", "cpu")
    assert str(err.value).startswith(
        "enable-dla: no accelerator for use-dla-core 0 with backend onnxruntime (it offers: "
    )
    assert "DLA maps to an NPU (backend openvino, or onnxruntime with the" in str(err.value)


@needs_no_accelerator
def test_dla_fallback_warns_naming_both_devices(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        device = offload_device(
            InferConfig(enable_dla=True, use_dla_core=1), "onnxruntime", "cpu", allow_fallback=True
        )
    assert device == "cpu"
    assert "enable-dla: no accelerator for use-dla-core 1" in caplog.text
    assert "running on cpu instead, as fallback is allowed" in caplog.text


@needs_no_accelerator
def test_the_inference_element_refuses_dla_it_cannot_honour(tmp_path: Path) -> None:
    config = InferConfig.model_validate(
        {
            "onnx_file": conv_net(tmp_path / "net.onnx"),
            "network_type": "classifier",
            "enable_dla": True,
        }
    )
    with pytest.raises(DeviceUnavailableError, match="enable-dla"):
        Infer(config).start()
