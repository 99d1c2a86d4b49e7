"""ONNX → PyTorch: a ``torch.fx`` graph of plain torch operations, with every shape folded.

Why not onnx2torch (measured on the H100 machine, ``../shared/device.md``): its Slice and Resize
modules keep their parameters as tensors and read them back to the host inside ``forward``
(``.cpu()`` / ``.tolist()``), which breaks CUDA-graph capture once those tensors live on the GPU,
and ``torch.compile`` / ``torch.export`` fail on its Reshape; the shape arithmetic of a dynamic
export (Shape → Gather → Concat → Reshape, anchor grids built from Range / Expand) also runs on
every call. This converter does the one thing those problems have in common once, at conversion
time: the batch is fixed, every node is evaluated once on ``meta`` tensors (shapes and dtypes, no
data) and every value that does not depend on the input — shapes, anchor grids, Reshape targets,
Slice bounds, Resize sizes — is computed there and then. What is left is a straight-line graph of
torch calls with Python-int arguments: nothing reads back to the host, so CUDA graphs capture it,
``torch.export`` saves it and AOTInductor compiles it.

Precision: :func:`set_precision` casts the weights of Conv / ConvTranspose / Gemm / MatMul /
BatchNormalization and the input to FP16 or BF16. Other constants (anchor grids, strides) stay
FP32, so the box arithmetic at the end of a YOLO head, where FP16's 0.5-pixel spacing above 512
would cost IoU, promotes to FP32 by torch's type promotion. Outputs are returned as FP32.

Supported operators: :data:`SUPPORTED`. Anything else is refused up front with the list of what
is missing.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import fx, nn

from visionflow.errors import ConversionError

_DTYPES: dict[int, torch.dtype] = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.INT16: torch.int16,
    onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8,
    onnx.TensorProto.BOOL: torch.bool,
}
_WEIGHT_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization"}


# ----------------------------------------------------------------------------- graph values


@dataclass
class _Const:
    """A value known at conversion time (a CPU tensor)."""

    value: torch.Tensor


@dataclass
class _Dyn:
    """A value that depends on the input: its fx node and a meta tensor of its shape and dtype."""

    node: fx.Node
    meta: torch.Tensor


_Value = _Const | _Dyn


# ----------------------------------------------------------------------------- torch helpers
# Module-level functions, so the fx code calls them by name and torch.export traces them.


def as_compute(x: torch.Tensor, marker: torch.Tensor) -> torch.Tensor:
    """A floating input in the compute precision (the dtype of ``marker``)."""
    return x.to(marker.dtype) if x.is_floating_point() else x


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """A floating output as FP32 (what parsers read), others unchanged."""
    return x.float() if x.is_floating_point() else x


def conv(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    stride: tuple[int, ...],
    pads: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> torch.Tensor:
    """ONNX Conv; ``pads`` is ONNX's (begin…, end…), asymmetric pads go through F.pad."""
    x = x.to(w.dtype)
    n = len(stride)
    begin, end = pads[:n], pads[n:]
    if begin != end:
        x = F.pad(x, [p for i in reversed(range(n)) for p in (begin[i], end[i])])
        begin = (0,) * n
    fn = (F.conv1d, F.conv2d, F.conv3d)[n - 1]
    return fn(x, w, b, stride, begin, dilation, groups)


