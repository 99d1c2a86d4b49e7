"""MediaPipe's TFLite custom ops convert to ONNX: parity with the TFLite interpreter (which has
kernels for all three) on model outputs, and with NumPy ports of MediaPipe's kernels op by op."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from support import mediapipe_ops as ref
from support.tflite_models import (
    RELU,
    SAME,
    VALID,
    Graph,
    argmax_unpool_model,
    pool_options,
    transpose_conv_bias_model,
    transpose_conv_options,
)
from visionflow.convert.importers import import_model
from visionflow.convert.importers.tflite_custom import read_custom_ops
from visionflow.errors import ConversionError


def run(onnx_path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: x}), strict=True))


def sample(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_convolution2d_transpose_bias_matches_tflite_and_mediapipe(tmp_path: Path) -> None:
    path, weights, bias = transpose_conv_bias_model(tmp_path / "decoder.tflite")
    assert [op.code for op in read_custom_ops(path)] == ["Convolution2DTransposeBias"]
    result = import_model(path, output=tmp_path / "decoder.onnx")
    assert result.parity is not None
    assert result.parity.passed, result.parity
    x = sample((1, 8, 8, 3))
    got = run(result.onnx_path, x)["output"]
    assert got.shape == (1, 16, 16, 4)
    np.testing.assert_allclose(
        got, ref.transpose_conv_bias(x, weights, bias, (2, 2), SAME), atol=1e-5
    )


def test_pool_with_argmax_then_unpool_matches_tflite(tmp_path: Path) -> None:
    path = argmax_unpool_model(tmp_path / "segnet.tflite", expose_indices=False)
    result = import_model(path, output=tmp_path / "segnet.onnx")
    assert result.parity is not None
    assert result.parity.passed, result.parity
    x = sample((1, 8, 8, 3), seed=1)
    values, indices = ref.max_pool_argmax(x, (2, 2), (2, 2), SAME)
    expected = ref.max_unpooling(values, indices, (2, 2), (2, 2))
    np.testing.assert_array_equal(run(result.onnx_path, x)["output"], expected)


@pytest.mark.parametrize(
    ("size", "padding", "activation"), [(8, SAME, 0), (7, SAME, 0), (9, VALID, RELU), (6, VALID, 0)]
)
def test_argmax_indices_follow_mediapipe(
    tmp_path: Path, size: int, padding: int, activation: int
) -> None:
    # TensorFlow's own kernel for this op numbers window positions column-first and writes
    # int32 bits into the float tensor, so the raw indices are checked against MediaPipe's loop.
    g = Graph()
    out = (size + 1) // 2 if padding == SAME else (size - 3 + 2) // 2
    x_t = g.tensor("input", (1, size, size, 2))
    v_t, i_t = g.tensor("pooled", (1, out, out, 2)), g.tensor("indices", (1, out, out, 2))
    g.custom(
        "MaxPoolingWithArgmax2D", [x_t], [v_t, i_t], pool_options(padding, 2, 2, 3, 3, activation)
    )
    g.inputs, g.outputs = [x_t], [v_t, i_t]
    path = g.write(tmp_path / "pool.tflite")
    result = import_model(path, output=tmp_path / "pool.onnx", verify=False)
    x = sample((1, size, size, 2), seed=size)
    x[0, 0, 0, 0] = x[0, 0, 1, 0] = 9.0  # a tie: the first in row-major order wins
    got = run(result.onnx_path, x)
    values, indices = ref.max_pool_argmax(x, (3, 3), (2, 2), padding)
    if activation == RELU:
        values = np.maximum(values, 0)
    np.testing.assert_array_equal(got["pooled"], values)
    np.testing.assert_array_equal(got["indices"], indices)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"), [(5, 3, 2, SAME), (4, 2, 2, VALID), (6, 4, 1, SAME)]
)
def test_transpose_conv_shapes_and_paddings(
    tmp_path: Path, size: int, kernel: int, stride: int, padding: int
) -> None:
    rng = np.random.default_rng(kernel)
    weights = rng.normal(size=(3, kernel, kernel, 2)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    x = sample((1, size, size, 2), seed=kernel)
    expected = ref.transpose_conv_bias(x, weights, bias, (stride, stride), padding)
    g = Graph()
    x_t = g.tensor("input", x.shape)
    w_t, b_t = g.tensor("w", weights.shape, weights), g.tensor("b", bias.shape, bias)
    y_t = g.tensor("output", expected.shape)
    g.custom(
        "Convolution2DTransposeBias",
        [x_t, w_t, b_t],
        [y_t],
        transpose_conv_options(padding, stride, stride),
    )
    g.inputs, g.outputs = [x_t], [y_t]
    result = import_model(g.write(tmp_path / "tc.tflite"), output=tmp_path / "tc.onnx")
    assert result.parity is not None
    assert result.parity.passed, result.parity
    np.testing.assert_allclose(run(result.onnx_path, x)["output"], expected, atol=1e-4)


def test_unknown_custom_op_is_named(tmp_path: Path) -> None:
    g = Graph()
    x_t, y_t = g.tensor("input", (1, 4, 4, 1)), g.tensor("output", (1, 4, 4, 1))
    g.custom("Landmarks2TransformMatrix", [x_t], [y_t], b"\0" * 8)
    g.inputs, g.outputs = [x_t], [y_t]
    with pytest.raises(ConversionError, match="custom op\\(s\\) Landmarks2TransformMatrix cannot"):
        import_model(g.write(tmp_path / "odd.tflite"), output=tmp_path / "odd.onnx")
