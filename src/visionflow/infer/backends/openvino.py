"""OpenVINO backend: Intel CPUs, GPUs and NPUs (``pip install 'visionflow[openvino]'``).

It runs ONNX models (FP32, or INT8 when the model carries Q/DQ nodes, which OpenVINO executes
with integer kernels), OpenVINO IR (``.xml``) and compiled blobs (``.blob``, the engines
:mod:`visionflow.convert.engine` caches). ``openvino`` is imported when a model is loaded, never
when this module is imported.

Devices are OpenVINO's names, optionally prefixed: ``CPU``, ``GPU``, ``GPU.1``, ``NPU``,
``openvino:NPU``; ``cpu`` means ``CPU``.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import (
    BackendError,
    DeviceUnavailableError,
    MissingDependencyError,
    ModelNotFoundError,
)
from visionflow.infer.backends.base import BACKENDS, Backend, TensorSpec

log = logging.getLogger(__name__)

BLOB_SUFFIX = ".blob"
_PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
_VIRTUAL_DEVICES = frozenset({"AUTO", "MULTI", "HETERO"})


def decline_telemetry() -> None:
    """Decline OpenVINO's usage telemetry for this process, before ``import openvino`` sends it.

    ``import openvino`` (2024+) imports its converter, whose telemetry forks a process that posts
    to Google Analytics unless an opt-out file exists in the user's home. visionflow runs offline
    and never sends anything: the consent check answers "declined" for this process (the user's
    own opt-in/opt-out file is neither read nor written). ``VISIONFLOW_OPENVINO_TELEMETRY=1``
    leaves OpenVINO's own choice in place.
    """
    if os.environ.get("VISIONFLOW_OPENVINO_TELEMETRY") == "1":
        return
    try:
        from openvino_telemetry.utils import opt_in_checker
    except ImportError:  # no telemetry package: nothing to decline
        return
    declined = opt_in_checker.ConsentCheckResult.DECLINED
    opt_in_checker.OptInChecker.check = lambda self, *args, **kwargs: declined


def _openvino() -> Any:
    decline_telemetry()
    try:
        import openvino
    except ImportError as exc:
        raise MissingDependencyError("openvino", "openvino", "The OpenVINO backend") from exc
    return openvino


@cache
def _core() -> Any:
    return _openvino().Core()


def available_devices() -> list[str]:
    """OpenVINO's devices on this machine (``["CPU", "GPU.0", "NPU"]``); [] without openvino."""
    try:
        return list(_core().available_devices)
    except MissingDependencyError:
        return []


def device_name(device: str) -> str:
    """Full name of an OpenVINO device (``Intel(R) Core(TM) Ultra 7 …``), for engine keys."""
    return str(_core().get_property(ov_device(device), "FULL_DEVICE_NAME"))


def runtime_version() -> str:
    """``openvino 2024.4.0-…``."""
    return f"openvino {_openvino().get_version()}"


def ov_device(device: str) -> str:
    """``cpu`` / ``openvino:gpu.1`` / ``NPU`` → OpenVINO's name: ``CPU``, ``GPU.1``, ``NPU``."""
    name = device.removeprefix("openvino:").removeprefix("ov:")
    return name.upper()


def openvino_precisions(device: str) -> tuple[str, ...]:
    """The precisions OpenVINO runs on ``device``, in ``network-mode`` order.

    INT8 runs wherever the device reports INT8 capability; FP16 where it reports FP16 (GPUs,
    NPUs, CPUs with AVX512-FP16 or AMX-FP16); BF16 where it reports BF16 (CPUs with AVX512-BF16
    or AMX-BF16); FP32 everywhere but on NPUs.
    """
    name = ov_device(device)
    capabilities = set(_core().get_property(name, "OPTIMIZATION_CAPABILITIES"))
    found = [
        p
        for p, cap in (("fp32", "FP32"), ("int8", "INT8"), ("fp16", "FP16"), ("bf16", "BF16"))
        if cap in capabilities
    ]
    return tuple(found) or ("fp32",)


def _spec(port: Any) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), shape, np.dtype(port.get_element_type().to_dtype()))


