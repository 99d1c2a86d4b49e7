"""MediaPipe's TFLite custom operators, converted to ONNX through tf2onnx custom-op handlers.

MediaPipe's models (selfie and hair segmentation, some face and hand models) carry three CUSTOM
operators tf2onnx does not know (``No Op registered for TFL_Convolution2DTransposeBias``). Their
options are raw C structs in the operator's ``custom_options`` (not flexbuffers), read here from
the flatbuffer with TensorFlow's schema. Semantics follow MediaPipe's kernels
(``mediapipe/util/tflite/operations/*.cc``):

* ``Convolution2DTransposeBias`` — inputs ``x`` NHWC, weights OHWI, bias; options
  ``TfLiteTransposeConvParams`` (padding, stride_w, stride_h). SAME padding removes
  ``max(0, k - (in - 1) % stride - 1)`` rows (half of it, rounded down, at the top); output
  ``stride · (in - 1) + k - padding``. → ONNX ``ConvTranspose`` between transposes.
* ``MaxPoolingWithArgmax2D`` — options ``TfLitePoolParams`` (padding, strides, filter,
  activation); outputs the window maximum and, as a float, its position in the window
  ``fy · filter_w + fx + 0.1`` (the first maximum in row-major order). → a padded tensor cut into
  one strided slice per window position, ``ReduceMax`` and ``ArgMax`` over them.
* ``MaxUnpooling2D`` — inputs values and those indices; each value goes back to its window
  position of an output ``filter`` times larger, zeros elsewhere. Converted where stride equals
  filter size (non-overlapping windows, as every MediaPipe model uses) as one mask per window
  position and a depth-to-space reshape.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import ConversionError

MEDIAPIPE_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D")
"""The custom operators converted here."""

_SAME, _VALID = 1, 2  # TfLitePadding
_ACTIVATION_RANGE = {0: None, 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}  # none, relu, …


@dataclass(frozen=True)
class CustomOp:
    """One CUSTOM operator of a TFLite model.

    Attributes:
        code: its ``custom_code`` (e.g. ``MaxUnpooling2D``).
        options: its raw ``custom_options``.
        outputs: its output tensor names.
    """

    code: str
    options: bytes
    outputs: tuple[str, ...]

    def ints(self, count: int) -> tuple[int, ...]:
        """The first ``count`` int32 fields of the options struct."""
        if len(self.options) < 4 * count:
            raise ConversionError(
                f"TFLite custom op {self.code} (output {self.outputs[0]}): options hold "
                f"{len(self.options)} bytes, {4 * count} expected"
            )
        return struct.unpack_from(f"<{count}i", self.options)


def read_custom_ops(path: str | Path) -> list[CustomOp]:
    """The CUSTOM operators of a TFLite flatbuffer (every subgraph), Flex ops excluded."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(Path(path).read_bytes(), 0))
    codes = model.operatorCodes or []
    found = []
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            code = codes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if builtin != schema.BuiltinOperator.CUSTOM or code.customCode is None:
                continue
            name = code.customCode.decode()
            if name.startswith("Flex"):
                continue
            options = bytes(bytearray(op.customOptions)) if op.customOptions is not None else b""
            outputs = tuple(graph.tensors[i].name.decode() for i in op.outputs if i >= 0)
            found.append(CustomOp(name, options, outputs))
    return found


def custom_op_handlers(
    ops: list[CustomOp], errors: list[Exception]
) -> dict[str, tuple[Callable[..., Any], list[Any]]]:
    """tf2onnx ``custom_op_handlers`` for the MediaPipe operators among ``ops``.

    tf2onnx logs a handler's exception and goes on, leaving the operator in the graph; the
    handlers append theirs to ``errors`` so that the caller can raise it.

    Raises:
        ConversionError: a custom operator that is neither MediaPipe's nor a Flex op.
    """
    unknown = sorted({op.code for op in ops} - set(MEDIAPIPE_OPS))
    if unknown:
        raise ConversionError(
            f"TFLite custom op(s) {', '.join(unknown)} cannot be converted; visionflow converts "
            f"{', '.join(MEDIAPIPE_OPS)} (MediaPipe's) and TensorFlow Flex ops"
        )
    by_output = {op.outputs[0]: op for op in ops}

    def options_of(node: Any) -> CustomOp:
        # tf2onnx names an operator's node after its first output tensor.
        for name in (node.name, *node.output):
            for candidate in (name, name.rsplit(":", 1)[0]):
                if candidate in by_output:
                    return by_output[candidate]
        raise ConversionError(f"no options found for TFLite custom op {node.type} ({node.name})")

    handlers = {
        "Convolution2DTransposeBias": _transpose_conv_bias,
        "MaxPoolingWithArgmax2D": _max_pool_argmax,
        "MaxUnpooling2D": _max_unpooling,
    }

    def wrap(convert: Callable[[Any, Any, CustomOp], None]) -> Callable[..., None]:
        def handler(ctx: Any, node: Any, name: str, args: list[Any]) -> None:
            try:
                convert(ctx, node, options_of(node))
            except Exception as err:
                errors.append(err)
                raise

        return handler

    return {f"TFL_{code}": (wrap(handlers[code]), []) for code in {op.code for op in ops}}


