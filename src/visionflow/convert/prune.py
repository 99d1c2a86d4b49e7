"""Structured channel pruning of PyTorch models with Torch-Pruning, measured before and after.

Channel pruning removes whole output channels of convolutions and linear layers together with
everything that depends on them — the next layers' input channels, batch-norm statistics,
channels joined by residual additions and concatenations — as Torch-Pruning's dependency graph
finds them. What is left is a smaller *dense* network: fewer parameters and multiply-accumulates
on every runtime, without sparse kernels. Zeroing single weights (unstructured sparsity) gives no
such speed-up on dense runtimes and is not done here.

:func:`prune_model` prunes a copy of a module to a ratio of channels, optionally fine-tunes it
and evaluates it before and after; :func:`export_pruned` exports the result to ONNX (checked for
parity with the pruned module) and times it against the original with :func:`measure_latency`.
Layers whose output channels reach a model output (a classifier's logits, a detector's box and
class maps) keep them.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import onnxruntime as ort

from visionflow.convert.importers.torch import flatten_outputs, import_torch
from visionflow.convert.parity import sample_inputs
from visionflow.convert.spec import ExportSpec, ImportResult
from visionflow.errors import ConfigError, ConversionError, MissingDependencyError

if TYPE_CHECKING:
    import torch
    from torch import nn

Importance = Literal["l1", "l2", "taylor"]
"""How channels are ranked: by the L1 or L2 norm of their weights (summed over every layer the
channel couples), or by the first-order Taylor estimate ``|weight * gradient|`` of the loss
change, which needs a loss on real data."""
IMPORTANCES: tuple[str, ...] = get_args(Importance)


@dataclass(frozen=True)
class LatencyComparison:
    """Median latency of two ONNX models timed in turns on the same input.

    Attributes:
        before_ms: median latency of the original model, in milliseconds.
        after_ms: median latency of the pruned model, in milliseconds.
        runs: timed runs of each model.
        threads: ONNX Runtime intra-op threads of each session.
        input_shapes: the shape of every input fed, by name.
    """

    before_ms: float
    after_ms: float
    runs: int
    threads: int
    input_shapes: Mapping[str, tuple[int, ...]] = field(hash=False)

    @property
    def speedup(self) -> float:
        """``before_ms / after_ms``: above 1 when the pruned model is faster."""
        return self.before_ms / self.after_ms

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "before_ms": self.before_ms,
            "after_ms": self.after_ms,
            "speedup": self.speedup,
            "runs": self.runs,
            "threads": self.threads,
            "input_shapes": {name: list(shape) for name, shape in self.input_shapes.items()},
            "runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider",
        }


@dataclass(frozen=True)
class PruneReport:
    """What pruning changed.

    Attributes:
        ratio: the fraction of channels asked to be removed from every pruned layer.
        importance: how channels were ranked (see :data:`Importance`).
        round_to: kept channel counts were rounded down to a multiple of this, or ``None``.
        params_before, params_after: parameter counts.
        macs_before, macs_after: multiply-accumulates of one forward pass on the example inputs,
            counted by ``torch_pruning.utils.count_ops_and_params`` (FLOPs ≈ 2 × MACs).
        channels: output channels ``(before, after)`` of every convolution and linear layer, by
            module name.
        kept_layers: layers whose output channels were not pruned: those asked for, and those
            whose output channels reach a model output.
        accuracy_before: the ``evaluate`` metric of the original model, when given.
        accuracy_pruned: the metric right after pruning, when the model was also fine-tuned.
        accuracy_after: the metric of the returned model (after fine-tuning, if any).
        latency: ONNX Runtime timing of both models, once measured (:func:`export_pruned`).
    """

    ratio: float
    importance: str
    round_to: int | None
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    channels: Mapping[str, tuple[int, int]] = field(hash=False)
    kept_layers: tuple[str, ...]
    accuracy_before: float | None = None
    accuracy_pruned: float | None = None
    accuracy_after: float | None = None
    latency: LatencyComparison | None = None

    @property
    def channels_before(self) -> int:
        """Output channels of the layers that were not kept, before pruning."""
        return sum(b for name, (b, _) in self.channels.items() if name not in self.kept_layers)

    @property
    def channels_after(self) -> int:
        """Output channels of the layers that were not kept, after pruning."""
        return sum(a for name, (_, a) in self.channels.items() if name not in self.kept_layers)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""
        return {
            "ratio": self.ratio,
            "importance": self.importance,
            "round_to": self.round_to,
            "params": {"before": self.params_before, "after": self.params_after},
            "macs": {"before": self.macs_before, "after": self.macs_after},
            "channels": {"before": self.channels_before, "after": self.channels_after},
            "layers": {name: list(pair) for name, pair in self.channels.items()},
            "kept_layers": list(self.kept_layers),
            "accuracy": {
                "before": self.accuracy_before,
                "pruned": self.accuracy_pruned,
                "after": self.accuracy_after,
            },
            "latency": self.latency.to_dict() if self.latency is not None else None,
        }

    def __str__(self) -> str:
        rows = [
            ("", "before", "after", "change"),
            _count_row("parameters", self.params_before, self.params_after),
            _count_row("MACs", self.macs_before, self.macs_after),
            _count_row("channels", self.channels_before, self.channels_after),
        ]
        notes = {}
        if self.latency is not None:
            lat = self.latency
            rows.append(
                (
                    "latency p50",
                    f"{lat.before_ms:.3f} ms",
                    f"{lat.after_ms:.3f} ms",
                    f"{lat.speedup:.2f}x",
                )
            )
            shapes = ", ".join("x".join(map(str, s)) for s in lat.input_shapes.values())
            notes["latency p50"] = (
                f"ONNX Runtime CPU, {lat.threads} thread{'s' if lat.threads > 1 else ''}, "
                f"{lat.runs} runs each, input {shapes}"
            )
        if self.accuracy_before is not None and self.accuracy_after is not None:
            rows.append(
                (
                    "accuracy",
                    f"{self.accuracy_before:.4f}",
                    f"{self.accuracy_after:.4f}",
                    f"{self.accuracy_after - self.accuracy_before:+.4f}",
                )
            )
            if self.accuracy_pruned is not None:
                notes["accuracy"] = f"{self.accuracy_pruned:.4f} before fine-tuning"
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(
                [row[0].ljust(widths[0])]
                + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            )
            + (f"  ({notes[row[0]]})" if row[0] in notes else "")
            for row in rows
        ]
        rounding = f", kept counts rounded to multiples of {self.round_to}" if self.round_to else ""
        title = (
            f"channel pruning: {self.ratio:.0%} of channels by {self.importance} importance"
            f"{rounding}; layers kept: {', '.join(self.kept_layers) or 'none'}"
        )
        return "\n".join([title, *lines])


@dataclass(frozen=True)
class PruneResult:
    """A pruned model and what pruning changed.

    Attributes:
        model: the pruned copy of the model, in eval mode.
        report: parameters, MACs, channels and metric before and after.
    """

    model: nn.Module
    report: PruneReport


def prune_model(
    model: nn.Module,
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    ratio: float,
    ignored_layers: Iterable[nn.Module | str] | None = None,
    importance: Importance = "l2",
    round_to: int | None = None,
    loss: Callable[[nn.Module], torch.Tensor] | None = None,
    fine_tune: Callable[[nn.Module], None] | None = None,
    evaluate: Callable[[nn.Module], float] | None = None,
) -> PruneResult:
    """Remove ``ratio`` of the output channels of every prunable layer of a copy of ``model``.

    Every convolution and linear layer loses the same fraction of its output channels (channels
    coupled through additions or concatenations are removed together); layers in
    ``ignored_layers`` and layers whose output channels reach a model output keep theirs. A
    kept layer's *input* channels still follow the layer before it. ``model`` itself is not
    changed.

    Args:
        model: the network; its forward must run on ``example_inputs``.
        example_inputs: a tensor, or one tensor per forward argument, used to trace the network
            and to count MACs.
        ratio: fraction of channels to remove, ``0 < ratio < 1``.
        ignored_layers: modules of ``model``, or their names (``"features.4.conv"``), whose
            output channels must stay.
        importance: how channels are ranked; ``"taylor"`` needs ``loss``.
        round_to: round each kept channel count down to a multiple of this (8 or 16 suits the
            blocked kernels of CPU and GPU runtimes; rounding removes more than ``ratio``).
        loss: for ``"taylor"``: computes a scalar loss of the model on calibration data; its
            gradients rank the channels.
        fine_tune: trains the pruned model in place (receives it in train mode).
        evaluate: returns a metric where higher is better, e.g. top-1 accuracy (receives the
            model in eval mode); called before pruning, after pruning and after fine-tuning.

    Returns:
        The pruned model in eval mode, and the report.

    Raises:
        ConfigError: ``ratio``, ``importance`` or ``round_to`` is invalid, ``"taylor"`` lacks a
            ``loss``, or an ignored layer is not in the model.
        ConversionError: Torch-Pruning cannot prune the network, or pruning changed the shape
            of a model output.
        MissingDependencyError: torch or torch-pruning is not installed.
    """
    tp = _require_torch_pruning()
    _check_options(ratio, importance, round_to, loss)
    examples = _as_tuple(example_inputs)
    kept = _resolve_layers(model, ignored_layers or ())
    pruned = copy.deepcopy(model).eval()
    kept_modules = {name: pruned.get_submodule(name) for name in kept}
    kept_modules.update(_output_layers(tp, pruned, examples))

    accuracy_before = _evaluated(evaluate, pruned)
    macs_before, params_before = _count(tp, pruned, examples)
    channels_before = _out_channels(pruned)
    shapes_before = _output_shapes(pruned, examples)
    _prune(tp, pruned, examples, ratio, importance, round_to, kept_modules.values(), loss)
    shapes_after = _output_shapes(pruned, examples)
    if shapes_after != shapes_before:
        raise ConversionError(
            f"pruning changed the model's output shapes from {shapes_before} to {shapes_after}; "
            "add the layers that produce the outputs to ignored_layers"
        )

    accuracy_pruned = None
    if fine_tune is not None:
        accuracy_pruned = _evaluated(evaluate, pruned)
        pruned.train()
        fine_tune(pruned)
        pruned.eval()
    macs_after, params_after = _count(tp, pruned, examples)
    channels_after = _out_channels(pruned)
    report = PruneReport(
        ratio=ratio,
        importance=importance,
        round_to=round_to,
        params_before=params_before,
        params_after=params_after,
        macs_before=macs_before,
        macs_after=macs_after,
        channels={name: (c, channels_after[name]) for name, c in channels_before.items()},
        kept_layers=tuple(kept_modules),
        accuracy_before=accuracy_before,
        accuracy_pruned=accuracy_pruned,
        accuracy_after=_evaluated(evaluate, pruned),
    )
    return PruneResult(pruned, report)


def export_pruned(
    result: PruneResult,
    original: nn.Module,
    output: str | PathLike[str],
    example_inputs: torch.Tensor | Sequence[torch.Tensor],
    *,
    spec: ExportSpec | None = None,
    threads: int = 1,
    runs: int = 200,
) -> tuple[ImportResult, PruneResult]:
    """Export the pruned model to ONNX and time it against the original.

    The pruned model goes through :func:`visionflow.convert.importers.torch.import_torch`, so
    the file is checked for parity with the pruned module. The original is exported the same way
    to a temporary file, and :func:`measure_latency` times both on ``example_inputs``.

    Returns:
        The import result of the pruned ONNX file, and ``result`` with its report's latency set.

    Raises:
        ConversionError: an export failed.
        ParityError: the pruned ONNX model does not match the pruned module.
    """
    examples = _as_tuple(example_inputs)
    imported = import_torch(result.model, output, examples, spec=spec)
    feeds = {
        name: x.detach().cpu().numpy()
        for name, x in zip(imported.spec.input_names, examples, strict=True)
    }
    with tempfile.TemporaryDirectory(prefix="visionflow-prune-") as tmp:
        before = import_torch(original, Path(tmp) / "original.onnx", examples, spec=spec)
        latency = measure_latency(
            before.onnx_path, imported.onnx_path, feeds, threads=threads, runs=runs
        )
    report = dataclasses.replace(result.report, latency=latency)
    return imported, dataclasses.replace(result, report=report)


def measure_latency(
    before: str | PathLike[str],
    after: str | PathLike[str],
    feeds: Mapping[str, np.ndarray] | None = None,
    *,
    threads: int = 1,
    runs: int = 200,
    warmup: int = 20,
) -> LatencyComparison:
    """Time two ONNX models with the same inputs in ONNX Runtime on the CPU, in turns.

    Both sessions get the same options (``threads`` intra-op threads, one inter-op thread, full
    graph optimisation) and the same ``feeds``. After ``warmup`` untimed runs each, the models
    alternate run by run, the order swapping every round (A B, B A, A B …), so drifts in clock
    speed and machine load reach both alike; medians are reported.

    Args:
        before, after: the two models; they must take the same inputs.
        feeds: input name → array; ``None`` makes a random batch of one from the model's
            declared inputs.

    Raises:
        ConfigError: ``threads``, ``runs`` or ``warmup`` is out of range.
        ConversionError: a model cannot be loaded or run on ``feeds``.
    """
    for key, value, least in (("threads", threads, 1), ("runs", runs, 1), ("warmup", warmup, 0)):
        if value < least:
            raise ConfigError(f"must be at least {least}", key=key, value=str(value))
    sessions = [_session(Path(path), threads) for path in (before, after)]
    inputs = dict(feeds) if feeds is not None else sample_inputs(before, batch_sizes=(1,))[0]
    for session in sessions:
        _run(session, inputs)
        for _ in range(warmup):
            session.run(None, inputs)
    elapsed = np.empty((runs, 2), dtype=np.int64)
    for index in range(runs):
        for which in (0, 1) if index % 2 == 0 else (1, 0):
            start = time.perf_counter_ns()
            sessions[which].run(None, inputs)
            elapsed[index, which] = time.perf_counter_ns() - start
    before_ms, after_ms = (np.median(elapsed, axis=0) / 1e6).tolist()
    return LatencyComparison(
        before_ms=before_ms,
        after_ms=after_ms,
        runs=runs,
        threads=threads,
        input_shapes={name: tuple(np.shape(value)) for name, value in inputs.items()},
    )


def _check_options(
    ratio: float,
    importance: str,
    round_to: int | None,
    loss: Callable[[nn.Module], torch.Tensor] | None,
) -> None:
    if not 0.0 < ratio < 1.0:
        raise ConfigError(
            "the pruning ratio is the fraction of channels to remove",
            key="ratio",
            value=str(ratio),
            allowed="a number between 0 and 1 (exclusive), e.g. 0.3",
        )
    if importance not in IMPORTANCES:
        raise ConfigError(
            "unknown channel importance",
            key="importance",
            value=importance,
            allowed=", ".join(IMPORTANCES),
        )
    if round_to is not None and round_to < 1:
        raise ConfigError(
            "channel counts are rounded to a positive multiple", key="round_to", value=str(round_to)
        )
    if importance == "taylor" and loss is None:
        raise ConfigError(
            "Taylor importance ranks channels by their gradients: pass loss=, a function that "
            "computes the model's loss on a batch of real data",
            key="importance",
            value=importance,
        )


def _prune(
    tp: Any,
    model: nn.Module,
    examples: tuple[torch.Tensor, ...],
    ratio: float,
    importance: str,
    round_to: int | None,
    kept: Iterable[nn.Module],
    loss: Callable[[nn.Module], torch.Tensor] | None,
) -> None:
    """Prune ``model`` in place with Torch-Pruning's MetaPruner; leaves it in eval mode."""
    try:
        pruner = tp.pruner.MetaPruner(
            model,
            examples,
            importance=_importance(tp, importance),
            pruning_ratio=ratio,
            ignored_layers=list(kept),
            round_to=round_to,
        )
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as err:
        raise ConversionError(f"Torch-Pruning cannot trace this model: {err}") from err
    if importance == "taylor" and loss is not None:
        model.zero_grad(set_to_none=True)
        loss(model).backward()
    try:
        pruner.step()
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as err:
        raise ConversionError(f"Torch-Pruning cannot prune this model: {err}") from err
    finally:
        model.zero_grad(set_to_none=True)
    model.eval()


