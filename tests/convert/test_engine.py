from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from support.conv_net import conv_net
from visionflow.convert.engine import EngineKey, resolve_engine
from visionflow.convert.quantize import Calibration, has_qdq
from visionflow.errors import ConfigError, ModelNotFoundError
from visionflow.infer.backends import load_backend
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("VISIONFLOW_CACHE", str(folder))
    return folder


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return conv_net(tmp_path / "models" / "net.onnx")


def config(model: Path, **fields: object) -> InferConfig:
    return InferConfig.model_validate(
        {"onnx_file": model, "network_type": "classifier", "batch_size": 4, **fields}
    )


def calibration() -> Calibration:
    rng = np.random.default_rng(0)
    return Calibration([rng.random((4, 3, 32, 32), np.float32) for _ in range(2)])


def sidecar(engine: Path) -> dict[str, Any]:
    return json.loads(engine.with_name(engine.name + ".json").read_text())


def resolve(cfg: InferConfig, caplog: pytest.LogCaptureFixture, **kwargs: object) -> Path:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="visionflow"):
        return resolve_engine(cfg, "onnxruntime", "cpu", **kwargs)  # type: ignore[arg-type]


def test_missing_engine_is_built_with_its_key(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = tmp_path / "engines" / "net_fp32.onnx"
    path = resolve(config(model, model_engine_file=engine), caplog)
    assert path == engine
    assert f"building onnxruntime engine {engine}: missing" in caplog.text
    key = sidecar(engine)
    assert key["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert key["precision"] == "fp32"
    assert key["batch"] == [1, 4, 4]
    assert key["input_shape"] == [None, 3, 32, 32]
    assert key["runtime"] == f"onnxruntime {ort.__version__}"
    assert str(key["device"]).startswith("cpu ")
    x = np.random.default_rng(1).random((3, 3, 32, 32), np.float32)
    source = load_backend(model).infer({"images": x})["probabilities"]
    built = load_backend(engine).infer({"images": x})["probabilities"]
    np.testing.assert_allclose(built, source, atol=1e-6)


def test_a_valid_engine_is_reused_without_rebuilding(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(model, model_engine_file=tmp_path / "net_fp32.onnx")
    engine = resolve(cfg, caplog)
    stamp = engine.stat().st_mtime_ns
    assert resolve(cfg, caplog) == engine
    assert "building" not in caplog.text
    assert "is up to date" in caplog.text
    assert engine.stat().st_mtime_ns == stamp


def test_changed_model_bytes_rebuild_the_engine_saying_why(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(model, model_engine_file=tmp_path / "net_fp32.onnx")
    resolve(cfg, caplog)
    old_sha = hashlib.sha256(model.read_bytes()).hexdigest()
    conv_net(model, seed=5)  # same path, new weights
    engine = resolve(cfg, caplog)
    new_sha = hashlib.sha256(model.read_bytes()).hexdigest()
    assert f"model changed (sha256 {old_sha[:12]} → {new_sha[:12]})" in caplog.text
    assert sidecar(engine)["model_sha256"] == new_sha


def test_changed_precision_rebuilds_the_engine(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine_file = tmp_path / "net.onnx"
    resolve(config(model, model_engine_file=engine_file), caplog)
    int8 = config(
        model,
        model_engine_file=engine_file,
        precision="int8",
        int8_calib_file=tmp_path / "calib.json",
    )
    engine = resolve(int8, caplog, calibration=calibration())
    assert "precision changed (fp32 → int8)" in caplog.text
    assert has_qdq(engine)
    assert sidecar(engine)["precision"] == "int8"
    # the calibration cache written by the build makes the next resolve a cache hit
    assert resolve(int8, caplog) == engine
    assert "building" not in caplog.text


def test_an_int8_engine_runs_after_its_calibration_cache_is_deleted(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calib = tmp_path / "calib.json"
    int8 = config(
        model, model_engine_file=tmp_path / "net_int8.onnx", precision="int8", int8_calib_file=calib
    )
    engine = resolve(int8, caplog, calibration=calibration())
    calib.unlink()
    assert resolve(int8, caplog) == engine
    assert f"engine {engine} is up to date (onnxruntime, int8, cpu)" in caplog.text
    conv_net(model, seed=9)  # the model changed: the engine cannot serve it, and no ranges
    with pytest.raises(ConfigError, match="INT8 needs calibration"):
        resolve(int8, caplog)


def test_changed_runtime_version_rebuilds_the_engine(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(model, model_engine_file=tmp_path / "net_fp32.onnx")
    engine = resolve(cfg, caplog)
    key_file = engine.with_name(engine.name + ".json")
    key = json.loads(key_file.read_text())
    key["runtime"] = "onnxruntime 1.0.0"
    key_file.write_text(json.dumps(key))
    resolve(cfg, caplog)
    assert (
        f"runtime version changed (onnxruntime 1.0.0 → onnxruntime {ort.__version__})"
        in caplog.text
    )


def test_a_file_without_a_key_is_never_used(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = tmp_path / "net_fp32.onnx"
    engine.write_bytes(b"whatever was there")
    resolve(config(model, model_engine_file=engine), caplog)
    assert "no key file net_fp32.onnx.json (not built by visionflow)" in caplog.text
    assert load_backend(engine).inputs[0].name == "images"


def test_an_engine_of_another_runtime_leads_to_deepstreams_auto_name(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trt = tmp_path / "net_b4_gpu0_fp32.engine"
    trt.write_bytes(b"serialized TensorRT engine")
    path = resolve(config(model, model_engine_file=trt), caplog)
    assert path == model.parent / "net.onnx_b4_cpu_fp32.onnx"
    assert trt.read_bytes() == b"serialized TensorRT engine"


def test_without_model_engine_file_engines_go_to_the_cache(
    model: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = resolve(config(model), caplog)
    assert path.parent == cache
    assert path.name.endswith("-net.onnx_b4_cpu_fp32.onnx")


def test_precision_the_backend_cannot_run_is_an_error(model: Path) -> None:
    with pytest.raises(ConfigError, match=r"precision = fp16: onnxruntime on cpu runs fp32, int8"):
        resolve_engine(config(model, precision="fp16"), "onnxruntime", "cpu")


def test_best_is_fp32_without_calibration_and_int8_with_it(
    tmp_path: Path, model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert sidecar(resolve(config(model, precision="best"), caplog))["precision"] == "fp32"
    cfg = config(model, precision="best", int8_calib_file=tmp_path / "c.json")
    assert sidecar(resolve(cfg, caplog, calibration=calibration()))["precision"] == "int8"


def test_config_without_an_onnx_model(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"no model to run: set onnx-file, or model-file \(\+ proto-file for Caffe\); "
        "the config names a TensorRT",
    ):
        resolve_engine(InferConfig(model_engine_file=tmp_path / "m.engine"), "onnxruntime", "cpu")
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        resolve_engine(InferConfig(onnx_file=tmp_path / "absent.onnx"), "onnxruntime", "cpu")


def test_key_differences_are_listed_in_order() -> None:
    base = EngineKey(
        "a" * 64, "onnxruntime", "onnxruntime 1.20", "fp32", (1, 4, 4), (None, 3, 8, 8), "cpu X"
    )
    other = EngineKey(
        "b" * 64, "onnxruntime", "onnxruntime 1.20", "int8", (1, 8, 8), (None, 3, 8, 8), "cpu X"
    )
    assert other.changes_from(base) == [
        f"model changed (sha256 {'a' * 12} → {'b' * 12})",
        "precision changed (fp32 → int8)",
        "batch profile changed (1x4x4 → 1x8x8)",
    ]
    assert EngineKey.from_dict(json.loads(json.dumps(base.to_dict()))) == base


def test_the_inference_element_runs_the_engine(tmp_path: Path, model: Path) -> None:
    engine = tmp_path / "net_fp32.onnx"
    infer = Infer(config(model, model_engine_file=engine), backend="onnxruntime")
    infer.start()
    assert infer.backend is not None
    assert infer.backend.model == engine


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this machine has CUDA"
)
def test_fallback_builds_for_the_cpu_when_the_device_is_missing(
    model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(model, precision="fp16")
    path = resolve(cfg, caplog, allow_fallback=True)
    assert sidecar(path)["device"].startswith("cpu ")
    assert sidecar(path)["precision"] == "fp32"
    assert "precision fp16: onnxruntime on cpu runs fp32, int8" in caplog.text


def test_plain_fp32_inference_does_not_import_onnx_or_quantisation_tools(
    tmp_path: Path, model: Path, cache: Path
) -> None:
    """Starting an FP32 element loads neither ``onnx`` (~0.6 s with ml_dtypes) nor ONNX Runtime's
    quantisation tools, twice: building the engine, then reusing it."""
    child = f"""
import sys
from visionflow.infer.config import InferConfig
from visionflow.infer.element import Infer

config = InferConfig.model_validate(
    {{"onnx_file": {str(model)!r}, "network_type": "classifier", "batch_size": 2}}
)
Infer(config, backend="onnxruntime").start()
heavy = ("onnx", "onnxruntime.quantization", "visionflow.convert.quantize")
print(sorted(name for name in heavy if name in sys.modules))
"""
    env = {**os.environ, "VISIONFLOW_CACHE": str(cache)}
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
    assert list(cache.glob("*.onnx")), "the element built no engine"
