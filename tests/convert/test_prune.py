from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from visionflow.convert.prune import (  # noqa: E402
    PruneResult,
    export_pruned,
    measure_latency,
    prune_model,
)
from visionflow.convert.prune_cli import prune  # noqa: E402
from visionflow.errors import ConfigError, ConversionError  # noqa: E402
from visionflow.zoo.shapes_classifier import (  # noqa: E402
    build_shapes_classifier,
    make_crops,
    top1_accuracy,
    train_classifier,
)

pytestmark = pytest.mark.torch

RATIO = 0.3
CONVS = ("features.0.conv", "features.1.conv", "features.2.conv", "features.3.conv")
EXAMPLE = (1, 3, 32, 32)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Training with two threads on two shared cores is ten times slower than with one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_x, train_y = make_crops(seed=0, count=2000)
    test_x, test_y = make_crops(seed=1, count=600)
    return train_x, train_y, test_x, test_y


@pytest.fixture(scope="module")
def trained(data: tuple[np.ndarray, ...]) -> torch.nn.Module:
    train_x, train_y, _, _ = data
    model = build_shapes_classifier(seed=0)
    train_classifier(model, train_x, train_y, epochs=5)
    return model


@pytest.fixture(scope="module")
def fine_tuned(trained: torch.nn.Module, data: tuple[np.ndarray, ...]) -> PruneResult:
    train_x, train_y, test_x, test_y = data
    return prune_model(
        trained,
        torch.rand(EXAMPLE),
        ratio=RATIO,
        fine_tune=lambda m: train_classifier(m, train_x, train_y, epochs=1, lr=1e-3),
        evaluate=lambda m: top1_accuracy(m, test_x, test_y),
    )


