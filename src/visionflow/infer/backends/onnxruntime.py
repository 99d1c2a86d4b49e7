"""ONNX Runtime backend: CPU everywhere, CUDA where ``onnxruntime-gpu`` is installed."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import BackendError, DeviceUnavailableError, ModelNotFoundError
from visionflow.infer.backends.base import BACKENDS, Backend, TensorSpec

log = logging.getLogger(__name__)

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}


def provider_for(device: str) -> tuple[str, dict[str, Any]]:
    """``"cpu"``, ``"cuda:1"``, ``"dml:0"``, ``"openvino:NPU"``… → (provider name, its options)."""
    kind, _, index = device.partition(":")
    if kind not in _PROVIDERS:
        raise DeviceUnavailableError(
            f"unknown device '{device}'; expected one of: {', '.join(sorted(_PROVIDERS))} "
            "(optionally with ':N', e.g. cuda:0)"
        )
    options: dict[str, Any] = {}
    if index and kind in ("cuda", "tensorrt", "dml"):
        options["device_id"] = int(index)
    elif index and kind == "openvino":
        options["device_type"] = index  # CPU, GPU, NPU …
    return _PROVIDERS[kind], options


def tensor_spec(arg: Any) -> TensorSpec:
    """An ONNX Runtime ``NodeArg`` as a :class:`TensorSpec`: dynamic dimensions are None, and a
    type NumPy has no dtype for (bfloat16, strings…) reads as float32."""
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorSpec(arg.name, shape, np.dtype(_ORT_TYPES.get(arg.type, np.float32)))


@BACKENDS.register("onnxruntime", "ort")
class OnnxRuntimeBackend(Backend):
    """Runs an ONNX model (or an ORT-optimised ``.ort``/``.onnx`` engine) with ONNX Runtime.

    Args:
        model: path of the ONNX file.
        device: ``cpu``, ``cuda[:N]``, ``tensorrt[:N]``, ``openvino``…
        allow_fallback: run on the CPU (with a warning) when the device is unavailable.
        threads: intra-op threads (0 = ONNX Runtime's default: one per physical core).
        optimized_model: where to save the graph-optimised model (an ORT engine), if anywhere.
        spinning: let idle intra-op threads spin-wait for the next run (ONNX Runtime's default:
            lowest latency for one session). Turn it off when several sessions take turns on the
            same cores — their spinning threads would steal each other's CPU.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model: Path,
        device: str = "cpu",
        *,
        allow_fallback: bool = False,
        threads: int = 0,
        optimized_model: Path | None = None,
        spinning: bool = True,
    ) -> None:
        import onnxruntime as ort

        if not model.exists():
            raise ModelNotFoundError(f"model file not found: {model}")
        provider, provider_options = provider_for(device)
        available = ort.get_available_providers()
        providers: list[Any] = []
        if provider not in available:
            message = (
                f"device '{device}' needs ONNX Runtime's {provider}, which this installation "
                f"lacks (available: {', '.join(available)})"
            )
            if provider == "CUDAExecutionProvider":
                message += "; install it with: pip install 'visionflow[gpu]'"
            if not allow_fallback:
                raise DeviceUnavailableError(message)
            log.warning("%s; falling back to the CPU as allowed", message)
            device = "cpu"
        else:
            providers.append((provider, provider_options))
        if provider != "CPUExecutionProvider" or not providers:
            providers.append(("CPUExecutionProvider", {}))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if optimized_model is not None:
            options.optimized_model_filepath = os.fspath(optimized_model)
        try:
            self.session = ort.InferenceSession(os.fspath(model), options, providers=providers)
        except Exception as exc:  # ORT raises its own exception types
            raise BackendError(f"ONNX Runtime cannot load {model}: {exc}") from exc
        used = self.session.get_providers()[0]
        if device != "cpu" and used != provider:
            message = f"asked for {provider} on '{device}' but ONNX Runtime runs {used}"
            if not allow_fallback:
                raise DeviceUnavailableError(message)
            log.warning("%s; continuing as fallback was allowed", message)
            device = "cpu"
        super().__init__(
            model,
            device,
            [tensor_spec(a) for a in self.session.get_inputs()],
            [tensor_spec(a) for a in self.session.get_outputs()],
        )
        self._output_names = [o.name for o in self.outputs]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.runtime_errors("ONNX Runtime", feeds):
            values = self.session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, values, strict=True))
