"""Caffe → ONNX, checked against a NumPy implementation of Caffe's layers written here.

Each test writes a prototxt and a caffemodel with known random weights through protobuf,
converts them, runs the ONNX model in ONNX Runtime and compares with the NumPy reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from numpy.lib.stride_tricks import sliding_window_view

from visionflow.convert.importers import import_model
from visionflow.convert.importers.caffe import import_caffe
from visionflow.convert.importers.caffe_pb import NetParameter
from visionflow.errors import ConversionError

RNG = np.random.default_rng(7)

# --------------------------------------------------------------------------------------------
# NumPy reference implementations of Caffe's forward passes (float64)


def conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0), dilation=(1, 1), group=1):
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    xg = xp.reshape(n, group, cg, *xp.shape[2:])
    wg = w.reshape(group, o // group, cg, kh, kw)
    out = np.zeros((n, group, o // group, oh, ow))
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            patch = xg[
                ...,
                r0 : r0 + stride[0] * (oh - 1) + 1 : stride[0],
                c0 : c0 + stride[1] * (ow - 1) + 1 : stride[1],
            ]
            out += np.einsum("ngchw,goc->ngohw", patch, wg[..., i, j])
    out = out.reshape(n, o, oh, ow)
    return out if b is None else out + b[None, :, None, None]


def deconv2d(x, w, b=None, stride=(1, 1), pad=(0, 0), dilation=(1, 1), group=1):
    """The adjoint of conv2d: every input pixel scatters its kernel-weighted value."""
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    full_h = (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1
    full_w = (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    out = np.zeros((n, group, og, full_h, full_w))
    xg = x.reshape(n, group, c // group, h, wd)
    wg = w.reshape(group, c // group, og, kh, kw)
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            out[
                ...,
                r0 : r0 + stride[0] * (h - 1) + 1 : stride[0],
                c0 : c0 + stride[1] * (wd - 1) + 1 : stride[1],
            ] += np.einsum("ngchw,gco->ngohw", xg, wg[..., i, j])
    out = out.reshape(n, group * og, full_h, full_w)[
        :, :, pad[0] : full_h - pad[0], pad[1] : full_w - pad[1]
    ]
    return out if b is None else out + b[None, :, None, None]


def caffe_pool(x, method, kernel, stride=(1, 1), pad=(0, 0)):
    """Caffe's PoolingLayer::Forward_cpu: ceil-mode sizes, AVE divides by the padded window."""
    _, _, h, w = x.shape
    size = []
    for i, k, s, p in zip((h, w), kernel, stride, pad, strict=False):
        n = math.ceil((i + 2 * p - k) / s) + 1
        if any(pad) and (n - 1) * s >= i + p:
            n -= 1
        size.append(n)
    (oh, ow), (kh, kw), (sh, sw), (ph, pw) = size, kernel, stride, pad
    end_h = max(0, (oh - 1) * sh + kh - h - ph)
    end_w = max(0, (ow - 1) * sw + kw - w - pw)
    fill = -np.inf if method == "MAX" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, end_h), (pw, end_w)), constant_values=fill)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]
    if method == "MAX":
        return windows.max(axis=(-2, -1))
    hstart, wstart = np.arange(oh) * sh - ph, np.arange(ow) * sw - pw
    area = (np.minimum(hstart + kh, h + ph) - hstart)[:, None] * (
        np.minimum(wstart + kw, w + pw) - wstart
    )[None, :]
    return windows.sum(axis=(-2, -1)) / area


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def batch_norm(x, mean, var, factor, eps=1e-5):
    f = 0.0 if factor == 0 else 1.0 / factor
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - (mean * f).reshape(shape)) / np.sqrt((var * f).reshape(shape) + eps)


def channel(v, ndim=4):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# --------------------------------------------------------------------------------------------
# Writing Caffe models


