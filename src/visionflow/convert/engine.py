"""Engines: a model optimised for one backend, precision, batch profile and device, cached on disk.

An engine is what a backend loads fastest: for ONNX Runtime the graph-optimised ONNX model
(``optimized_model_filepath``; for INT8 the optimised QDQ model, for FP16 the FP16 model), for
OpenVINO a compiled blob. Every engine has a sidecar ``<engine>.json`` holding its
:class:`EngineKey`: the SHA-256 of the source model, backend and runtime version, precision,
batch profile, input shape, device (with the CPU's or GPU's name) and, for INT8, the hash of the
calibration cache. An engine is used only when its key equals the one wanted; otherwise it is
rebuilt and the log says why (missing, model changed, precision changed, runtime version
changed, …). A mismatched engine is never used.

Where the engine lives follows DeepStream's ``model-engine-file``:

* ``model-engine-file`` names a file of the backend's engine type (``.onnx`` for ONNX Runtime,
  ``.blob`` for OpenVINO) → that file, built there when missing or stale;
* it names another type (a TensorRT ``.engine``) → DeepStream's auto name next to the model,
  ``<model file>_b<batch>_<cpu|gpuN|dlaN|npu>_<fp32|int8|fp16>.<ext>``;
* no ``model-engine-file`` → the cache folder, ``$VISIONFLOW_CACHE`` or
  ``~/.cache/visionflow/engines``, under the auto name plus a hash of the model's path.

A folder that cannot be written sends the engine to the cache folder, with a log line.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visionflow.convert.model_file import file_sha256, has_qdq, model_input
from visionflow.convert.precision import choose_precision
from visionflow.errors import ConfigError, ModelNotFoundError
from visionflow.infer.backends import BACKENDS
from visionflow.infer.config import InferConfig, Precision, TensorOrder
from visionflow.infer.network_input import preprocess_spec
from visionflow.infer.preprocess import PreprocessSpec

if TYPE_CHECKING:
    from visionflow.convert.quantize import Calibration, CalibrationCache

log = logging.getLogger(__name__)

ENGINE_SUFFIXES = {"onnxruntime": ".onnx", "openvino": ".blob", "torch": ".pt2"}
"""The engine file type of each backend."""
BUILDER_VERSION = 1
"""Bumped whenever a builder changes what it writes, so older engines are rebuilt."""
_ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_int8",
)


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; two engines are interchangeable iff their keys are equal.

    Attributes:
        model_sha256: hash of the source ONNX model.
        backend: registered backend name.
        runtime: runtime and version, e.g. ``onnxruntime 1.20.1``.
        precision: ``fp32``, ``fp16`` or ``int8`` (``best`` resolved).
        batch: batch profile ``(min, opt, max)``.
        input_shape: the engine's input shape; None for a dynamic dimension.
        device: the device with its hardware, e.g. ``cpu Intel Xeon … [avx2 avx512f]``.
        calibration_sha256: INT8: hash of the calibration cache the ranges came from.
        builder: :data:`BUILDER_VERSION`.
    """

    model_sha256: str
    backend: str
    runtime: str
    precision: str
    batch: tuple[int, int, int]
    input_shape: tuple[int | None, ...]
    device: str
    calibration_sha256: str | None = None
    builder: int = BUILDER_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineKey:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["batch"] = tuple(values["batch"])
        values["input_shape"] = tuple(values["input_shape"])
        return cls(**values)

    def changes_from(self, built: EngineKey) -> list[str]:
        """Why an engine built for ``built`` does not serve this key (empty when it does).

        The calibration hash is compared only when this key knows it (an INT8 engine stays valid
        when its calibration cache has been deleted).
        """
        labels = {
            "model_sha256": "model changed",
            "backend": "backend changed",
            "runtime": "runtime version changed",
            "precision": "precision changed",
            "batch": "batch profile changed",
            "input_shape": "input shape changed",
            "device": "device changed",
            "calibration_sha256": "calibration cache changed",
            "builder": "engine builder changed",
        }
        reasons = []
        for name, label in labels.items():
            want, have = getattr(self, name), getattr(built, name)
            if name == "calibration_sha256" and want is None:
                continue
            if want != have:
                if name in ("model_sha256", "calibration_sha256"):
                    reasons.append(f"{label} (sha256 {str(have)[:12]} → {str(want)[:12]})")
                else:
                    reasons.append(f"{label} ({_show(have)} → {_show(want)})")
        return reasons


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join("?" if v is None else str(v) for v in value)
    return str(value)


