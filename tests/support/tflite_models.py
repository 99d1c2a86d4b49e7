"""TFLite flatbuffers written op by op, for MediaPipe's custom ops that no converter emits.

MediaPipe's models carry ``Convolution2DTransposeBias``, ``MaxPoolingWithArgmax2D`` and
``MaxUnpooling2D`` as CUSTOM operators whose options are raw C structs
(``TfLiteTransposeConvParams``, ``TfLitePoolParams``), as MediaPipe's own model tools write
them. These builders write such models with TensorFlow's flatbuffer schema
(``tensorflow.lite.python.schema_py_generated``) — needs TensorFlow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAME, VALID = 1, 2  # TfLitePadding
NO_ACTIVATION, RELU = 0, 1  # TfLiteFusedActivation


def transpose_conv_options(padding: int, stride_w: int, stride_h: int) -> bytes:
    """``TfLiteTransposeConvParams`` as MediaPipe's models store it: padding, strides."""
    return struct.pack("<3i", padding, stride_w, stride_h)


def pool_options(
    padding: int, stride_w: int, stride_h: int, filter_w: int, filter_h: int, activation: int = 0
) -> bytes:
    """``TfLitePoolParams``: padding, strides, filter size, activation, computed padding."""
    return struct.pack("<6i", padding, stride_w, stride_h, filter_w, filter_h, activation) + bytes(
        16
    )


@dataclass
class Graph:
    """A one-subgraph TFLite model under construction."""

    tensors: list[tuple[str, tuple[int, ...], np.ndarray | None]] = field(default_factory=list)
    operators: list[tuple[str | int, list[int], list[int], bytes | None]] = field(
        default_factory=list
    )
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)

    def tensor(self, name: str, shape: tuple[int, ...], data: np.ndarray | None = None) -> int:
        self.tensors.append((name, shape, None if data is None else np.asarray(data, np.float32)))
        return len(self.tensors) - 1

    def custom(self, code: str, inputs: list[int], outputs: list[int], options: bytes) -> None:
        self.operators.append((code, inputs, outputs, options))

    def builtin(self, op: int, inputs: list[int], outputs: list[int]) -> None:
        self.operators.append((op, inputs, outputs, None))

    def write(self, path: Path) -> Path:
        import flatbuffers
        from tensorflow.lite.python import schema_py_generated as schema

        model = schema.ModelT()
        model.version = 3
        model.buffers = [schema.BufferT()]  # buffer 0: empty, by convention
        model.operatorCodes = []
        codes: dict[str | int, int] = {}
        sub = schema.SubGraphT()
        sub.tensors = []
        for name, shape, data in self.tensors:
            t = schema.TensorT()
            t.name, t.shape, t.type = name.encode(), list(shape), schema.TensorType.FLOAT32
            t.buffer = 0
            if data is not None:
                b = schema.BufferT()
                b.data = np.frombuffer(data.astype("<f4").tobytes(), np.uint8)
                model.buffers.append(b)
                t.buffer = len(model.buffers) - 1
            sub.tensors.append(t)
        sub.operators = []
        for code, inputs, outputs, options in self.operators:
            if code not in codes:
                oc = schema.OperatorCodeT()
                if isinstance(code, str):
                    oc.builtinCode = oc.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
                    oc.customCode = code.encode()
                else:
                    oc.builtinCode = oc.deprecatedBuiltinCode = code
                oc.version = 1
                model.operatorCodes.append(oc)
                codes[code] = len(model.operatorCodes) - 1
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = codes[code], list(inputs), list(outputs)
            if options is not None:
                op.customOptions = list(options)
            sub.operators.append(op)
        sub.inputs, sub.outputs = list(self.inputs), list(self.outputs)
        model.subgraphs = [sub]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        path.write_bytes(bytes(builder.Output()))
        return path


def transpose_conv_bias_model(
    path: Path, *, size: int = 8, channels: int = 3, filters: int = 4, kernel: int = 4
) -> tuple[Path, np.ndarray, np.ndarray]:
    """input (1, size, size, channels) → Convolution2DTransposeBias (stride 2, SAME) → output.

    Returns the path and the weights (filters, kh, kw, channels: OHWI) and bias.
    """
    rng = np.random.default_rng(3)
    weights = rng.normal(0, 0.5, (filters, kernel, kernel, channels)).astype(np.float32)
    bias = rng.normal(0, 0.5, filters).astype(np.float32)
    pad = max(0, kernel - (size - 1) % 2 - 1)
    out = 2 * (size - 1) + kernel - pad
    g = Graph()
    x = g.tensor("input", (1, size, size, channels))
    w = g.tensor("weights", weights.shape, weights)
    b = g.tensor("bias", bias.shape, bias)
    y = g.tensor("output", (1, out, out, filters))
    g.custom("Convolution2DTransposeBias", [x, w, b], [y], transpose_conv_options(SAME, 2, 2))
    g.inputs, g.outputs = [x], [y]
    return g.write(path), weights, bias


def argmax_unpool_model(
    path: Path, *, size: int = 8, channels: int = 3, expose_indices: bool = True
) -> Path:
    """SegNet-style: input → MaxPoolingWithArgmax2D (2×2, stride 2, SAME) → values, indices →
    MaxUnpooling2D (2×2, stride 2, SAME) → output; outputs ``output`` (and ``indices``)."""
    half = (size + 1) // 2
    g = Graph()
    x = g.tensor("input", (1, size, size, channels))
    pooled = g.tensor("pooled", (1, half, half, channels))
    indices = g.tensor("indices", (1, half, half, channels))
    y = g.tensor("output", (1, 2 * half, 2 * half, channels))
    g.custom("MaxPoolingWithArgmax2D", [x], [pooled, indices], pool_options(SAME, 2, 2, 2, 2))
    g.custom("MaxUnpooling2D", [pooled, indices], [y], pool_options(SAME, 2, 2, 2, 2))
    g.inputs, g.outputs = [x], [y, indices] if expose_indices else [y]
    return g.write(path)
