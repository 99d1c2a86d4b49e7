"""Importers that turn PyTorch, TensorFlow and Caffe models into ONNX, each checked for parity.

:func:`detect_format` recognises a model from its file or directory contents, and
:func:`import_model` converts it to a prepared ONNX file. Frameworks are imported only when a
model of theirs is converted.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import cast

import numpy as np
import onnx
import onnxruntime as ort

from visionflow.convert.importers.torch import is_torchscript_archive, not_torchscript_error
from visionflow.convert.onnx_tools import prepare_onnx, spec_from_onnx
from visionflow.convert.parity import check_parity, sample_inputs
from visionflow.convert.spec import ExportSpec, ImportResult, Shape, infer_layout, normalize_shape
from visionflow.errors import ConversionError

FORMATS: tuple[str, ...] = (
    "onnx",
    "torchscript",
    "savedmodel",
    "keras",
    "h5",
    "tf-frozen",
    "tflite",
    "caffe",
    "uff",
    "etlt",
    "engine",
)
"""The formats :func:`detect_format` recognises."""

_SUFFIXES = {
    ".onnx": "onnx",
    ".pb": "tf-frozen",
    ".caffemodel": "caffe",
    ".prototxt": "caffe",
    ".uff": "uff",
    ".etlt": "etlt",
    ".engine": "engine",
    ".plan": "engine",
    ".trt": "engine",
}

_UNCONVERTIBLE = {
    "uff": (
        "uff-file: UFF is not supported by TensorRT 10 / visionflow; re-export the model to ONNX "
        "with tf2onnx (python -m tf2onnx.convert --saved-model DIR --output model.onnx, or "
        "--graphdef frozen.pb --inputs ... --outputs ...) and use onnx-file"
    ),
    "etlt": (
        "tlt-encoded-model: encrypted TAO models cannot be read; export ONNX from TAO "
        "(`tao model <task> export -m model.tlt -k $KEY -o model.onnx`) or decrypt with the "
        "model key using TAO tools, then use onnx-file"
    ),
    "engine": (
        "model-engine-file: a serialized TensorRT engine is built for one GPU and TensorRT "
        "version and cannot be converted back; import the model it was built from"
    ),
}

_NAMED_BY_CALLER = ("torchscript", "tf-frozen")


def detect_format(path: str | PathLike[str]) -> str:
    """The format of the model at ``path``, one of :data:`FORMATS`.

    Directory and file contents decide where they can (SavedModel directories, HDF5 and TFLite
    signatures, Keras and TorchScript zip archives); the suffix decides otherwise.

    Raises:
        ConversionError: the path does not exist, is a ``torch.save`` checkpoint rather than
            TorchScript, or is not a format visionflow knows.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ConversionError(
            f"{path}: directory is not a TensorFlow SavedModel (no saved_model.pb)"
        )
    if not path.is_file():
        raise ConversionError(f"{path}: model file not found")
    with path.open("rb") as file:
        head = file.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return "h5"
    if head[4:8] == b"TFL3":
        return "tflite"
    if path.name == "saved_model.pb":
        return "savedmodel"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras"
        if is_torchscript_archive(path):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            raise not_torchscript_error(path)
    if path.suffix.lower() in (".pt", ".pth"):
        raise not_torchscript_error(path)
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConversionError(
            f"{path}: unrecognised model format; visionflow imports {', '.join(FORMATS)}"
        )
    return fmt


