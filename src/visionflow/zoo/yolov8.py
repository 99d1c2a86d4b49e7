"""Randomly initialised YOLOv8 networks, as PyTorch modules or ONNX files.

The architecture is Ultralytics YOLOv8 (Conv-BN-SiLU, C2f, SPPF, decoupled anchor-free head
with DFL, strides 8/16/32). In eval mode the network returns ``(N, 4 + nc, A)`` exactly like an
Ultralytics export: rows 0–3 are ``cx, cy, w, h`` in input pixels, the other rows sigmoid class
scores; ``A = (s/8)² + (s/16)² + (s/32)²`` for an ``s x s`` input (8400 at 640).

Benchmarks use these networks with random weights, which cost exactly what trained ones do.
torch is imported only when a function here is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from visionflow.errors import ConfigError, ConversionError, MissingDependencyError

if TYPE_CHECKING:
    from visionflow.zoo._yolov8_nn import YOLOv8


@dataclass(frozen=True)
class YOLOv8Scale:
    """Ultralytics' compound scaling ``[depth, width, max_channels]``."""

    depth: float
    width: float
    max_channels: int


SCALES: dict[str, YOLOv8Scale] = {
    "n": YOLOv8Scale(depth=0.33, width=0.25, max_channels=1024),
    "s": YOLOv8Scale(depth=0.33, width=0.50, max_channels=1024),
}
"""Named scales; ``n`` has 3.16 M parameters at 80 classes, ``s`` 11.17 M."""


def build_yolov8(scale: str | YOLOv8Scale = "n", num_classes: int = 80, seed: int = 0) -> YOLOv8:
    """A YOLOv8 network with seeded random weights and Ultralytics' bias prior, in eval mode.

    Args:
        scale: A key of :data:`SCALES` or a custom :class:`YOLOv8Scale`.
        num_classes: Number of classes ``nc``.
        seed: Seed of the weight initialisation.

    Raises:
        MissingDependencyError: torch is not installed.
        ConfigError: ``scale`` is not a known name.
    """
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError("torch", "torch", "Building a YOLOv8 network") from err
    from visionflow.zoo._yolov8_nn import YOLOv8

    if isinstance(scale, str):
        if scale not in SCALES:
            raise ConfigError(
                "unknown YOLOv8 scale", key="scale", value=scale, allowed=" or ".join(SCALES)
            )
        scale = SCALES[scale]
    if num_classes < 1:
        raise ConfigError(
            "num_classes must be at least 1", key="num_classes", value=str(num_classes)
        )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = YOLOv8(num_classes, scale.depth, scale.width, scale.max_channels)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.eval()


def export_yolov8_onnx(
    path: str | Path,
    scale: str | YOLOv8Scale = "n",
    num_classes: int = 80,
    imgsz: int = 640,
    dynamic_batch: bool = True,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised YOLOv8 (see :func:`build_yolov8`) as ONNX, opset 17.

    The graph has one input ``images`` ``(N, 3, imgsz, imgsz) float32`` and one output
    ``output0`` ``(N, 4 + num_classes, A) float32``; ``N`` is symbolic (``batch``) when
    ``dynamic_batch`` is true, else 1.

    Returns:
        The path written.
    """
    if imgsz % 32:
        raise ConfigError("imgsz must be a multiple of 32", key="imgsz", value=str(imgsz))
    model = build_yolov8(scale, num_classes, seed)
    return save_onnx(model, path, imgsz, dynamic_batch)


def save_onnx(model: YOLOv8, path: str | Path, imgsz: int, dynamic_batch: bool = True) -> Path:
    """Export ``model`` (put in eval mode) to ONNX opset 17.

    Input ``images`` ``(N, 3, imgsz, imgsz)``, output ``output0`` ``(N, 4 + nc, A)``; only ``N``
    is symbolic (``batch``), and only when ``dynamic_batch`` is true.

    Raises:
        ConversionError: torch cannot export the model.
    """
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    axes = {"images": {0: "batch"}, "output0": {0: "batch"}} if dynamic_batch else None
    try:
        torch.onnx.export(
            model.eval(),
            (dummy,),
            str(path),
            input_names=["images"],
            output_names=["output0"],
            opset_version=17,
            dynamic_axes=axes,
            dynamo=False,
        )
    except RuntimeError as err:
        raise ConversionError(f"cannot export YOLOv8 to ONNX: {err}") from err
    # the TorchScript exporter leaves the channel and anchor dimensions symbolic
    graph = onnx.load(str(path))
    dims = graph.graph.output[0].type.tensor_type.shape.dim
    dims[1].dim_value = 4 + model.detect.nc
    dims[2].dim_value = sum((imgsz // stride) ** 2 for stride in model.detect.strides)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return path
