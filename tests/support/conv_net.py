"""A tiny seeded convolutional network as ONNX, for quantisation and engine tests (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TAIL = ("pool", "head_flatten", "head_softmax")
"""Names of the nodes after the last convolution."""


def conv_net(path: Path, *, seed: int = 0, size: int = 32, classes: int = 4) -> Path:
    """Conv 3→8 (3x3) → ReLU → Conv 8→16 (3x3, stride 2) → ReLU → Conv 16→classes (1x1)
    → GlobalAveragePool → Flatten → Softmax.

    Input ``images (N, 3, size, size) float32`` (pixels scaled to [0, 1]); output
    ``probabilities (N, classes) float32``. Weights are seeded He-normal.
    """
    rng = np.random.default_rng(seed)

    def weight(name: str, out_c: int, in_c: int, k: int) -> list[onnx.TensorProto]:
        w = rng.normal(0, np.sqrt(2 / (in_c * k * k)), (out_c, in_c, k, k)).astype(np.float32)
        b = rng.normal(0, 0.1, out_c).astype(np.float32)
        return [numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(b, f"{name}.b")]

    initializers = [*weight("c1", 8, 3, 3), *weight("c2", 16, 8, 3), *weight("c3", classes, 16, 1)]
    nodes = [
        helper.make_node("Conv", ["images", "c1.w", "c1.b"], ["a1"], name="c1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node(
            "Conv", ["r1", "c2.w", "c2.b"], ["a2"], name="c2", pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["a2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "c3.w", "c3.b"], ["a3"], name="c3"),
        helper.make_node("GlobalAveragePool", ["a3"], ["pooled"], name=TAIL[0]),
        helper.make_node("Flatten", ["pooled"], ["logits"], name=TAIL[1]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name=TAIL[2], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_net",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path
