"""PyTorch backend: ONNX models converted to torch, torch programs and modules, on CPU or CUDA.

What it loads (by file):

* ``.onnx`` — converted by :mod:`visionflow.convert.onnx_torch` into a static-shape graph for the
  model's batch (a dynamic batch takes ``batch``, default 1);
* ``.pt2`` — a visionflow torch engine (:mod:`visionflow.convert.torch_engine`): a
  ``torch.export`` program or an AOTInductor package, with its ``<file>.io.json`` tensor specs;
* ``.pt`` / ``.pth`` / ``.ts`` / ``.torchscript`` — TorchScript, or a pickled ``nn.Module`` (then
  ``input_shape`` is needed); :meth:`TorchBackend.from_module` takes a module object.

On CUDA the model runs channels-last, in the precision it was built for, and — unless
``cuda_graphs=False`` — as one CUDA graph captured on the first batch (the graph's input and
outputs are static buffers: :meth:`run_device` returns outputs that the next run overwrites). A
device that cannot run is a :class:`~visionflow.errors.DeviceUnavailableError` naming what is
missing, unless ``allow_fallback``. INT8 is refused: torch has no INT8 convolution on CUDA that
beats its FP16 path (TensorRT is not used).
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.errors import (
    BackendError,
    ConfigError,
    DeviceUnavailableError,
    MissingDependencyError,
    ModelNotFoundError,
)
from visionflow.infer.backends.base import BACKENDS, Backend, TensorSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PRECISIONS = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16")}
"""What the torch backend runs per device kind (reduced precision only on the GPU: torch's CPU
FP16/BF16 convolutions are slower than FP32 there)."""
_TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def import_torch() -> Any:
    """``torch``, or a :class:`MissingDependencyError` naming the extra."""
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError("torch", "nvidia", "The torch backend") from err
    return torch


def torch_precisions(device: str) -> tuple[str, ...]:
    """The precisions the torch backend runs on ``device`` (``cpu`` or ``cuda[:N]``)."""
    return PRECISIONS.get(device.partition(":")[0].lower(), ())


def torch_device(device: str, *, allow_fallback: bool = False) -> torch.device:
    """``device`` as a torch device, checked: CUDA must be built into torch and visible.

    Raises:
        DeviceUnavailableError: the device kind is not ``cpu``/``cuda``, torch has no CUDA, no
            GPU is visible, or the index is out of range — unless ``allow_fallback`` (then the
            CPU, with a warning).
    """
    torch = import_torch()
    kind, _, index = device.lower().partition(":")
    if kind == "cpu":
        return torch.device("cpu")
    if kind != "cuda":
        raise DeviceUnavailableError(
            f"the torch backend runs on 'cpu' or 'cuda[:N]', not '{device}'"
        )
    problem = None
    if torch.version.cuda is None:
        problem = (
            f"torch {torch.__version__} is built without CUDA; install a CUDA build "
            "(pip install 'visionflow[nvidia]' on a machine with an NVIDIA GPU)"
        )
    elif not torch.cuda.is_available():
        problem = (
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device: no "
            "NVIDIA driver, no GPU, or CUDA_VISIBLE_DEVICES hides it"
        )
    elif index and int(index) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        problem = f"there are {count} CUDA devices (0…{count - 1})"
    if problem is not None:
        message = f"device '{device}' cannot run the torch backend: {problem}"
        if not allow_fallback:
            raise DeviceUnavailableError(message)
        log.warning("%s; running on the CPU as fallback was allowed", message)
        return torch.device("cpu")
    return torch.device("cuda", int(index or 0))


def check_precision(precision: str, device: str) -> str:
    """``precision`` if the torch backend runs it on ``device``, else a :class:`ConfigError`."""
    runnable = torch_precisions(device)
    if precision == "int8":
        raise ConfigError(
            "the torch backend has no INT8 path: torch has no INT8 convolution kernels that beat "
            "its FP16 ones on CUDA (TensorRT, which has them, is not used); use fp16 "
            "(network-mode=2)",
            key="network-mode",
            value="1 (int8)",
            allowed=", ".join(runnable),
        )
    if precision not in runnable:
        raise ConfigError(
            f"the torch backend on {device} runs {', '.join(runnable)}, not {precision}",
            key="network-mode",
            value=precision,
            allowed=", ".join(runnable),
        )
    return precision


def _spec(name: str, shape: Sequence[int], dtype: Any) -> TensorSpec:
    return TensorSpec(
        name, tuple(int(d) for d in shape), np.dtype(str(dtype).removeprefix("torch."))
    )


def read_io(path: Path) -> dict[str, Any]:
    """The tensor specs stored beside a torch engine (``<engine>.io.json``)."""
    side = path.with_name(path.name + ".io.json")
    if not side.is_file():
        raise BackendError(f"{path} has no {side.name}: it was not built by visionflow")
    data: dict[str, Any] = json.loads(side.read_text())
    return data


def write_io(path: Path, info: Mapping[str, Any]) -> None:
    path.with_name(path.name + ".io.json").write_text(json.dumps(dict(info), indent=1))


def is_aoti_package(path: Path) -> bool:
    """Whether a ``.pt2`` file is an AOTInductor package (not a ``torch.export`` program)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("aotinductor" in n for n in archive.namelist())
    except zipfile.BadZipFile:
        return False