def write_model(
    tmp_path: Path, prototxt: str, weights: dict[str, list[np.ndarray]]
) -> tuple[Path, Path]:
    """Write ``prototxt`` and a caffemodel holding ``weights`` (layer name → blobs)."""
    net = text_format.Parse(prototxt, NetParameter())
    trained = NetParameter()
    trained.CopyFrom(net)
    for layer in trained.layer:
        for array in weights.get(layer.name, []):
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.astype(np.float32).ravel())
    proto_path, model_path = tmp_path / "deploy.prototxt", tmp_path / "model.caffemodel"
    proto_path.write_text(text_format.MessageToString(net))
    model_path.write_bytes(trained.SerializeToString())
    return proto_path, model_path


def input_layer(*dims: int) -> str:
    shape = " ".join(f"dim: {d}" for d in dims)
    return (
        'layer { name: "data" type: "Input" top: "data" '
        f"input_param {{ shape {{ {shape} }} }} }}\n"
    )


def run_onnx(path: Path, **feeds: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})
    return dict(zip(names, values, strict=True))


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# A small classic network


CLASSIC = """
name: "classic"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 4 dim: 13 dim: 13 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 } param { lr_mult: 2 }
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2 group: 2
                            weight_filler { type: "xavier" } } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "branch_a" type: "Convolution" bottom: "conv1" top: "branch_a"
        convolution_param { num_output: 6 kernel_size: 1 } }
layer { name: "branch_b" type: "Convolution" bottom: "conv1" top: "branch_b"
        convolution_param { num_output: 6 kernel_size: 3 pad: 2 dilation: 2 bias_term: false } }
layer { name: "sum" type: "Eltwise" bottom: "branch_a" bottom: "branch_b" top: "sum"
        eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
layer { name: "cat" type: "Concat" bottom: "conv1" bottom: "sum" top: "cat" }
layer { name: "pool1" type: "Pooling" bottom: "cat" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "drop" type: "Dropout" bottom: "pool1" top: "pool1"
        dropout_param { dropout_ratio: 0.3 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool1" top: "fc"
        inner_product_param { num_output: 10 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss"
        include { phase: TRAIN } }
"""


@pytest.fixture(scope="module")
def classic_weights() -> dict[str, list[np.ndarray]]:
    return {
        "conv1": [rand(8, 2, 3, 3), rand(8)],
        "bn1": [rand(8) * 3.0, RNG.uniform(0.5, 2.0, 8) * 3.0, np.array([3.0])],
        "scale1": [rand(8), rand(8)],
        "branch_a": [rand(6, 8, 1, 1), rand(6)],
        "branch_b": [rand(6, 8, 3, 3)],
        "fc": [rand(10, 14 * 4 * 4) * 0.1, rand(10)],
    }


def classic_reference(x: np.ndarray, w: dict[str, list[np.ndarray]]) -> np.ndarray:
    conv1 = conv2d(x, w["conv1"][0], w["conv1"][1], stride=(2, 2), pad=(1, 1), group=2)
    bn = batch_norm(conv1, *w["bn1"][:2], w["bn1"][2][0])
    relu = np.maximum(bn * channel(w["scale1"][0]) + channel(w["scale1"][1]), 0)
    branch_a = conv2d(relu, *w["branch_a"])
    branch_b = conv2d(relu, w["branch_b"][0], pad=(2, 2), dilation=(2, 2))
    cat = np.concatenate([relu, branch_a - 0.5 * branch_b], axis=1)
    pool = caffe_pool(cat, "MAX", (2, 2), (2, 2))  # 7x7 → 4x4 in ceil mode
    fc = pool.reshape(len(x), -1) @ w["fc"][0].T + w["fc"][1]
    return softmax(fc, axis=1)


def test_classic_network_matches_numpy_reference(tmp_path, classic_weights):
    proto, model = write_model(tmp_path, CLASSIC, classic_weights)
    result = import_caffe(proto, model, tmp_path / "classic.onnx")
    assert result.source_format == "caffe"
    assert result.input_layout == "NCHW"
    assert result.spec.input_names == ("data",)
    assert result.spec.input_shapes == ((None, 4, 13, 13),)
    assert result.spec.output_names == ("prob",)
    assert result.parity is None  # no pycaffe here to compare with
    for batch in (1, 3):
        x = rand(batch, 4, 13, 13)
        out = run_onnx(result.onnx_path, data=x)["prob"]
        assert out.shape == (batch, 10)
        assert_close(out, classic_reference(x, classic_weights))