# ----------------------------------------------------------------------------- resolution


def resolve_engine(
    config: InferConfig,
    backend: str,
    device: str,
    *,
    calibration: Calibration | None = None,
    preprocess: PreprocessSpec | None = None,
    allow_fallback: bool = False,
) -> Path:
    """The engine to load for ``config`` on ``backend``/``device``: reused if valid, else built.

    Args:
        config: the inference config (model, precision, batch size, engine and calibration
            files, input dimensions).
        backend: a registered backend name (``onnxruntime``, ``openvino``…).
        device: the device the engine runs on (after any ``enable-dla`` mapping).
        calibration: calibration data, for an INT8 build without a valid ``int8-calib-file``.
        preprocess: the model's preprocessing, to detect a calibration cache made with another.
        allow_fallback: build FP32, with a warning, when the precision cannot be built.

    Raises:
        ConfigError: no ONNX model in the config, a precision the backend does not run, or
            INT8 without calibration.
        ModelNotFoundError: the ONNX model does not exist.
    """
    backend = BACKENDS.get(backend).name
    if backend not in ENGINE_SUFFIXES:
        raise ConfigError(
            f"backend {backend} has no engine builder",
            key="backend",
            value=backend,
            allowed=", ".join(ENGINE_SUFFIXES),
        )
    source = source_model(config)
    if allow_fallback:
        device = _usable_device(backend, device)
    calib_file = config.int8_calib_file
    if calib_file is not None and not calib_file.is_file():
        calib_file = None
    qdq = has_qdq(source)
    requested = Precision(config.precision).value
    if qdq and requested != "int8":
        log.info("%s carries Q/DQ nodes: it runs as INT8, not %s", source.name, requested)
        requested = "int8"
    int8_ready = calib_file is not None or calibration is not None or qdq
    if requested == "int8" and not int8_ready:  # an INT8 engine built before needs no ranges
        int8_ready = _usable_engine(config, source, backend, device, "int8")
    precision = choose_precision(
        requested, backend, device, int8_ready=int8_ready, allow_fallback=allow_fallback
    )
    key = engine_key(source, backend, device, precision, config)
    if precision == "int8" and calib_file is not None and not qdq:
        from visionflow.convert.quantize import CalibrationCache  # quantising: heavy imports

        key = dataclasses.replace(key, calibration_sha256=CalibrationCache.load(calib_file).sha256)
    path = engine_path(config, source, backend, device, precision)
    reasons = _stale(path, key)
    if not reasons:
        log.info("engine %s is up to date (%s, %s, %s)", path, backend, precision, device)
        return path
    if not _writable(path.parent):
        fallback = _cache_path(source, backend, device, precision, config)
        log.info("cannot write %s; the engine goes to %s", path.parent, fallback)
        path = fallback
        reasons = _stale(path, key)
        if not reasons:
            return path
    log.info("building %s engine %s: %s", backend, path, "; ".join(reasons))
    ranges = build_engine(
        source, path, key, device, config, calibration=calibration, preprocess=preprocess
    )
    if ranges is not None:
        key = dataclasses.replace(key, calibration_sha256=ranges.sha256)
    _sidecar(path).write_text(json.dumps(key.to_dict(), indent=1))
    return path


def _usable_engine(
    config: InferConfig, source: Path, backend: str, device: str, precision: str
) -> bool:
    """Whether the engine of ``precision`` that ``config`` names is built and up to date."""
    path = engine_path(config, source, backend, device, precision)
    return not _stale(path, engine_key(source, backend, device, precision, config))


