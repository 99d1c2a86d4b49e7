"""Facts about an ONNX model file that engine selection needs, read without the ``onnx`` package.

Plain inference decides which engine to load from the model's SHA-256, its first input and
whether it is already quantised. Importing ``onnx`` (and with it ``ml_dtypes``) costs more than
half a second at start, so these facts come from the file's bytes and from ONNX Runtime, which
inference loads anyway; ``onnx`` is imported only to confirm Q/DQ nodes in a model whose bytes
name them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from visionflow.errors import ConversionError
from visionflow.infer.backends.base import TensorSpec
from visionflow.infer.backends.onnxruntime import tensor_spec

_QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
_QDQ_MARK = b"QuantizeLinear"
"""Every Q/DQ node stores its op type verbatim; "DequantizeLinear" contains this too."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def has_qdq(model: str | os.PathLike[str] | Any) -> bool:
    """Whether the ONNX model is already quantised (carries QuantizeLinear/DequantizeLinear).

    ``model`` is a path or an ``onnx.ModelProto``. A file whose bytes never spell
    ``QuantizeLinear`` has no such node (op types are stored as plain strings), so ``onnx`` is
    loaded only for files that do.

    Raises:
        ConversionError: the file is missing or not a readable ONNX model.
    """
    if isinstance(model, (str, os.PathLike)):
        if not _mentions(model, _QDQ_MARK):
            return False
        import onnx

        try:
            model = onnx.load(os.fspath(model), load_external_data=False)
        except Exception as exc:  # protobuf decode errors
            raise ConversionError(f"{os.fspath(model)}: not a readable ONNX model ({exc})") from exc
    return any(node.op_type in _QDQ_OPS for node in model.graph.node)


def model_input(model: str | os.PathLike[str]) -> TensorSpec:
    """The first input of an ONNX model (initialisers excluded); None marks a dynamic dimension.

    Read by ONNX Runtime with graph optimisations off.

    Raises:
        ConversionError: ONNX Runtime cannot load the model.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            os.fspath(model), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ConversionError(f"{os.fspath(model)}: ONNX Runtime cannot load it ({exc})") from exc
    return tensor_spec(session.get_inputs()[0])


def _mentions(path: str | os.PathLike[str], needle: bytes) -> bool:
    """Whether the file's bytes contain ``needle`` (read in blocks, overlapping by its length)."""
    tail = b""
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if needle in tail + block:
                return True
            tail = block[-len(needle) :]
    return False
