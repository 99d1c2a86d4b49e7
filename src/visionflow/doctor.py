"""``visionflow doctor``: what this installation can do, in a form made for bug reports."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
from typing import Any

_PACKAGES = (
    "numpy",
    "av",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "opencv-python-headless",
    "opencv-python",
    "pydantic",
    "torch",
    "tensorflow-cpu",
    "tensorflow",
    "tf2onnx",
    "onnxslim",
    "openvino",
    "pycocotools",
    "torch-pruning",
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _codecs() -> dict[str, list[str]]:
    import av

    wanted_dec = ("h264", "hevc", "vp9", "av1", "mjpeg", "mpeg4", "h264_cuvid", "hevc_cuvid")
    wanted_enc = ("libx264", "h264_nvenc", "libx265", "hevc_nvenc", "mpeg4", "mjpeg")
    found: dict[str, list[str]] = {"decoders": [], "encoders": []}
    for names, key in ((wanted_dec, "decoders"), (wanted_enc, "encoders")):
        for name in names:
            try:
                av.codec.Codec(name, "r" if key == "decoders" else "w")
            except Exception:  # PyAV raises several types for unknown codecs
                continue
            found[key].append(name)
    return found


def _gpus() -> list[str]:
    torch_gpus: list[str] = []
    if _version("torch"):
        try:
            import torch

            if torch.cuda.is_available():
                torch_gpus = [
                    torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
                ]
        except Exception as exc:  # report, never crash the doctor
            torch_gpus = [f"torch CUDA check failed: {exc}"]
    if not torch_gpus and shutil.which("nvidia-smi"):
        torch_gpus = ["nvidia-smi present (install visionflow[torch] to use the GPU)"]
    return torch_gpus


def collect() -> dict[str, Any]:
    """Everything ``doctor`` reports, as a JSON-friendly dict."""
    import onnxruntime as ort

    from visionflow import __version__
    from visionflow.infer.backends import BACKENDS
    from visionflow.infer.backends.openvino import available_devices

    return {
        "visionflow": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: v for name in _PACKAGES if (v := _version(name))},
        "backends": BACKENDS.names(),
        "onnxruntime_providers": ort.get_available_providers(),
        "openvino_devices": available_devices(),
        "gpus": _gpus(),
        "codecs": _codecs(),
    }


def render(info: dict[str, Any]) -> str:
    """A plain-text report (paste it into a bug report)."""
    lines = [f"visionflow {info['visionflow']}  python {info['python']}  {info['platform']}"]
    lines.append(f"cpus: {info['cpus']}")
    lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    lines.append("backends: " + ", ".join(info["backends"]))
    lines.append("onnxruntime providers: " + ", ".join(info["onnxruntime_providers"]))
    lines.append("openvino devices: " + (", ".join(info["openvino_devices"]) or "none"))
    lines.append("gpus: " + (", ".join(info["gpus"]) or "none"))
    lines.append("decoders: " + ", ".join(info["codecs"]["decoders"]))
    lines.append("encoders: " + ", ".join(info["codecs"]["encoders"]))
    return "\n".join(lines)
