from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from visionflow.convert.parity import check_parity, sample_inputs
from visionflow.convert.spec import ExportSpec
from visionflow.errors import ConversionError, ParityError


def affine_model(path, features: int | str = 3, batch: int | str = "batch") -> None:
    """y = 2x + 1 and z = x (uint8 input passed through as float), in a file."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])
    mask = helper.make_tensor_value_info("mask", TensorProto.UINT8, [batch, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, features])
    m = helper.make_tensor_value_info("m", TensorProto.FLOAT, [batch, 2])
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["twice"]),
        helper.make_node("Add", ["twice", "one"], ["y"]),
        helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT),
    ]
    inits = [
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    graph = helper.make_graph(nodes, "affine", [x, mask], [y, m], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "affine.onnx"
    affine_model(path)
    return path


def exact(feeds):
    return {"y": 2.0 * feeds["x"] + 1.0, "m": feeds["mask"].astype(np.float32)}


def test_exact_reference_passes(model_path):
    report = check_parity(model_path, exact, sample_inputs(model_path), 1e-4)
    assert report.passed
    assert report.samples == 2
    assert report.outputs["y"].max_abs_diff == 0.0
    assert report.outputs["y"].shape == (1, 3)
    assert report.model == model_path


def test_sequence_reference_follows_the_output_order(model_path):
    def as_list(feeds):
        out = exact(feeds)
        return [out["y"], out["m"]]

    assert check_parity(model_path, as_list, sample_inputs(model_path), 1e-4).passed


def test_differences_beyond_tolerance_raise_with_the_table(model_path):
    def off(feeds):
        return {**exact(feeds), "y": 2.0 * feeds["x"] + 1.001}

    with pytest.raises(
        ParityError, match=r"(?s)does not match its source model\nparity FAILED.*y .*FAIL"
    ):
        check_parity(model_path, off, sample_inputs(model_path), 1e-4)

    report = check_parity(model_path, off, sample_inputs(model_path), 1e-4, raise_on_failure=False)
    assert not report.passed
    assert report.outputs["m"].passed
    assert report.outputs["y"].max_abs_diff == pytest.approx(1e-3, rel=1e-3)


def test_tolerance_is_relative_for_large_values(model_path):
    feeds = {"x": np.full((1, 3), 1e4, np.float32), "mask": np.zeros((1, 2), np.uint8)}

    def shifted(feeds):
        return {**exact(feeds), "y": 2.0 * feeds["x"] + 1.0 + 1.5}  # 1.5 <= 1e-4 * (1 + 20001)

    report = check_parity(model_path, shifted, [feeds], 1e-4)
    assert report.passed
    assert report.outputs["y"].max_rel_diff == pytest.approx(1.5 / 20002.5, rel=1e-3)


def test_shape_mismatch_and_missing_outputs_are_explained(model_path):
    def wrong(feeds):
        return {"y": np.zeros((len(feeds["x"]), 4), np.float32)}

    report = check_parity(
        model_path, wrong, sample_inputs(model_path), 1e-4, raise_on_failure=False
    )
    assert report.outputs["y"].detail == "shape (1, 3) != reference (1, 4)"
    assert report.outputs["m"].detail == "no reference output"
    assert report.to_dict()["outputs"]["y"]["max_abs_diff"] is None


def test_nans_must_sit_in_the_same_places(model_path):
    feeds = {"x": np.array([[np.nan, 1.0, 2.0]], np.float32), "mask": np.zeros((1, 2), np.uint8)}
    assert check_parity(model_path, exact, [feeds], 1e-4).passed

    def nan_free(feeds):
        return {**exact(feeds), "y": np.nan_to_num(2.0 * feeds["x"] + 1.0)}

    assert not check_parity(model_path, nan_free, [feeds], 1e-4, raise_on_failure=False).passed


def test_a_reference_with_the_wrong_number_of_outputs_is_an_error(model_path):
    with pytest.raises(
        ConversionError, match="the reference returned 1 outputs, the ONNX model has 2"
    ):
        check_parity(model_path, lambda feeds: [feeds["x"]], sample_inputs(model_path), 1e-4)


def test_no_samples_is_an_error(model_path):
    with pytest.raises(ConversionError, match="needs at least one input sample"):
        check_parity(model_path, exact, [], 1e-4)


def test_unreadable_model_is_a_conversion_error(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not onnx")
    with pytest.raises(ConversionError, match="ONNX Runtime cannot load"):
        check_parity(path, exact, [{}], 1e-4)


def test_sample_inputs_follow_dtypes_and_batch_sizes(model_path):
    samples = sample_inputs(model_path, batch_sizes=(1, 4), seed=3)
    assert [s["x"].shape for s in samples] == [(1, 3), (4, 3)]
    assert samples[1]["x"].dtype == np.float32
    assert samples[1]["mask"].dtype == np.uint8
    assert samples[1]["mask"].shape == (4, 2)
    again = sample_inputs(model_path, batch_sizes=(1, 4), seed=3)
    np.testing.assert_array_equal(samples[1]["x"], again[1]["x"])


def test_fixed_batch_gives_one_sample(tmp_path):
    path = tmp_path / "fixed.onnx"
    affine_model(path, batch=1)
    assert [s["x"].shape for s in sample_inputs(path, batch_sizes=(1, 2))] == [(1, 3)]


def test_open_dims_after_the_batch_need_a_size(tmp_path):
    path = tmp_path / "open.onnx"
    affine_model(path, features="features")
    with pytest.raises(ConversionError, match="input 'x' has a dynamic dimension at axis 1"):
        sample_inputs(path)
    spec = ExportSpec(input_names=["x", "mask"], input_shapes=[(None, 6), (None, 2)])
    assert sample_inputs(path, spec)[0]["x"].shape == (1, 6)
