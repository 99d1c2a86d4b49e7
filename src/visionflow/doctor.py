"""``visionflow doctor``: what this installation can do, in a form made for bug reports.

It lists what works, not what exists: a backend appears when its runtime imports and has a
device, a decoder when FFmpeg opens it, an encoder when it opens and encodes a frame. So an
uninstalled OpenVINO, or NVIDIA's codecs in an FFmpeg build on a machine with no GPU, appear
under ``unavailable`` with the reason, never as usable.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shutil
from fractions import Fraction
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
    "pynvvideocodec",
)

DECODERS = ("h264", "hevc", "vp9", "av1", "mjpeg", "mpeg4", "h264_cuvid", "hevc_cuvid")
"""Decoders checked: FFmpeg's software ones for the common codecs, and NVIDIA's (NVDEC)."""

ENCODERS = ("libx264", "h264_nvenc", "libx265", "hevc_nvenc", "mpeg4", "mjpeg")
"""Encoders checked: those the video sink uses, and NVIDIA's (NVENC)."""

_TEST_SIZE = (256, 144)  # above every hardware encoder's minimum


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def decoder_error(name: str) -> str | None:
    """None when FFmpeg opens the decoder ``name``, else why not."""
    import av

    try:
        context = av.CodecContext.create(name, "r")
        if context.type != "video":
            return f"not a video decoder ({context.type})"
        context.open()
    except Exception as exc:  # PyAV raises several types (unknown codec, no device…)
        return _error(exc)
    return None


def encoder_error(name: str) -> str | None:
    """None when the encoder ``name`` opens and encodes a frame, else why not."""
    import av
    import numpy as np

    try:
        context = av.CodecContext.create(name, "w")
        if context.type != "video":
            return f"not a video encoder ({context.type})"
        formats = [f.name for f in context.codec.video_formats or ()]
        pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else formats[0]
        context.width, context.height = _TEST_SIZE  # type: ignore[attr-defined]
        context.pix_fmt = pix_fmt  # type: ignore[attr-defined]
        context.time_base = Fraction(1, 25)
        context.framerate = Fraction(25)  # type: ignore[attr-defined]
        if name == "libx265":
            context.options = {"x265-params": "log-level=error"}
        context.open()
        black = np.zeros((_TEST_SIZE[1], _TEST_SIZE[0], 3), np.uint8)
        picture = av.VideoFrame.from_ndarray(black, format="rgb24").reformat(format=pix_fmt)
        picture.pts = 0
        packets = [*context.encode(picture), *context.encode(None)]  # type: ignore[attr-defined]
    except Exception as exc:  # PyAV raises several types (unknown codec, no device…)
        return _error(exc)
    return None if packets else "encoded no packet"


def _codecs() -> tuple[dict[str, list[str]], dict[str, str]]:
    found: dict[str, list[str]] = {"decoders": [], "encoders": []}
    unavailable: dict[str, str] = {}
    for names, key, check in (
        (DECODERS, "decoders", decoder_error),
        (ENCODERS, "encoders", encoder_error),
    ):
        for name in names:
            error = check(name)
            if error is None:
                found[key].append(name)
            else:
                unavailable[f"{key[:-1]} {name}"] = error
    return found, unavailable


def _backends() -> tuple[list[str], dict[str, list[str]], dict[str, str]]:
    """Usable backend names (aliases too), devices per usable backend, and why others are not."""
    from visionflow.infer.backends import BACKENDS, OnnxRuntimeBackend, OpenVINOBackend

    names_of: dict[type, list[str]] = {}
    for name in BACKENDS.names():
        names_of.setdefault(BACKENDS.get(name), []).append(name)
    usable: list[str] = []
    devices: dict[str, list[str]] = {}
    unavailable: dict[str, str] = {}
    for cls, names in names_of.items():
        main = max(names, key=len)
        found: list[str] | None = None
        reason = ""
        if cls is OnnxRuntimeBackend:
            import onnxruntime as ort

            found = list(ort.get_available_providers())
        elif cls is OpenVINOBackend:
            try:
                importlib.import_module("openvino")
            except ImportError:
                reason = "not installed: pip install 'visionflow[openvino]'"
            else:
                from visionflow.infer.backends.openvino import available_devices

                found = available_devices()
                reason = "no OpenVINO device"
        else:  # a third-party backend: listed as registered, not checked
            found = []
        if found is None or (not found and cls in (OnnxRuntimeBackend, OpenVINOBackend)):
            unavailable[f"backend {main}"] = reason
            continue
        usable += names
        devices[main] = found
    return sorted(usable), devices, unavailable


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


def _video_decode() -> dict[str, dict[str, str]]:
    """How a video file would be decoded with ``device: cpu`` and ``device: cuda`` (NVDEC,
    PyAV + upload, or why the GPU cannot run)."""
    from visionflow.media.select import describe

    try:
        return {"cpu": describe("cpu"), "cuda": describe("cuda")}
    except Exception as exc:  # report, never crash the doctor
        return {"cuda": {"decoder": "unavailable", "reason": _error(exc)}}


def collect() -> dict[str, Any]:
    """Everything ``doctor`` reports, as a JSON-friendly dict.

    ``backends``, ``openvino_devices`` and ``codecs`` list only what works here; ``unavailable``
    maps what was checked and does not work (``"backend openvino"``, ``"encoder h264_nvenc"``)
    to the reason.
    """
    import onnxruntime as ort

    from visionflow import __version__

    backends, devices, unavailable = _backends()
    codecs, codec_errors = _codecs()
    return {
        "visionflow": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: v for name in _PACKAGES if (v := _version(name))},
        "backends": backends,
        "onnxruntime_providers": ort.get_available_providers(),
        "openvino_devices": devices.get("openvino", []),
        "gpus": _gpus(),
        "video_decode": _video_decode(),
        "codecs": codecs,
        "unavailable": {**unavailable, **codec_errors},
    }


def render(info: dict[str, Any]) -> str:
    """A plain-text report (paste it into a bug report)."""
    lines = [f"visionflow {info['visionflow']}  python {info['python']}  {info['platform']}"]
    lines.append(f"cpus: {info['cpus']}")
    lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    lines.append("backends: " + ", ".join(info["backends"]))
    lines.append("onnxruntime providers: " + ", ".join(info["onnxruntime_providers"]))
    if "openvino" in info["backends"]:
        lines.append("openvino devices: " + ", ".join(info["openvino_devices"]))
    lines.append("gpus: " + (", ".join(info["gpus"]) or "none"))
    decode = info.get("video_decode", {})
    for device, choice in decode.items():
        lines.append(f"video decode, device {device}: {choice['decoder']} ({choice['reason']})")
    lines.append("decoders: " + (", ".join(info["codecs"]["decoders"]) or "none"))
    lines.append("encoders: " + (", ".join(info["codecs"]["encoders"]) or "none"))
    if info["unavailable"]:
        lines.append("unavailable:")
        lines += [f"  {what}: {why}" for what, why in info["unavailable"].items()]
    return "\n".join(lines)
