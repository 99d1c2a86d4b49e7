from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.conv_net import conv_net
from visionflow.errors import DeviceUnavailableError
from visionflow.infer.backends import BACKENDS, load_backend

pytest.importorskip("openvino")

from visionflow.infer.backends.openvino import (
    OpenVINOBackend,
    available_devices,
    openvino_precisions,
)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_net(tmp_path / "net.onnx")


def batch(n: int) -> np.ndarray:
    return np.random.default_rng(n).random((n, 3, 32, 32), np.float32)


def test_registered_and_importing_backends_does_not_import_openvino() -> None:
    assert BACKENDS.get("openvino") is OpenVINOBackend
    assert BACKENDS.get("ov") is OpenVINOBackend
    code = "import sys, visionflow.infer.backends; print('openvino' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fp32_outputs_match_onnxruntime(model: Path) -> None:
    x = batch(3)
    expected = load_backend(model).infer({"images": x})["probabilities"]
    backend = load_backend(model, "openvino", device="cpu", precision="fp32", threads=1)
    assert backend.device == "CPU"
    assert backend.inputs[0].shape == (None, 3, 32, 32)
    np.testing.assert_allclose(backend.infer({"images": x})["probabilities"], expected, atol=1e-5)


def test_a_fixed_batch_pads_and_a_blob_round_trips(tmp_path: Path, model: Path) -> None:
    backend = load_backend(model, "openvino", device="openvino:CPU", precision="fp32", batch=4)
    assert backend.max_batch == 4
    x = batch(6)
    out = backend.infer({"images": x})["probabilities"]
    assert out.shape == (6, 4)
    blob = backend.export(tmp_path / "net.blob")  # type: ignore[attr-defined]
    again = load_backend(blob, "openvino", device="CPU", precision="fp32")  # not kept in a blob
    assert again.inputs[0].shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(again.infer({"images": x})["probabilities"], out)


def test_unavailable_device_raises_or_falls_back(
    model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if "NPU" in available_devices():
        pytest.skip("this machine has an NPU")
    with pytest.raises(DeviceUnavailableError, match="OpenVINO device 'NPU' is not available"):
        load_backend(model, "openvino", device="npu")
    with caplog.at_level(logging.WARNING):
        backend = load_backend(model, "openvino", device="NPU", allow_fallback=True)
    assert backend.device == "CPU"
    assert "falling back to CPU as allowed" in caplog.text


def test_cpu_runs_fp32_and_int8() -> None:
    assert {"fp32", "int8"} <= set(openvino_precisions("cpu"))


def test_an_fp32_engine_runs_fp32_when_loaded_again(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visionflow.convert.engine import resolve_engine
    from visionflow.infer.config import InferConfig

    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))
    config = InferConfig.model_validate(
        {"onnx_file": model, "network_type": "classifier", "precision": "fp32"}
    )
    engine = resolve_engine(config, "openvino", "cpu")
    assert engine.suffix == ".blob"
    x = batch(1)
    expected = load_backend(model).infer({"images": x})["probabilities"]
    got = load_backend(engine, "openvino").infer({"images": x})["probabilities"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_openvino_engines_are_built_and_reused(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visionflow.convert.engine import resolve_engine
    from visionflow.convert.quantize import Calibration
    from visionflow.infer.config import InferConfig

    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path / "cache"))
    config = InferConfig.model_validate(
        {
            "onnx_file": model,
            "network_type": "classifier",
            "batch_size": 2,
            "precision": "int8",
            "int8_calib_file": tmp_path / "calib.json",
            "model_engine_file": tmp_path / "net_int8.blob",
        }
    )
    engine = resolve_engine(config, "openvino", "cpu", calibration=Calibration([batch(4)]))
    stamp = engine.stat().st_mtime_ns
    assert resolve_engine(config, "openvino", "cpu") == engine
    assert engine.stat().st_mtime_ns == stamp
    backend = load_backend(engine, "openvino")
    assert backend.inputs[0].shape == (2, 3, 32, 32)
    x = batch(2)
    expected = load_backend(model).infer({"images": x})["probabilities"]
    assert np.abs(backend.infer({"images": x})["probabilities"] - expected).max() < 0.05