def import_model(
    path: str | PathLike[str],
    *,
    fmt: str | None = None,
    input_shape: Sequence[int | None] | Sequence[Sequence[int | None]] | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    proto: str | PathLike[str] | None = None,
    output: str | PathLike[str] | None = None,
    verify: bool = True,
) -> ImportResult:
    """Convert the model at ``path`` to a prepared (checked, simplified) ONNX file.

    Args:
        path: the model: an ONNX or TorchScript file, a SavedModel directory, a Keras
            ``.keras``/``.h5`` file, a frozen graph ``.pb``, a ``.tflite`` file or a
            ``.caffemodel``.
        fmt: the format, when :func:`detect_format` should not guess it.
        input_shape: the input shape (axis 0 is the batch, ``None``/-1 for dynamic), or one
            shape per input. Needed for TorchScript files; fills the dimensions other models
            leave open; replaces the declared shape of a Caffe network.
        input_names: names for a TorchScript model's inputs, or the tensors to feed in a frozen
            graph. Other formats name their own inputs.
        output_names: the same for outputs (frozen graphs: the tensors to fetch).
        proto: the prototxt of a Caffe model.
        output: the ONNX file to write; defaults to the model path with suffix ``.onnx``
            (``.prepared.onnx`` for an ONNX source).
        verify: check the converted model against its source (the source ONNX model, for
            ONNX input).

    Raises:
        ConversionError: the format is unknown or cannot be converted (UFF, encrypted TAO
            ``.etlt``, TensorRT engines), or the conversion failed.
        MissingDependencyError: the source framework is not installed.
        ParityError: the converted model does not match its source.
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ConversionError(f"unknown model format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt in _UNCONVERTIBLE:
        raise ConversionError(f"{path}: {_UNCONVERTIBLE[fmt]}")
    if (input_names or output_names) and fmt not in _NAMED_BY_CALLER:
        raise ConversionError(
            f"{fmt} models name their own inputs and outputs; input_names and output_names "
            "apply to TorchScript models and frozen TensorFlow graphs"
        )
    spec = ExportSpec(
        input_names=tuple(input_names or ()),
        input_shapes=_shapes(input_shape),
        output_names=tuple(output_names or ()),
    )
    if fmt == "savedmodel" and path.is_file():
        path = path.parent
    if output is None:
        output = path.with_suffix(".prepared.onnx" if fmt == "onnx" else ".onnx")
    if fmt == "onnx":
        return _import_onnx(path, Path(output), spec, verify)
    if fmt == "torchscript":
        from visionflow.convert.importers.torch import import_torch

        return import_torch(path, output, spec=spec, verify=verify)
    if fmt == "caffe":
        from visionflow.convert.importers.caffe import import_caffe

        if proto is None:
            raise ConversionError(
                f"{path}: a Caffe model is two files; give the network definition with "
                "proto='deploy.prototxt' and the weights as the path"
            )
        prototxt, caffemodel = Path(proto), path
        if caffemodel.suffix.lower() == ".prototxt":
            prototxt, caffemodel = caffemodel, prototxt
        return import_caffe(prototxt, caffemodel, output, spec=spec, verify=verify)

    from visionflow.convert.importers import tensorflow as tf_importers

    if fmt in ("keras", "h5"):
        return tf_importers.import_keras(path, output, spec=spec, verify=verify)
    if fmt == "savedmodel":
        return tf_importers.import_saved_model(path, output, spec=spec, verify=verify)
    if fmt == "tf-frozen":
        return tf_importers.import_frozen_graph(path, output, spec=spec, verify=verify)
    return tf_importers.import_tflite(path, output, spec=spec, verify=verify)


def _import_onnx(path: Path, output: Path, spec: ExportSpec, verify: bool) -> ImportResult:
    """Prepare an ONNX model, checking the prepared model against the original."""
    prepare_onnx(path, output)
    resolved = spec_from_onnx(onnx.load(str(output), load_external_data=False), spec)
    parity = None
    if verify:
        source = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in source.get_outputs()]

        def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return dict(zip(names, source.run(None, feeds), strict=True))

        samples = sample_inputs(output, resolved.probed(spec.input_shapes))
        parity = check_parity(output, reference, samples, resolved.tolerance("fp32"))
    layout = infer_layout(resolved.input_shapes[0], "NCHW") if resolved.input_shapes else None
    return ImportResult(output, parity, "onnx", layout, resolved)


def _shapes(
    input_shape: Sequence[int | None] | Sequence[Sequence[int | None]] | None,
) -> tuple[Shape, ...]:
    """One shape or one per input, as a tuple of shapes."""
    if not input_shape:
        return ()
    if isinstance(input_shape[0], Sequence):
        return tuple(normalize_shape(cast(Sequence[int | None], s)) for s in input_shape)
    return (normalize_shape(cast(Sequence[int | None], input_shape)),)


__all__ = ["FORMATS", "detect_format", "import_model"]