def _usable_device(backend: str, device: str) -> str:
    """``device``, or the CPU when the runtime cannot use it (fallback allowed: the backend
    will warn and run on the CPU, so the engine is built for the CPU)."""
    if backend == "openvino":
        from visionflow.infer.backends.openvino import available_devices, ov_device

        name = ov_device(device)
        families = {d.partition(".")[0] for d in available_devices()}
        virtual = name.partition(":")[0] in ("AUTO", "MULTI", "HETERO")
        usable = virtual or name.partition(".")[0] in families
        return device if usable else "CPU"
    if backend == "torch":
        from visionflow.infer.backends.torch import torch_device

        return device if torch_device(device, allow_fallback=True).type != "cpu" else "cpu"
    import onnxruntime as ort

    from visionflow.infer.backends.onnxruntime import provider_for

    provider, _ = provider_for(device)
    return device if provider in ort.get_available_providers() else "cpu"


def source_model(config: InferConfig) -> Path:
    """The ONNX model engines are built from.

    ``onnx-file``; else an ONNX ``model-engine-file``; else a model of another framework named by
    ``model-file`` (with ``proto-file`` for Caffe; any format :func:`detect_format` recognises:
    TorchScript, SavedModel, Keras, frozen graph, TFLite), converted to ONNX on first use and
    cached (see :func:`imported_model`).

    Raises:
        ConfigError: the config names no model that can become ONNX.
        ModelNotFoundError: the model file does not exist.
        ConversionError: the model cannot be converted (UFF, encrypted TAO, TensorRT engines).
    """
    source = config.onnx_file
    engine = config.model_engine_file
    if source is None and engine is not None and engine.suffix == ".onnx":
        source = engine
    if source is None and config.model_file is not None:
        return imported_model(config.model_file, config.proto_file, config.infer_dims)
    if source is None:
        formats = {
            "proto_file": "Caffe (proto-file without model-file)",
            "uff_file": "UFF (uff-file)",
            "tlt_encoded_model": "encrypted TAO (tlt-encoded-model)",
            "model_engine_file": "a TensorRT engine (model-engine-file)",
        }
        named = [label for key, label in formats.items() if getattr(config, key) is not None]
        hint = f"; the config names {', '.join(named)}" if named else ""
        raise ConfigError(
            f"no model to run: set onnx-file, or model-file (+ proto-file for Caffe){hint}",
            key="onnx-file",
        )
    if not source.is_file():
        raise ModelNotFoundError(f"model file not found: {source}")
    return source


def model_preprocess(config: InferConfig) -> PreprocessSpec:
    """The preprocessing inference applies to ``config``'s model: the model's own input with the
    config's keys (what INT8 calibration must feed it)."""
    spec = model_input(source_model(config))
    return preprocess_spec(config, spec.shape, spec.dtype)


def imported_model(
    model: Path, proto: Path | None = None, infer_dims: tuple[int, ...] | None = None
) -> Path:
    """``model`` (Caffe with ``proto``, or any importable format) as ONNX, converted once.

    The ONNX file is cached under :func:`cache_dir` by the SHA-256 of the model (and prototxt),
    so the conversion — with its parity check against the source framework — runs on first use
    only. ``infer_dims`` (c, h, w) fills the input shape of models that carry none.
    """
    from visionflow.convert.importers import detect_format, import_model

    if not model.exists():
        raise ModelNotFoundError(f"model file not found: {model}")
    fmt = "caffe" if proto is not None else detect_format(model)
    if fmt == "onnx":
        return model
    digest = hashlib.sha256()
    for part in (model, proto):
        files = [] if part is None else sorted(part.rglob("*")) if part.is_dir() else [part]
        for file in (f for f in files if f.is_file()):
            digest.update(file_sha256(file).encode())
    target = cache_dir() / "imported" / f"{digest.hexdigest()[:16]}-{model.name}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    shape = None if infer_dims is None else (None, *infer_dims)
    log.info("converting %s model %s to ONNX (first use): %s", fmt, model, target)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp, target.name)
        import_model(model, fmt=fmt, proto=proto, input_shape=shape, output=partial)
        os.replace(partial, target)
    return target


