"""``visionflow prune``: remove a fraction of a PyTorch model's channels and export it to ONNX.

The model is named by a Python reference, ``package.module:factory``, where ``factory`` is an
``nn.Module`` instance, or a class or function that builds one with no arguments; ``--weights``
loads a ``state_dict`` into it. Pruning needs the network's Python code: Torch-Pruning rewrites
``nn.Conv2d`` and ``nn.Linear`` modules in place, which neither a TorchScript archive (compiled
code over fixed tensors) nor an ONNX file provides. The command prints the pruning report (and
writes it as JSON with ``--report``) with ONNX Runtime latency before and after.

There is no data here to fine-tune on, so the exported model has lost accuracy; use it to see
what a ratio buys in size and speed, and prune for deployment with
:func:`visionflow.convert.prune.prune_model` and a ``fine_tune`` callback.
"""

from __future__ import annotations

import importlib
import json
import logging
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, cast

import typer

if TYPE_CHECKING:
    from torch import nn

EXIT_INVALID = 2

_ONNX_UNSUPPORTED = (
    "pruning needs the model as a PyTorch nn.Module, and ONNX files cannot be turned back into "
    "one here: the converter (onnx2torch) imports torchvision, which cannot be installed beside "
    "visionflow's CPU build of torch. Prune the PyTorch model the ONNX file was exported from: "
    "visionflow prune package.module:factory --weights state_dict.pt"
)
_TORCHSCRIPT_UNSUPPORTED = (
    "a TorchScript archive holds compiled code over fixed tensors, which Torch-Pruning cannot "
    "restructure; give the Python model instead: visionflow prune package.module:factory "
    "--weights state_dict.pt (save one with torch.save(model.state_dict(), 'state_dict.pt'))"
)


def prune(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="package.module:factory — an nn.Module, or a class or function building one.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Pruned ONNX file to write.")],
    ratio: Annotated[float, typer.Option(help="Fraction of channels to remove, 0 < r < 1.")] = 0.3,
    input_shape: Annotated[
        str, typer.Option(help="Example input shape, e.g. 1x3x224x224.")
    ] = "1x3x224x224",
    weights: Annotated[
        Path | None, typer.Option(help="state_dict to load into the model (torch.save file).")
    ] = None,
    importance: Annotated[str, typer.Option(help="Channel ranking: l1 or l2 weight norm.")] = "l2",
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="Layer (module name) to keep whole; repeatable."),
    ] = None,
    round_to: Annotated[
        int | None, typer.Option(help="Round kept channel counts down to a multiple, e.g. 8.")
    ] = None,
    threads: Annotated[int, typer.Option(help="ONNX Runtime threads for the latency.")] = 1,
    runs: Annotated[int, typer.Option(help="Timed runs of each model.")] = 200,
    report: Annotated[Path | None, typer.Option(help="Write the report as JSON.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Prune a fraction of a PyTorch model's channels, export it to ONNX, report the gains."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from visionflow.errors import ConfigError, MissingDependencyError, VisionflowError

    if importance not in ("l1", "l2"):
        _fail(
            f"--importance {importance!r}: expected l1 or l2 (Taylor importance needs data: "
            "use visionflow.convert.prune.prune_model)",
            EXIT_INVALID,
        )
    try:
        import torch
    except ImportError:
        _fail(str(MissingDependencyError("torch", "prune", "visionflow prune")))
    from visionflow.convert.prune import Importance, export_pruned, prune_model

    try:
        module = load_module(model, weights)
        example = torch.rand(*_shape(input_shape), generator=torch.Generator().manual_seed(0))
        result = prune_model(
            module,
            example,
            ratio=ratio,
            ignored_layers=ignore or (),
            importance=cast(Importance, importance),
            round_to=round_to,
        )
        imported, result = export_pruned(
            result, module, output, example, threads=threads, runs=runs
        )
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    except VisionflowError as exc:
        _fail(str(exc))
    typer.echo(str(result.report))
    typer.echo(f"wrote {imported.onnx_path} (parity with the pruned model checked)")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "model": model,
            "weights": str(weights) if weights else None,
            "onnx": str(imported.onnx_path),
            "parity": imported.parity.to_dict() if imported.parity else None,
            **result.report.to_dict(),
        }
        report.write_text(json.dumps(data, indent=2))


def load_module(reference: str, weights: Path | None = None) -> nn.Module:
    """The ``nn.Module`` that ``package.module:factory`` names, with ``weights`` loaded.

    The current directory is searched for the module first, as ``python -m`` would.

    Raises:
        ConversionError: the reference is a model file (ONNX or TorchScript, which cannot be
            pruned), cannot be imported, does not give an ``nn.Module``, or the weights do not
            fit it.
    """
    import torch

    from visionflow.convert.importers.torch import is_torchscript_archive
    from visionflow.errors import ConversionError

    path = Path(reference)
    if path.suffix.lower() == ".onnx":
        raise ConversionError(f"{reference}: {_ONNX_UNSUPPORTED}")
    if path.is_file() and is_torchscript_archive(path):
        raise ConversionError(f"{reference}: {_TORCHSCRIPT_UNSUPPORTED}")
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConversionError(
            f"{reference!r} is not a model reference; expected package.module:factory, e.g. "
            "mypkg.nets:build_detector or mypkg.nets:Detector"
        )
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except ImportError as err:
        raise ConversionError(f"{reference}: cannot import {module_name}: {err}") from err
    except AttributeError as err:
        raise ConversionError(f"{reference}: {module_name} has no {attribute!r}") from err
    built = target() if callable(target) and not isinstance(target, torch.nn.Module) else target
    if not isinstance(built, torch.nn.Module):
        raise ConversionError(
            f"{reference} gives a {type(built).__name__}, not a torch.nn.Module; name an "
            "nn.Module, or a class or function that builds one with no arguments"
        )
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            built.load_state_dict(state)
        except (OSError, RuntimeError, TypeError, AttributeError, pickle.UnpicklingError) as err:
            raise ConversionError(
                f"{weights}: cannot load the weights into {reference}: {err}"
            ) from err
    return built.eval()


def _shape(text: str) -> list[int]:
    try:
        dims = [int(d) for d in text.lower().split("x")]
    except ValueError:
        dims = []
    if not dims or min(dims) < 1:
        raise typer.BadParameter(
            f"{text!r} is not a shape like 1x3x224x224", param_hint="--input-shape"
        )
    return dims


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
