from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from visionflow.convert.importers import detect_format, import_model  # noqa: E402
from visionflow.convert.importers.tensorflow import import_keras  # noqa: E402
from visionflow.convert.spec import ExportSpec  # noqa: E402
from visionflow.errors import ConversionError  # noqa: E402

pytestmark = pytest.mark.tensorflow


def build_cnn(spatial: int | None = 12):
    keras = tf.keras
    keras.utils.set_random_seed(0)
    image = keras.Input((spatial, spatial, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(6, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    probs = keras.layers.Dense(5, activation="softmax", name="probs")(x)
    model = keras.Model(image, probs)
    bn = model.layers[2]
    gamma, beta, _, _ = bn.get_weights()
    rng = np.random.default_rng(0)
    bn.set_weights([gamma, beta, rng.uniform(-1, 1, 4), rng.uniform(0.5, 2, 4)])
    return model


@pytest.fixture(scope="module")
def cnn():
    return build_cnn()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, cnn):
    """The CNN saved in every TensorFlow format."""
    root = tmp_path_factory.mktemp("tf")
    cnn.save(root / "cnn.keras")
    cnn.save(root / "cnn.h5")
    cnn.export(str(root / "savedmodel"), verbose=False)
    (root / "cnn.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(cnn).convert())
    function = tf.function(lambda x: cnn(x, training=False)).get_concrete_function(
        tf.TensorSpec((None, 12, 12, 3), tf.float32, name="image")
    )
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(function)
    (root / "frozen.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return root, frozen.outputs[0].name


def run(path, **feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_keras_model_keeps_nhwc_and_a_dynamic_batch(tmp_path, cnn):
    result = import_keras(cnn, tmp_path / "cnn.onnx")

    assert result.source_format == "keras"
    assert result.input_layout == "NHWC"
    assert result.spec.input_names == ("image",)
    assert result.spec.input_shapes == ((None, 12, 12, 3),)
    assert result.spec.output_names == ("probs",)
    assert result.parity is not None
    assert result.parity.passed
    assert result.parity.samples == 2

    x = np.random.default_rng(1).random((3, 12, 12, 3), np.float32)
    (probs,) = run(result.onnx_path, image=x)
    np.testing.assert_allclose(probs, cnn(x, training=False).numpy(), atol=1e-4)


@pytest.mark.parametrize(
    ("name", "fmt", "output"),
    [
        ("cnn.keras", "keras", "probs"),
        ("cnn.h5", "h5", "probs"),
        ("savedmodel", "savedmodel", "output_0"),
        ("cnn.tflite", "tflite", None),
    ],
)
def test_saved_formats_convert_with_parity(saved, name, fmt, output):
    root, _ = saved
    path = root / name
    assert detect_format(path) == fmt

    result = import_model(path, output=root / f"{fmt}.onnx")

    assert result.source_format == fmt
    assert result.input_layout == "NHWC"
    assert result.spec.input_shapes == ((None, 12, 12, 3),)
    if output is not None:
        assert result.spec.output_names == (output,)
    assert result.parity is not None
    assert result.parity.passed
    assert result.parity.max_abs_diff <= 1e-4


def test_frozen_graph_needs_tensor_names(saved):
    root, _ = saved
    with pytest.raises(
        ConversionError, match=r"give input_names=\[\.\.\.\] .*placeholders are \['image'\]"
    ):
        import_model(root / "frozen.pb")


def test_frozen_graph_with_tensor_names(saved):
    root, output = saved
    result = import_model(
        root / "frozen.pb", input_names=["image"], output_names=[output], output=root / "pb.onnx"
    )
    assert result.source_format == "tf-frozen"
    assert result.spec.input_names == ("image",)
    assert result.spec.output_names == (output.removesuffix(":0"),)
    assert result.parity is not None
    assert result.parity.passed


def test_frozen_graph_names_unknown_tensors(saved):
    root, _ = saved
    with pytest.raises(ConversionError, match=r"the graph has no tensors \['nope:0'\]"):
        import_model(root / "frozen.pb", input_names=["image"], output_names=["nope"])


def test_open_spatial_dims_take_the_given_input_shape(tmp_path):
    model = build_cnn(spatial=None)
    spec = ExportSpec(input_shapes=[(None, 20, 16, 3)])
    result = import_keras(model, tmp_path / "any.onnx", spec=spec)
    assert result.spec.input_shapes == ((None, 20, 16, 3),)
    assert result.parity is not None
    assert result.parity.passed


def test_keras_models_name_their_own_tensors(tmp_path, cnn):
    with pytest.raises(ConversionError, match="Keras models name their own inputs and outputs"):
        import_keras(cnn, tmp_path / "x.onnx", spec=ExportSpec(input_names=["x"]))


def test_subclassed_keras_model_needs_and_takes_input_shape(tmp_path):
    class Head(tf.keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = tf.keras.layers.Dense(3)

        def call(self, x):
            return tf.nn.relu(self.dense(x))

    with pytest.raises(ConversionError, match=r"declares no inputs .*; give input_shape"):
        import_keras(Head(), tmp_path / "head.onnx")
    result = import_keras(Head(), tmp_path / "head.onnx", spec=ExportSpec(input_shapes=[(None, 4)]))
    assert result.spec.input_names == ("input_0",)
    assert result.spec.input_shapes == ((None, 4),)
    assert result.input_layout is None
    assert result.parity is not None
    assert result.parity.passed


def test_keras3_sequential_file_converts_with_parity(tmp_path):
    """A Keras 3 Sequential model saved as .keras (tf2onnx's from_keras failed on it with
    "'keras_tensor_9'"): converted, named after its last layer, equal to Keras on new inputs."""
    keras = tf.keras
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax", name="scores"),
        ]
    )
    model.save(tmp_path / "seq.keras")

    result = import_model(tmp_path / "seq.keras", output=tmp_path / "seq.onnx")

    assert result.source_format == "keras"
    assert result.input_layout == "NHWC"
    assert result.spec.input_shapes == ((None, 16, 16, 3),)
    assert result.spec.output_names == ("scores",)
    assert result.parity is not None
    assert result.parity.passed
    x = np.random.default_rng(4).random((5, 16, 16, 3), np.float32)
    name = ort.InferenceSession(str(result.onnx_path)).get_inputs()[0].name
    (scores,) = run(result.onnx_path, **{name: x})
    np.testing.assert_allclose(scores, model(x, training=False).numpy(), atol=1e-5)