def engine_key(
    source: Path, backend: str, device: str, precision: str, config: InferConfig
) -> EngineKey:
    """The key of the engine ``config`` asks for (without the calibration hash)."""
    shape = _input_shape(source, config)
    batch = config.batch_size
    if shape[0] is not None:
        profile = (shape[0],) * 3
    elif backend in ("openvino", "torch"):  # a static batch: the backend pads to it
        profile = (batch,) * 3
        shape = (batch, *shape[1:])
    else:
        profile = (1, batch, batch)
    return EngineKey(
        model_sha256=file_sha256(source),
        backend=backend,
        runtime=runtime_version(backend),
        precision=precision,
        batch=(int(profile[0]), int(profile[1]), int(profile[2])),
        input_shape=shape,
        device=device_identity(backend, device),
    )


def engine_path(
    config: InferConfig, source: Path, backend: str, device: str, precision: str
) -> Path:
    """Where the engine lives (see the module docstring)."""
    suffix = ENGINE_SUFFIXES[backend]
    named = config.model_engine_file
    if named is None or named.resolve() == source.resolve():
        return _cache_path(source, backend, device, precision, config)
    if named.suffix == suffix:
        return named
    auto = source.parent / auto_name(source, config, device, precision, suffix)
    log.info(
        "model-engine-file %s is not a %s engine (%s); using %s", named, backend, suffix, auto.name
    )
    return auto


def auto_name(source: Path, config: InferConfig, device: str, precision: str, suffix: str) -> str:
    """DeepStream's engine name: ``<model file>_b<batch>_<device tag>_<precision><suffix>``."""
    return f"{source.name}_b{config.batch_size}_{device_tag(config, device)}_{precision}{suffix}"


def device_tag(config: InferConfig, device: str) -> str:
    """``cpu``, ``gpuN``, ``dlaN`` (an ``enable-dla`` offload), ``npu``… for engine names."""
    kind, _, index = device.removeprefix("openvino:").lower().replace(".", ":").partition(":")
    if kind == "cpu":
        return "cpu"
    if config.enable_dla and kind in ("npu", "dml"):
        return f"dla{config.use_dla_core}"
    if kind in ("cuda", "gpu"):
        return f"gpu{index or config.gpu_id}"
    return kind + index


