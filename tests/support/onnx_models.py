"""Tiny ONNX models with known outputs, built in the tests (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_output_model(
    path: Path,
    outputs: dict[str, np.ndarray],
    *,
    input_shape: tuple[int | str, ...] = ("N", 3, 64, 64),
    input_name: str = "images",
) -> Path:
    """A model whose outputs are the given per-frame arrays, repeated along a batch axis.

    The input only contributes its batch size (``0 * mean(input)`` is added), so outputs are
    exactly the constants for any picture.
    """
    nodes = [
        helper.make_node(
            "ReduceMean", [input_name], ["mean"], axes=list(range(1, len(input_shape))), keepdims=1
        ),
        helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
    ]
    initializers = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        const = f"{name}_const"
        initializers.append(numpy_helper.from_array(value[None], const))
        # zeros is (N, 1, 1, 1); reshape it to (N, 1, …, 1) with value's rank + 1 dims
        shape_name = f"{name}_shape"
        initializers.append(
            numpy_helper.from_array(np.array([-1] + [1] * value.ndim, np.int64), shape_name)
        )
        nodes += [
            helper.make_node("Reshape", ["zeros", shape_name], [f"{name}_z"]),
            helper.make_node("Add", [f"{name}_z", const], [name]),
        ]
        graph_outputs.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [input_shape[0], *value.shape])
        )
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        graph_outputs,
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
