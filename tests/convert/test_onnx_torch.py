"""ONNX → torch conversion: parity with ONNX Runtime, static graphs, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

torch = pytest.importorskip("torch")

from support.deepstream_yolo import to_deepstream_yolo  # noqa: E402
from visionflow.convert.onnx_torch import onnx_to_torch, run_numpy  # noqa: E402
from visionflow.errors import ConversionError  # noqa: E402
from visionflow.zoo import bundled_config  # noqa: E402
from visionflow.zoo.scenes import render_scene  # noqa: E402

SHAPES = bundled_config("shapes_det").parent / "shapes_det.onnx"
# the bundled detector's input (height, width) and anchor count, read from the model
NET_H, NET_W = ort.InferenceSession(str(SHAPES)).get_inputs()[0].shape[2:]
ANCHORS = sum((NET_H // s) * (NET_W // s) for s in (8, 16, 32))


def ort_run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def scene_batch(batch: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = [render_scene(rng, NET_W, NET_H)[0] for _ in range(batch)]
    return (np.stack(images).transpose(0, 3, 1, 2) / 255.0).astype(np.float32)


@pytest.mark.parametrize("batch", [1, 3])
def test_bundled_detector_matches_onnxruntime_within_1e_4(batch: int) -> None:
    x = scene_batch(batch)
    module = onnx_to_torch(SHAPES, batch)
    (got,) = run_numpy(module, {"images": x})
    (want,) = ort_run(SHAPES, x)
    assert got.shape == want.shape == (batch, 7, ANCHORS)
    assert (np.abs(got - want) / (1 + np.abs(want))).max() <= 1e-4
    assert want[:, 4:].max() > 0.5  # the scene has objects: the scores are not all ~0


def test_deepstream_yolo_layout_converts(tmp_path: Path) -> None:
    path = to_deepstream_yolo(SHAPES, tmp_path / "dsy.onnx")  # adds ReduceMax, ArgMax, Split…
    x = scene_batch(2)
    (got,) = run_numpy(onnx_to_torch(path, 2), {"images": x})
    (want,) = ort_run(path, x)
    sure = want[..., 4] > 0.1  # where scores are not a near tie of background values
    assert sure.sum() > 10
    np.testing.assert_array_equal(got[..., 5][sure], want[..., 5][sure])  # same classes
    close = (np.abs(got - want) / (1 + np.abs(want)))[..., :5]
    assert close.max() <= 1e-4


def test_yolov8n_export_matches_and_has_no_shape_arithmetic_left(tmp_path: Path) -> None:
    from visionflow.zoo.yolov8 import export_yolov8_onnx

    path = export_yolov8_onnx(tmp_path / "y8n.onnx", scale="n", num_classes=80, imgsz=256)
    module = onnx_to_torch(path, 2)
    x = np.random.default_rng(1).uniform(0, 1, (2, 3, 256, 256)).astype(np.float32)
    (got,) = run_numpy(module, {"images": x})
    (want,) = ort_run(path, x)
    assert (np.abs(got - want) / (1 + np.abs(want))).max() <= 1e-4
    # Shape/Gather/Range/Expand were folded: the graph holds no op that reads sizes at run time
    code = module.code
    for folded in (".size(", ".shape", "arange(", "tolist", ".item(", ".cpu("):
        assert folded not in code


def test_the_module_exports_with_torch_export() -> None:
    module = onnx_to_torch(SHAPES, 1)
    program = torch.export.export(module, (torch.zeros(1, 3, NET_H, NET_W),))
    x = scene_batch(1)
    (want,) = run_numpy(module, {"images": x})
    (got,) = program.module()(torch.from_numpy(x))
    # the exported graph may order float32 sums differently: the conversion's FP32 bound
    assert (np.abs(got.numpy() - want) / (1 + np.abs(want))).max() <= 1e-4


def _model(nodes: list, inputs: list, outputs: list, inits: list | None = None) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_operators_are_named() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    model = _model([helper.make_node("Det", ["x"], ["y"])], [x], [y])
    with pytest.raises(ConversionError, match="not supported: Det"):
        onnx_to_torch(model, 1)


def test_a_shape_argument_that_depends_on_data_is_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])
    model = _model([helper.make_node("Reshape", ["x", "s"], ["y"])], [x, s], [y])
    with pytest.raises(ConversionError, match="target shape depends on the input data"):
        onnx_to_torch(model, 1)


def test_dynamic_spatial_dimensions_need_a_shape_and_batches_must_fit() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y])
    with pytest.raises(ConversionError, match="dynamic dimensions"):
        onnx_to_torch(model, 2)
    module = onnx_to_torch(model, 2, {"x": (2, 3, 8, 8)})
    assert module.input_shapes == ((2, 3, 8, 8),)
    fixed = _model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])],
    )
    with pytest.raises(ConversionError, match="fixed batch of 4"):
        onnx_to_torch(fixed, 2)