def conv_transpose(
    x: torch.Tensor,
    w: torch.Tensor,
    b: torch.Tensor | None,
    stride: tuple[int, ...],
    pads: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> torch.Tensor:
    x = x.to(w.dtype)
    n = len(stride)
    fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[n - 1]
    return fn(x, w, b, stride, pads[:n], output_padding, groups, dilation)


def gemm(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor | None,
    alpha: float,
    beta: float,
    trans_a: bool,
    trans_b: bool,
) -> torch.Tensor:
    a = a.to(b.dtype)
    if trans_a:
        a = a.t()
    if trans_b:
        b = b.t()
    y = torch.matmul(a, b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point() and b.is_floating_point() and a.dtype != b.dtype:
        a, b = (
            a.to(torch.promote_types(a.dtype, b.dtype)),
            b.to(torch.promote_types(a.dtype, b.dtype)),
        )
    return torch.matmul(a, b)


def batch_norm(
    x: torch.Tensor,
    scale: torch.Tensor,
    bias: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    return F.batch_norm(x.to(scale.dtype), mean, var, scale, bias, False, 0.0, eps)


def div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ONNX Div: integer division truncates."""
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


def pow_(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.pow(a, b).to(a.dtype)


def take(x: torch.Tensor, index: torch.Tensor, axis: int) -> torch.Tensor:
    """ONNX Gather with known indices."""
    flat = torch.index_select(x, axis, index.reshape(-1).to(x.device))
    return flat.reshape(*x.shape[:axis], *index.shape, *x.shape[axis + 1 :])


def take_dynamic(x: torch.Tensor, index: torch.Tensor, axis: int) -> torch.Tensor:
    """ONNX Gather with input-dependent indices (negative indices wrap)."""
    index = torch.where(index < 0, index + x.shape[axis], index)
    flat = torch.index_select(x, axis, index.reshape(-1))
    return flat.reshape(*x.shape[:axis], *index.shape, *x.shape[axis + 1 :])


def slice_(x: torch.Tensor, slices: tuple[slice, ...]) -> torch.Tensor:
    return x[slices]


def flip_slice(x: torch.Tensor, axis: int, index: torch.Tensor) -> torch.Tensor:
    return torch.index_select(x, axis, index.to(x.device))


def expand(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return x.expand(shape)


def resize(
    x: torch.Tensor, size: tuple[int, ...], mode: str, align_corners: bool | None
) -> torch.Tensor:
    return F.interpolate(x, size=size, mode=mode, align_corners=align_corners)


def max_pool(
    x: torch.Tensor,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[int, ...],
    dilation: tuple[int, ...],
    ceil_mode: bool,
) -> torch.Tensor:
    n = len(kernel)
    begin, end = pads[:n], pads[n:]
    if begin != end:
        x = F.pad(x, [p for i in reversed(range(n)) for p in (begin[i], end[i])], value=-math.inf)
        begin = (0,) * n
    fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
    return fn(x, kernel, stride, begin, dilation, ceil_mode)


def avg_pool(
    x: torch.Tensor,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[int, ...],
    ceil_mode: bool,
    count_include_pad: bool,
) -> torch.Tensor:
    n = len(kernel)
    begin, end = pads[:n], pads[n:]
    if begin != end:
        x = F.pad(x, [p for i in reversed(range(n)) for p in (begin[i], end[i])])
        begin = (0,) * n
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
    return fn(x, kernel, stride, begin, ceil_mode, count_include_pad)


def softmax_2d(x: torch.Tensor, axis: int, log: bool) -> torch.Tensor:
    """Softmax of opset < 13: over the flattened dimensions from ``axis`` on."""
    flat = x.reshape(math.prod(x.shape[:axis]), -1)
    y = torch.log_softmax(flat, 1) if log else torch.softmax(flat, 1)
    return y.reshape(x.shape)


def clip(x: torch.Tensor, low: float | None, high: float | None) -> torch.Tensor:
    return torch.clamp(x, low, high)


def hard_sigmoid(x: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    return torch.clamp(x * alpha + beta, 0, 1)


def arg_reduce(x: torch.Tensor, axis: int, keepdims: bool, largest: bool) -> torch.Tensor:
    return (torch.argmax if largest else torch.argmin)(x, axis, keepdims)


def reduce(
    x: torch.Tensor, kind: str, axes: tuple[int, ...] | None, keepdims: bool
) -> torch.Tensor:
    dims = tuple(range(x.dim())) if axes is None else axes
    if kind == "sum":
        return torch.sum(x, dims, keepdims)
    if kind == "mean":
        return torch.mean(x, dims, keepdims)
    y = x
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        y = (torch.amax if kind == "max" else torch.amin)(y, d, keepdims)
    return y


def topk(
    x: torch.Tensor, k: int, axis: int, largest: bool, ordered: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    values, index = torch.topk(x, k, axis, largest, ordered)
    return values, index


def pad(x: torch.Tensor, pads: tuple[int, ...], mode: str, value: float) -> torch.Tensor:
    if mode == "constant":
        return F.pad(x, list(pads), mode="constant", value=value)
    return F.pad(x, list(pads), mode=mode)


def where(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(c, a, b)


def cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype)


def prelu(x: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x, x * slope)


# ----------------------------------------------------------------------------- the builder


class _Builder:
    def __init__(self, root: nn.Module, opset: int) -> None:
        self.graph = fx.Graph()
        self.root = root
        self.opset = opset
        self._buffers: dict[int, fx.Node] = {}
        self._alive: list[torch.Tensor] = []  # keeps ids of buffered constants unique
        self.weights: set[str] = set()

    # constants used by the graph become buffers of the module
    def buffer(self, value: torch.Tensor, weight: bool = False) -> fx.Node:
        key = id(value)
        node = self._buffers.get(key)
        if node is None:
            name = f"c{len(self._buffers)}"
            self.root.register_buffer(name, value.contiguous())
            node = self.graph.get_attr(name)
            self._buffers[key] = node
            self._alive.append(value)
        if weight and value.is_floating_point():
            self.weights.add(str(node.target))
        return node

    def call(
        self, fn: Callable[..., Any], *args: Any, weights: Sequence[int] = (), **kwargs: Any
    ) -> Any:
        """Apply ``fn``: at once when every input is known, else as a graph node."""
        if not _has_dyn(args) and not _has_dyn(kwargs):
            result = fn(*_unwrap(args, "value"), **_unwrap(kwargs, "value"))
            return _wrap_const(result)
        meta = fn(*_unwrap(args, "meta"), **_unwrap(kwargs, "meta"))
        fx_args = tuple(self._fx(a, weight=i in weights) for i, a in enumerate(args))
        fx_kwargs = {k: self._fx(v) for k, v in kwargs.items()}
        node = self.graph.call_function(fn, fx_args, fx_kwargs)
        if isinstance(meta, tuple):
            return tuple(
                _Dyn(self.graph.call_function(operator.getitem, (node, i)), m)
                for i, m in enumerate(meta)
            )
        return _Dyn(node, meta)

    def _fx(self, value: Any, weight: bool = False) -> Any:
        if isinstance(value, _Dyn):
            return value.node
        if isinstance(value, _Const):
            return self.buffer(value.value, weight)
        if isinstance(value, list | tuple) and any(isinstance(v, _Const | _Dyn) for v in value):
            return type(value)(self._fx(v) for v in value)
        return value


def _has_dyn(obj: Any) -> bool:
    if isinstance(obj, _Dyn):
        return True
    if isinstance(obj, list | tuple):
        return any(_has_dyn(v) for v in obj)
    if isinstance(obj, dict):
        return any(_has_dyn(v) for v in obj.values())
    return False


def _unwrap(obj: Any, side: str) -> Any:
    if isinstance(obj, _Const):
        return obj.value if side == "value" else obj.value.to("meta")
    if isinstance(obj, _Dyn):
        return obj.meta
    if isinstance(obj, list | tuple):
        return type(obj)(_unwrap(v, side) for v in obj)
    if isinstance(obj, dict):
        return {k: _unwrap(v, side) for k, v in obj.items()}
    return obj


def _wrap_const(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_Const(r) for r in result)
    return _Const(result)


def _shape(v: _Value) -> tuple[int, ...]:
    return tuple((v.value if isinstance(v, _Const) else v.meta).shape)


def _dtype(v: _Value) -> torch.dtype:
    return (v.value if isinstance(v, _Const) else v.meta).dtype


# ----------------------------------------------------------------------------- operators


@dataclass
class _Node:
    """One ONNX node as the operator functions see it."""

    proto: onnx.NodeProto
    attrs: dict[str, Any]
    opset: int

    @property
    def name(self) -> str:
        return self.proto.name or self.proto.op_type

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


def _static(node: _Node, value: _Value | None, what: str) -> list[int] | list[float]:
    """The known value of an input the torch call needs as Python numbers."""
    if value is None:
        return []
    if isinstance(value, _Dyn):
        raise ConversionError(
            f"node {node.name} ({node.proto.op_type}): its {what} depends on the input data, "
            "which a static graph cannot take; export the model with fixed shapes"
        )
    return value.value.reshape(-1).tolist()


def _ints(values: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


_Op = Callable[[_Builder, _Node, list[Any]], Any]
_OPS: dict[str, _Op] = {}


def _op(*names: str) -> Callable[[_Op], _Op]:
    def register(fn: _Op) -> _Op:
        for name in names:
            _OPS[name] = fn
        return fn

    return register


def _binary(fn: Any) -> _Op:
    return lambda b, n, x: b.call(fn, x[0], x[1])


def _unary(fn: Any) -> _Op:
    return lambda b, n, x: b.call(fn, x[0])


for _name, _fn in {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "Div": div,
    "Pow": pow_,
    "Equal": torch.eq,
    "Less": torch.lt,
    "LessOrEqual": torch.le,
    "Greater": torch.gt,
    "GreaterOrEqual": torch.ge,
    "And": torch.logical_and,
    "Or": torch.logical_or,
    "Xor": torch.logical_xor,
    "PRelu": prelu,
    "Mod": torch.remainder,
}.items():
    _OPS[_name] = _binary(_fn)

for _name, _fn in {
    "Sigmoid": torch.sigmoid,
    "Relu": torch.relu,
    "Tanh": torch.tanh,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Neg": torch.neg,
    "Abs": torch.abs,
    "Erf": torch.erf,
    "Floor": torch.floor,
    "Ceil": torch.ceil,
    "Round": torch.round,
    "Reciprocal": torch.reciprocal,
    "Not": torch.logical_not,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "HardSwish": F.hardswish,
    "Softplus": F.softplus,
    "Mish": F.mish,
    "Sign": torch.sign,
}.items():
    _OPS[_name] = _unary(_fn)


@_op("Identity", "Dropout")
def _identity(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return x[0]


@_op("Constant")
def _constant(b: _Builder, n: _Node, x: list[Any]) -> Any:
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if key in n.attrs:
            value = n.attrs[key]
            if isinstance(value, onnx.TensorProto):
                return _Const(torch.from_numpy(numpy_helper.to_array(value).copy()))
            dtype = torch.float32 if "float" in key else torch.int64
            return _Const(torch.tensor(value, dtype=dtype))
    raise ConversionError(f"node {n.name}: Constant without a supported value attribute")


@_op("Shape")
def _shape_op(b: _Builder, n: _Node, x: list[Any]) -> Any:
    shape = _shape(x[0])
    start, end = n.attr("start", 0), n.attr("end", None)
    return _Const(torch.tensor(shape[start:end], dtype=torch.int64))


@_op("Size")
def _size(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return _Const(torch.tensor(math.prod(_shape(x[0])), dtype=torch.int64))


@_op("Cast")
def _cast(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(cast, x[0], _DTYPES[n.attr("to")])


@_op("Conv")
def _conv(b: _Builder, n: _Node, x: list[Any]) -> Any:
    w = x[1]
    spatial = len(_shape(w)) - 2
    kernel = _shape(w)[2:]
    stride = _ints(n.attr("strides", [1] * spatial))
    dilation = _ints(n.attr("dilations", [1] * spatial))
    pads = _auto_pads(n, _shape(x[0])[2:], kernel, stride, dilation)
    bias = x[2] if len(x) > 2 else None
    return b.call(conv, x[0], w, bias, stride, pads, dilation, n.attr("group", 1), weights=(1, 2))


def _auto_pads(
    n: _Node,
    size: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    spatial = len(kernel)
    auto = n.attr("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        return _ints(n.attr("pads", [0] * 2 * spatial))
    if auto == "VALID":
        return (0,) * 2 * spatial
    begin, end = [], []
    for i in range(spatial):
        out = -(-size[i] // stride[i])
        total = max(0, (out - 1) * stride[i] + (kernel[i] - 1) * dilation[i] + 1 - size[i])
        small, big = total // 2, total - total // 2
        begin.append(big if auto == "SAME_LOWER" else small)
        end.append(small if auto == "SAME_LOWER" else big)
    return (*begin, *end)


@_op("ConvTranspose")
def _conv_transpose(b: _Builder, n: _Node, x: list[Any]) -> Any:
    w = x[1]
    spatial = len(_shape(w)) - 2
    if n.attr("output_shape") is not None or n.attr("auto_pad", b"NOTSET") not in (b"NOTSET", ""):
        raise ConversionError(f"node {n.name}: ConvTranspose with output_shape/auto_pad")
    pads = _ints(n.attr("pads", [0] * 2 * spatial))
    if pads[:spatial] != pads[spatial:]:
        raise ConversionError(f"node {n.name}: ConvTranspose with asymmetric pads {pads}")
    return b.call(
        conv_transpose,
        x[0],
        w,
        x[2] if len(x) > 2 else None,
        _ints(n.attr("strides", [1] * spatial)),
        pads,
        _ints(n.attr("output_padding", [0] * spatial)),
        _ints(n.attr("dilations", [1] * spatial)),
        n.attr("group", 1),
        weights=(1, 2),
    )


@_op("Gemm")
def _gemm(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(
        gemm,
        x[0],
        x[1],
        x[2] if len(x) > 2 else None,
        float(n.attr("alpha", 1.0)),
        float(n.attr("beta", 1.0)),
        bool(n.attr("transA", 0)),
        bool(n.attr("transB", 0)),
        weights=(1, 2),
    )


@_op("MatMul")
def _matmul(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(matmul, x[0], x[1], weights=(1,))


@_op("BatchNormalization")
def _batch_norm(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(
        batch_norm,
        x[0],
        x[1],
        x[2],
        x[3],
        x[4],
        float(n.attr("epsilon", 1e-5)),
        weights=(1, 2, 3, 4),
    )


@_op("LeakyRelu")
def _leaky(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(F.leaky_relu, x[0], float(n.attr("alpha", 0.01)))


@_op("Elu")
def _elu(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(F.elu, x[0], float(n.attr("alpha", 1.0)))


@_op("HardSigmoid")
def _hard_sigmoid(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(hard_sigmoid, x[0], float(n.attr("alpha", 0.2)), float(n.attr("beta", 0.5)))


@_op("Clip")
def _clip(b: _Builder, n: _Node, x: list[Any]) -> Any:
    if n.opset < 11:
        low, high = n.attr("min"), n.attr("max")
    else:
        lows = _static(n, x[1] if len(x) > 1 else None, "minimum")
        highs = _static(n, x[2] if len(x) > 2 else None, "maximum")
        low = float(lows[0]) if lows else None
        high = float(highs[0]) if highs else None
    return b.call(clip, x[0], low, high)


@_op("Min", "Max", "Sum", "Mean")
def _variadic(b: _Builder, n: _Node, x: list[Any]) -> Any:
    fn: Any = {"Min": torch.minimum, "Max": torch.maximum, "Sum": torch.add}.get(
        n.proto.op_type, torch.add
    )
    out = x[0]
    for other in x[1:]:
        out = b.call(fn, out, other)
    if n.proto.op_type == "Mean":
        out = b.call(torch.div, out, float(len(x)))
    return out


@_op("Where")
def _where(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(where, x[0], x[1], x[2])


@_op("Concat")
def _concat(b: _Builder, n: _Node, x: list[Any]) -> Any:
    parts = [v for v in x if math.prod(_shape(v)) > 0 or len(x) == 1]
    return b.call(torch.cat, parts, n.attr("axis"))


@_op("Reshape")
def _reshape(b: _Builder, n: _Node, x: list[Any]) -> Any:
    shape = list(_ints(_static(n, x[1], "target shape")))
    src = _shape(x[0])
    if not n.attr("allowzero", 0):
        shape = [src[i] if d == 0 else d for i, d in enumerate(shape)]
    return b.call(torch.reshape, x[0], tuple(shape))


@_op("Flatten")
def _flatten(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    axis = n.attr("axis", 1) % max(len(src), 1) if n.attr("axis", 1) < 0 else n.attr("axis", 1)
    return b.call(torch.reshape, x[0], (math.prod(src[:axis]), math.prod(src[axis:])))


@_op("Transpose")
def _transpose(b: _Builder, n: _Node, x: list[Any]) -> Any:
    rank = len(_shape(x[0]))
    perm = _ints(n.attr("perm", list(reversed(range(rank)))))
    return b.call(torch.permute, x[0], perm)


def _axes(n: _Node, x: list[Any], position: int, what: str = "axes") -> list[int] | None:
    if len(x) > position and x[position] is not None:
        return list(_ints(_static(n, x[position], what)))
    axes = n.attr("axes")
    return None if axes is None else list(_ints(axes))


@_op("Unsqueeze")
def _unsqueeze(b: _Builder, n: _Node, x: list[Any]) -> Any:
    axes = _axes(n, x, 1) or []
    rank = len(_shape(x[0])) + len(axes)
    shape = list(_shape(x[0]))
    for axis in sorted(a % rank for a in axes):
        shape.insert(axis, 1)
    return b.call(torch.reshape, x[0], tuple(shape))


@_op("Squeeze")
def _squeeze(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    axes = _axes(n, x, 1)
    drop = (
        {i for i, d in enumerate(src) if d == 1} if axes is None else {a % len(src) for a in axes}
    )
    return b.call(torch.reshape, x[0], tuple(d for i, d in enumerate(src) if i not in drop))


@_op("Gather")
def _gather(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    axis = n.attr("axis", 0) % len(src)
    index = x[1]
    if isinstance(index, _Const):
        idx = index.value.to(torch.int64)
        idx = torch.where(idx < 0, idx + src[axis], idx)
        if idx.dim() == 0:
            return b.call(torch.select, x[0], axis, int(idx))
        return b.call(take, x[0], _Const(idx), axis)
    return b.call(take_dynamic, x[0], index, axis)


@_op("Slice")
def _slice(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    if n.opset < 10:
        starts, ends = n.attr("starts"), n.attr("ends")
        axes, steps = n.attr("axes"), None
    else:
        starts = _static(n, x[1], "starts")
        ends = _static(n, x[2], "ends")
        axes = _static(n, x[3], "axes") if len(x) > 3 and x[3] is not None else None
        steps = _static(n, x[4], "steps") if len(x) > 4 and x[4] is not None else None
    axes = list(range(len(starts))) if not axes else [a % len(src) for a in axes]
    steps = steps or [1] * len(starts)
    slices = [slice(None)] * len(src)
    out = x[0]
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        start, end, step = int(start), int(end), int(step)
        size = src[axis]
        if step > 0:
            lo, hi, _ = slice(start, end, step).indices(size)
            slices[axis] = slice(lo, max(lo, hi), step)
        else:  # a negative step: an explicit index list
            index = list(range(*slice(start, end, step).indices(size)))
            out = b.call(flip_slice, out, axis, _Const(torch.tensor(index, dtype=torch.int64)))
    if any(s != slice(None) for s in slices):
        while slices and slices[-1] == slice(None):
            slices.pop()
        out = b.call(slice_, out, tuple(slices))
    return out


@_op("Split")
def _split(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    axis = n.attr("axis", 0) % len(src)
    sizes: list[int] | None = None
    if len(x) > 1 and x[1] is not None:
        sizes = list(_ints(_static(n, x[1], "split sizes")))
    elif n.attr("split") is not None:
        sizes = list(_ints(n.attr("split")))
    if not sizes:
        parts = n.attr("num_outputs", len(n.proto.output))
        chunk = -(-src[axis] // parts)
        sizes = [min(chunk, src[axis] - i * chunk) for i in range(parts)]
    return b.call(torch.split, x[0], sizes, axis)


@_op("Expand")
def _expand(b: _Builder, n: _Node, x: list[Any]) -> Any:
    shape = _ints(_static(n, x[1], "shape"))
    target = tuple(torch.broadcast_shapes(_shape(x[0]), shape))
    src = _shape(x[0])
    if len(src) < len(target):
        x0 = b.call(torch.reshape, x[0], (1,) * (len(target) - len(src)) + src)
    else:
        x0 = x[0]
    return b.call(expand, x0, target)


@_op("Tile")
def _tile(b: _Builder, n: _Node, x: list[Any]) -> Any:
    return b.call(torch.tile, x[0], _ints(_static(n, x[1], "repeats")))


@_op("Range")
def _range(b: _Builder, n: _Node, x: list[Any]) -> Any:
    start, limit, delta = (_static(n, v, "bounds")[0] for v in x[:3])
    return _Const(torch.arange(start, limit, delta, dtype=_dtype(x[0])))


@_op("ConstantOfShape")
def _constant_of_shape(b: _Builder, n: _Node, x: list[Any]) -> Any:
    shape = _ints(_static(n, x[0], "shape"))
    value = n.attr("value")
    fill = (
        torch.zeros(1) if value is None else torch.from_numpy(numpy_helper.to_array(value).copy())
    )
    return _Const(torch.full(shape, fill.reshape(-1)[0].item(), dtype=fill.dtype))


@_op("Softmax", "LogSoftmax")
def _softmax(b: _Builder, n: _Node, x: list[Any]) -> Any:
    rank = len(_shape(x[0]))
    log = n.proto.op_type == "LogSoftmax"
    if n.opset >= 13:
        axis = n.attr("axis", -1)
        return b.call(torch.log_softmax if log else torch.softmax, x[0], axis)
    axis = n.attr("axis", 1) % rank
    if axis == rank - 1:
        return b.call(torch.log_softmax if log else torch.softmax, x[0], axis)
    return b.call(softmax_2d, x[0], axis, log)


@_op("MaxPool")
def _max_pool(b: _Builder, n: _Node, x: list[Any]) -> Any:
    kernel = _ints(n.attr("kernel_shape"))
    spatial = len(kernel)
    stride = _ints(n.attr("strides", [1] * spatial))
    dilation = _ints(n.attr("dilations", [1] * spatial))
    pads = _auto_pads(n, _shape(x[0])[2:], kernel, stride, dilation)
    if len(n.proto.output) > 1 and n.proto.output[1]:
        raise ConversionError(f"node {n.name}: MaxPool with an Indices output")
    return b.call(max_pool, x[0], kernel, stride, pads, dilation, bool(n.attr("ceil_mode", 0)))


@_op("AveragePool")
def _avg_pool(b: _Builder, n: _Node, x: list[Any]) -> Any:
    kernel = _ints(n.attr("kernel_shape"))
    spatial = len(kernel)
    stride = _ints(n.attr("strides", [1] * spatial))
    pads = _auto_pads(n, _shape(x[0])[2:], kernel, stride, (1,) * spatial)
    return b.call(
        avg_pool,
        x[0],
        kernel,
        stride,
        pads,
        bool(n.attr("ceil_mode", 0)),
        bool(n.attr("count_include_pad", 0)),
    )


@_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(b: _Builder, n: _Node, x: list[Any]) -> Any:
    axes = tuple(range(2, len(_shape(x[0]))))
    kind = "mean" if n.proto.op_type == "GlobalAveragePool" else "max"
    return b.call(reduce, x[0], kind, axes, True)


@_op("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")
def _reduce(b: _Builder, n: _Node, x: list[Any]) -> Any:
    kind = n.proto.op_type.removeprefix("Reduce").lower()
    axes = _axes(n, x, 1)
    if not axes and n.attr("noop_with_empty_axes", 0):
        return x[0]
    return b.call(reduce, x[0], kind, tuple(axes) if axes else None, bool(n.attr("keepdims", 1)))


@_op("ArgMax", "ArgMin")
def _arg(b: _Builder, n: _Node, x: list[Any]) -> Any:
    if n.attr("select_last_index", 0):
        raise ConversionError(f"node {n.name}: {n.proto.op_type} with select_last_index=1")
    return b.call(
        arg_reduce,
        x[0],
        n.attr("axis", 0),
        bool(n.attr("keepdims", 1)),
        n.proto.op_type == "ArgMax",
    )


@_op("TopK")
def _topk(b: _Builder, n: _Node, x: list[Any]) -> Any:
    k = int(_static(n, x[1], "k")[0]) if n.opset >= 10 else int(n.attr("k"))
    return b.call(
        topk, x[0], k, n.attr("axis", -1), bool(n.attr("largest", 1)), bool(n.attr("sorted", 1))
    )


@_op("Pad")
def _pad(b: _Builder, n: _Node, x: list[Any]) -> Any:
    mode = n.attr("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if n.opset < 11:
        pads, value = list(_ints(n.attr("pads"))), float(n.attr("value", 0.0))
    else:
        pads = list(_ints(_static(n, x[1], "pads")))
        values = _static(n, x[2] if len(x) > 2 else None, "value")
        value = float(values[0]) if values else 0.0
        if len(x) > 3 and x[3] is not None:
            raise ConversionError(f"node {n.name}: Pad with axes")
    rank = len(pads) // 2
    torch_pads = [p for i in reversed(range(rank)) for p in (pads[i], pads[i + rank])]
    while len(torch_pads) > 2 and torch_pads[-2:] == [0, 0]:
        torch_pads = torch_pads[:-2]
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
    return b.call(pad, x[0], tuple(torch_pads), torch_mode, value)


@_op("Resize", "Upsample")
def _resize(b: _Builder, n: _Node, x: list[Any]) -> Any:
    src = _shape(x[0])
    mode = n.attr("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = n.attr("coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    nearest_mode = n.attr("nearest_mode", b"round_prefer_floor")
    nearest_mode = nearest_mode.decode() if isinstance(nearest_mode, bytes) else nearest_mode
    if n.proto.op_type == "Upsample" or n.opset < 11:
        scales = _static(n, x[1], "scales") if len(x) > 1 else n.attr("scales")
        sizes: list[int] = []
        ctm = "asymmetric"
        nearest_mode = "floor"
    else:
        scales = _static(n, x[2], "scales") if len(x) > 2 and x[2] is not None else []
        sizes = list(_ints(_static(n, x[3], "sizes"))) if len(x) > 3 and x[3] is not None else []
    if sizes:
        out = tuple(sizes[2:])
    else:
        if scales[:2] != [1.0, 1.0]:
            raise ConversionError(f"node {n.name}: Resize of the batch or channel axis")
        out = tuple(math.floor(s * f) for s, f in zip(src[2:], scales[2:], strict=True))
    if mode == "nearest":
        integral = all(o % s == 0 for o, s in zip(out, src[2:], strict=True))
        if not (ctm == "asymmetric" and (nearest_mode == "floor" or integral)):
            raise ConversionError(
                f"node {n.name}: nearest Resize with {ctm}/{nearest_mode} "
                "(supported: asymmetric with floor, or integer scales)"
            )
        return b.call(resize, x[0], out, "nearest", None)
    if mode == "linear" and len(out) == 2:
        if ctm in ("half_pixel", "pytorch_half_pixel"):
            return b.call(resize, x[0], out, "bilinear", False)
        if ctm == "align_corners":
            return b.call(resize, x[0], out, "bilinear", True)
    raise ConversionError(f"node {n.name}: Resize mode {mode} with {ctm} is not supported")


SUPPORTED = frozenset(_OPS)
"""ONNX operators :func:`onnx_to_torch` converts."""


# ----------------------------------------------------------------------------- the module


class OnnxModule(fx.GraphModule):
    """The converted model: ``forward(*inputs)`` returns the outputs in ONNX order, as a tuple.

    Attributes:
        input_names / output_names: the ONNX names, in order.
        input_shapes / output_shapes: the static shapes the graph was folded for.
        output_dtypes: the outputs' dtypes (floating outputs are FP32).
        weight_buffers: the buffers :func:`set_precision` casts.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    output_dtypes: tuple[torch.dtype, ...]
    weight_buffers: frozenset[str]


def onnx_to_torch(
    model: str | Path | onnx.ModelProto,
    batch: int,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> OnnxModule:
    """Convert ``model`` into a static-shape ``torch.fx`` module for batch size ``batch``.

    Args:
        model: an ONNX file or model.
        batch: the batch size the graph is folded for (a fixed batch dimension must equal it).
        input_shapes: full shapes for inputs with other dynamic dimensions (name → shape).

    Raises:
        ConversionError: unsupported operators, dynamic dimensions without a shape, or an
            operator argument that depends on the input data.
    """
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    missing = sorted(
        {f"{n.domain}:{n.op_type}" for n in graph.node if n.domain not in ("", "ai.onnx")}
        | {n.op_type for n in graph.node if n.op_type not in _OPS}
    )  # an ONNX Runtime-optimised model names its own domains (com.microsoft…)
    if missing:
        raise ConversionError(
            f"ONNX → PyTorch: operators not supported: {', '.join(missing)} "
            f"(supported: {', '.join(sorted(SUPPORTED))})"
        )
    root = nn.Module()
    builder = _Builder(root, opset)
    marker = torch.zeros((), dtype=torch.float32)
    env: dict[str, Any] = {}
    for init in graph.initializer:
        env[init.name] = _Const(torch.from_numpy(numpy_helper.to_array(init).copy()))
    names: list[str] = []
    shapes: list[tuple[int, ...]] = []
    for value in graph.input:
        if value.name in env:
            continue
        shape = _input_shape(value, batch, (input_shapes or {}).get(value.name))
        dtype = _DTYPES.get(value.type.tensor_type.elem_type, torch.float32)
        placeholder = builder.graph.placeholder(f"input{len(names)}")
        names.append(value.name)
        shapes.append(shape)
        meta = torch.empty(shape, dtype=dtype, device="meta")
        if dtype.is_floating_point:
            node = builder.graph.call_function(
                as_compute, (placeholder, builder.buffer(marker, weight=True))
            )
        else:
            node = placeholder
        env[value.name] = _Dyn(node, meta)
    for proto_node in graph.node:
        op = _Node(
            proto_node,
            {a.name: onnx.helper.get_attribute_value(a) for a in proto_node.attribute},
            opset,
        )
        inputs = [env[i] if i else None for i in proto_node.input]
        try:
            result = _OPS[proto_node.op_type](builder, op, inputs)
        except ConversionError:
            raise
        except Exception as exc:  # a torch error on a shape the op cannot take
            shapes_in = [None if v is None else _shape(v) for v in inputs]
            raise ConversionError(
                f"ONNX → PyTorch: node {op.name} ({proto_node.op_type}) on inputs "
                f"{shapes_in}: {exc}"
            ) from exc
        outputs = result if isinstance(result, tuple) else (result,)
        for name, value in zip(proto_node.output, outputs, strict=False):
            if name:
                env[name] = value
    results, out_shapes = [], []
    for value in graph.output:
        out = env[value.name]
        out_shapes.append(_shape(out))
        node = builder._fx(out)
        results.append(builder.graph.call_function(as_float32, (node,)))
    builder.graph.output(tuple(results))
    module = OnnxModule(root, builder.graph, class_name="OnnxModule")
    module.input_names = tuple(names)
    module.output_names = tuple(v.name for v in graph.output)
    module.input_shapes = tuple(shapes)
    module.output_shapes = tuple(out_shapes)
    module.output_dtypes = tuple(
        torch.float32 if _dtype(env[v.name]).is_floating_point else _dtype(env[v.name])
        for v in graph.output
    )
    module.weight_buffers = frozenset(builder.weights)
    module.eval()
    return module


def _input_shape(
    value: onnx.ValueInfoProto, batch: int, given: tuple[int, ...] | None
) -> tuple[int, ...]:
    dims = [d.dim_value if d.dim_value > 0 else None for d in value.type.tensor_type.shape.dim]
    if given is not None:
        if len(given) != len(dims) or any(
            d is not None and d != g for d, g in zip(dims, given, strict=True)
        ):
            raise ConversionError(
                f"input {value.name}: shape {tuple(given)} does not fit the model's {dims}"
            )
        dims = list(given)
    if dims and dims[0] is None:
        dims[0] = batch
    elif len(dims) > 1 and dims[0] != batch:  # a 1-D input has no batch axis
        raise ConversionError(
            f"input {value.name} has a fixed batch of {dims[0]}, not the {batch} asked for"
        )
    if any(d is None for d in dims):
        raise ConversionError(
            f"input {value.name} has dynamic dimensions {dims}: give its shape "
            "(infer-dims, or --input-shape)"
        )
    return tuple(int(d) for d in dims if d is not None)


def set_precision(module: OnnxModule, dtype: torch.dtype) -> OnnxModule:
    """Cast the weights and the compute marker to ``dtype`` (FP16 / BF16 / FP32), in place."""
    for name in module.weight_buffers:
        buffer = getattr(module, name)
        setattr(module, name, buffer.to(dtype))
    return module


def run_numpy(module: nn.Module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a converted module on host arrays (CPU), outputs as arrays — for parity checks."""
    names = getattr(module, "input_names", tuple(feeds))
    with torch.inference_mode():
        outs = module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names))
    return [o.float().numpy() if o.is_floating_point() else o.numpy() for o in outs]