@BACKENDS.register("openvino", "ov")
class OpenVINOBackend(Backend):
    """Runs an ONNX model, an OpenVINO IR or a compiled blob with OpenVINO.

    Args:
        model: ``.onnx``, ``.xml`` (with its ``.bin``) or ``.blob`` (compiled for ``device``).
        device: ``CPU``, ``GPU[.N]``, ``NPU``, ``AUTO`` (any case, ``openvino:`` prefix allowed).
        allow_fallback: run on the CPU, with a warning, when ``device`` is not available.
        threads: inference threads (0: OpenVINO's default).
        precision: ``fp32``, ``fp16`` or ``bf16`` sets the inference precision hint (OpenVINO
            otherwise picks bf16/fp16 where the hardware has it); ``int8`` leaves it to the model
            and the device. None: for a blob, the precision in its engine key file, if any.
        batch: fix the batch axis of a dynamic-batch model to this size before compiling.
        performance_hint: ``LATENCY`` (default) or ``THROUGHPUT``.
    """

    name = "openvino"

    def __init__(
        self,
        model: Path,
        device: str = "CPU",
        *,
        allow_fallback: bool = False,
        threads: int = 0,
        precision: str | None = None,
        batch: int | None = None,
        performance_hint: str = "LATENCY",
    ) -> None:
        ov = _openvino()
        if not model.exists():
            raise ModelNotFoundError(f"model file not found: {model}")
        core = _core()
        target = self._device(ov_device(device), allow_fallback)
        config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        if precision is None and model.suffix == BLOB_SUFFIX:
            precision = _engine_precision(model)
        if precision in _PRECISION_HINTS:
            config["INFERENCE_PRECISION_HINT"] = _PRECISION_HINTS[precision]
        try:
            if model.suffix == BLOB_SUFFIX:
                self.compiled = core.import_model(model.read_bytes(), target, config)
            else:
                network = core.read_model(os.fspath(model))
                if batch is not None:
                    network.reshape(
                        {
                            p.get_any_name(): _with_batch(p.get_partial_shape(), batch, ov)
                            for p in network.inputs
                        }
                    )
                self.compiled = core.compile_model(network, target, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise BackendError(f"OpenVINO cannot load {model} on {target}: {exc}") from exc
        self._output_ports = list(self.compiled.outputs)
        super().__init__(
            model,
            target,
            [_spec(p) for p in self.compiled.inputs],
            [_spec(p) for p in self._output_ports],
        )
        self._request = self.compiled.create_infer_request()

    @staticmethod
    def _device(device: str, allow_fallback: bool) -> str:
        available = available_devices()
        families = {d.partition(".")[0] for d in available}
        usable = (
            device in available
            or device in families
            or device.partition(":")[0] in _VIRTUAL_DEVICES
        )
        if usable:
            return device
        offered = ", ".join(available) or "none"
        message = f"OpenVINO device '{device}' is not available (available: {offered})"
        if not allow_fallback:
            raise DeviceUnavailableError(message)
        log.warning("%s; falling back to CPU as allowed", message)
        return "CPU"

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.runtime_errors("OpenVINO", feeds):
            results = self._request.infer(dict(feeds))
        return {
            spec.name: np.array(results[port])
            for spec, port in zip(self.outputs, self._output_ports, strict=True)
        }

    def export(self, path: Path) -> Path:
        """Write the compiled model as a blob that loads on the same device and OpenVINO version."""
        data = self.compiled.export_model()
        path.write_bytes(data.getvalue() if isinstance(data, io.BytesIO) else bytes(data))
        return path


def _engine_precision(blob: Path) -> str | None:
    """The precision in a blob's engine key file (``<blob>.json``): a blob keeps its compiled
    graph but not its inference precision, which must be given again when it is loaded."""
    sidecar = blob.with_name(blob.name + ".json")
    try:
        return str(json.loads(sidecar.read_text())["precision"])
    except (OSError, ValueError, KeyError):
        return None


def _with_batch(shape: Any, batch: int, ov: Any) -> Any:
    dims = list(shape)
    if dims and dims[0].is_dynamic:
        dims[0] = ov.Dimension(batch)
    return ov.PartialShape(dims)