def _name(base: str) -> str:
    from tf2onnx import utils

    return str(utils.make_name(base))


def _static_shape(ctx: Any, name: str, op: CustomOp) -> list[int]:
    shape = ctx.get_shape(name)
    if shape is None or len(shape) != 4 or any(d is None or d < 0 for d in shape[1:]):
        raise ConversionError(
            f"TFLite custom op {op.code} (output {op.outputs[0]}) needs a 4-D input with fixed "
            f"height, width and channels, got {shape}"
        )
    return list(shape)


def _replace(ctx: Any, node: Any) -> tuple[list[str], list[Any], list[Any]]:
    """Remove ``node``; its outputs' names, shapes and dtypes, for the nodes replacing it."""
    outputs = list(node.output)
    shapes = [ctx.get_shape(o) for o in outputs]
    dtypes = [ctx.get_dtype(o) for o in outputs]
    ctx.remove_node(node.name)
    return outputs, shapes, dtypes


def _activation(ctx: Any, name: str, code: int, op: CustomOp) -> str:
    if code not in _ACTIVATION_RANGE:
        raise ConversionError(f"TFLite custom op {op.code}: unknown fused activation {code}")
    bounds = _ACTIVATION_RANGE[code]
    if bounds is None:
        return name
    low, high = bounds
    inputs = [name, ctx.make_const(_name("low"), np.array(low, np.float32)).output[0]]
    if high is not None:
        inputs.append(ctx.make_const(_name("high"), np.array(high, np.float32)).output[0])
    return str(ctx.make_node("Clip", inputs).output[0])