def conv_macs(model: torch.nn.Module, size: int) -> int:
    """Multiply-accumulates of the convolutions and the head, from their shapes alone."""
    total = 0
    for block in model.features:
        conv = block.conv
        size = (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
        total += size * size * conv.out_channels * conv.in_channels * conv.kernel_size[0] ** 2
    return total + model.head.in_features * model.head.out_features


def test_every_layer_loses_the_ratio_of_its_channels(trained: torch.nn.Module) -> None:
    before = {name: trained.get_submodule(name).out_channels for name in CONVS}
    result = prune_model(trained, torch.rand(EXAMPLE), ratio=RATIO)

    for name, channels in before.items():
        kept = result.model.get_submodule(name).out_channels
        assert abs(kept - channels * (1 - RATIO)) < 1, name
        assert result.report.channels[name] == (channels, kept)
    assert result.model.head.out_features == 3
    assert result.model.head.in_features == result.model.features[4].conv.out_channels
    assert result.report.kept_layers == ("head",)
    assert result.report.channels_after / result.report.channels_before == pytest.approx(
        1 - RATIO, abs=0.02
    )
    assert [trained.get_submodule(n).out_channels for n in CONVS] == list(before.values())


def test_params_and_macs_drop_as_the_shapes_say(trained: torch.nn.Module) -> None:
    result = prune_model(trained, torch.rand(EXAMPLE), ratio=RATIO)
    report = result.report

    assert report.params_before == sum(p.numel() for p in trained.parameters())
    assert report.params_after == sum(p.numel() for p in result.model.parameters())
    # Torch-Pruning also counts batch-norm and ReLU work: within 3 % of the convolutions' MACs.
    assert report.macs_before == pytest.approx(conv_macs(trained, 32), rel=0.03)
    assert report.macs_after == pytest.approx(conv_macs(result.model, 32), rel=0.03)
    # Both input and output channels shrink by 30 %: about 0.7² = 0.49 of the work is left.
    assert 0.45 < report.macs_after / report.macs_before < 0.55
    assert 0.45 < report.params_after / report.params_before < 0.55


def test_fine_tuning_recovers_the_accuracy(
    fine_tuned: PruneResult, data: tuple[np.ndarray, ...]
) -> None:
    _, _, test_x, test_y = data
    report = fine_tuned.report

    # Measured: 0.990 before, 0.630 right after pruning, 0.982 after one epoch of fine-tuning.
    assert report.accuracy_before is not None
    assert report.accuracy_before >= 0.97
    assert report.accuracy_pruned is not None
    assert report.accuracy_pruned < 0.9
    assert report.accuracy_after == top1_accuracy(fine_tuned.model, test_x, test_y)
    assert report.accuracy_after >= report.accuracy_before - 0.03
    assert not fine_tuned.model.training


def test_pruned_model_exports_with_parity_and_is_timed(
    tmp_path: Path,
    fine_tuned: PruneResult,
    trained: torch.nn.Module,
    data: tuple[np.ndarray, ...],
) -> None:
    _, _, test_x, _ = data
    imported, timed = export_pruned(
        fine_tuned, trained, tmp_path / "pruned.onnx", torch.rand(EXAMPLE), runs=20
    )

    assert imported.parity is not None
    assert imported.parity.passed
    images = test_x[:64].astype(np.float32) / 255
    session = ort.InferenceSession(str(imported.onnx_path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": images})
    with torch.no_grad():
        expected = fine_tuned.model(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)

    latency = timed.report.latency
    assert latency is not None
    assert (latency.runs, latency.threads) == (20, 1)
    assert latency.input_shapes == {"input": EXAMPLE}
    assert min(latency.before_ms, latency.after_ms) > 0
    assert timed.report.to_dict()["latency"]["speedup"] == latency.before_ms / latency.after_ms
    assert "latency p50" in str(timed.report)


def test_ignored_layers_keep_their_channels(trained: torch.nn.Module) -> None:
    result = prune_model(
        trained,
        torch.rand(EXAMPLE),
        ratio=RATIO,
        ignored_layers=["features.2.conv", trained.features[0].conv],
    )
    pruned = result.model

    assert pruned.features[0].conv.out_channels == 16
    assert pruned.features[0].bn.num_features == 16
    assert pruned.features[1].conv.in_channels == 16
    assert pruned.features[2].conv.out_channels == 64
    assert pruned.features[3].conv.in_channels == 64
    # A kept layer's inputs follow the layer before it.
    assert pruned.features[2].conv.in_channels == 22
    assert pruned.features[1].conv.out_channels == 22
    assert set(result.report.kept_layers) == {"features.0.conv", "features.2.conv", "head"}


class TwoHeads(torch.nn.Module):
    """A residual trunk and two heads whose outputs are concatenated (like a detector)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.body = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.boxes = torch.nn.Conv2d(16, 4, 1)
        self.scores = torch.nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = x + torch.relu(self.body(x))
        return torch.cat([self.boxes(x), self.scores(x).sigmoid()], dim=1).flatten(2)


def test_layers_that_make_the_outputs_are_kept() -> None:
    torch.manual_seed(0)
    model = TwoHeads().eval()
    result = prune_model(model, torch.rand(1, 3, 16, 16), ratio=0.5)

    assert set(result.report.kept_layers) == {"boxes", "scores"}
    assert result.model.stem.out_channels == result.model.body.out_channels == 8
    assert result.model(torch.rand(2, 3, 16, 16)).shape == (2, 6, 256)


class FeaturesAndLogits(torch.nn.Module):
    """Returns a feature map that also feeds the layers after it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 16, 3)
        self.body = torch.nn.Conv2d(16, 16, 3)
        self.fc = torch.nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(x)
        return features, self.fc(self.body(features).relu().mean(dim=(2, 3)))


def test_a_returned_feature_map_keeps_its_channels() -> None:
    torch.manual_seed(0)
    result = prune_model(FeaturesAndLogits().eval(), torch.rand(1, 3, 16, 16), ratio=0.5)

    assert set(result.report.kept_layers) == {"stem", "fc"}
    assert result.model.body.out_channels == 8
    features, logits = result.model(torch.rand(2, 3, 16, 16))
    assert (features.shape, logits.shape) == ((2, 16, 14, 14), (2, 2))


def test_taylor_importance_uses_the_gradients_of_the_loss(
    trained: torch.nn.Module, data: tuple[np.ndarray, ...]
) -> None:
    train_x, train_y, test_x, test_y = data
    images = torch.from_numpy(train_x[:256]) / 255.0
    labels = torch.from_numpy(train_y[:256])
    calls = []

    def loss(model: torch.nn.Module) -> torch.Tensor:
        calls.append(model.training)
        return torch.nn.functional.cross_entropy(model(images), labels)

    result = prune_model(trained, torch.rand(EXAMPLE), ratio=RATIO, importance="taylor", loss=loss)

    assert calls == [False]
    assert result.model.features[4].conv.out_channels == 89
    assert all(p.grad is None for p in result.model.parameters())
    assert top1_accuracy(result.model, test_x, test_y) > 0.4


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.2, 1.5, math.nan])
def test_a_ratio_outside_0_1_is_refused(trained: torch.nn.Module, ratio: float) -> None:
    with pytest.raises(ConfigError) as err:
        prune_model(trained, torch.rand(EXAMPLE), ratio=ratio)
    assert str(err.value) == (
        f"ratio = {ratio}: the pruning ratio is the fraction of channels to remove; "
        "expected a number between 0 and 1 (exclusive), e.g. 0.3"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"importance": "l3"},
            "importance = l3: unknown channel importance; expected l1, l2, taylor",
        ),
        ({"importance": "taylor"}, "importance = taylor: Taylor importance ranks channels by"),
        ({"round_to": 0}, "round_to = 0: channel counts are rounded to a positive multiple"),
        ({"ignored_layers": ["features.9"]}, "ignored_layers = features.9: not a layer of"),
        ({"ignored_layers": [torch.nn.Conv2d(1, 1, 1)]}, "ignored_layers = Conv2d: not a layer"),
    ],
)
def test_bad_options_are_refused(trained: torch.nn.Module, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        prune_model(trained, torch.rand(EXAMPLE), ratio=RATIO, **options)


def test_latency_needs_models_with_the_same_inputs(
    tmp_path: Path, trained: torch.nn.Module
) -> None:
    from visionflow.convert.importers.torch import import_torch

    small = import_torch(trained, tmp_path / "small.onnx", torch.rand(EXAMPLE)).onnx_path
    feeds = {"images": np.zeros(EXAMPLE, np.float32)}
    with pytest.raises(ConversionError, match="ONNX Runtime cannot run the model on the inputs"):
        measure_latency(small, small, feeds)
    with pytest.raises(ConfigError, match=r"^threads = 0: must be at least 1$"):
        measure_latency(small, small, threads=0)
    same = measure_latency(small, small, runs=5, warmup=1)
    assert (same.input_shapes, same.runs) == ({"input": EXAMPLE}, 5)


runner = CliRunner()
cli = typer.Typer()
cli.command()(prune)


def test_cli_prunes_a_factory_with_weights(tmp_path: Path, trained: torch.nn.Module) -> None:
    weights = tmp_path / "classifier.pt"
    torch.save(trained.state_dict(), weights)
    output, report = tmp_path / "out" / "pruned.onnx", tmp_path / "out" / "report.json"
    args = [
        "visionflow.zoo.shapes_classifier:ShapesClassifier",
        "--weights", str(weights),
        "--input-shape", "1x3x32x32",
        "--ratio", "0.5",
        "--round-to", "8",
        "--ignore", "features.4.conv",
        "--runs", "20",
        "-o", str(output),
        "--report", str(report),
    ]  # fmt: skip
    result = runner.invoke(cli, args)

    assert result.exit_code == 0, result.output
    assert "channel pruning: 50% of channels by l2 importance" in result.output
    data = json.loads(report.read_text())
    assert data["parity"]["passed"] is True
    assert data["layers"]["features.0.conv"] == [16, 8]
    assert data["layers"]["features.4.conv"] == [128, 128]
    assert data["params"]["before"] == sum(p.numel() for p in trained.parameters())
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 3, 32, 32]


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_cli_explains_why_onnx_and_torchscript_cannot_be_pruned(
    tmp_path: Path, trained: torch.nn.Module
) -> None:
    scripted = tmp_path / "model.pt"
    torch.jit.script(trained).save(str(scripted))

    onnx_run = runner.invoke(cli, ["model.onnx", "-o", str(tmp_path / "x.onnx")])
    script_run = runner.invoke(cli, [str(scripted), "-o", str(tmp_path / "x.onnx")])

    assert onnx_run.exit_code == 1
    assert "onnx2torch) imports torchvision" in onnx_run.output
    assert script_run.exit_code == 1
    assert "Torch-Pruning cannot restructure" in script_run.output


def test_cli_refuses_a_bad_ratio_as_invalid_input(tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        ["visionflow.zoo.shapes_classifier:ShapesClassifier", "--ratio", "1", "-o", "x.onnx"],
    )
    assert result.exit_code == 2
    assert "ratio = 1.0: the pruning ratio is the fraction of channels to remove" in result.output
