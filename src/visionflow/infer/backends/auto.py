"""The backend ``auto`` stands for: the fastest one installed for the device.

On the CPU that is OpenVINO where it is installed (``pip install 'visionflow[openvino]'``),
else ONNX Runtime; on every other device ONNX Runtime. The rule is measured, not assumed: on
the 2-core AVX-512 CPU of ``benchmarks/cpu_peer.py`` and ``benchmarks/cpu_int8.py`` OpenVINO ran
a YOLOv8n at FP32 1.3–1.5x faster than ONNX Runtime, and OpenVINO alone runs BF16 on the CPUs
that have it (see ``docs/benchmarks.md``). Both run the same ONNX file; ``backend: onnxruntime``
keeps ONNX Runtime.
"""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger(__name__)

AUTO = "auto"


def openvino_installed() -> bool:
    """Whether the ``openvino`` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def torch_installed() -> bool:
    """Whether ``torch`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def onnxruntime_has_cuda() -> bool:
    """Whether the installed ONNX Runtime has its CUDA execution provider (onnxruntime-gpu)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def resolve_backend(backend: str, device: str) -> str:
    """``backend``, or for ``auto`` the backend it stands for on ``device``.

    ``auto`` on ``cpu`` is ``openvino`` when OpenVINO is installed, else ``onnxruntime``; on
    ``cuda`` it is ``torch`` (the GPU path: FP16 engines, CUDA graphs, parsing on the GPU) when
    torch is installed and ONNX Runtime lacks its CUDA provider, else ``onnxruntime``; on any
    other device (``dml``, ``openvino:NPU``…) ``onnxruntime`` — except that an ``openvino:``
    device is OpenVINO's.
    """
    if backend != AUTO:
        return backend
    kind = device.partition(":")[0].lower()
    if kind in ("openvino", "ov"):
        return "openvino"
    if kind == "cuda" and torch_installed() and not onnxruntime_has_cuda():
        log.debug("backend auto on %s: torch (ONNX Runtime has no CUDA provider)", device)
        return "torch"
    chosen = "openvino" if kind == "cpu" and openvino_installed() else "onnxruntime"
    log.debug("backend auto on %s: %s", device, chosen)
    return chosen
