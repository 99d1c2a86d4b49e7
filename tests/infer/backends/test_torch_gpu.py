"""The torch backend on a CUDA GPU: CUDA graphs, FP16 engines, the element's GPU path.

``gpu`` tests: they skip where torch sees no CUDA device (CI) and run on the GPU machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from visionflow.convert.engine import resolve_engine  # noqa: E402
from visionflow.core.batch import Batch  # noqa: E402
from visionflow.core.frame import Frame, PixelFormat  # noqa: E402
from visionflow.core.geometry import box_iou  # noqa: E402
from visionflow.infer.backends import load_backend  # noqa: E402
from visionflow.infer.config import InferConfig  # noqa: E402
from visionflow.infer.element import Infer  # noqa: E402
from visionflow.zoo import bundled_config  # noqa: E402
from visionflow.zoo.scenes import render_scene  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
SHAPES = bundled_config("shapes_det").parent / "shapes_det.onnx"
NET_H, NET_W = onnx.load(str(SHAPES)).graph.input[0].type.tensor_type.shape.dim[2:]
NET_H, NET_W = NET_H.dim_value, NET_W.dim_value  # the bundled detector's input size


def scenes(count: int, seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [render_scene(rng, 640, 360)[0] for _ in range(count)]


def test_cuda_graph_replays_what_eager_computes() -> None:
    x = np.random.default_rng(0).uniform(0, 1, (4, 3, NET_H, NET_W)).astype(np.float32)
    graph = load_backend(SHAPES, "torch", device="cuda", batch=4)
    eager = load_backend(SHAPES, "torch", device="cuda", batch=4, cuda_graphs=False)
    assert graph.use_graphs
    first = graph.run({"images": x})["output0"]
    again = graph.run({"images": x[::-1].copy()})["output0"]
    np.testing.assert_allclose(first, eager.run({"images": x})["output0"], atol=1e-4)
    np.testing.assert_allclose(again, first[::-1], atol=1e-4)  # new input, new output


def test_fp16_engine_builds_once_and_a_cache_hit_starts_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    config = InferConfig.model_validate({"onnx_file": SHAPES, "batch_size": 8, "precision": "fp16"})
    start = time.perf_counter()
    path = resolve_engine(config, "torch", "cuda:0")
    built = time.perf_counter() - start
    assert path.name.endswith("_b8_gpu0_fp16.pt2")
    start = time.perf_counter()
    again = resolve_engine(config, "torch", "cuda:0")
    backend = load_backend(again, "torch", device="cuda:0")
    x = np.random.default_rng(1).uniform(0, 1, (8, 3, NET_H, NET_W)).astype(np.float32)
    backend.run({"images": x})
    hit = time.perf_counter() - start
    print(f"fp16 engine: built in {built:.1f} s, cache hit loaded and first batch in {hit:.1f} s")
    assert again == path
    assert backend.precision == "fp16"
    assert hit < 10


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpu_element_finds_the_objects_of_the_cpu_path(
    precision: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    images = scenes(6)

    def detect(device: str, backend: str, mode: str) -> tuple[list, Infer]:
        element = Infer(
            bundled_config("shapes_det"),
            device=device,
            backend=backend,
            overrides={"precision": mode},
        )
        element.start()
        frames = [Frame(img, PixelFormat.RGB24, i, 0) for i, img in enumerate(images)]
        out = element.process(Batch(frames))
        return [f.detections for f in out.meta.frames], element

    gpu, element = detect("cuda", "torch", precision)
    assert element._device_path is not None  # parsed and clustered on the GPU
    cpu, _ = detect("cpu", "onnxruntime", "fp32")
    assert sum(len(d) for d in cpu) > 5
    for a, b in zip(gpu, cpu, strict=True):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        assert np.diag(box_iou(a.xyxy, b.xyxy)).min(initial=1) >= 0.99
        np.testing.assert_allclose(a.confidence, b.confidence, atol=0.01)


def test_gpu_element_preprocesses_cuda_nv12_frames_on_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    from visionflow.core.frame import device_copies

    monkeypatch.setenv("VISIONFLOW_CACHE", str(tmp_path))
    nv12 = []
    for img in scenes(4, seed=5):
        i420 = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
        h, w = img.shape[:2]
        u = i420[h : h + h // 4].reshape(h // 2, w // 2)
        v = i420[h + h // 4 :].reshape(h // 2, w // 2)
        nv12.append(np.concatenate([i420[:h], np.stack([u, v], -1).reshape(h // 2, w)]))

    def detect(device: str, backend: str, on_gpu: bool) -> list:
        element = Infer(bundled_config("shapes_det"), device=device, backend=backend)
        element.start()
        frames = [
            Frame(torch.from_numpy(p).cuda() if on_gpu else p, PixelFormat.NV12, i, 0)
            for i, p in enumerate(nv12)
        ]
        before = device_copies()
        out = element.process(Batch(frames))
        assert device_copies() == before  # no frame was copied to the host
        return [f.detections for f in out.meta.frames]

    gpu = detect("cuda", "torch", True)
    cpu = detect("cpu", "onnxruntime", False)
    assert sum(len(d) for d in cpu) > 3
    for a, b in zip(gpu, cpu, strict=True):
        assert len(a) == len(b)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        assert np.diag(box_iou(a.xyxy, b.xyxy)).min(initial=1) >= 0.95  # colour conversions differ
        np.testing.assert_allclose(a.confidence, b.confidence, atol=0.05)
