"""The torch backend: loading, engines and their keys, device errors, precision rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from visionflow.convert.engine import engine_key, resolve_engine  # noqa: E402
from visionflow.errors import ConfigError, DeviceUnavailableError  # noqa: E402
from visionflow.infer.backends import load_backend  # noqa: E402
from visionflow.infer.config import InferConfig  # noqa: E402
from visionflow.infer.element import Infer  # noqa: E402
from visionflow.zoo import bundled_config  # noqa: E402

SHAPES = bundled_config("shapes_det").parent / "shapes_det.onnx"
NET_H, NET_W = ort.InferenceSession(str(SHAPES)).get_inputs()[0].shape[2:]  # the model's input


def test_onnx_runs_as_onnxruntime_does_and_pads_smaller_batches() -> None:
    backend = load_backend(SHAPES, "torch", device="cpu", batch=2)
    assert backend.max_batch == 2
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, NET_H, NET_W)).astype(np.float32)
    want = ort.InferenceSession(str(SHAPES)).run(None, {"images": x})[0]
    got = backend.run({"images": x})["output0"]
    assert (np.abs(got - want) / (1 + np.abs(want))).max() <= 1e-4
    one = backend.infer({"images": x[:1]})["output0"]
    np.testing.assert_allclose(one, got[:1], atol=1e-5)


def test_cuda_without_a_gpu_is_an_error_naming_what_is_missing() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(DeviceUnavailableError, match=r"cuda.*(no CUDA device|without CUDA)"):
        load_backend(SHAPES, "torch", device="cuda")
    with pytest.raises(DeviceUnavailableError, match=r"'cpu' or 'cuda"):
        load_backend(SHAPES, "torch", device="dml")
    # allowed fallback runs on the CPU and says so in the backend
    assert load_backend(SHAPES, "torch", device="cuda", allow_fallback=True).device == "cpu"


def test_int8_is_refused_with_what_to_use() -> None:
    with pytest.raises(ConfigError, match=r"no INT8 path.*fp16"):
        load_backend(SHAPES, "torch", device="cpu", precision="int8")


def test_module_objects_run_with_their_input_shape() -> None:
    from visionflow.infer.backends.torch import TorchBackend

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    backend = TorchBackend.from_module(net, (2, 3, 8, 8))
    assert backend.outputs[0].shape == (2, 4, 6, 6)
    x = np.ones((2, 3, 8, 8), np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(backend.run({"input": x})["output0"], want, atol=1e-6)


def test_engine_is_built_once_keyed_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    config = InferConfig.model_validate({"onnx_file": SHAPES, "batch_size": 2, "precision": "fp32"})
    path = resolve_engine(config, "torch", "cpu")
    assert path.suffix == ".pt2"
    assert path.name.endswith("_b2_cpu_fp32.pt2")
    key = json.loads(path.with_name(path.name + ".json").read_text())
    assert key["backend"] == "torch"
    assert key["runtime"].startswith("torch ")
    assert key["batch"] == [2, 2, 2]
    assert key["device"].startswith("cpu ")
    io = json.loads(path.with_name(path.name + ".io.json").read_text())
    assert io["parity"]["fp32_vs_onnxruntime"]["output0"] < 1e-2
    stamp = path.stat().st_mtime_ns
    assert resolve_engine(config, "torch", "cpu") == path
    assert path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    want = engine_key(SHAPES, "torch", "cpu", "fp32", config)
    assert want.runtime == key["runtime"]
    # a different batch is another engine
    other = InferConfig.model_validate({"onnx_file": SHAPES, "batch_size": 1, "precision": "fp32"})
    assert resolve_engine(other, "torch", "cpu") != path


def test_fp16_on_the_cpu_is_refused_by_the_engine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    config = InferConfig.model_validate({"onnx_file": SHAPES, "precision": "fp16"})
    with pytest.raises(ConfigError, match="fp16"):
        resolve_engine(config, "torch", "cpu")


def test_element_with_torch_finds_the_objects_onnxruntime_finds(
    tmp_path: Path, monkeypatch
) -> None:
    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.zoo.scenes import render_scene

    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    rng = np.random.default_rng(3)
    images = [render_scene(rng, 640, 360)[0] for _ in range(3)]

    def detect(backend: str) -> list:
        element = Infer(bundled_config("shapes_det"), device="cpu", backend=backend)
        element.start()
        frames = [Frame(img, PixelFormat.RGB24, i, 0) for i, img in enumerate(images)]
        out = element.process(Batch(frames))
        return [f.detections for f in out.meta.frames]

    torch_dets, ort_dets = detect("torch"), detect("onnxruntime")
    assert sum(len(d) for d in ort_dets) > 3
    for a, b in zip(torch_dets, ort_dets, strict=True):
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