def _importance(tp: Any, importance: str) -> Any:
    if importance == "taylor":
        return tp.importance.GroupTaylorImportance()
    return tp.importance.GroupMagnitudeImportance(p=1 if importance == "l1" else 2)


def _resolve_layers(model: nn.Module, layers: Iterable[nn.Module | str]) -> list[str]:
    """Names of ``layers`` (modules of ``model`` or names of them) in ``model``."""
    modules = dict(model.named_modules())
    names = {id(module): name for name, module in modules.items()}
    resolved = []
    for layer in layers:
        name = layer if isinstance(layer, str) else names.get(id(layer))
        if name is None or name not in modules or name == "":
            prunable = [n for n, m in modules.items() if _channels(m) is not None]
            raise ConfigError(
                "not a layer of the model",
                key="ignored_layers",
                value=layer if isinstance(layer, str) else type(layer).__name__,
                allowed="one of " + ", ".join(prunable),
            )
        resolved.append(name)
    return resolved


def _output_layers(
    tp: Any, model: nn.Module, examples: tuple[torch.Tensor, ...]
) -> dict[str, nn.Module]:
    """The convolution, linear and LSTM layers whose output channels reach a model output.

    Walks Torch-Pruning's dependency graph back from the nodes that produce the model's outputs
    through channel-preserving operations (activations, normalisation, pooling, reshapes,
    additions, concatenations, depthwise convolutions) to the first layers that set a channel
    count. A layer whose output is returned *and* feeds later layers is found too.
    """
    outputs: list[torch.Tensor] = []

    def record(out: Any) -> Any:
        outputs.extend(flatten_outputs(out))
        return out

    try:
        graph = tp.DependencyGraph().build_dependency(
            model, example_inputs=examples, output_transform=record
        )
    except (RuntimeError, ValueError, TypeError) as err:
        raise ConversionError(f"Torch-Pruning cannot trace this model: {err}") from err
    producers = {t.grad_fn for t in outputs if t.grad_fn is not None}
    roots = (tp.ops.OPTYPE.CONV, tp.ops.OPTYPE.LINEAR, tp.ops.OPTYPE.LSTM)
    stack = [node for node in graph.module2node.values() if node.grad_fn in producers]
    seen = set()
    found = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.type in roots:
            found.add(node.module)
        else:
            stack.extend(node.inputs)
    return {name: module for name, module in model.named_modules() if module in found}


