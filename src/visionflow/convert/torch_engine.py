"""Torch engines: an ONNX model converted, checked, cast and saved as a ``torch.export`` program.

Built by :func:`visionflow.convert.engine.build_engine` for the ``torch`` backend and cached with
the same :class:`~visionflow.convert.engine.EngineKey` as every engine (model hash, ``torch X cuda
Y`` runtime, GPU name and compute capability, precision, batch profile — a static batch), under
``model-engine-file`` semantics (``.pt2``). A cache hit loads the program in seconds and captures
its CUDA graph on the first batch; nothing is converted again.

Every build ends with parity checks, and fails rather than save an engine that fails them:

* the FP32 conversion against ONNX Runtime (CPU) on two random inputs spread over the batch:
  ``|torch − ort| ≤ 1e-4 · (1 + |ort|)`` for every output element;
* an FP16 / BF16 engine against the FP32 conversion on the same device and inputs:
  ``|low − fp32| ≤ tol · (1 + max |fp32|)`` per output, tol :data:`REDUCED_TOLERANCE` (FP16 1 %
  of the output's range, BF16 5 %). The inputs are smooth random images (noise drives
  reduced precision far harder than pictures do). ``scripts/gpu_check.py`` also checks that the
  FP16 engine finds the same objects as the FP32 host path on a test scene.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.errors import ParityError

if TYPE_CHECKING:
    from visionflow.convert.engine import EngineKey

log = logging.getLogger(__name__)

FP32_TOLERANCE = 1e-4
REDUCED_TOLERANCE = {"fp16": 1e-2, "bf16": 5e-2}


def torch_runtime() -> str:
    """``torch 2.11.0+cu130 cuda 13.0`` (the key's runtime field)."""
    import torch

    return f"torch {torch.__version__} cuda {torch.version.cuda or 'none'}"


def _parity_inputs(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A batch of ``shape`` made of two random images, alternating; and those two images."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    pair = rng.uniform(0, 1, (2, *shape[1:])).astype(np.float32)
    if len(shape) == 4:  # smooth images: random colours at 1/32 of the size, upscaled
        small = rng.uniform(0, 1, (2, shape[1], max(shape[2] // 32, 2), max(shape[3] // 32, 2)))
        pair = F.interpolate(
            torch.from_numpy(small.astype(np.float32)), size=shape[2:], mode="bilinear"
        ).numpy()
    return pair[np.arange(shape[0]) % 2], pair


def _compare(
    name: str,
    got: np.ndarray,
    want: np.ndarray,
    tolerance: float,
    what: str,
    model: Path,
    *,
    by_range: bool = False,
) -> float:
    diff = np.abs(got.astype(np.float64) - want)
    scale = 1 + (np.abs(want).max(initial=0) if by_range else np.abs(want))
    worst = float((diff / scale).max(initial=0))
    if not worst <= tolerance:
        raise ParityError(
            f"{model.name}: {what} output {name} differs by {float(diff.max()):.3g} "
            f"(relative {worst:.3g} > {tolerance:g}); the engine is not saved"
        )
    return float(diff.max(initial=0))


def build_torch_engine(source: Path, target: Path, key: EngineKey, device: str) -> dict[str, Any]:
    """Convert ``source`` for ``key`` (batch, precision) on ``device``, check it, save it at
    ``target`` with its tensor specs in ``<target>.io.json``; returns the parity figures."""
    import onnxruntime as ort
    import torch

    from visionflow.convert.onnx_torch import onnx_to_torch, set_precision
    from visionflow.infer.backends.torch import torch_device, write_io

    where = torch_device(device)
    batch = key.batch[2]
    module = onnx_to_torch(source, batch)
    shape = module.input_shapes[0]
    batch_input, pair = _parity_inputs(shape)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    fixed = session.get_inputs()[0].shape[0]
    feed_pair = batch_input if isinstance(fixed, int) else pair
    reference = session.run(None, {session.get_inputs()[0].name: feed_pair})
    rows = np.arange(shape[0]) if isinstance(fixed, int) else np.arange(shape[0]) % 2

    def run(m: Any) -> list[np.ndarray]:
        with torch.inference_mode():
            x = torch.from_numpy(batch_input).to(where)
            if where.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            return [o.float().cpu().numpy() for o in m(x)]

    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        module = module.to(where)
        if where.type == "cuda":
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        fp32 = run(module)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    figures: dict[str, Any] = {"fp32_vs_onnxruntime": {}}
    for name, got, want in zip(module.output_names, fp32, reference, strict=True):
        figures["fp32_vs_onnxruntime"][name] = _compare(
            name, got, want[rows], FP32_TOLERANCE, "FP32", source
        )
    if key.precision != "fp32":
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[key.precision]
        set_precision(module, dtype)
        low = run(module)
        figures[f"{key.precision}_vs_fp32"] = {
            name: _compare(
                name,
                got,
                want,
                REDUCED_TOLERANCE[key.precision],
                key.precision.upper(),
                source,
                by_range=True,
            )
            for name, got, want in zip(module.output_names, low, fp32, strict=True)
        }
    example = torch.from_numpy(batch_input).to(where)
    if where.type == "cuda":
        example = example.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        program = torch.export.export(module, (example,))
    torch.export.save(program, str(target))
    write_io(
        target,
        {
            "precision": key.precision,
            "device": str(where),
            "inputs": [
                {"name": n, "shape": list(s), "dtype": "float32"}
                for n, s in zip(module.input_names, module.input_shapes, strict=True)
            ],
            "outputs": [
                {"name": n, "shape": list(s), "dtype": str(d).removeprefix("torch.")}
                for n, s, d in zip(
                    module.output_names, module.output_shapes, module.output_dtypes, strict=True
                )
            ],
            "parity": figures,
        },
    )
    log.info("torch engine %s built: parity %s", target.name, figures)
    return figures