def cache_dir() -> Path:
    """``$VISIONFLOW_CACHE`` or ``~/.cache/visionflow/engines``."""
    root = os.environ.get("VISIONFLOW_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "visionflow" / "engines"


def _cache_path(
    source: Path, backend: str, device: str, precision: str, config: InferConfig
) -> Path:
    where = hashlib.sha256(os.fsencode(source.resolve())).hexdigest()[:8]
    name = auto_name(source, config, device, precision, ENGINE_SUFFIXES[backend])
    return cache_dir() / f"{where}-{name}"


def _sidecar(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def read_key(engine: Path) -> EngineKey:
    """The key an engine was built for, from its sidecar ``<engine>.json``.

    Raises:
        FileNotFoundError: there is no sidecar (the file was not built by visionflow).
        ValueError: the sidecar is not a readable key.
    """
    try:
        return EngineKey.from_dict(json.loads(_sidecar(engine).read_text()))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{_sidecar(engine)} is not an engine key: {exc}") from exc


def _stale(path: Path, key: EngineKey) -> list[str]:
    """Why the engine at ``path`` cannot be used for ``key``; empty when it can."""
    if not path.is_file():
        return ["missing"]
    sidecar = _sidecar(path)
    if not sidecar.is_file():
        return [f"no key file {sidecar.name} (not built by visionflow)"]
    try:
        built = read_key(path)
    except ValueError as exc:
        return [f"unreadable key file {sidecar.name} ({exc})"]
    return key.changes_from(built)


def _writable(folder: Path) -> bool:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return existing is not None and os.access(existing, os.W_OK)


# ----------------------------------------------------------------------------- building


def build_engine(
    source: Path,
    target: Path,
    key: EngineKey,
    device: str,
    config: InferConfig,
    *,
    calibration: Calibration | None = None,
    preprocess: PreprocessSpec | None = None,
) -> CalibrationCache | None:
    """Build the engine for ``key`` from ``source`` and write it atomically at ``target``.

    Returns:
        The calibration ranges an INT8 build used (None otherwise).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _sidecar(target).unlink(missing_ok=True)  # never leave a key beside a half-replaced engine
    ranges = None
    with tempfile.TemporaryDirectory(prefix="visionflow-engine-") as tmp:
        model = source
        # onnx and ONNX Runtime's quantisation tools load only when quantising (slow to import)
        if key.precision == "int8" and not has_qdq(source):
            from visionflow.convert.quantize import calibration_ranges, quantize_int8

            ranges = calibration_ranges(
                source,
                calib_file=config.int8_calib_file,
                calibration=calibration,
                preprocess=preprocess,
            )
            model = quantize_int8(source, Path(tmp, "int8.onnx"), ranges)
        elif key.precision == "fp16" and key.backend == "onnxruntime":
            from visionflow.convert.quantize import convert_fp16

            model = convert_fp16(source, Path(tmp, "fp16.onnx"))
        partial = Path(tmp, "engine" + target.suffix)
        if key.backend == "torch":  # converted, checked and cast from the ONNX model itself
            from visionflow.convert.torch_engine import build_torch_engine

            build_torch_engine(source, partial, key, device)
            io = partial.with_name(partial.name + ".io.json")
            shutil.move(io, target.with_name(target.name + ".io.json"))
        elif key.backend == "onnxruntime":
            from visionflow.infer.backends.onnxruntime import OnnxRuntimeBackend

            OnnxRuntimeBackend(model, device, optimized_model=partial)
        else:
            from visionflow.infer.backends.openvino import OpenVINOBackend

            backend = OpenVINOBackend(model, device, precision=key.precision, batch=key.batch[2])
            backend.export(partial)
        shutil.move(partial, target)
    return ranges


# ----------------------------------------------------------------------------- identities


def runtime_version(backend: str) -> str:
    """``onnxruntime 1.20.1`` / ``openvino 2024.4.0-…``."""
    if backend == "torch":
        from visionflow.convert.torch_engine import torch_runtime

        return torch_runtime()
    if backend == "openvino":
        from visionflow.infer.backends.openvino import runtime_version as openvino_version

        return openvino_version()
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__}"


def device_identity(backend: str, device: str) -> str:
    """The device with the hardware behind it, as an engine key records it."""
    if backend == "openvino":
        from visionflow.infer.backends.openvino import device_name, ov_device

        return f"openvino:{ov_device(device)} {device_name(device)}"
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return f"cpu {_cpu_identity()}"
    if kind == "cuda":
        return f"cuda:{index or 0} {_gpu_name(int(index or 0))}"
    return device


@functools.cache
def _cpu_identity() -> str:
    """CPU model and the vector extensions that change ONNX Runtime's kernels."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                name, _, value = line.partition(":")
                fields.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    isa = [f for f in _ISA_FLAGS if f in fields.get("flags", "").split()]
    return f"{model} [{' '.join(isa)}]" if isa else model


@functools.cache
def _gpu_name(index: int) -> str:
    """The GPU's name and compute capability from ``nvidia-smi``, or ``unknown GPU``."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown GPU"
    try:
        out = subprocess.run(
            [smi, f"--id={index}", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown GPU"
    name, _, capability = out.partition(",")
    return f"{name.strip()} sm{capability.strip()}" if capability else name.strip()


def _input_shape(source: Path, config: InferConfig) -> tuple[int | None, ...]:
    """The first input's shape, dynamic spatial dimensions filled from ``infer-dims``."""
    dims = list(model_input(source).shape)
    if config.infer_dims is not None and len(dims) == 4:
        c, h, w = config.infer_dims
        nhwc = TensorOrder(config.network_input_order) is TensorOrder.NHWC
        given = (h, w, c) if nhwc else (c, h, w)
        dims[1:] = [d if d is not None else g for d, g in zip(dims[1:], given, strict=True)]
    return tuple(dims)
