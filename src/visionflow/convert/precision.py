"""Precisions: which a backend runs well on a device, and which one to build.

ONNX Runtime runs FP32 and INT8 on the CPU, FP32 and FP16 on CUDA, FP32 elsewhere; OpenVINO
runs what the device reports. ``best`` picks the fastest precision the backend runs on the
device: INT8 when it can be built (a calibration cache, calibration data or a model that carries
Q/DQ nodes already), else FP16, else BF16, else FP32. ``auto`` (visionflow YAML without a
precision) picks BF16 where the backend runs it natively (OpenVINO on CPUs with AVX512-BF16 or
AMX), else FP32.
"""

from __future__ import annotations

import logging

from visionflow.errors import ConfigError

log = logging.getLogger(__name__)

_FASTEST_FIRST = ("int8", "fp16", "bf16", "fp32")
_AUTO = ("bf16", "fp32")
"""What ``auto`` may pick: no INT8 (it needs calibration and an accuracy check by the user), no
FP16 (10-bit mantissa, 5-bit exponent: overflow risk); BF16 keeps FP32's range, and lost no mAP
on the bundled detector (docs/benchmarks.md, cpu-int8)."""

_ORT_PRECISIONS = {"cpu": ("fp32", "int8"), "cuda": ("fp32", "fp16")}
"""What ONNX Runtime runs well per device kind; other providers run the FP32 model."""


def runnable_precisions(backend: str, device: str) -> tuple[str, ...]:
    """The precisions ``backend`` runs well on ``device``, in ``network-mode`` order.

    ONNX Runtime: CPU fp32 and int8; CUDA fp32 and fp16; other providers fp32. OpenVINO: what
    the device reports (:func:`visionflow.infer.backends.openvino.openvino_precisions`).
    """
    if backend in ("torch", "pytorch"):
        from visionflow.infer.backends.torch import torch_precisions

        return torch_precisions(device)
    if backend in ("openvino", "ov"):
        from visionflow.infer.backends.openvino import openvino_precisions

        return openvino_precisions(device)
    return _ORT_PRECISIONS.get(device.partition(":")[0], ("fp32",))


def choose_precision(
    requested: str, backend: str, device: str, *, int8_ready: bool, allow_fallback: bool = False
) -> str:
    """The concrete precision to build: ``requested`` if the backend runs it, or ``best``'s pick.

    Args:
        requested: ``fp32``, ``fp16``, ``bf16``, ``int8``, ``best`` or ``auto`` (BF16 where
            the backend runs it natively on the device, else FP32; never INT8 or FP16).
        int8_ready: whether an INT8 model can be built (calibration cache or data, or Q/DQ
            nodes in the model).
        allow_fallback: run FP32, with a warning, instead of raising.

    Raises:
        ConfigError: the backend does not run ``requested`` on ``device`` (e.g.
            ``precision = fp16: onnxruntime on cpu runs fp32, int8``), or INT8 was asked
            without calibration.
    """
    runnable = runnable_precisions(backend, device)
    if requested == "auto" and backend in ("torch", "pytorch"):
        runnable = ("fp32",)  # torch's BF16 is not native on CPUs, and on GPUs auto stays FP32
    if requested == "auto":
        chosen = next(p for p in _AUTO if p == "fp32" or p in runnable)
        log.info("precision auto: %s on %s runs %s", backend, device, chosen)
        return chosen
    if requested == "best":
        chosen = next(
            p
            for p in _FASTEST_FIRST
            if p == "fp32" or (p in runnable and (p != "int8" or int8_ready))
        )
        log.info("precision best: %s on %s runs %s", backend, device, chosen)
        return chosen
    problem = None
    if requested not in runnable:
        problem = f"{backend} on {device} runs {', '.join(runnable)}"
    elif requested == "int8" and not int8_ready:
        problem = (
            "INT8 needs calibration: give an existing int8-calib-file, calibration data "
            "(visionflow convert --precision int8 --calib DIR_OR_VIDEO) or a model with Q/DQ nodes"
        )
    if problem is None:
        return requested
    if not allow_fallback:
        raise ConfigError(problem, key="precision", value=requested)
    log.warning("precision %s: %s; running fp32 as fallback is allowed", requested, problem)
    return "fp32"
