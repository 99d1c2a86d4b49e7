"""Parity checks: run a converted ONNX model and its source on the same inputs, and compare.

The ONNX side always runs in ONNX Runtime on the CPU, the reference that every runtime is
measured against. The source side is any callable that maps named NumPy inputs to outputs, so the
same check serves PyTorch, TensorFlow, TFLite, Caffe and an earlier ONNX file alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from visionflow.convert.spec import ExportSpec, OutputParity, ParityReport
from visionflow.errors import ConversionError, ParityError

logger = logging.getLogger(__name__)

Feeds = dict[str, np.ndarray]
Reference = Callable[[Feeds], Mapping[str, np.ndarray] | Sequence[np.ndarray]]


def check_parity(
    onnx_path: str | PathLike[str],
    reference: Reference,
    inputs: Iterable[Mapping[str, np.ndarray]],
    tolerance: float,
    *,
    raise_on_failure: bool = True,
) -> ParityReport:
    """Compare an ONNX model with its source model on every sample of ``inputs``.

    Args:
        onnx_path: the converted model.
        reference: runs the source model on one sample (input name → array) and returns its
            outputs, either by name or as a sequence in the ONNX model's output order.
        inputs: samples, each a mapping of input name to array (any dtype and batch size the
            model accepts).
        tolerance: an element passes when ``|onnx - ref| <= tolerance * (1 + |ref|)``.
        raise_on_failure: raise :class:`ParityError` when an output fails (the default);
            otherwise return the failing report.

    Returns:
        The per-output comparison, also logged at INFO level as a table.

    Raises:
        ParityError: an output differs beyond the tolerance (message holds the table).
        ConversionError: the model cannot be run, or ``inputs`` is empty.
    """
    path = Path(onnx_path)
    session = _cpu_session(path)
    names = [output.name for output in session.get_outputs()]
    stats = {name: _OutputStats(name, tolerance) for name in names}
    samples = 0
    for sample in inputs:
        feeds = {name: np.asarray(value) for name, value in sample.items()}
        try:
            actual = session.run(None, feeds)
        except Exception as err:  # ONNX Runtime raises its own exception types
            raise ConversionError(f"ONNX Runtime cannot run {path}: {err}") from err
        expected = _by_name(reference(feeds), names)
        for name, value in zip(names, actual, strict=True):
            stats[name].add(np.asarray(value), expected.get(name))
        samples += 1
    if samples == 0:
        raise ConversionError("parity check needs at least one input sample, got none")
    report = ParityReport(
        model=path, outputs={name: s.result() for name, s in stats.items()}, samples=samples
    )
    # a failure the caller judges itself (raise_on_failure=False) is its to report
    logger.log(logging.INFO if report.passed or raise_on_failure else logging.DEBUG, "%s", report)
    if raise_on_failure and not report.passed:
        raise ParityError(f"{path} does not match its source model\n{report}")
    return report


def sample_inputs(
    model: str | PathLike[str] | onnx.ModelProto,
    spec: ExportSpec | None = None,
    *,
    batch_sizes: Sequence[int] = (1, 2),
    seed: int = 0,
) -> list[Feeds]:
    """Random inputs for every graph input of ``model``, one sample per batch size.

    Dtypes and fixed dimensions come from the model. A dynamic axis 0 takes each of
    ``batch_sizes`` (a model with a fixed batch gets one sample); other dynamic dimensions take
    their size from ``spec.input_shapes``. Floats are standard normal, ``uint8``/``int8`` cover
    their range, other integers lie in ``[0, 10)``.

    Raises:
        ConversionError: a dynamic dimension other than the batch has no size in ``spec``.
    """
    proto = (
        model
        if isinstance(model, onnx.ModelProto)
        else onnx.load(str(model), load_external_data=False)
    )
    initializers = {init.name for init in proto.graph.initializer}
    graph_inputs = [i for i in proto.graph.input if i.name not in initializers]
    shapes = {i.name: _input_dims(i, spec) for i in graph_inputs}
    dynamic_batch = any(dims and dims[0] is None for dims in shapes.values())
    rng = np.random.default_rng(seed)
    samples = []
    for batch in batch_sizes if dynamic_batch else batch_sizes[:1]:
        sample = {}
        for value in graph_inputs:
            dims = shapes[value.name]
            shape = tuple(batch if d is None else d for d in dims)
            dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
            sample[value.name] = _random(rng, shape, dtype)
        samples.append(sample)
    return samples


def _input_dims(value: onnx.ValueInfoProto, spec: ExportSpec | None) -> list[int | None]:
    given = spec.shape_of(value.name) if spec is not None else None
    dims: list[int | None] = []
    for axis, dim in enumerate(value.type.tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(dim.dim_value)
        elif axis == 0:
            dims.append(None)
        elif given is not None and axis < len(given) and given[axis] is not None:
            dims.append(given[axis])
        else:
            raise ConversionError(
                f"input '{value.name}' has a dynamic dimension at axis {axis}; "
                "give its size with input_shape to run the parity check"
            )
    return dims


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype in (np.uint8, np.int8):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    return rng.integers(0, 10, shape).astype(dtype)


def _cpu_session(path: Path) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own exception types
        raise ConversionError(f"ONNX Runtime cannot load {path}: {err}") from err


def _by_name(
    outputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], names: list[str]
) -> dict[str, np.ndarray]:
    if isinstance(outputs, Mapping):
        return {name: np.asarray(value) for name, value in outputs.items()}
    if len(outputs) != len(names):
        raise ConversionError(
            f"the reference returned {len(outputs)} outputs, the ONNX model has {len(names)}: "
            f"{names}"
        )
    return {name: np.asarray(value) for name, value in zip(names, outputs, strict=True)}


class _OutputStats:
    """Running comparison of one output over the samples."""

    def __init__(self, name: str, tolerance: float) -> None:
        self.name = name
        self.tolerance = tolerance
        self.shape: tuple[int, ...] | None = None
        self.max_abs = 0.0
        self.max_rel = 0.0
        self.passed = True
        self.detail = ""

    def add(self, actual: np.ndarray, expected: np.ndarray | None) -> None:
        if self.shape is None:
            self.shape = actual.shape
        if expected is None:
            self._fail("no reference output")
            return
        if actual.shape != expected.shape:
            self._fail(f"shape {actual.shape} != reference {expected.shape}")
            return
        a = actual.astype(np.float64)
        r = expected.astype(np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - r)
        same = (a == r) | (np.isnan(a) & np.isnan(r))
        diff = np.where(same, 0.0, np.nan_to_num(diff, nan=np.inf))
        if diff.size == 0:
            return
        self.max_abs = max(self.max_abs, float(diff.max()))
        nonzero = r != 0
        if nonzero.any():
            self.max_rel = max(self.max_rel, float((diff[nonzero] / np.abs(r[nonzero])).max()))
        bound = self.tolerance * (1.0 + np.abs(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)))
        if not np.all(diff <= bound):
            self.passed = False

    def _fail(self, detail: str) -> None:
        self.passed = False
        self.detail = self.detail or detail  # the first sample's reason
        self.max_abs = self.max_rel = float("inf")

    def result(self) -> OutputParity:
        return OutputParity(
            name=self.name,
            shape=self.shape or (),
            max_abs_diff=self.max_abs,
            max_rel_diff=self.max_rel,
            tolerance=self.tolerance,
            passed=self.passed,
            detail=self.detail,
        )
