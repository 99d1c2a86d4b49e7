"""A tiny classifier with designed weights, whose answer is known: the dominant colour channel.

Unlike a randomly initialised network, its classes are far apart, so a correct INT8 conversion
keeps every top-1 answer and a broken one visibly does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = ("red", "green", "blue")


def colour_net(path: Path, *, size: int = 32, gain: float = 20.0) -> Path:
    """Conv 3→6 (3x3 box blur of each channel, plus its negative) → ReLU → Conv 6→3 (1x1,
    ``gain`` × the channel) → GlobalAveragePool → Flatten → Softmax.

    Input ``images (N, 3, size, size) float32`` in RGB scaled to [0, 1]; output
    ``probabilities (N, 3) float32``: class 0 when red dominates, 1 green, 2 blue.
    """
    blur = np.zeros((6, 3, 3, 3), np.float32)
    for c in range(3):
        blur[c, c] = 1 / 9
        blur[3 + c, c] = -1 / 9  # a channel that ReLU zeroes: real convolutions carry both signs
    pick = np.zeros((3, 6, 1, 1), np.float32)
    for c in range(3):
        pick[c, c] = gain
    initializers = [
        numpy_helper.from_array(blur, "blur.w"),
        numpy_helper.from_array(np.zeros(6, np.float32), "blur.b"),
        numpy_helper.from_array(pick, "pick.w"),
        numpy_helper.from_array(np.zeros(3, np.float32), "pick.b"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "blur.w", "blur.b"], ["a1"], name="blur", pads=[1] * 4),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "pick.w", "pick.b"], ["a2"], name="pick"),
        helper.make_node("GlobalAveragePool", ["a2"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["logits"], name="flatten"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "colour_net",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def colour_frames(count: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB ``(H, W, 3) uint8`` frames with noise, class ``i % 3`` dominating frame i."""
    rng = np.random.default_rng(seed)
    width, height = size
    frames = []
    for i in range(count):
        base = rng.integers(20, 90, 3)
        base[i % 3] = rng.integers(160, 230)
        noise = rng.integers(-20, 21, (height, width, 3))
        frames.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return frames
