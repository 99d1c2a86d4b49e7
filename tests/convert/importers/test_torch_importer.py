from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from visionflow.convert.importers import detect_format, import_model  # noqa: E402
from visionflow.convert.importers.torch import import_torch  # noqa: E402
from visionflow.errors import ConversionError, ParityError  # noqa: E402

pytestmark = pytest.mark.torch


class SmallCNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, stride=2, groups=2),
            torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(16, 5)

    def forward(self, x):
        return torch.softmax(self.head(self.features(x).mean(dim=(2, 3))), dim=1)


@pytest.fixture(scope="module")
def cnn() -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN()
    bn = model.features[1]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    return model.eval()


def run(path, **feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in feeds.items()})


def test_cnn_exports_with_parity_and_dynamic_batch(tmp_path, cnn):
    result = import_torch(cnn, tmp_path / "cnn.onnx", torch.rand(1, 3, 32, 32))

    assert result.source_format == "pytorch"
    assert result.input_layout == "NCHW"
    assert result.spec.input_names == ("input",)
    assert result.spec.input_shapes == ((None, 3, 32, 32),)
    assert result.spec.output_names == ("output",)
    assert result.parity is not None
    assert result.parity.passed
    assert result.parity.samples == 2
    assert result.parity.outputs["output"].max_abs_diff <= 1e-4
    assert result.parity.outputs["output"].tolerance == 1e-4

    x = torch.rand(3, 3, 32, 32)
    (probs,) = run(result.onnx_path, input=x)
    with torch.no_grad():
        expected = cnn(x).numpy()
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs, expected, atol=1e-4)


def test_export_leaves_a_training_module_in_training_mode(tmp_path, cnn):
    cnn.train()
    try:
        import_torch(cnn, tmp_path / "cnn.onnx", torch.rand(1, 3, 16, 16))
        assert cnn.training
    finally:
        cnn.eval()


def test_torchscript_archive_with_input_shape_and_names(tmp_path, cnn):
    path = tmp_path / "cnn.pt"
    torch.jit.trace(cnn, torch.rand(1, 3, 16, 16)).save(str(path))
    assert detect_format(path) == "torchscript"

    result = import_model(
        path, input_shape=(-1, 3, 16, 16), input_names=["images"], output_names=["probs"]
    )

    assert result.onnx_path == tmp_path / "cnn.onnx"
    assert result.source_format == "torchscript"
    assert result.spec.input_names == ("images",)
    assert result.spec.output_names == ("probs",)
    assert result.parity is not None
    assert result.parity.passed


class TwoInOut(torch.nn.Module):
    def forward(self, image, mask):
        return {"masked": image * mask, "total": (image * mask).sum(dim=(1, 2, 3))}


def test_several_inputs_and_named_outputs(tmp_path):
    examples = (torch.rand(2, 3, 4, 4), torch.rand(2, 1, 4, 4))
    result = import_torch(TwoInOut(), tmp_path / "two.onnx", examples)

    assert result.spec.input_names == ("input_0", "input_1")
    assert result.spec.output_names == ("masked", "total")
    masked, total = run(result.onnx_path, input_0=examples[0], input_1=examples[1])
    np.testing.assert_allclose(masked, (examples[0] * examples[1]).numpy(), rtol=1e-6)
    assert total.shape == (2,)


def test_state_dict_file_needs_the_module(tmp_path, cnn):
    path = tmp_path / "weights.pth"
    torch.save(cnn.state_dict(), path)
    message = (
        f"{path} is not a TorchScript archive; a torch.save checkpoint such as a state_dict "
        "holds weights without the network's code, so exporting needs the nn.Module"
    )
    with pytest.raises(ConversionError, match=f"^{message}"):
        detect_format(path)
    with pytest.raises(ConversionError, match=f"^{message}"):
        import_torch(path, tmp_path / "x.onnx", torch.rand(1, 3, 8, 8))


def test_torchscript_without_shapes_asks_for_them(tmp_path, cnn):
    path = tmp_path / "cnn.pt"
    torch.jit.trace(cnn, torch.rand(1, 3, 16, 16)).save(str(path))
    with pytest.raises(ConversionError, match="needs example inputs or input shapes"):
        import_model(path)


class CallCounter(torch.nn.Module):
    """Scales by how often it was called: tracing freezes the count, so the export drifts."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x * float(self.calls)


def test_parity_failure_is_raised_with_the_table(tmp_path):
    with pytest.raises(ParityError, match=r"(?s)does not match its source model.*output .*FAIL"):
        import_torch(CallCounter(), tmp_path / "drift.onnx", torch.rand(1, 4))