@BACKENDS.register("torch", "pytorch")
class TorchBackend(Backend):
    """Runs a model with PyTorch on ``cpu`` or ``cuda[:N]``.

    Args:
        model: an ONNX file, a visionflow torch engine (``.pt2``), or TorchScript / a pickled
            module (``.pt``, ``.pth``, ``.ts``).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        allow_fallback: run on the CPU (with a warning) when the device cannot be used.
        threads: CPU intra-op threads (0: torch's default).
        precision: ``fp32``, ``fp16`` or ``bf16`` for ONNX and module inputs (an engine keeps
            the precision it was built with).
        batch: the batch an ONNX model with a dynamic batch axis is converted for.
        input_shape: the input shape of a module or TorchScript model (with its batch).
        channels_last: NHWC memory layout for 4-D tensors (default: on CUDA).
        cuda_graphs: replay one CUDA graph per run (default: on CUDA).
    """

    name = "torch"

    def __init__(
        self,
        model: Path,
        device: str = "cpu",
        *,
        allow_fallback: bool = False,
        threads: int = 0,
        precision: str = "fp32",
        batch: int = 1,
        input_shape: Sequence[int] | None = None,
        channels_last: bool | None = None,
        cuda_graphs: bool | None = None,
        module: Any = None,
    ) -> None:
        torch = import_torch()
        self.torch_device = torch_device(device, allow_fallback=allow_fallback)
        device = str(self.torch_device) if self.torch_device.type == "cuda" else "cpu"
        if threads:
            torch.set_num_threads(threads)
        on_cuda = self.torch_device.type == "cuda"
        self.channels_last = on_cuda if channels_last is None else channels_last
        self.use_graphs = on_cuda if cuda_graphs is None else (cuda_graphs and on_cuda)
        if module is None and not model.exists():
            raise ModelNotFoundError(f"model file not found: {model}")
        if module is not None:
            self.precision = check_precision(precision, device)
            inputs, outputs = self._from_module(module, input_shape)
        elif model.suffix == ".onnx":
            self.precision = check_precision(precision, device)
            inputs, outputs = self._from_onnx(model, batch)
        elif model.suffix == ".pt2":
            inputs, outputs = self._from_engine(model, device)
        else:
            self.precision = check_precision(precision, device)
            inputs, outputs = self._from_torchscript(model, input_shape)
        super().__init__(model, device, inputs, outputs)
        self._graph: Any = None
        self._static_in: list[Any] = []
        self._static_out: tuple[Any, ...] = ()
        log.info(
            "torch backend: %s on %s, %s, batch %s%s%s",
            model.name,
            device,
            self.precision,
            self.inputs[0].batch if self.inputs else "?",
            ", channels-last" if self.channels_last else "",
            ", CUDA graph" if self.use_graphs else "",
        )

    @classmethod
    def from_module(
        cls,
        module: Any,
        input_shape: Sequence[int],
        device: str = "cpu",
        **options: Any,
    ) -> TorchBackend:
        """A backend around an ``nn.Module`` object taking one input of ``input_shape``."""
        return cls(Path("module"), device, module=module, input_shape=input_shape, **options)

    # -- loading ---------------------------------------------------------------------------
    def _prepare(self, module: Any) -> Any:
        torch = import_torch()
        module = module.eval().to(self.torch_device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        return module

    def _from_onnx(self, model: Path, batch: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
        from visionflow.convert.onnx_torch import onnx_to_torch, set_precision

        torch = import_torch()
        converted = onnx_to_torch(model, batch)
        if self.precision != "fp32":
            set_precision(converted, getattr(torch, _TORCH_DTYPES[self.precision]))
        self.module = self._prepare(converted)
        self._precise_fp32()
        return self._specs(converted)

    @staticmethod
    def _specs(converted: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
        inputs = [
            _spec(n, s, "float32")
            for n, s in zip(converted.input_names, converted.input_shapes, strict=True)
        ]
        outputs = [
            _spec(n, s, d)
            for n, s, d in zip(
                converted.output_names,
                converted.output_shapes,
                converted.output_dtypes,
                strict=True,
            )
        ]
        return inputs, outputs

    def _from_engine(self, model: Path, device: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
        torch = import_torch()
        info = read_io(model)
        self.precision = str(info["precision"])
        built_on = str(info.get("device", "cpu")).partition(":")[0]
        if built_on != self.torch_device.type:
            raise BackendError(
                f"torch engine {model} was built for {info.get('device')}, not {device}"
            )
        if is_aoti_package(model):
            from torch._inductor import aoti_load_package

            self.module = aoti_load_package(str(model))
            self.use_graphs = False  # AOTInductor runs its own compiled kernels
        else:
            program = torch.export.load(str(model))
            self.module = program.module()  # on its device, in its layout, in eval mode
        self._precise_fp32()
        inputs = [_spec(t["name"], t["shape"], t["dtype"]) for t in info["inputs"]]
        outputs = [_spec(t["name"], t["shape"], t["dtype"]) for t in info["outputs"]]
        return inputs, outputs

    def _from_module(
        self, module: Any, input_shape: Sequence[int] | None
    ) -> tuple[list[TensorSpec], list[TensorSpec]]:
        torch = import_torch()
        if input_shape is None:
            raise ConfigError("a torch module needs its input shape", key="input_shape")
        if self.precision != "fp32":
            module = module.to(getattr(torch, _TORCH_DTYPES[self.precision]))
        self.module = self._prepare(module)
        self._input_dtype = getattr(torch, _TORCH_DTYPES[self.precision])
        return self._probe(tuple(input_shape))

    def _from_torchscript(
        self, model: Path, input_shape: Sequence[int] | None
    ) -> tuple[list[TensorSpec], list[TensorSpec]]:
        torch = import_torch()
        try:
            loaded = torch.jit.load(str(model), map_location="cpu")
        except RuntimeError:
            loaded = torch.load(str(model), map_location="cpu", weights_only=False)
        if not isinstance(loaded, torch.nn.Module):
            raise BackendError(f"{model} holds a {type(loaded).__name__}, not a torch module")
        return self._from_module(loaded, input_shape)

    def _probe(self, shape: tuple[int, ...]) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """Output specs of a module: one run on zeros."""
        torch = import_torch()
        x = torch.zeros(shape, device=self.torch_device, dtype=self._input_dtype)
        with torch.inference_mode():
            out = self.module(x)
        outs = out if isinstance(out, tuple | list) else (out,)
        inputs = [_spec("input", shape, "float32")]
        outputs = [
            _spec(f"output{i}", o.shape, "float32" if o.is_floating_point() else o.dtype)
            for i, o in enumerate(outs)
        ]
        return inputs, outputs

    def _precise_fp32(self) -> None:
        """FP32 means FP32: no TF32 in cuDNN convolutions and matmuls."""
        torch = import_torch()
        if self.precision == "fp32" and self.torch_device.type == "cuda":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    # -- running ---------------------------------------------------------------------------
    def _forward(self, tensors: Sequence[Any]) -> tuple[Any, ...]:
        torch = import_torch()
        if not self.use_graphs:
            with torch.inference_mode():
                out = self.module(*(self._layout(t) for t in tensors))
            return tuple(out) if isinstance(out, tuple | list) else (out,)
        if self._graph is None:
            self._capture(tensors)
        for static, t in zip(self._static_in, tensors, strict=True):
            static.copy_(t)
        self._graph.replay()
        return self._static_out

    def _layout(self, t: Any) -> Any:
        torch = import_torch()
        t = t.to(self.torch_device, non_blocking=True)
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _capture(self, tensors: Sequence[Any]) -> None:
        """Warm up on a side stream, then capture one forward into a CUDA graph."""
        torch = import_torch()
        self._static_in = [self._layout(t).clone() for t in tensors]  # keeps the layout
        side = torch.cuda.Stream(self.torch_device)
        side.wait_stream(torch.cuda.current_stream(self.torch_device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):
                self.module(*self._static_in)
        torch.cuda.current_stream(self.torch_device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            out = self.module(*self._static_in)
        self._static_out = tuple(out) if isinstance(out, tuple | list) else (out,)
        self._graph = graph
        log.info("torch backend: CUDA graph captured for batch %d", len(tensors[0]))

    def run_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Run one batch of the model's batch size given as torch tensors (any device); the
        outputs stay on the model's device. With CUDA graphs the returned tensors are the
        graph's static outputs: read them before the next run."""
        tensors = [feeds[spec.name] for spec in self.inputs]
        with self.runtime_errors("torch", feeds):  # reads the shapes only
            outs = self._forward(tensors)
        return {spec.name: o for spec, o in zip(self.outputs, outs, strict=True)}

    def infer_device(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`run_device` for a batch of any size up to the model's: padded with zeros,
        the outputs cut back to the batch given (padding rows are discarded)."""
        torch = import_torch()
        fixed = self.max_batch
        n = len(next(iter(feeds.values())))
        if fixed is None or n == fixed:
            return self.run_device(feeds)
        if n > fixed:
            raise BackendError(f"{self.model.name}: batch of {n} for a model of batch {fixed}")
        padded = {
            k: torch.cat([v, v.new_zeros((fixed - n, *v.shape[1:]))]) for k, v in feeds.items()
        }
        return {k: v[:n] for k, v in self.run_device(padded).items()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = import_torch()
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()}
        out = self.run_device(tensors)
        return {
            k: v.detach().float().cpu().numpy()
            if v.is_floating_point()
            else v.detach().cpu().numpy()
            for k, v in out.items()
        }

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            precision=self.precision, cuda_graphs=self.use_graphs, channels_last=self.channels_last
        )
        return info
