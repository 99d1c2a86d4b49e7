from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from visionflow.convert.onnx_tools import load_onnx, prepare_onnx, spec_from_onnx
from visionflow.convert.spec import ExportSpec
from visionflow.errors import ConversionError


def foldable_model(path) -> None:
    """relu(x + (a * b)) with a constant subgraph (a * b) for the simplifier to fold."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    a = numpy_helper.from_array(np.arange(4, dtype=np.float32), "a")
    b = numpy_helper.from_array(np.full(4, -0.5, np.float32), "b")
    nodes = [
        helper.make_node("Mul", ["a", "b"], ["ab"]),
        helper.make_node("Add", ["x", "ab"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "foldable", [x], [y], [a, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_prepare_simplifies_and_keeps_the_dynamic_batch(tmp_path):
    pytest.importorskip("onnxslim")
    src, dst = tmp_path / "m.onnx", tmp_path / "out" / "m.onnx"
    foldable_model(src)

    assert prepare_onnx(src, dst) == dst

    model = onnx.load(str(dst))
    assert [n.op_type for n in model.graph.node] == ["Add", "Relu"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(dst, x), np.maximum(x + np.arange(4) * -0.5, 0), rtol=1e-6)
    assert len(onnx.load(str(src)).graph.node) == 3  # the source is left alone


def test_prepare_without_simplification_infers_shapes_in_place(tmp_path):
    path = tmp_path / "m.onnx"
    foldable_model(path)
    prepare_onnx(path, simplify=False)
    model = onnx.load(str(path))
    assert len(model.graph.node) == 3
    shapes = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in model.graph.value_info
    }
    assert shapes["sum"] == ["batch", 4]


def test_missing_file(tmp_path):
    with pytest.raises(ConversionError, match=r"none\.onnx: ONNX file not found$"):
        prepare_onnx(tmp_path / "none.onnx")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\xff\x00garbage")
    with pytest.raises(ConversionError, match=r"garbage\.onnx: not a readable ONNX model"):
        load_onnx(path)


def test_invalid_graph(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Relu", ["missing"], ["y"])], "bad", [x], [y])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ConversionError, match=r"bad\.onnx: invalid ONNX model: .*missing"):
        prepare_onnx(path)


def test_spec_from_onnx_reads_the_interface(tmp_path):
    path = tmp_path / "m.onnx"
    foldable_model(path)
    spec = spec_from_onnx(onnx.load(str(path)), ExportSpec(opset=13))
    assert spec.input_names == ("x",)
    assert spec.input_shapes == ((None, 4),)
    assert spec.output_names == ("y",)
    assert spec.opset == 13
