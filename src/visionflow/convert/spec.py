"""Conversions as data: what an export produces, and how its result compared with the source.

An :class:`ExportSpec` names a model's inputs (with their shapes), outputs, dynamic axes, ONNX
opset and the parity tolerance for each precision. Every importer fills in what the source model
already knows and records the resolved spec in its :class:`ImportResult`, together with the
:class:`ParityReport` of the check that ends every conversion.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from visionflow.errors import ConversionError

Dim = int | None
"""One dimension of a shape: a size, or ``None`` for a dynamic dimension."""
Shape = tuple[Dim, ...]
Layout = Literal["NCHW", "NHWC"]

DEFAULT_TOLERANCES: Mapping[str, float] = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2, "int8": 1e-1}
"""Parity tolerance per precision, applied as ``|onnx - ref| <= tol * (1 + |ref|)``."""

DEFAULT_OPSET = 17


def normalize_shape(shape: Sequence[int | None]) -> Shape:
    """Return ``shape`` as a tuple where every dynamic dimension (``-1`` or ``None``) is ``None``.

    Raises:
        ConversionError: a dimension is 0 or negative other than -1.
    """
    dims: list[Dim] = []
    for dim in shape:
        if dim is None or dim == -1:
            dims.append(None)
        elif int(dim) > 0:
            dims.append(int(dim))
        else:
            raise ConversionError(f"invalid dimension {dim} in shape {tuple(shape)}")
    return tuple(dims)


def fill_shape(shape: Shape, given: Shape | None) -> Shape:
    """``shape`` with its dynamic dimensions after the batch axis sized from ``given``.

    Axis 0 stays as the model declares it: the batch is governed by the export's dynamic axes.

    Raises:
        ConversionError: the ranks differ.
    """
    if given is None:
        return shape
    if len(given) != len(shape):
        raise ConversionError(
            f"input shape {given} has rank {len(given)}, the model's {shape} has rank {len(shape)}"
        )
    return shape[:1] + tuple(
        g if s is None else s for s, g in zip(shape[1:], given[1:], strict=True)
    )


PROBE_DIM = 224
"""The size a parity check gives a dimension the caller marked dynamic (``-1`` in an input shape)
and the model leaves open: the model stays dynamic, the check runs at this size."""


def probe_shape(shape: Shape, given: Shape | None) -> Shape:
    """:func:`fill_shape`, then the dimensions after the batch that ``given`` marks dynamic and
    the model leaves open take :data:`PROBE_DIM` — the shape a parity check samples.

    Without ``given`` open dimensions stay open (the check then asks for a size).
    """
    if given is None:
        return shape
    filled = fill_shape(shape, normalize_shape(given))
    return filled[:1] + tuple(PROBE_DIM if d is None else d for d in filled[1:])


def infer_layout(shape: Sequence[int | None], default: Layout) -> Layout | None:
    """Guess the layout of a 4-D image input from where its 1, 3 or 4 channels sit.

    Returns ``default`` (the source framework's convention) when the shape does not say
    otherwise, and ``None`` for inputs that are not 4-D.
    """
    if len(shape) != 4:
        return None
    channels = (1, 3, 4)
    if shape[3] in channels and shape[1] not in channels:
        return "NHWC"
    if shape[1] in channels and shape[3] not in channels:
        return "NCHW"
    return default


@dataclass(frozen=True)
class ExportSpec:
    """What an export must produce; empty fields are taken from the source model.

    Attributes:
        input_names: names of the ONNX inputs, in the order the model takes them.
        input_shapes: one shape per input; ``None`` or ``-1`` marks a dynamic dimension. Axis 0
            is the batch. Importers use these shapes for example inputs and to fix dimensions the
            source model leaves open.
        output_names: names of the ONNX outputs.
        dynamic_axes: ``{tensor name: {axis: dimension name}}`` as ``torch.onnx.export`` takes
            it. ``None`` (the default) makes axis 0 of every input and output a dynamic ``batch``;
            ``{}`` exports static shapes. Dynamic dimensions of ``input_shapes`` are always added.
        opset: the ONNX opset to export.
        tolerances: parity tolerance per precision (``fp32``, ``fp16``, ``bf16``, ``int8``).
    """

    input_names: tuple[str, ...] = ()
    input_shapes: tuple[Shape, ...] = ()
    output_names: tuple[str, ...] = ()
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = field(default=None, hash=False)
    opset: int = DEFAULT_OPSET
    tolerances: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_TOLERANCES), hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_names", tuple(self.input_names))
        object.__setattr__(self, "output_names", tuple(self.output_names))
        object.__setattr__(
            self, "input_shapes", tuple(normalize_shape(s) for s in self.input_shapes)
        )
        for kind, names in (("input", self.input_names), ("output", self.output_names)):
            if len(set(names)) != len(names):
                raise ConversionError(f"{kind} names must be unique, got {list(names)}")
        if (
            self.input_names
            and self.input_shapes
            and len(self.input_shapes) != len(self.input_names)
        ):
            raise ConversionError(
                f"{len(self.input_shapes)} input shapes given for "
                f"{len(self.input_names)} inputs {list(self.input_names)}"
            )
        if self.opset < 7:
            raise ConversionError(f"opset must be 7 or newer, got {self.opset}")
        for precision, tol in self.tolerances.items():
            if not tol > 0:
                raise ConversionError(f"tolerance for {precision} must be positive, got {tol}")

    @property
    def dynamic_batch(self) -> bool:
        """Whether axis 0 (the batch) is dynamic."""
        return self.dynamic_axes is None or any(
            0 in axes for axes in self.resolved_dynamic_axes().values()
        )

    def tolerance(self, precision: str = "fp32") -> float:
        """The parity tolerance for ``precision``."""
        if precision not in self.tolerances:
            raise ConversionError(
                f"no parity tolerance for precision {precision!r}; "
                f"known: {', '.join(sorted(self.tolerances))}"
            )
        return self.tolerances[precision]

    def shape_of(self, name: str) -> Shape | None:
        """The shape given for input ``name``, or ``None`` when the spec gives none."""
        if name in self.input_names and self.input_shapes:
            return self.input_shapes[self.input_names.index(name)]
        return None

    def filled(self, shapes: Sequence[Shape]) -> ExportSpec:
        """This spec with the dynamic dimensions of its input shapes sized from ``shapes``.

        ``shapes`` are matched to the inputs by position; extra inputs stay as they are.
        """
        given = list(shapes) + [None] * max(0, len(self.input_shapes) - len(shapes))
        return dataclasses.replace(
            self,
            input_shapes=tuple(
                fill_shape(shape, g) for shape, g in zip(self.input_shapes, given, strict=False)
            ),
        )

    def probed(self, shapes: Sequence[Shape]) -> ExportSpec:
        """:meth:`filled`, with the dimensions ``shapes`` mark dynamic (``-1``/``None``) and the
        model leaves open sized :data:`PROBE_DIM`: the input shapes a parity check samples."""
        given = list(shapes) + [None] * max(0, len(self.input_shapes) - len(shapes))
        return dataclasses.replace(
            self,
            input_shapes=tuple(
                probe_shape(shape, g) for shape, g in zip(self.input_shapes, given, strict=False)
            ),
        )

    def resolved_dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``dynamic_axes`` with the defaults applied, for ``torch.onnx.export``."""
        if self.dynamic_axes is None:
            axes = {name: {0: "batch"} for name in (*self.input_names, *self.output_names)}
        else:
            axes = {name: dict(dims) for name, dims in self.dynamic_axes.items()}
        for name, shape in zip(self.input_names, self.input_shapes, strict=False):
            for axis, dim in enumerate(shape):
                if dim is None:
                    axes.setdefault(name, {}).setdefault(
                        axis, "batch" if axis == 0 else f"{name}_{axis}"
                    )
        return axes


@dataclass(frozen=True)
class OutputParity:
    """How one output of the converted model compared with the source model.

    Attributes:
        name: the output name.
        shape: the shape of the output for the first input sample.
        max_abs_diff: largest ``|onnx - ref|`` over every element of every sample.
        max_rel_diff: largest ``|onnx - ref| / |ref|`` over elements where ``ref != 0``.
        tolerance: the tolerance the output was checked against.
        passed: every element satisfied ``|onnx - ref| <= tolerance * (1 + |ref|)``, shapes
            matched and NaNs appeared in the same places.
        detail: why the output failed when the numbers alone do not say (shape mismatch,
            missing output); empty otherwise.
    """

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    tolerance: float
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; infinite differences become ``None``."""
        return {
            "shape": list(self.shape),
            "max_abs_diff": _finite_or_none(self.max_abs_diff),
            "max_rel_diff": _finite_or_none(self.max_rel_diff),
            "tolerance": self.tolerance,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ParityReport:
    """The result of running a converted model and its source on the same inputs.

    Attributes:
        model: the ONNX file that was checked.
        outputs: per output name, how it compared.
        samples: how many input samples were compared.
    """

    model: Path
    outputs: Mapping[str, OutputParity] = field(hash=False)
    samples: int

    @property
    def passed(self) -> bool:
        """Whether every output passed."""
        return bool(self.outputs) and all(o.passed for o in self.outputs.values())

    @property
    def max_abs_diff(self) -> float:
        """The largest absolute difference over all outputs."""
        return max((o.max_abs_diff for o in self.outputs.values()), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""
        return {
            "model": str(self.model),
            "samples": self.samples,
            "passed": self.passed,
            "outputs": {name: o.to_dict() for name, o in self.outputs.items()},
        }

    def __str__(self) -> str:
        header = ("output", "shape", "max abs diff", "max rel diff", "tolerance", "result")
        rows = [header] + [
            (
                o.name,
                "x".join(map(str, o.shape)) or "scalar",
                f"{o.max_abs_diff:.3g}",
                f"{o.max_rel_diff:.3g}",
                f"{o.tolerance:.0e}",
                "ok" if o.passed else f"FAIL {o.detail}".rstrip(),
            )
            for o in self.outputs.values()
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1]
            for row in rows
        ]
        verdict = "passed" if self.passed else "FAILED"
        title = f"parity {verdict}: {self.model.name}, {self.samples} sample(s)"
        return "\n".join([title, *lines])


@dataclass(frozen=True)
class ImportResult:
    """A model imported into ONNX.

    Attributes:
        onnx_path: the ONNX file written.
        parity: the parity check against the source model; ``None`` when verification was
            turned off or no runtime of the source framework was available to compare with.
        source_format: the format the model came from: one of ``importers.FORMATS``, or
            ``"pytorch"`` for an ``nn.Module`` object.
        input_layout: ``"NCHW"``, ``"NHWC"`` or ``None`` (not a 4-D image input) for the first
            input. ``"NHWC"`` corresponds to ``network-input-order=1`` in an nvinfer config.
        spec: the export spec as resolved from the source model.
    """

    onnx_path: Path
    parity: ParityReport | None
    source_format: str
    input_layout: Layout | None
    spec: ExportSpec


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
