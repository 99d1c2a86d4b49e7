from __future__ import annotations

import re
import sys
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from visionflow.convert.importers import FORMATS, detect_format, import_model
from visionflow.errors import ConversionError, MissingDependencyError


def write(path, data: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_zip(path, names: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"{}")


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("model.onnx", b"", "onnx"),
        ("weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(8), "h5"),
        ("model.bin", b"\x1c\x00\x00\x00TFL3" + bytes(8), "tflite"),
        ("frozen.pb", b"", "tf-frozen"),
        ("export/saved_model.pb", b"", "savedmodel"),
        ("net.caffemodel", b"", "caffe"),
        ("deploy.prototxt", b"", "caffe"),
        ("model.uff", b"", "uff"),
        ("model.etlt", b"", "etlt"),
        ("model.engine", b"", "engine"),
        ("model.plan", b"", "engine"),
    ],
)
def test_detect_format_of_files(tmp_path, name, data, fmt):
    path = tmp_path / name
    write(path, data)
    assert detect_format(path) == fmt
    assert fmt in FORMATS


def test_detect_format_of_directories_and_archives(tmp_path):
    write(tmp_path / "sm" / "saved_model.pb")
    assert detect_format(tmp_path / "sm") == "savedmodel"
    write_zip(tmp_path / "model.keras", ["config.json", "metadata.json", "model.weights.h5"])
    assert detect_format(tmp_path / "model.keras") == "keras"


def test_detect_format_rejects_torch_checkpoints(tmp_path):
    write_zip(tmp_path / "ckpt.pt", ["archive/data.pkl", "archive/version"])
    with pytest.raises(ConversionError, match="is not a TorchScript archive"):
        detect_format(tmp_path / "ckpt.pt")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "model file not found"),
        (lambda p: p.mkdir(), "directory is not a TensorFlow SavedModel"),
        (
            lambda p: p.write_text("x"),
            "unrecognised model format; visionflow imports onnx, torchscript",
        ),
    ],
)
def test_detect_format_errors(tmp_path, make, message):
    path = tmp_path / "thing.xyz"
    make(path)
    with pytest.raises(ConversionError, match=message):
        detect_format(path)


UNCONVERTIBLE = {
    "model.uff": (
        "uff-file: UFF is not supported by TensorRT 10 / visionflow; re-export the model to "
        "ONNX with tf2onnx"
    ),
    "model.etlt": (
        "tlt-encoded-model: encrypted TAO models cannot be read; export ONNX from TAO "
        "(`tao model <task> export -m model.tlt -k $KEY -o model.onnx`) or decrypt with the "
        "model key using TAO tools"
    ),
    "model.engine": "model-engine-file: a serialized TensorRT engine is built for one GPU",
}


@pytest.mark.parametrize("name", UNCONVERTIBLE)
def test_unconvertible_formats_explain_what_to_do(tmp_path, name):
    path = tmp_path / name
    write(path)
    with pytest.raises(ConversionError, match=f"^{re.escape(f'{path}: {UNCONVERTIBLE[name]}')}"):
        import_model(path)


def write_onnx(path) -> None:
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    scale = numpy_helper.from_array(np.array([0.5, 1.0, 2.0], np.float32).reshape(3, 1, 1), "s")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    nodes = [
        helper.make_node("Add", ["s", "one"], ["s1"]),
        helper.make_node("Mul", ["images", "s1"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["scores"]),
    ]
    graph = helper.make_graph(nodes, "onnx", [x], [y], [scale, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_models_are_prepared_and_checked_against_the_original(tmp_path):
    path = tmp_path / "model.onnx"
    write_onnx(path)

    result = import_model(path, input_shape=(1, 3, 8, 8))

    assert result.onnx_path == tmp_path / "model.prepared.onnx"
    assert result.source_format == "onnx"
    assert result.input_layout == "NCHW"
    assert result.spec.input_names == ("images",)
    assert result.parity is not None
    assert result.parity.passed
    assert result.parity.outputs["scores"].shape == (1, 3, 8, 8)


def test_onnx_with_open_dims_needs_input_shape(tmp_path):
    path = tmp_path / "model.onnx"
    write_onnx(path)
    with pytest.raises(ConversionError, match="input 'images' has a dynamic dimension at axis 2"):
        import_model(path)


def test_names_apply_only_where_the_caller_chooses_them(tmp_path):
    path = tmp_path / "model.onnx"
    write_onnx(path)
    with pytest.raises(ConversionError, match=r"^onnx models name their own inputs and outputs"):
        import_model(path, input_names=["x"])


def test_caffe_needs_its_prototxt(tmp_path):
    path = tmp_path / "net.caffemodel"
    write(path)
    with pytest.raises(ConversionError, match="a Caffe model is two files"):
        import_model(path)


def test_unknown_format_name(tmp_path):
    with pytest.raises(ConversionError, match="unknown model format 'darknet'"):
        import_model(tmp_path / "x.cfg", fmt="darknet")


@pytest.mark.parametrize(
    ("module", "fmt", "name", "extra"),
    [
        ("torch", "torchscript", "model.pt", "torch"),
        ("tensorflow", "savedmodel", "sm", "tensorflow"),
        ("tf2onnx", "tflite", "model.tflite", "tensorflow"),
    ],
)
def test_missing_framework_names_the_extra(tmp_path, monkeypatch, module, fmt, name, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=rf"pip install 'visionflow\[{extra}\]'"):
        import_model(tmp_path / name, fmt=fmt, input_shape=(1, 3, 8, 8))