def test_batchnorm_followed_by_scale_becomes_one_node(tmp_path, classic_weights):
    import onnx

    proto, model = write_model(tmp_path, CLASSIC, classic_weights)
    result = import_caffe(proto, model, tmp_path / "classic.onnx", simplify=False)
    ops = [node.op_type for node in onnx.load(str(result.onnx_path)).graph.node]
    assert ops.count("BatchNormalization") == 1
    assert "Mul" not in ops[: ops.index("Relu")]


# --------------------------------------------------------------------------------------------
# One layer at a time

Case = tuple[tuple[int, ...], str, list[tuple[int, ...]], Callable[..., np.ndarray]]

LAYERS: dict[str, Case] = {
    "conv_hw_forms_no_bias": (
        (2, 3, 9, 8),
        'type: "Convolution" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 2 '
        "pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1 bias_term: false }",
        [(4, 3, 3, 2)],
        lambda x, w: conv2d(x, w[0], stride=(2, 1), pad=(1, 0)),
    ),
    "conv_per_axis_lists_depthwise": (
        (1, 4, 10, 9),
        'type: "Convolution" convolution_param { num_output: 4 group: 4 kernel_size: 3 '
        "kernel_size: 1 pad: 1 pad: 0 stride: 1 stride: 2 }",
        [(4, 1, 3, 1), (4,)],
        lambda x, w: conv2d(x, w[0], w[1], stride=(1, 2), pad=(1, 0), group=4),
    ),
    "deconvolution_grouped": (
        (1, 4, 5, 6),
        'type: "Deconvolution" convolution_param { num_output: 6 group: 2 kernel_size: 4 '
        "stride: 2 pad: 1 }",
        [(4, 3, 4, 4), (6,)],
        lambda x, w: deconv2d(x, w[0], w[1], stride=(2, 2), pad=(1, 1), group=2),
    ),
    "deconvolution_dilated": (
        (1, 2, 4, 4),
        'type: "Deconvolution" convolution_param { num_output: 3 kernel_size: 3 dilation: 2 }',
        [(2, 3, 3, 3), (3,)],
        lambda x, w: deconv2d(x, w[0], w[1], dilation=(2, 2)),
    ),
    "max_pool_ceil_with_pad": (
        (2, 3, 8, 7),
        'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }',
        [],
        lambda x, w: caffe_pool(x, "MAX", (3, 3), (2, 2), (1, 1)),
    ),
    "max_pool_last_window_dropped": (
        (1, 2, 5, 5),
        'type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }',
        [],
        lambda x, w: caffe_pool(x, "MAX", (2, 2), (2, 2), (1, 1)),
    ),
    "ave_pool_ceil_with_pad": (
        (2, 3, 4, 4),
        'type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }',
        [],
        lambda x, w: caffe_pool(x, "AVE", (3, 3), (2, 2), (1, 1)),
    ),
    "ave_pool_ceil_no_pad": (
        (1, 3, 7, 9),
        'type: "Pooling" pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 '
        "stride_h: 2 stride_w: 2 }",
        [],
        lambda x, w: caffe_pool(x, "AVE", (3, 2), (2, 2)),
    ),
    "global_ave_pool": (
        (2, 5, 6, 3),
        'type: "Pooling" pooling_param { pool: AVE global_pooling: true }',
        [],
        lambda x, w: x.mean(axis=(2, 3), keepdims=True),
    ),
    "global_max_pool": (
        (2, 5, 6, 3),
        'type: "Pooling" pooling_param { pool: MAX global_pooling: true }',
        [],
        lambda x, w: x.max(axis=(2, 3), keepdims=True),
    ),
    "leaky_relu": (
        (2, 3, 4, 4),
        'type: "ReLU" relu_param { negative_slope: 0.1 }',
        [],
        lambda x, w: np.where(x > 0, x, 0.1 * x),
    ),
    "prelu_per_channel": (
        (2, 3, 4, 4),
        'type: "PReLU"',
        [(3,)],
        lambda x, w: np.where(x > 0, x, channel(w[0]) * x),
    ),
    "prelu_channel_shared": (
        (2, 3, 4, 4),
        'type: "PReLU" prelu_param { channel_shared: true }',
        [(1,)],
        lambda x, w: np.where(x > 0, x, w[0][0] * x),
    ),
    "sigmoid": ((2, 3, 2, 2), 'type: "Sigmoid"', [], lambda x, w: 1 / (1 + np.exp(-x))),
    "tanh": ((2, 3, 2, 2), 'type: "TanH"', [], lambda x, w: np.tanh(x)),
    "inner_product_transposed": (
        (2, 3, 2, 2),
        'type: "InnerProduct" inner_product_param { num_output: 5 transpose: true }',
        [(12, 5), (5,)],
        lambda x, w: x.reshape(len(x), -1) @ w[0] + w[1],
    ),
    "inner_product_axis_2_no_bias": (
        (2, 3, 4, 5),
        'type: "InnerProduct" inner_product_param { num_output: 6 axis: 2 bias_term: false }',
        [(6, 20)],
        lambda x, w: x.reshape(2, 3, 20) @ w[0].T,
    ),
    "batch_norm_alone_with_zero_factor": (
        (2, 3, 4, 4),
        'type: "BatchNorm" batch_norm_param { eps: 0.001 }',
        [(3,), (3,), (1,)],
        lambda x, w: x / np.sqrt(0.001),  # a zero scale factor zeroes mean and variance
    ),
    "scale_with_bias": (
        (2, 3, 4, 4),
        'type: "Scale" scale_param { bias_term: true }',
        [(3,), (3,)],
        lambda x, w: x * channel(w[0]) + channel(w[1]),
    ),
    "scale_two_axes": (
        (2, 3, 4, 5),
        'type: "Scale" scale_param { axis: 2 num_axes: 2 }',
        [(4, 5)],
        lambda x, w: x * w[0],
    ),
    "softmax_axis_2": (
        (2, 3, 4, 5),
        'type: "Softmax" softmax_param { axis: 2 }',
        [],
        lambda x, w: softmax(x, axis=2),
    ),
    "flatten_middle_axes": (
        (2, 3, 4, 5),
        'type: "Flatten" flatten_param { axis: 1 end_axis: 2 }',
        [],
        lambda x, w: x.reshape(2, 12, 5),
    ),
    "reshape_copy_and_infer": (
        (2, 6, 4, 1),
        'type: "Reshape" reshape_param { shape { dim: 0 dim: 3 dim: -1 } }',
        [],
        lambda x, w: x.reshape(2, 3, 8),
    ),
    "reshape_axis_and_num_axes": (
        (2, 6, 4),
        'type: "Reshape" reshape_param { shape { dim: 2 dim: 3 } axis: 1 num_axes: 1 }',
        [],
        lambda x, w: x.reshape(2, 2, 3, 4),
    ),
    "permute_nhwc": (
        (2, 3, 4, 5),
        'type: "Permute" permute_param { order: 0 order: 2 order: 3 order: 1 }',
        [],
        lambda x, w: x.transpose(0, 2, 3, 1),
    ),
    "permute_partial_order": (
        (2, 3, 4, 5),
        'type: "Permute" permute_param { order: 0 order: 3 }',
        [],
        lambda x, w: x.transpose(0, 3, 1, 2),
    ),
    "dropout_is_identity": (
        (2, 3, 2, 2),
        'type: "Dropout" dropout_param { dropout_ratio: 0.7 }',
        [],
        lambda x, w: x,
    ),
}


