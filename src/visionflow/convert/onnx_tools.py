"""Preparing ONNX files: validate, infer shapes, simplify, and read their interface back."""

from __future__ import annotations

import dataclasses
import logging
from os import PathLike
from pathlib import Path

import onnx

from visionflow.convert.spec import ExportSpec, Shape
from visionflow.errors import ConversionError

logger = logging.getLogger(__name__)


def load_onnx(path: str | PathLike[str]) -> onnx.ModelProto:
    """Read and validate an ONNX file (``onnx.checker``).

    Raises:
        ConversionError: the file is missing, is not an ONNX model, or is not a valid one.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: ONNX file not found")
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf's DecodeError and friends
        raise ConversionError(f"{path}: not a readable ONNX model ({err})") from err
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as err:
        raise ConversionError(f"{path}: invalid ONNX model: {err}") from err
    return model


def prepare_onnx(
    src: str | PathLike[str], dst: str | PathLike[str] | None = None, *, simplify: bool = True
) -> Path:
    """Validate an ONNX model, annotate it with inferred shapes and simplify it.

    Simplification uses onnxslim (the ``optimize`` extra) when it is installed and is skipped
    with a log line otherwise. A dynamic batch axis of the source stays dynamic.

    Args:
        src: the ONNX file to prepare.
        dst: where to write the result; ``None`` rewrites ``src``.
        simplify: run onnxslim (constant folding, fusions, dead-code removal).

    Returns:
        The path written.

    Raises:
        ConversionError: the file is unreadable or invalid, or simplification failed or fixed
            the batch size.
    """
    src = Path(src)
    dst = src if dst is None else Path(dst)
    model = load_onnx(src)
    dynamic_before = _dynamic_batch_inputs(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as err:  # onnx raises InferenceError and plain RuntimeErrors
        raise ConversionError(f"{src}: shape inference failed: {err}") from err
    if simplify:
        model = _simplify(model, src)
    fixed = dynamic_before - _dynamic_batch_inputs(model)
    if fixed:
        raise ConversionError(
            f"{src}: simplification fixed the batch axis of inputs {sorted(fixed)}"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dst))
    return dst


def spec_from_onnx(model: onnx.ModelProto, base: ExportSpec) -> ExportSpec:
    """``base`` with the input names, input shapes and output names of ``model``."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    return dataclasses.replace(
        base,
        input_names=tuple(value.name for value in inputs),
        input_shapes=tuple(value_shape(value) for value in inputs),
        output_names=tuple(value.name for value in model.graph.output),
    )


def value_shape(value: onnx.ValueInfoProto) -> Shape:
    """The shape of a graph value, with ``None`` for symbolic or unknown dimensions."""
    return tuple(
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
        for dim in value.type.tensor_type.shape.dim
    )


def _dynamic_batch_inputs(model: onnx.ModelProto) -> set[str]:
    initializers = {init.name for init in model.graph.initializer}
    return {
        value.name
        for value in model.graph.input
        if value.name not in initializers and value_shape(value)[:1] == (None,)
    }


def _simplify(model: onnx.ModelProto, src: Path) -> onnx.ModelProto:
    try:
        import onnxslim
    except ImportError:
        logger.info(
            "onnxslim is not installed (pip install 'visionflow[optimize]'); %s is not simplified",
            src,
        )
        return model
    try:
        simplified = onnxslim.slim(model)
        onnx.checker.check_model(simplified)
    except Exception as err:  # onnxslim raises whatever its passes raise
        raise ConversionError(f"{src}: onnxslim failed: {err}") from err
    return simplified
