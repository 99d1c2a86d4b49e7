"""Model-file facts read without the onnx package: hash, first input, Q/DQ nodes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from support.conv_net import conv_net
from visionflow.convert.model_file import file_sha256, has_qdq, model_input
from visionflow.errors import ConversionError


def identity(path: Path, *, node_name: str = "id", op: str = "Identity") -> Path:
    """``x (N, 3, H, 8) uint8`` → ``y``, through one node of type ``op`` named ``node_name``."""
    inputs = ["x"]
    initializers = []
    if op != "Identity":
        initializers = [
            helper.make_tensor("scale", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("zero", TensorProto.UINT8, [], [0]),
        ]
        inputs = ["x", "scale", "zero"]
    elem = TensorProto.FLOAT if op == "QuantizeLinear" else TensorProto.UINT8
    out = TensorProto.UINT8
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["y"], name=node_name)],
        "g",
        [helper.make_tensor_value_info("x", elem, ["N", 3, "H", 8])],
        [helper.make_tensor_value_info("y", out, ["N", 3, "H", 8])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_file_sha256_is_the_hash_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * (3 << 20))  # several read blocks
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_input_names_shape_and_dtype(tmp_path: Path) -> None:
    spec = model_input(identity(tmp_path / "m.onnx"))
    assert spec.name == "x"
    assert spec.shape == (None, 3, None, 8)
    assert spec.dtype == np.uint8
    net = model_input(conv_net(tmp_path / "net.onnx"))
    assert (net.name, net.shape, net.dtype) == ("images", (None, 3, 32, 32), np.float32)


def test_model_input_of_a_file_that_is_no_model(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ConversionError, match=r"bad\.onnx: ONNX Runtime cannot load it"):
        model_input(tmp_path / "bad.onnx")


def test_has_qdq_looks_at_op_types_not_names(tmp_path: Path) -> None:
    assert has_qdq(identity(tmp_path / "q.onnx", op="QuantizeLinear"))
    # the bytes spell QuantizeLinear (a node name), yet no node is one: onnx confirms it
    assert not has_qdq(identity(tmp_path / "named.onnx", node_name="QuantizeLinear_like"))
    assert not has_qdq(conv_net(tmp_path / "net.onnx"))
    assert has_qdq(onnx.load(str(tmp_path / "q.onnx")))
