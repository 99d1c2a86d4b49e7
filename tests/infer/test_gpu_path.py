"""The element's device half (infer.gpu_path), run on CPU tensors: the same objects as the host
parser + clustering, and only the final objects copied."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionflow.infer.backends import load_backend  # noqa: E402
from visionflow.infer.element import Infer  # noqa: E402
from visionflow.infer.gpu_path import DevicePath  # noqa: E402
from visionflow.zoo import bundled_config  # noqa: E402
from visionflow.zoo.scenes import render_scene  # noqa: E402

SHAPES = bundled_config("shapes_det").parent / "shapes_det.onnx"


@pytest.fixture(scope="module")
def element() -> Infer:
    infer = Infer(bundled_config("shapes_det"), device="cpu", backend="onnxruntime")
    infer.start()
    return infer


def test_only_cuda_torch_backends_get_a_device_path(element: Infer) -> None:
    assert element._device_path is None  # ONNX Runtime on the CPU: the host path
    cpu_torch = load_backend(SHAPES, "torch", device="cpu", batch=4)
    assert (
        DevicePath.for_backend(cpu_torch, element.parser, element.attach, element.context) is None
    )


@pytest.mark.parametrize("host_outputs", [False, True])
def test_device_path_gives_the_host_objects(element: Infer, host_outputs: bool) -> None:
    backend = load_backend(SHAPES, "torch", device="cpu", batch=4)
    path = DevicePath(
        backend, element.parser, element.attach, element.context, host_outputs=host_outputs
    )
    rng = np.random.default_rng(7)
    images = [render_scene(rng, 640, 360)[0] for _ in range(3)]
    tensor, _ = element._preprocessor(images, [(0, 0, 640, 360)] * 3)
    host, parsed = path.run(tensor.copy(), 3)
    outputs = element.backend.infer({element.input_name: tensor})
    assert parsed is not None
    assert (host is not None) is host_outputs
    found = 0
    for k, result in enumerate(parsed):
        want = element.attach.cluster(
            element.parser({n: v[k] for n, v in outputs.items()}, element.context)
        )
        found += len(want)
        np.testing.assert_array_equal(result.class_id, want.class_id)
        np.testing.assert_allclose(result.xyxy, want.xyxy, atol=0.02)
        np.testing.assert_allclose(result.confidence, want.confidence, atol=1e-4)
    assert found > 3
    assert path.host_copies == (2 if host_outputs else 1)
