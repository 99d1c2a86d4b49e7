from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from visionflow.convert.spec import (
    PROBE_DIM,
    ExportSpec,
    OutputParity,
    ParityReport,
    fill_shape,
    infer_layout,
    normalize_shape,
)
from visionflow.errors import ConversionError


def test_dynamic_dims_are_normalised_to_none():
    spec = ExportSpec(
        input_names=["image"], input_shapes=[[-1, 3, None, 640]], output_names=["boxes"]
    )
    assert spec.input_names == ("image",)
    assert spec.input_shapes == ((None, 3, None, 640),)
    assert spec.output_names == ("boxes",)
    assert spec.opset == 17
    assert spec.shape_of("image") == (None, 3, None, 640)
    assert spec.shape_of("other") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_names": ["a", "a"]}, r"input names must be unique, got \['a', 'a'\]"),
        (
            {"input_names": ["a"], "input_shapes": [(1, 3), (1, 4)]},
            r"2 input shapes given for 1 inputs \['a'\]",
        ),
        ({"opset": 6}, "opset must be 7 or newer, got 6"),
        ({"tolerances": {"fp32": 0.0}}, "tolerance for fp32 must be positive, got 0.0"),
        ({"input_shapes": [(1, 0, 4)]}, r"invalid dimension 0 in shape \(1, 0, 4\)"),
    ],
)
def test_invalid_specs_are_rejected(kwargs, message):
    with pytest.raises(ConversionError, match=f"^{message}$"):
        ExportSpec(**kwargs)


def test_batch_axis_is_dynamic_by_default():
    spec = ExportSpec(input_names=["x"], input_shapes=[(1, 3, None, None)], output_names=["y"])
    assert spec.dynamic_batch
    assert spec.resolved_dynamic_axes() == {
        "x": {0: "batch", 2: "x_2", 3: "x_3"},
        "y": {0: "batch"},
    }


def test_static_export_keeps_only_dims_the_shapes_leave_open():
    spec = ExportSpec(input_names=["x"], input_shapes=[(1, 3, 8, None)], dynamic_axes={})
    assert not spec.dynamic_batch
    assert spec.resolved_dynamic_axes() == {"x": {3: "x_3"}}


def test_tolerance_per_precision():
    spec = ExportSpec(tolerances={"fp32": 1e-5, "fp16": 5e-3})
    assert spec.tolerance() == 1e-5
    assert spec.tolerance("fp16") == 5e-3
    with pytest.raises(
        ConversionError, match="no parity tolerance for precision 'int8'; known: fp16, fp32"
    ):
        spec.tolerance("int8")


def test_filled_takes_open_dims_by_position():
    spec = ExportSpec(input_names=["a", "b"], input_shapes=[(None, 3, None), (None, 4)])
    filled = spec.filled([(1, 3, 7)])
    assert filled.input_shapes == ((None, 3, 7), (None, 4))
    with pytest.raises(ConversionError, match="rank 2, the model's"):
        fill_shape((None, 3, None), (1, 3))


@pytest.mark.parametrize(
    ("shape", "default", "layout"),
    [
        ((None, 3, 224, 224), "NHWC", "NCHW"),
        ((None, 224, 224, 3), "NCHW", "NHWC"),
        ((None, None, None, 3), "NCHW", "NHWC"),
        ((1, 3, 3, 3), "NHWC", "NHWC"),
        ((1, 16, 32, 32), "NCHW", "NCHW"),
        ((1, 1000), "NCHW", None),
    ],
)
def test_infer_layout(shape, default, layout):
    assert infer_layout(shape, default) == layout


def test_normalize_shape_accepts_minus_one_and_none():
    assert normalize_shape([-1, None, 3]) == (None, None, 3)


def report(passed: bool = True) -> ParityReport:
    outputs = {
        "probs": OutputParity("probs", (1, 5), 2.5e-8, 1.2e-7, 1e-4, True),
        "boxes": OutputParity(
            "boxes",
            (1, 4),
            math.inf,
            math.inf,
            1e-4,
            passed,
            "" if passed else "shape (1, 4) != reference (1, 5)",
        ),
    }
    return ParityReport(model=Path("/m/model.onnx"), outputs=outputs, samples=2)


def test_report_renders_a_table():
    text = str(report(passed=False))
    assert text.splitlines() == [
        "parity FAILED: model.onnx, 2 sample(s)",
        "output  shape  max abs diff  max rel diff  tolerance  result",
        "probs   1x5    2.5e-08       1.2e-07       1e-04      ok",
        "boxes   1x4    inf           inf           1e-04      "
        "FAIL shape (1, 4) != reference (1, 5)",
    ]


def test_report_to_dict_is_json_ready():
    data = report(passed=False).to_dict()
    assert data["passed"] is False
    assert data["samples"] == 2
    assert data["outputs"]["boxes"]["max_abs_diff"] is None
    assert data["outputs"]["probs"] == {
        "shape": [1, 5],
        "max_abs_diff": 2.5e-8,
        "max_rel_diff": 1.2e-7,
        "tolerance": 1e-4,
        "passed": True,
        "detail": "",
    }
    json.dumps(data)


def test_probed_sizes_dims_marked_dynamic_and_keeps_unmarked_ones_open():
    spec = ExportSpec(input_names=["a", "b"], input_shapes=[(None, 3, None, None), (None, None)])
    probed = spec.probed([(1, 3, -1, 32)])
    assert probed.input_shapes == ((None, 3, PROBE_DIM, 32), (None, None))
    assert spec.filled([(1, 3, None, 32)]).input_shapes[0] == (None, 3, None, 32)
