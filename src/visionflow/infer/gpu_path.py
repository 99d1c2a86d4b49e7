"""The device half of an inference element on CUDA: upload, run, parse and cluster on the GPU.

When an :class:`~visionflow.infer.element.Infer` element runs the torch backend on a CUDA
device, its network input goes to the GPU once (or is made there by GPU preprocessing), the
model runs there (CUDA graph, FP16 where configured), and the parser's device twin
(:mod:`visionflow.infer.gpu_parse`) and device clustering (:mod:`visionflow.infer.gpu_cluster`)
reduce the outputs there: only the final objects of the batch come to the host, in one copy. A
parser without a twin, a clustering the device does not run, or ``output-tensor-meta`` bring the
outputs (or the candidates) to the host and continue as on the CPU path, with the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from visionflow.infer.attach import DetectorAttach
from visionflow.infer.backends.base import Backend
from visionflow.infer.gpu_cluster import gpu_cluster, gpu_cluster_supported, to_host
from visionflow.infer.gpu_parse import gpu_parser, is_detector
from visionflow.infer.parsers.base import ParseContext

log = logging.getLogger(__name__)


class DevicePath:
    """Runs a batch of network inputs through a CUDA torch backend and its device parser.

    Args:
        backend: a :class:`~visionflow.infer.backends.torch.TorchBackend` on CUDA.
        parser: the element's host parser (its device twin is looked up), or None.
        attach: the element's detector attach step (clustering parameters and mode).
        context: the parse context.
        host_outputs: also return the raw outputs on the host (``output-tensor-meta``).
    """

    def __init__(
        self,
        backend: Backend,
        parser: Callable[..., Any] | None,
        attach: DetectorAttach,
        context: ParseContext,
        *,
        host_outputs: bool = False,
    ) -> None:
        self.backend = backend
        self.input_name = backend.inputs[0].name
        self.twin = None if parser is None else gpu_parser(parser)
        self.attach = attach
        self.context = context
        self.host_outputs = host_outputs or self.twin is None
        self.device_cluster = gpu_cluster_supported(
            attach.cluster_mode, attach.class_agnostic_nms, getattr(attach, "weighted_nms", False)
        )
        self.host_copies = 0
        """Copies of tensors to the host (final objects included)."""
        log.info(
            "GPU path: %s parser %s, clustering on the %s",
            "device" if self.twin is not None else "host",
            getattr(parser, "__name__", parser),
            "device" if self.device_cluster else "host",
        )

    @classmethod
    def for_backend(
        cls,
        backend: Backend,
        parser: Any,
        attach: DetectorAttach,
        context: ParseContext,
        *,
        host_outputs: bool = False,
    ) -> DevicePath | None:
        """A device path when ``backend`` is the torch backend on CUDA, else None."""
        if backend.name != "torch" or not backend.device.startswith("cuda"):
            return None
        return cls(backend, parser, attach, context, host_outputs=host_outputs)

    def run(self, tensor: Any, count: int) -> tuple[dict[str, np.ndarray] | None, list | None]:
        """Infer ``count`` items of ``tensor`` (host array or device tensor).

        Returns:
            The raw outputs on the host (None unless needed), and one parse result per item —
            for detectors already clustered — or None when the host parser must run.
        """
        import torch

        device = self.backend.torch_device  # type: ignore[attr-defined]
        if isinstance(tensor, np.ndarray):
            tensor = torch.from_numpy(tensor).to(device, non_blocking=True)
        outputs = self.backend.infer_device({self.input_name: tensor})  # type: ignore[attr-defined]
        host = None
        if self.host_outputs:
            host = {k: v.float().cpu().numpy() for k, v in outputs.items()}
            self.host_copies += len(outputs)
        if self.twin is None:
            return host, None
        if not is_detector(self.twin):
            self.host_copies += 1
            return host, list(self.twin(outputs, self.context))
        found = self.twin(outputs, self.context)
        self.host_copies += 1
        if self.device_cluster:
            parsed = gpu_cluster(found, self.attach.cluster_params, self.attach.cluster_mode, count)
        else:
            parsed = [self.attach.cluster(c) for c in to_host(found, count)]
        return host, parsed