@pytest.mark.parametrize("case", LAYERS, ids=list(LAYERS))
def test_layer_matches_numpy_reference(tmp_path, case):
    shape, layer, blob_shapes, reference = LAYERS[case]
    prototxt = input_layer(*shape) + f'layer {{ name: "op" bottom: "data" top: "out" {layer} }}'
    weights = [rand(*s) for s in blob_shapes]
    if case == "batch_norm_alone_with_zero_factor":
        weights[2] = np.zeros(1)
    proto, model = write_model(tmp_path, prototxt, {"op": weights})
    result = import_caffe(proto, model, tmp_path / "op.onnx")
    x = rand(*shape)
    assert_close(run_onnx(result.onnx_path, data=x)["out"], reference(x, weights))


ELTWISE = {
    "PROD": lambda a, b, c: a * b * c,
    "MAX": lambda a, b, c: np.maximum(np.maximum(a, b), c),
    "SUM": lambda a, b, c: a + b + c,
}


@pytest.mark.parametrize("operation", ELTWISE)
def test_eltwise_of_three_inputs(tmp_path, operation):
    prototxt = "\n".join(
        [
            'input: "a" input: "b" input: "c"',
            *["input_shape { dim: 2 dim: 3 dim: 4 }"] * 3,
            f'layer {{ name: "op" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "out" '
            f"eltwise_param {{ operation: {operation} }} }}",
        ]
    )
    proto, model = write_model(tmp_path, prototxt, {})
    result = import_caffe(proto, model, tmp_path / "op.onnx")
    a, b, c = rand(2, 3, 4), rand(2, 3, 4), rand(2, 3, 4)
    assert_close(run_onnx(result.onnx_path, a=a, b=b, c=c)["out"], ELTWISE[operation](a, b, c))


