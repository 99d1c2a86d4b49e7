"""``enable-dla`` / ``use-dla-core``: offload a model to a secondary accelerator.

DeepStream runs a model on a Jetson DLA core — a low-power inference engine beside the GPU —
when ``enable-dla=1``. visionflow maps the request onto the nearest thing the backend offers:

====================  ==========================================  ===============================
backend               ``enable-dla`` with ``use-dla-core = N``     needs
====================  ==========================================  ===============================
``openvino``          the N-th NPU (``NPU``, or ``NPU.N`` when     an NPU listed by OpenVINO
                      several are listed)
``onnxruntime``       ``openvino:NPU``: OpenVINO execution         ``OpenVINOExecutionProvider``
                      provider on the NPU                          (onnxruntime-openvino)
``onnxruntime``       ``dml:N``: DirectML device N                 ``DmlExecutionProvider``
                                                                   (onnxruntime-directml)
anything else         no accelerator                               —
====================  ==========================================  ===============================

The first row that applies wins. When none does, :func:`offload_device` raises
:class:`~visionflow.errors.DeviceUnavailableError` — or, when fallback is allowed, warns naming
the accelerator asked for and the device that runs instead. Jetson DLA cores themselves are
TensorRT devices, which visionflow does not drive.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from visionflow.errors import DeviceUnavailableError
from visionflow.infer.config import InferConfig

log = logging.getLogger(__name__)

_HINT = (
    "DLA maps to an NPU (backend openvino, or onnxruntime with the OpenVINOExecutionProvider) "
    "or a DirectML device (onnxruntime with the DmlExecutionProvider)"
)


def offload_target(backend: str, core: int, offered: Sequence[str]) -> str | None:
    """The device ``enable-dla`` maps to, or None when the backend offers no accelerator.

    Args:
        backend: ``openvino`` or ``onnxruntime`` (aliases ``ov``, ``ort``).
        core: ``use-dla-core``.
        offered: OpenVINO's device names, or ONNX Runtime's execution providers.
    """
    if backend in ("openvino", "ov"):
        npus = sorted(d for d in offered if d.partition(".")[0] == "NPU")
        return npus[core] if core < len(npus) else None
    if backend in ("onnxruntime", "ort"):
        if "OpenVINOExecutionProvider" in offered and core == 0:
            return "openvino:NPU"
        if "DmlExecutionProvider" in offered:
            return f"dml:{core}"
    return None


def offered_devices(backend: str) -> list[str]:
    """What ``backend`` can run on here: OpenVINO devices, or ONNX Runtime providers."""
    if backend in ("openvino", "ov"):
        from visionflow.infer.backends.openvino import available_devices

        return available_devices()
    if backend in ("onnxruntime", "ort"):
        import onnxruntime as ort

        return list(ort.get_available_providers())
    return []


def offload_device(
    config: InferConfig, backend: str, device: str, *, allow_fallback: bool = False
) -> str:
    """The device to run on: ``device``, or its accelerator when ``config.enable_dla`` is set.

    Raises:
        DeviceUnavailableError: DLA was asked, the backend offers no accelerator here and
            fallback is not allowed.
    """
    if not config.enable_dla:
        return device
    core = config.use_dla_core
    offered = offered_devices(backend)
    target = offload_target(backend, core, offered)
    if target is not None:
        log.info("enable-dla (use-dla-core %d): %s runs on %s", core, backend, target)
        return target
    message = (
        f"enable-dla: no accelerator for use-dla-core {core} with backend {backend} "
        f"(it offers: {', '.join(offered) or 'nothing'}); {_HINT}"
    )
    if not allow_fallback:
        raise DeviceUnavailableError(message)
    log.warning("%s; running on %s instead, as fallback is allowed", message, device)
    return device
