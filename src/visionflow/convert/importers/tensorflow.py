"""TensorFlow → ONNX through tf2onnx: Keras models, SavedModels, frozen graphs and TFLite files.

Inputs keep the layout of the source model: an NHWC image input stays NHWC (no transpose is
inserted), and :attr:`ImportResult.input_layout` says so, which an nvinfer config expresses as
``network-input-order=1``. Each conversion is checked against TensorFlow itself, or against the
TFLite interpreter for ``.tflite`` files.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from visionflow.convert.importers.tflite_custom import custom_op_handlers, read_custom_ops
from visionflow.convert.onnx_tools import prepare_onnx, spec_from_onnx
from visionflow.convert.parity import Reference, check_parity, sample_inputs
from visionflow.convert.spec import Dim, ExportSpec, ImportResult, fill_shape, infer_layout
from visionflow.errors import ConversionError, MissingDependencyError


def import_keras(
    model: Any,
    output: str | PathLike[str],
    *,
    spec: ExportSpec | None = None,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Convert a Keras model (object, ``.keras`` or ``.h5`` file) to ONNX.

    Input names, dtypes and shapes come from the model; ``spec.input_shapes`` fills dimensions
    the model leaves open (a subclassed model without declared inputs needs them all).
    """
    tf, tf2onnx = _require_tensorflow()
    spec = spec or ExportSpec()
    _reject_names(spec, "Keras")
    source_format = "keras"
    if isinstance(model, str | PathLike):
        path = Path(model)
        source_format = "h5" if path.suffix.lower() in (".h5", ".hdf5") else "keras"
        model = _load_keras(path, tf)
    signature = _keras_signature(model, spec, tf)
    names = _keras_output_names(model)

    # Traced as a tf.function with an explicit signature, not through tf2onnx's from_keras:
    # from_keras looks tensors up by Keras 2 names and fails on Keras 3 Sequential models
    # ("'keras_tensor_9'"). The outputs keep the model's output names.
    @tf.function(input_signature=signature)
    def serve(*args: Any) -> dict[str, Any]:
        outputs = model(args[0] if len(args) == 1 else list(args), training=False)
        flat = tf.nest.flatten(outputs)
        keys = names if len(names) == len(flat) else [f"output_{i}" for i in range(len(flat))]
        return dict(zip(keys, flat, strict=True))

    output = _output_path(output)
    _convert(
        lambda: tf2onnx.convert.from_function(
            serve, input_signature=signature, opset=spec.opset, output_path=str(output)
        )
    )

    def reference(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        args = [tf.constant(feeds[s.name]) for s in signature]
        outputs = model(args[0] if len(args) == 1 else args, training=False)
        return [np.asarray(t) for t in tf.nest.flatten(outputs)]

    return _finish(output, reference, spec, source_format, verify, simplify)


def import_saved_model(
    path: str | PathLike[str],
    output: str | PathLike[str],
    *,
    signature: str = "serving_default",
    spec: ExportSpec | None = None,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Convert one signature of a TensorFlow SavedModel directory to ONNX.

    ONNX inputs and outputs take the signature's argument and output names.
    """
    tf, tf2onnx = _require_tensorflow()
    from tf2onnx import tf_loader

    spec = spec or ExportSpec()
    _reject_names(spec, "SavedModel")
    path = Path(path)
    try:
        loaded = tf.saved_model.load(str(path))
    except (OSError, ValueError, RuntimeError) as err:
        raise ConversionError(f"{path}: cannot load SavedModel: {err}") from err
    if signature not in loaded.signatures:
        raise ConversionError(
            f"{path}: SavedModel has no signature {signature!r}; "
            f"it has {sorted(loaded.signatures) or 'none'}"
        )
    function = loaded.signatures[signature]
    graph_def, input_names, output_names, renames = _convert(
        lambda: tf_loader.from_saved_model(
            str(path),
            None,
            None,
            tag=["serve"],
            signatures=[signature],
            return_tensors_to_rename=True,
        )
    )
    output = _graph_def_to_onnx(
        tf2onnx, graph_def, input_names, output_names, renames, spec, output
    )

    def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = function(**{name: tf.constant(value) for name, value in feeds.items()})
        return {name: np.asarray(value) for name, value in outputs.items()}

    return _finish(output, reference, spec, "savedmodel", verify, simplify)


def import_frozen_graph(
    path: str | PathLike[str],
    output: str | PathLike[str],
    *,
    spec: ExportSpec,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Convert a frozen TensorFlow ``GraphDef`` (``.pb``) to ONNX.

    A frozen graph does not record its interface, so ``spec.input_names`` and
    ``spec.output_names`` must name the tensors to feed and fetch (``"input"`` or
    ``"input:0"``); the ONNX model uses the names without the ``:0`` suffix.
    """
    tf, tf2onnx = _require_tensorflow()
    path = Path(path)
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as err:  # protobuf's DecodeError, OSError
        raise ConversionError(f"{path}: not a readable TensorFlow GraphDef: {err}") from err
    placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
    if not spec.input_names or not spec.output_names:
        raise ConversionError(
            f"{path} is a frozen TensorFlow graph, which does not record its inputs and "
            "outputs; give input_names=[...] and output_names=[...] (tensor names such as "
            f"'input:0'); the graph's placeholders are {placeholders}"
        )
    input_names = [_tensor_name(n) for n in spec.input_names]
    output_names = [_tensor_name(n) for n in spec.output_names]
    nodes = {node.name for node in graph_def.node}
    missing = [n for n in input_names + output_names if n.rsplit(":", 1)[0] not in nodes]
    if missing:
        raise ConversionError(
            f"{path}: the graph has no tensors {missing}; its placeholders are {placeholders}"
        )
    renames = {name: name.removesuffix(":0") for name in input_names + output_names}
    output = _graph_def_to_onnx(
        tf2onnx, graph_def, input_names, output_names, renames, spec, output
    )
    frozen = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
    )
    function = frozen.prune(
        feeds=[frozen.graph.as_graph_element(n) for n in input_names],
        fetches=[frozen.graph.as_graph_element(n) for n in output_names],
    )

    def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = function(*[tf.constant(feeds[renames[n]]) for n in input_names])
        return {renames[n]: np.asarray(v) for n, v in zip(output_names, values, strict=True)}

    return _finish(output, reference, spec, "tf-frozen", verify, simplify)


def import_tflite(
    path: str | PathLike[str],
    output: str | PathLike[str],
    *,
    spec: ExportSpec | None = None,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Convert a TFLite flatbuffer to ONNX, checked against the TFLite interpreter.

    ONNX inputs and outputs keep the TFLite tensor names. Models with 8-bit tensors are checked
    with the ``int8`` tolerance. MediaPipe's custom operators are converted
    (:mod:`visionflow.convert.importers.tflite_custom`); another custom operator is an error
    that names it.
    """
    tf, tf2onnx = _require_tensorflow()
    spec = spec or ExportSpec()
    _reject_names(spec, "TFLite")
    path = Path(path)
    output = _output_path(output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's notice about LiteRT
        try:
            interpreter = tf.lite.Interpreter(model_path=str(path))
        except (ValueError, RuntimeError) as err:
            raise ConversionError(f"{path}: not a readable TFLite model: {err}") from err
        # MediaPipe's custom ops (Convolution2DTransposeBias, MaxPoolingWithArgmax2D,
        # MaxUnpooling2D) through tf2onnx custom-op handlers; any other custom op is refused.
        errors: list[Exception] = []
        custom = read_custom_ops(path)
        handlers = custom_op_handlers(custom, errors) if custom else None
        try:
            _convert(
                lambda: tf2onnx.convert.from_tflite(
                    str(path),
                    opset=spec.opset,
                    output_path=str(output),
                    custom_op_handlers=handlers,
                )
            )
        except ConversionError:
            if not errors:
                raise
        if errors:
            raise ConversionError(f"{path}: {errors[0]}") from errors[0]
    quantized = any(
        np.dtype(d["dtype"]) in (np.int8, np.uint8) for d in interpreter.get_tensor_details()
    )

    def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for detail in interpreter.get_input_details():
            interpreter.resize_tensor_input(detail["index"], feeds[detail["name"]].shape)
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], feeds[detail["name"]])
        interpreter.invoke()
        return {
            d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()
        }

    precision = "int8" if quantized else "fp32"
    return _finish(output, reference, spec, "tflite", verify, simplify, precision)


def _finish(
    output: Path,
    reference: Reference,
    spec: ExportSpec,
    source_format: str,
    verify: bool,
    simplify: bool,
    precision: str = "fp32",
) -> ImportResult:
    prepare_onnx(output, simplify=simplify)
    resolved = spec_from_onnx(onnx.load(str(output), load_external_data=False), spec)
    parity = None
    if verify:
        # Dimensions the model leaves open take the sizes of spec.input_shapes, by position
        # (PROBE_DIM where those mark them dynamic).
        samples = sample_inputs(output, resolved.probed(spec.input_shapes), batch_sizes=(1, 2))
        parity = check_parity(output, reference, samples, resolved.tolerance(precision))
    layout = infer_layout(resolved.input_shapes[0], "NHWC") if resolved.input_shapes else None
    return ImportResult(output, parity, source_format, layout, resolved)


def _keras_signature(model: Any, spec: ExportSpec, tf: Any) -> tuple[Any, ...]:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):  # a subclassed model that was never called
        inputs = []
    if inputs:
        declared = [(t.name, tuple(t.shape), t.dtype) for t in inputs]
    elif spec.input_shapes:
        names = [f"input_{i}" for i in range(len(spec.input_shapes))]
        declared = [(n, s, "float32") for n, s in zip(names, spec.input_shapes, strict=True)]
    else:
        raise ConversionError(
            "the Keras model declares no inputs (a subclassed model); give input_shape=..."
        )
    signature = []
    for index, (name, shape, dtype) in enumerate(declared):
        given = spec.input_shapes[index] if index < len(spec.input_shapes) else None
        dims = fill_shape(shape, given)
        if spec.dynamic_batch and dims:
            dims = (None, *dims[1:])
        signature.append(tf.TensorSpec(dims, dtype, name=name))
    return tuple(signature)


def _keras_output_names(model: Any) -> list[str]:
    """The model's output names (``output_names``; a Sequential model's last layer)."""
    try:
        names = list(getattr(model, "output_names", None) or [])
        if not names and getattr(model, "layers", None):  # Sequential: its last layer
            names = [model.layers[-1].name]
    except (AttributeError, ValueError):  # a subclassed model
        names = []
    return [str(name) for name in names]


def _graph_def_to_onnx(
    tf2onnx: Any,
    graph_def: Any,
    input_names: list[str],
    output_names: list[str],
    renames: dict[str, str],
    spec: ExportSpec,
    output: str | PathLike[str],
) -> Path:
    """Write ``graph_def`` to ``output`` as ONNX; its tensors are renamed by ``renames``."""
    path = _output_path(output)
    _convert(
        lambda: tf2onnx.convert.from_graph_def(
            graph_def,
            input_names=input_names,
            output_names=output_names,
            opset=spec.opset,
            shape_override=_shape_override(input_names, spec),
            tensors_to_rename=renames,
            output_path=str(path),
        )
    )
    return path


def _shape_override(input_names: list[str], spec: ExportSpec) -> dict[str, list[Dim]] | None:
    """tf2onnx shape overrides from ``spec.input_shapes``, matched to inputs by position."""
    overrides = {
        name: list(shape) for name, shape in zip(input_names, spec.input_shapes, strict=False)
    }
    return overrides or None


def _tensor_name(name: str) -> str:
    return name if ":" in name else f"{name}:0"


def _reject_names(spec: ExportSpec, kind: str) -> None:
    if spec.input_names or spec.output_names:
        raise ConversionError(
            f"{kind} models name their own inputs and outputs; input_names and output_names "
            "apply to PyTorch models and frozen TensorFlow graphs"
        )


def _load_keras(path: Path, tf: Any) -> Any:
    if not path.exists():
        raise ConversionError(f"{path}: file not found")
    try:
        return tf.keras.models.load_model(str(path), compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ConversionError(f"{path}: cannot load Keras model: {err}") from err


def _convert(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except ConversionError:
        raise
    except Exception as err:  # tf2onnx and TensorFlow raise errors of many kinds
        raise ConversionError(f"tf2onnx conversion failed: {err}") from err


def _output_path(output: str | PathLike[str]) -> Path:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _require_tensorflow() -> tuple[Any, Any]:
    purpose = "importing TensorFlow models"
    try:
        import tensorflow as tf
    except ImportError as err:
        raise MissingDependencyError("tensorflow", "tensorflow", purpose) from err
    try:
        import tf2onnx
    except ImportError as err:
        raise MissingDependencyError("tf2onnx", "tensorflow", purpose) from err
    return tf, tf2onnx