def test_legacy_input_dim_and_concat_dim(tmp_path):
    prototxt = (
        'input: "a" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3 '
        'input: "b" input_dim: 1 input_dim: 2 input_dim: 4 input_dim: 3\n'
        'layer { name: "cat" type: "Concat" bottom: "a" bottom: "b" top: "cat" '
        "concat_param { concat_dim: 2 } }"
    )
    proto, model = write_model(tmp_path, prototxt, {})
    result = import_caffe(proto, model, tmp_path / "cat.onnx")
    assert result.spec.input_shapes == ((None, 2, 3, 3), (None, 2, 4, 3))
    a, b = rand(2, 2, 3, 3), rand(2, 2, 4, 3)
    assert_close(run_onnx(result.onnx_path, a=a, b=b)["cat"], np.concatenate([a, b], axis=2))


def test_in_place_layers_keep_the_blob_name_for_the_output(tmp_path):
    prototxt = (
        'input: "data" input_shape { dim: 1 dim: 3 }\n'
        'layer { name: "s" type: "Sigmoid" bottom: "data" top: "act" }\n'
        'layer { name: "t" type: "TanH" bottom: "act" top: "act" }\n'
        'layer { name: "r" type: "ReLU" bottom: "act" top: "act" }'
    )
    proto, model = write_model(tmp_path, prototxt, {})
    result = import_caffe(proto, model, tmp_path / "act.onnx")
    x = rand(4, 3)
    assert result.spec.output_names == ("act",)
    assert_close(
        run_onnx(result.onnx_path, data=x)["act"], np.maximum(np.tanh(1 / (1 + np.exp(-x))), 0)
    )


def test_input_shape_overrides_the_declared_size(tmp_path):
    prototxt = input_layer(1, 3, 8, 8) + (
        'layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" '
        "pooling_param { pool: MAX kernel_size: 3 stride: 2 } }"
    )
    from visionflow.convert.spec import ExportSpec

    proto, model = write_model(tmp_path, prototxt, {})
    spec = ExportSpec(input_shapes=[(None, 3, 11, 10)])
    result = import_caffe(proto, model, tmp_path / "pool.onnx", spec=spec)
    x = rand(2, 3, 11, 10)
    assert_close(run_onnx(result.onnx_path, data=x)["pool"], caffe_pool(x, "MAX", (3, 3), (2, 2)))


INPUT = input_layer(1, 2, 4, 4)

CONV_1X1 = (
    'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
    "convolution_param { num_output: 2 kernel_size: 1 } }"
)