def _count(tp: Any, model: nn.Module, examples: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    macs, params = tp.utils.count_ops_and_params(model, examples)
    return int(macs), int(params)


def _channels(module: nn.Module) -> int | None:
    """Output channels of a convolution or linear layer; ``None`` for other modules."""
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        return int(module.out_channels)
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    return None


def _out_channels(model: nn.Module) -> dict[str, int]:
    counts = {name: _channels(module) for name, module in model.named_modules()}
    return {name: count for name, count in counts.items() if count is not None}


def _output_shapes(model: nn.Module, examples: tuple[torch.Tensor, ...]) -> list[tuple[int, ...]]:
    import torch

    with torch.no_grad():
        try:
            outputs = model(*examples)
        except RuntimeError as err:
            raise ConversionError(f"the model does not run on the example inputs: {err}") from err
    return [tuple(t.shape) for t in flatten_outputs(outputs)]


def _evaluated(evaluate: Callable[[nn.Module], float] | None, model: nn.Module) -> float | None:
    if evaluate is None:
        return None
    model.eval()
    return float(evaluate(model))


def _as_tuple(example_inputs: torch.Tensor | Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    if isinstance(example_inputs, Sequence):
        return tuple(example_inputs)
    return (example_inputs,)


def _count_row(label: str, before: int, after: int) -> tuple[str, str, str, str]:
    change = f"{(after - before) / before:+.1%}" if before else "n/a"
    return label, f"{before:,}", f"{after:,}", change


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own exception types
        raise ConversionError(f"ONNX Runtime cannot load {path}: {err}") from err


def _run(session: ort.InferenceSession, feeds: Mapping[str, np.ndarray]) -> None:
    try:
        session.run(None, dict(feeds))
    except Exception as err:  # ONNX Runtime raises its own exception types
        raise ConversionError(f"ONNX Runtime cannot run the model on the inputs: {err}") from err


def _require_torch_pruning() -> Any:
    try:
        import torch  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("torch", "prune", "Channel pruning") from err
    try:
        import torch_pruning
    except ImportError as err:
        raise MissingDependencyError("torch-pruning", "prune", "Channel pruning") from err
    return torch_pruning