def _transpose_conv_bias(ctx: Any, node: Any, op: CustomOp) -> None:
    padding, stride_w, stride_h = op.ints(3)
    x, weights, bias = node.input
    in_shape = _static_shape(ctx, x, op)
    w_shape = ctx.get_shape(weights)
    if w_shape is None or len(w_shape) != 4:
        raise ConversionError(f"{op.code} (output {op.outputs[0]}): weights must be 4-D OHWI")
    kh, kw = int(w_shape[1]), int(w_shape[2])
    pads = [0, 0, 0, 0]
    if padding == _SAME:
        pad_h = max(0, kh - (in_shape[1] - 1) % stride_h - 1)
        pad_w = max(0, kw - (in_shape[2] - 1) % stride_w - 1)
        pads = [pad_h // 2, pad_w // 2, pad_h - pad_h // 2, pad_w - pad_w // 2]
    elif padding != _VALID:
        raise ConversionError(f"{op.code} (output {op.outputs[0]}): unknown padding {padding}")
    outputs, shapes, dtypes = _replace(ctx, node)
    nchw = ctx.make_node("Transpose", [x], attr={"perm": [0, 3, 1, 2]}).output[0]
    iohw = ctx.make_node("Transpose", [weights], attr={"perm": [3, 0, 1, 2]}).output[0]
    conv = ctx.make_node(
        "ConvTranspose",
        [nchw, iohw, bias],
        attr={"strides": [stride_h, stride_w], "pads": pads, "kernel_shape": [kh, kw]},
    ).output[0]
    ctx.make_node(
        "Transpose",
        [conv],
        attr={"perm": [0, 2, 3, 1]},
        outputs=outputs,
        shapes=shapes,
        dtypes=dtypes,
    )


def _pool_params(op: CustomOp) -> tuple[int, int, int, int, int, int]:
    padding, stride_w, stride_h, filter_w, filter_h, activation = op.ints(6)
    if padding not in (_SAME, _VALID) or min(stride_w, stride_h, filter_w, filter_h) < 1:
        raise ConversionError(
            f"{op.code} (output {op.outputs[0]}): bad options padding {padding}, strides "
            f"{stride_w}x{stride_h}, filter {filter_w}x{filter_h}"
        )
    return padding, stride_w, stride_h, filter_w, filter_h, activation


def _max_pool_argmax(ctx: Any, node: Any, op: CustomOp) -> None:
    from tf2onnx.graph_builder import GraphBuilder

    padding, stride_w, stride_h, filter_w, filter_h, activation = _pool_params(op)
    x = node.input[0]
    _, height, width, _ = _static_shape(ctx, x, op)

    def out_size(size: int, filt: int, stride: int) -> int:
        if padding == _SAME:
            return (size + stride - 1) // stride
        return (size - filt + stride) // stride

    out_h, out_w = out_size(height, filter_h, stride_h), out_size(width, filter_w, stride_w)
    # TFLite ComputePadding: top/left padding; the window is clamped to the input, which a
    # padding of -inf reproduces (a padded cell never wins).
    pad_top = max(((out_h - 1) * stride_h + filter_h - height) // 2, 0)
    pad_left = max(((out_w - 1) * stride_w + filter_w - width) // 2, 0)
    pad_bottom = max(0, (out_h - 1) * stride_h + filter_h - height - pad_top)
    pad_right = max(0, (out_w - 1) * stride_w + filter_w - width - pad_left)
    outputs, shapes, dtypes = _replace(ctx, node)
    pads = ctx.make_const(
        _name("pads"), np.array([0, pad_top, pad_left, 0, 0, pad_bottom, pad_right, 0])
    ).output[0]
    lowest = ctx.make_const(_name("lowest"), np.array(-np.inf, np.float32)).output[0]
    padded = ctx.make_node("Pad", [x, pads, lowest], attr={"mode": "constant"}).output[0]
    builder = GraphBuilder(ctx)
    windows = []
    for fy in range(filter_h):
        for fx in range(filter_w):
            cut = builder.make_slice(
                {
                    "data": padded,
                    "starts": [fy, fx],
                    "ends": [fy + (out_h - 1) * stride_h + 1, fx + (out_w - 1) * stride_w + 1],
                    "axes": [1, 2],
                    "steps": [stride_h, stride_w],
                }
            )
            windows.append(builder.make_unsqueeze({"data": cut, "axes": [4]}))
    stacked = ctx.make_node("Concat", windows, attr={"axis": 4}).output[0]
    values = builder.make_reduce_max({"data": stacked, "axes": [4], "keepdims": 0})
    values = _activation(ctx, values, activation, op)
    ctx.make_node("Identity", [values], outputs=[outputs[0]], shapes=shapes[:1], dtypes=dtypes[:1])
    where = ctx.make_node("ArgMax", [stacked], attr={"axis": 4, "keepdims": 0}).output[0]
    where = ctx.make_node("Cast", [where], attr={"to": 1}).output[0]  # FLOAT
    tenth = ctx.make_const(_name("tenth"), np.array(0.1, np.float32)).output[0]
    if len(outputs) > 1:
        ctx.make_node(
            "Add", [where, tenth], outputs=[outputs[1]], shapes=shapes[1:2], dtypes=dtypes[1:2]
        )


def _max_unpooling(ctx: Any, node: Any, op: CustomOp) -> None:
    _, stride_w, stride_h, filter_w, filter_h, _ = _pool_params(op)
    if (stride_w, stride_h) != (filter_w, filter_h):
        raise ConversionError(
            f"{op.code} (output {op.outputs[0]}): only non-overlapping windows (stride = filter "
            f"size) are converted, got stride {stride_w}x{stride_h}, filter {filter_w}x{filter_h}"
        )
    values, indices = node.input
    _, height, width, channels = _static_shape(ctx, values, op)
    outputs, shapes, dtypes = _replace(ctx, node)
    # MediaPipe: int idx = indices (truncation), position fy = idx / fw, fx = idx % fw.
    index = ctx.make_node("Cast", [indices], attr={"to": 6}).output[0]  # INT32
    zero = ctx.make_const(_name("zero"), np.array(0, np.float32)).output[0]
    parts = []
    for k in range(filter_h * filter_w):
        here = ctx.make_const(_name("k"), np.array(k, np.int32)).output[0]
        hit = ctx.make_node("Equal", [index, here]).output[0]
        parts.append(ctx.make_node("Where", [hit, values, zero]).output[0])
    # (N, H, W, C) × fh·fw → (N, H, W, C, fh, fw) → (N, H, fh, W, fw, C) → (N, H·fh, W·fw, C).
    stacked = ctx.make_node("Concat", parts, attr={"axis": 3}).output[0]  # (N, H, W, fh·fw·C)
    six = ctx.make_const(
        _name("shape6"),
        np.array([-1, height, width, filter_h, filter_w, channels], np.int64),
    ).output[0]
    grid = ctx.make_node("Reshape", [stacked, six]).output[0]
    moved = ctx.make_node("Transpose", [grid], attr={"perm": [0, 1, 3, 2, 4, 5]}).output[0]
    four = ctx.make_const(
        _name("shape4"),
        np.array([-1, height * filter_h, width * filter_w, channels], np.int64),
    ).output[0]
    ctx.make_node("Reshape", [moved, four], outputs=outputs, shapes=shapes, dtypes=dtypes)