ERRORS = {
    "unsupported_type": (
        'layer { name: "p" type: "Power" bottom: "data" top: "p" }',
        {},
        "layer 'p': Caffe layer type 'Power' is not supported; supported: Input, BatchNorm",
    ),
    "missing_weights": (
        CONV_1X1,
        {},
        "layer 'c' (Convolution): the caffemodel has no weight blob 0",
    ),
    "wrong_weight_size": (
        CONV_1X1,
        {"c": [rand(2, 3, 1, 1), rand(2)]},
        "layer 'c' (Convolution): weight blob 0 holds 6 values, expected (2, 2, 1, 1)",
    ),
    "batch_statistics": (
        'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" '
        "batch_norm_param { use_global_stats: false } }",
        {"bn": [rand(2), rand(2), np.ones(1)]},
        "layer 'bn' (BatchNorm): use_global_stats: false normalises with mini-batch statistics",
    ),
    "stochastic_pooling": (
        'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
        "pooling_param { pool: STOCHASTIC kernel_size: 2 } }",
        {},
        "layer 'p' (Pooling): STOCHASTIC pooling is not supported",
    ),
    "unknown_bottom": (
        'layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }',
        {},
        "layer 'r' reads blobs ['nothing'] that no layer produced",
    ),
    "flatten_batch": (
        'layer { name: "f" type: "Flatten" bottom: "data" top: "f" flatten_param { axis: 0 } }',
        {},
        "layer 'f' (Flatten): flattening axis 0 would mix the samples of a batch",
    ),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_conversion_errors_name_the_layer(tmp_path, case):
    layer, weights, message = ERRORS[case]
    proto, model = write_model(tmp_path, INPUT + layer, weights)
    with pytest.raises(ConversionError, match=f"^{_escape(message)}"):
        import_caffe(proto, model, tmp_path / "x.onnx")


def test_unknown_parameter_field_names_the_line(tmp_path):
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(
        INPUT
        + 'layer { name: "n" type: "LRN" bottom: "data" top: "n" lrn_param { local_size: 5 } }\n'
    )
    model = tmp_path / "model.caffemodel"
    model.write_bytes(b"")
    with pytest.raises(
        ConversionError,
        match=(
            r'deploy\.prototxt:2:55: Message type "caffe\.LayerParameter" has no field named '
            r'"lrn_param"; visionflow reads the fields'
        ),
    ):
        import_caffe(proto, model, tmp_path / "x.onnx")


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(ConversionError, match="prototxt not found"):
        import_caffe(tmp_path / "none.prototxt", tmp_path / "none.caffemodel", tmp_path / "x.onnx")


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_weights_of_v1_caffemodels_are_read(tmp_path):
    prototxt = INPUT + (
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
        "inner_product_param { num_output: 3 } }"
    )
    proto, _ = write_model(tmp_path, prototxt, {})
    weight, bias = rand(3, 32), rand(3)
    legacy = NetParameter()
    layer = legacy.layers.add(name="ip")
    for array, dims in ((weight, (1, 1, 3, 32)), (bias, (1, 1, 1, 3))):
        blob = layer.blobs.add(num=dims[0], channels=dims[1], height=dims[2], width=dims[3])
        blob.data.extend(array.astype(np.float32).ravel())
    model = tmp_path / "legacy.caffemodel"
    model.write_bytes(legacy.SerializeToString())

    result = import_model(model, proto=proto)

    assert result.onnx_path == tmp_path / "legacy.onnx"
    x = rand(2, 2, 4, 4)
    assert_close(run_onnx(result.onnx_path, data=x)["ip"], x.reshape(2, -1) @ weight.T + bias)


def test_import_model_takes_the_two_files_in_either_order(tmp_path, classic_weights):
    proto, model = write_model(tmp_path, CLASSIC, classic_weights)
    first = import_model(model, proto=proto, output=tmp_path / "a.onnx")
    second = import_model(proto, proto=model, output=tmp_path / "b.onnx")
    x = rand(1, 4, 13, 13)
    np.testing.assert_array_equal(
        run_onnx(first.onnx_path, data=x)["prob"], run_onnx(second.onnx_path, data=x)["prob"]
    )
