from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from visionflow.errors import ConfigError, MissingDependencyError
from visionflow.zoo.yolov8 import SCALES, YOLOv8Scale, build_yolov8, export_yolov8_onnx


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def anchor_grid(imgsz: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres (A, 2) in pixels and strides (A,), levels 8/16/32, row-major."""
    centres, strides = [], []
    for stride in (8, 16, 32):
        cells = imgsz // stride
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres.append((np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * stride)
        strides.append(np.full(cells * cells, stride))
    return np.concatenate(centres), np.concatenate(strides)


@pytest.mark.torch
@pytest.mark.parametrize(("scale", "parameters"), [("n", 3_157_200), ("s", 11_166_560)])
def test_parameter_count_matches_ultralytics(torch: Any, scale: str, parameters: int) -> None:
    model = build_yolov8(scale, num_classes=80)
    assert sum(p.numel() for p in model.parameters()) == parameters


@pytest.mark.torch
def test_build_is_seeded_and_leaves_global_rng_alone(torch: Any) -> None:
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    a = build_yolov8("n", num_classes=3, seed=1)
    assert torch.equal(torch.rand(1), expected_draw)
    b = build_yolov8("n", num_classes=3, seed=1)
    c = build_yolov8("n", num_classes=3, seed=2)
    weights = [dict(m.state_dict()) for m in (a, b, c)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


@pytest.mark.torch
def test_head_decodes_boxes_in_pixels_and_sigmoid_scores(torch: Any) -> None:
    """With the last box and class convolutions zeroed, every side distance is the mean of
    16 uniform bins (7.5 cells) and every score is sigmoid of the prior bias."""
    nc, imgsz = 5, 256
    model = build_yolov8(YOLOv8Scale(0.33, 0.125, 1024), num_classes=nc)
    head: Any = model.detect
    for branch in (*head.cv2, *head.cv3):
        branch[-1].weight.data.zero_()
    with torch.no_grad():
        out = model(torch.rand(2, 3, imgsz, imgsz)).numpy()
    centres, strides = anchor_grid(imgsz)
    assert out.shape == (2, 4 + nc, len(centres))
    np.testing.assert_allclose(
        out[:, 0:2], np.broadcast_to(centres.T, (2, 2, len(centres))), atol=1e-3
    )
    np.testing.assert_allclose(
        out[:, 2:4], np.broadcast_to(15.0 * strides, (2, 2, len(strides))), rtol=1e-5
    )
    prior = 5 / nc / (640 / strides) ** 2  # Ultralytics: bias = log(prior)
    expected = prior / (1 + prior)  # sigmoid(log(prior))
    np.testing.assert_allclose(out[:, 4:], np.broadcast_to(expected, out[:, 4:].shape), rtol=1e-4)


@pytest.mark.torch
def test_onnx_export_runs_in_onnxruntime_with_batch_2(torch: Any, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = export_yolov8_onnx(tmp_path / "yolov8n.onnx", scale="n", num_classes=80, imgsz=640)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (graph_input,), (graph_output,) = session.get_inputs(), session.get_outputs()
    assert (graph_input.name, graph_output.name) == ("images", "output0")
    assert graph_input.shape == ["batch", 3, 640, 640]
    assert graph_output.shape == ["batch", 84, 8400]
    images = np.random.default_rng(0).random((2, 3, 640, 640), dtype=np.float32)
    (output,) = session.run(None, {"images": images})
    assert output.shape == (2, 84, 8400)
    with torch.no_grad():
        expected = build_yolov8("n", num_classes=80)(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-3, rtol=1e-3)


@pytest.mark.torch
def test_static_batch_export(torch: Any, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = export_yolov8_onnx(
        tmp_path / "tiny.onnx",
        YOLOv8Scale(0.33, 0.125, 256),
        num_classes=2,
        imgsz=128,
        dynamic_batch=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 128, 128]
    assert session.get_outputs()[0].shape == [1, 6, 336]
    (output,) = session.run(None, {"images": np.zeros((1, 3, 128, 128), np.float32)})
    assert output.shape == (1, 6, 16 * 16 + 8 * 8 + 4 * 4)


def test_scales_are_ultralytics_compound_coefficients() -> None:
    assert {
        "n": YOLOv8Scale(depth=0.33, width=0.25, max_channels=1024),
        "s": YOLOv8Scale(depth=0.33, width=0.50, max_channels=1024),
    } == SCALES


@pytest.mark.torch
def test_unknown_scale_is_a_config_error(torch: Any) -> None:
    with pytest.raises(ConfigError) as err:
        build_yolov8("x")
    assert str(err.value) == "scale = x: unknown YOLOv8 scale; expected n or s"


def test_imgsz_must_be_a_multiple_of_32(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        export_yolov8_onnx(tmp_path / "m.onnx", imgsz=650)
    assert str(err.value) == "imgsz = 650: imgsz must be a multiple of 32"


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError) as err:
        build_yolov8("n")
    assert str(err.value) == (
        "Building a YOLOv8 network needs the 'torch' package, which is not installed; "
        "install it with: pip install 'visionflow[torch]'"
    )
