"""PyTorch → ONNX, from an ``nn.Module`` or a TorchScript archive.

Export uses ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter. With
torch 2.13 the default (``torch.export``-based) exporter needs the ``onnxscript`` package and
targets opset 18 and newer, and it cannot take the ``ScriptModule`` that a TorchScript archive
loads into; the TorchScript exporter needs neither, works offline, handles both kinds of module
and honours ``dynamic_axes`` and opset 17 directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from visionflow.convert.onnx_tools import prepare_onnx, spec_from_onnx
from visionflow.convert.parity import check_parity, sample_inputs
from visionflow.convert.spec import ExportSpec, ImportResult, infer_layout
from visionflow.errors import ConversionError, MissingDependencyError

if TYPE_CHECKING:
    import torch


def is_torchscript_archive(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``), without importing torch.

    ``torch.save`` checkpoints are zip archives too, but hold only pickled data, no ``code/``.
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            "/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist()
        )


def not_torchscript_error(path: str | PathLike[str]) -> ConversionError:
    """The error for a PyTorch file that is not a TorchScript archive (e.g. a state_dict)."""
    return ConversionError(
        f"{path} is not a TorchScript archive; a torch.save checkpoint such as a state_dict holds "
        "weights without the network's code, so exporting needs the nn.Module: build the model "
        "in Python, call model.load_state_dict(torch.load(path)) and pass the module to "
        "import_torch, or save it with torch.jit.script(model).save('model.pt')"
    )


def load_torchscript(path: str | PathLike[str]) -> torch.nn.Module:
    """Load a TorchScript archive onto the CPU.

    Raises:
        ConversionError: the file is missing, is a plain ``torch.save`` checkpoint, or cannot be
            loaded.
    """
    torch = _require_torch()
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: file not found")
    if not is_torchscript_archive(path):
        raise not_torchscript_error(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is what we read
            return torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as err:
        raise ConversionError(f"{path}: cannot load TorchScript archive: {err}") from err


def import_torch(
    model: torch.nn.Module | str | PathLike[str],
    output: str | PathLike[str],
    example_inputs: Any = None,
    *,
    spec: ExportSpec | None = None,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Export a PyTorch model to ONNX and check it against the module.

    Args:
        model: an ``nn.Module`` or the path of a TorchScript archive.
        output: the ONNX file to write.
        example_inputs: a tensor or array, or a sequence of them (one per input), that the model
            accepts. ``None`` builds float32 inputs from ``spec.input_shapes`` (a dynamic batch
            becomes 1).
        spec: input/output names, shapes, dynamic axes (batch dynamic by default), opset and
            tolerances. Names default to ``input``/``output`` (``input_0``… for several).
        verify: run the parity check (fp32 tolerance) on the example inputs and on a random
            sample with another batch size.
        simplify: simplify the exported graph with onnxslim when installed.

    Raises:
        MissingDependencyError: PyTorch is not installed.
        ConversionError: the model cannot be loaded or exported.
        ParityError: the ONNX model's outputs differ from the module's.
    """
    torch = _require_torch()
    spec = spec or ExportSpec()
    if isinstance(model, str | PathLike):
        module, source_format = load_torchscript(model), "torchscript"
    else:
        module, source_format = model, "pytorch"
    examples = _example_tensors(example_inputs, spec, torch)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)

    with _eval_mode(module), torch.inference_mode():
        outputs = module(*examples)
    input_names = spec.input_names or _default_names("input", len(examples))
    if len(input_names) != len(examples):
        raise ConversionError(
            f"{len(input_names)} input names {list(input_names)} for {len(examples)} example inputs"
        )
    output_names = spec.output_names or (
        tuple(outputs)
        if isinstance(outputs, Mapping)
        else _default_names("output", len(flatten_outputs(outputs)))
    )
    spec = dataclasses.replace(
        spec,
        input_names=input_names,
        input_shapes=spec.input_shapes or tuple(tuple(x.shape) for x in examples),
        output_names=output_names,
    )
    _export(module, examples, output, spec, torch)
    prepare_onnx(output, simplify=simplify)
    spec = spec_from_onnx(onnx.load(str(output), load_external_data=False), spec)

    parity = None
    if verify:
        device = examples[0].device

        def reference(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            tensors = [
                torch.from_numpy(np.ascontiguousarray(feeds[n])).to(device)
                for n in spec.input_names
            ]
            with _eval_mode(module), torch.inference_mode():
                return [t.cpu().numpy() for t in flatten_outputs(module(*tensors))]

        first = {
            name: x.detach().cpu().numpy()
            for name, x in zip(spec.input_names, examples, strict=True)
        }
        samples = [first, *sample_inputs(output, spec, batch_sizes=(2,))]
        parity = check_parity(output, reference, samples, spec.tolerance("fp32"))
    return ImportResult(
        onnx_path=output,
        parity=parity,
        source_format=source_format,
        input_layout=infer_layout(spec.input_shapes[0], "NCHW") if spec.input_shapes else None,
        spec=spec,
    )


def _export(
    module: torch.nn.Module,
    examples: tuple[torch.Tensor, ...],
    output: Path,
    spec: ExportSpec,
    torch: Any,
) -> None:
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose (see the module docstring).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", "no signature found", UserWarning)  # ScriptModules
            torch.onnx.export(
                module,
                examples,
                str(output),
                dynamo=False,
                input_names=list(spec.input_names),
                output_names=list(spec.output_names),
                dynamic_axes=spec.resolved_dynamic_axes(),
                opset_version=spec.opset,
                do_constant_folding=True,
            )
    except Exception as err:  # the exporter raises errors of many kinds
        raise ConversionError(f"torch.onnx.export failed: {err}") from err


def _example_tensors(example_inputs: Any, spec: ExportSpec, torch: Any) -> tuple[torch.Tensor, ...]:
    if example_inputs is None:
        if not spec.input_shapes:
            raise ConversionError(
                "exporting a PyTorch model needs example inputs or input shapes (input_shape=...)"
            )
        tensors = []
        for index, shape in enumerate(spec.input_shapes):
            if None in shape[1:]:
                raise ConversionError(
                    f"input shape {shape} of input {index} has a dynamic dimension after the "
                    "batch; give its size to build an example input"
                )
            size = tuple(1 if d is None else d for d in shape)
            tensors.append(torch.from_numpy(np.random.default_rng(index).random(size, np.float32)))
        return tuple(tensors)
    items = example_inputs if isinstance(example_inputs, list | tuple) else (example_inputs,)
    return tuple(torch.as_tensor(np.asarray(x)) if isinstance(x, np.ndarray) else x for x in items)


def flatten_outputs(outputs: Any) -> list[torch.Tensor]:
    """The tensors of a module's output in export order (tensor, sequence or mapping).

    Raises:
        ConversionError: the output holds something other than tensors.
    """
    if isinstance(outputs, Mapping):
        return [t for value in outputs.values() for t in flatten_outputs(value)]
    if isinstance(outputs, Sequence):
        return [t for value in outputs for t in flatten_outputs(value)]
    if hasattr(outputs, "numpy"):
        return [outputs]
    raise ConversionError(f"model output of type {type(outputs).__name__} cannot be exported")


def _default_names(prefix: str, count: int) -> tuple[str, ...]:
    return (prefix,) if count == 1 else tuple(f"{prefix}_{i}" for i in range(count))


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _require_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError("torch", "torch", "importing PyTorch models") from err
    return torch
