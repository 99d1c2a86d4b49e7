"""Re-export a YOLOv8-layout ONNX model the way DeepStream-Yolo's exporter lays out its output.

Ultralytics YOLOv8 emits ``output0`` (N, 4 + nc, A): cx, cy, w, h and per-class scores.
DeepStream-Yolo's ``export_yoloV8.py`` appends a small module so the model emits one tensor
``output`` (N, A, 6): x1, y1, x2, y2, best score, best class — what ``NvDsInferParseYolo`` reads.
This helper appends the same computation as ONNX nodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def to_deepstream_yolo(src: Path, dst: Path) -> Path:
    model = onnx.load(src)
    graph = model.graph
    (out,) = list(graph.output)
    source = out.name
    graph.output.remove(out)
    consts = {
        "dsy_starts_box": np.array([0], np.int64),
        "dsy_ends_box": np.array([4], np.int64),
        "dsy_ends_cls": np.array([2**62], np.int64),
        "dsy_axes": np.array([2], np.int64),
        "dsy_half": np.array(0.5, np.float32),
        "dsy_split": np.array([2, 2], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    graph.node.extend(
        [
            helper.make_node("Transpose", [source], ["dsy_t"], perm=[0, 2, 1]),
            helper.make_node(
                "Slice", ["dsy_t", "dsy_starts_box", "dsy_ends_box", "dsy_axes"], ["dsy_xywh"]
            ),
            helper.make_node(
                "Slice", ["dsy_t", "dsy_ends_box", "dsy_ends_cls", "dsy_axes"], ["dsy_cls"]
            ),
            helper.make_node("Split", ["dsy_xywh", "dsy_split"], ["dsy_xy", "dsy_wh"], axis=2),
            helper.make_node("Mul", ["dsy_wh", "dsy_half"], ["dsy_half_wh"]),
            helper.make_node("Sub", ["dsy_xy", "dsy_half_wh"], ["dsy_x1y1"]),
            helper.make_node("Add", ["dsy_xy", "dsy_half_wh"], ["dsy_x2y2"]),
            helper.make_node("ReduceMax", ["dsy_cls"], ["dsy_score"], axes=[2], keepdims=1),
            helper.make_node("ArgMax", ["dsy_cls"], ["dsy_label_i"], axis=2, keepdims=1),
            helper.make_node("Cast", ["dsy_label_i"], ["dsy_label"], to=TensorProto.FLOAT),
            helper.make_node(
                "Concat", ["dsy_x1y1", "dsy_x2y2", "dsy_score", "dsy_label"], ["output"], axis=2
            ),
        ]
    )
    graph.output.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", "A", 6]))
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return dst
