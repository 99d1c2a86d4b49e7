"""Precisions: which a backend runs, static INT8 (QDQ) with a calibration cache, and FP16.

INT8 is ONNX Runtime's static quantisation in QDQ form: weights signed 8-bit per output channel,
activations unsigned 8-bit per tensor (the pairing ONNX Runtime's x86 kernels run fastest; on
CPUs without VNNI the weights use 7 bits, ``reduce_range``), ranges from calibration data. The
model's head stays in FP32: its last learned layers (which produce the logits) and the
post-processing after them (a YOLO head's box decoding, the concatenation of pixel boxes with
0–1 scores, which one 8-bit scale could not serve) — see :func:`head_nodes`.

Calibration runs the FP32 model on batches prepared by the model's *own* preprocessing
(:class:`~visionflow.infer.preprocess.PreprocessSpec`), and its result, the range of every
tensor, is kept in the ``int8-calib-file`` so that the next build skips calibration. The file is
JSON::

    {
      "format": "visionflow-int8-calibration",
      "version": 1,
      "model_sha256": "<sha256 of the FP32 ONNX file calibrated>",
      "method": "minmax" | "entropy" | "percentile",
      "samples": 128,                       # images seen
      "preprocess": {...} | null,           # the PreprocessSpec fields, null when unknown
      "ranges": {"<tensor name>": [min, max], ...}
    }

A cache is reused when its model hash matches and, when both are known, its preprocessing is the
one in use; otherwise the model is calibrated again (which needs calibration data).

FP16 is produced only for backends that run it well (:func:`runnable_precisions`); ``best`` picks
the fastest precision the backend runs on the device: INT8 when it can be built (a calibration
cache, calibration data or a model that carries Q/DQ nodes already), else FP16, else FP32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import io
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx

from visionflow.convert.model_file import file_sha256 as file_sha256
from visionflow.convert.model_file import has_qdq as has_qdq
from visionflow.convert.model_file import model_input as model_input
from visionflow.convert.precision import choose_precision as choose_precision
from visionflow.convert.precision import runnable_precisions as runnable_precisions
from visionflow.errors import ConfigError, ConversionError, SourceNotFoundError
from visionflow.infer.preprocess import PreprocessSpec, preprocess

log = logging.getLogger(__name__)

CalibrationMethod = Literal["minmax", "entropy", "percentile"]
CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile")
CACHE_FORMAT = "visionflow-int8-calibration"
CACHE_VERSION = 1

_CALIBRATION_WINDOW = 4
"""Batches run per ``collect_data`` call; ONNX Runtime keeps their activations until it reduces
them, so this bounds calibration memory."""
_HEAVY_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})


# ----------------------------------------------------------------------------- calibration data


@dataclass(frozen=True)
class Calibration:
    """Calibration data and how to turn it into tensor ranges.

    Attributes:
        batches: any iterable of input batches: arrays for the model's first input (e.g.
            ``(N, 3, H, W) float32``) or ``{input name: array}`` mappings. Iterated once.
        method: ``minmax`` (the observed range), ``entropy`` (KL-divergence threshold) or
            ``percentile`` (clip the histogram at ``percentile``).
        percentile: the percentile kept by the ``percentile`` method.
        preprocess: the preprocessing that produced the batches, recorded in the cache.
    """

    batches: Iterable[np.ndarray | Mapping[str, np.ndarray]] = field(repr=False)
    method: CalibrationMethod = "minmax"
    percentile: float = 99.999
    preprocess: PreprocessSpec | None = None

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ConfigError(
                "unknown calibration method",
                key="calibration method",
                value=self.method,
                allowed=", ".join(CALIBRATION_METHODS),
            )

    @classmethod
    def from_media(
        cls,
        source: str | os.PathLike[str],
        spec: PreprocessSpec,
        *,
        samples: int = 128,
        batch_size: int = 8,
        method: CalibrationMethod = "minmax",
    ) -> Calibration:
        """Calibration batches from a folder of images or a video, sampled evenly.

        Each image is prepared by ``spec`` exactly as inference prepares a whole frame.
        """
        images = sample_images(source, samples)
        return cls(preprocessed_batches(images, spec, batch_size), method, preprocess=spec)


def sample_images(source: str | os.PathLike[str], count: int) -> Iterator[np.ndarray]:
    """Up to ``count`` RGB ``(H, W, 3) uint8`` images spread evenly over a folder or a video.

    A folder (or glob) gives evenly spaced files in natural order; a video is decoded with PyAV
    and evenly spaced frames are kept.

    Raises:
        SourceNotFoundError: the path does not exist or holds no image.
    """
    from visionflow.media.images import IMAGE_SUFFIXES, ImageSource, has_glob, read_image
    from visionflow.media.video import VideoSource

    text = os.fspath(source)
    path = Path(text)
    if not has_glob(text) and not path.exists():
        raise SourceNotFoundError(f"calibration data not found: {path}")
    if has_glob(text) or path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        files = ImageSource(text).files()
        for i in _even(len(files), count):
            image = read_image(files[i])
            if image is not None:
                yield image
        return
    video = VideoSource(text)
    try:
        total = video.num_frames
        wanted = set(_even(total, count)) if total else None
        kept = 0
        for frame in video.frames():
            if wanted is None or frame.frame_num in wanted:
                yield frame.to_numpy()
                kept += 1
                if kept == count:
                    break
    finally:
        video.close()


def _even(total: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)`` (all of them if fewer)."""
    if total <= count:
        return list(range(total))
    return sorted({int(i) for i in np.linspace(0, total - 1, count).round()})


def preprocessed_batches(
    images: Iterable[np.ndarray], spec: PreprocessSpec, batch_size: int = 8
) -> Iterator[np.ndarray]:
    """Whole RGB frames → network input batches of up to ``batch_size``, as inference makes them."""
    chunk: list[np.ndarray] = []
    for image in images:
        chunk.append(image)
        if len(chunk) == batch_size:
            yield _prepare(chunk, spec)
            chunk = []
    if chunk:
        yield _prepare(chunk, spec)


def _prepare(images: Sequence[np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    rois = [(0, 0, image.shape[1], image.shape[0]) for image in images]
    return preprocess(images, rois, spec)[0]


def spec_fields(spec: PreprocessSpec | None) -> dict[str, Any] | None:
    """A JSON-ready, comparable description of a preprocessing spec (the mean image hashed)."""
    if spec is None:
        return None
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(spec):
        value = getattr(spec, item.name)
        if isinstance(value, np.ndarray):
            value = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        elif isinstance(value, enum.Enum):
            value = value.name
        elif isinstance(value, np.dtype):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        fields[item.name] = value
    return fields


# ----------------------------------------------------------------------------- calibration cache


@dataclass(frozen=True)
class CalibrationCache:
    """The tensor ranges of a calibrated model: the content of an ``int8-calib-file``.

    Attributes:
        model_sha256: hash of the FP32 ONNX file that was calibrated.
        method: the calibration method.
        samples: the number of images (batch rows) seen.
        ranges: per tensor name, ``(min, max)`` of the values to represent.
        preprocess: :func:`spec_fields` of the preprocessing used, None when unknown.
    """

    model_sha256: str
    method: str
    samples: int
    ranges: Mapping[str, tuple[float, float]] = field(repr=False)
    preprocess: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "model_sha256": self.model_sha256,
            "method": self.method,
            "samples": self.samples,
            "preprocess": self.preprocess,
            "ranges": {name: [lo, hi] for name, (lo, hi) in sorted(self.ranges.items())},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the cache as JSON (atomically)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_dict(), indent=1)
        _atomic_write(path, text.encode())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CalibrationCache:
        """Read an ``int8-calib-file``.

        Raises:
            ConversionError: the file is not a visionflow calibration cache (e.g. a TensorRT
                calibration table) or is of a newer version.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = None
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            raise ConversionError(
                f"{path}: not a visionflow INT8 calibration cache (a TensorRT calibration table "
                "cannot be reused); calibrate again with --calib"
            )
        if data.get("version") != CACHE_VERSION:
            raise ConversionError(
                f"{path}: calibration cache version {data.get('version')} is not supported "
                f"(this visionflow reads version {CACHE_VERSION})"
            )
        return cls(
            model_sha256=data["model_sha256"],
            method=data["method"],
            samples=int(data["samples"]),
            ranges={name: (float(lo), float(hi)) for name, (lo, hi) in data["ranges"].items()},
            preprocess=data.get("preprocess"),
        )

    @property
    def sha256(self) -> str:
        """A hash of the ranges and their provenance (what an engine built from them depends on)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def stale_reason(self, model_sha256: str, preprocess: Mapping[str, Any] | None) -> str | None:
        """Why this cache does not fit the model and preprocessing; None when it does."""
        if self.model_sha256 != model_sha256:
            return "it was computed for another model"
        if preprocess is not None and self.preprocess is not None and self.preprocess != preprocess:
            changed = sorted(k for k in preprocess if preprocess[k] != self.preprocess.get(k))
            return f"the preprocessing changed ({', '.join(changed)})"
        return None


def calibrate(model: str | os.PathLike[str], calibration: Calibration) -> CalibrationCache:
    """Run the FP32 model over the calibration batches and compute the range of every tensor.

    Raises:
        ConversionError: no batch was given, or ONNX Runtime failed.
    """
    from onnxruntime.quantization import CalibrationMethod as OrtMethod
    from onnxruntime.quantization import create_calibrator

    path = Path(model)
    methods = {
        "minmax": (OrtMethod.MinMax, {}),
        "entropy": (OrtMethod.Entropy, {}),
        "percentile": (OrtMethod.Percentile, {"percentile": calibration.percentile}),
    }
    method, options = methods[calibration.method]
    with tempfile.TemporaryDirectory(prefix="visionflow-calib-") as tmp:
        graph = basic_optimized(path, Path(tmp, "model.onnx"))
        reader = _Reader(calibration.batches, _graph_inputs(_load(graph))[0])
        if reader.exhausted:
            raise ConversionError("calibration needs at least one input batch, got none")
        try:
            calibrator = create_calibrator(
                graph,
                _quantizable_op_types(),
                augmented_model_path=os.path.join(tmp, "augmented.onnx"),
                calibrate_method=method,
                providers=["CPUExecutionProvider"],
                extra_options=options,
            )
            with contextlib.redirect_stdout(io.StringIO()):  # histogram methods print progress
                while not reader.exhausted:  # a few batches per call: activations are kept
                    reader.window = _CALIBRATION_WINDOW  # until reduced, and they add up
                    calibrator.collect_data(reader)
                data = calibrator.compute_data()
        except Exception as exc:  # ONNX Runtime raises its own exception types
            raise ConversionError(f"calibration of {path} failed: {exc}") from exc
    ranges = {
        name: (float(np.min(td.range_value[0])), float(np.max(td.range_value[1])))
        for name, td in data.items()
    }
    log.info(
        "calibrated %s: %d tensors from %d samples (%s)",
        path.name,
        len(ranges),
        reader.samples,
        calibration.method,
    )
    return CalibrationCache(
        model_sha256=file_sha256(path),
        method=calibration.method,
        samples=reader.samples,
        ranges=ranges,
        preprocess=spec_fields(calibration.preprocess),
    )


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over an iterable of batches.

    It hands out at most ``window`` batches before it answers None (the end of one
    ``collect_data`` call); ``exhausted`` tells whether any batch is left.
    """

    def __init__(
        self, batches: Iterable[np.ndarray | Mapping[str, np.ndarray]], input_name: str
    ) -> None:
        self._batches = iter(batches)
        self._next = next(self._batches, None)
        self._input = input_name
        self.window = 0
        self.samples = 0

    @property
    def exhausted(self) -> bool:
        return self._next is None

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = self._next
        if batch is None or self.window <= 0:
            return None
        self._next = next(self._batches, None)
        self.window -= 1
        feeds = (
            {k: np.asarray(v) for k, v in batch.items()}
            if isinstance(batch, Mapping)
            else {self._input: np.asarray(batch)}
        )
        self.samples += len(next(iter(feeds.values())))
        return feeds


def calibration_ranges(
    model: str | os.PathLike[str],
    *,
    calib_file: str | os.PathLike[str] | None = None,
    calibration: Calibration | None = None,
    preprocess: PreprocessSpec | None = None,
) -> CalibrationCache:
    """The tensor ranges for INT8: from ``calib_file`` when it fits the model, else calibrated.

    A freshly computed cache is written to ``calib_file`` (when given), so the next build reads
    it instead of calibrating. ``preprocess`` is the preprocessing in use; a cache made with
    another one is stale. A cache made with another calibration method is recomputed when
    calibration data is given, and used as it is otherwise.

    Raises:
        ConfigError: the cache is missing or stale and no calibration data was given.
    """
    model_sha = file_sha256(model)
    wanted = spec_fields(preprocess or (calibration.preprocess if calibration else None))
    reason = "no int8-calib-file was given"
    if calib_file is not None:
        reason = f"int8-calib-file {calib_file} does not exist"
        if Path(calib_file).is_file():
            cache = CalibrationCache.load(calib_file)
            stale = cache.stale_reason(model_sha, wanted)
            if stale is None and (calibration is None or calibration.method == cache.method):
                log.info(
                    "INT8 ranges from %s (%s, %d samples); calibration skipped",
                    calib_file,
                    cache.method,
                    cache.samples,
                )
                return cache
            reason = f"int8-calib-file {calib_file} is stale: " + (
                stale or f"it holds {cache.method} ranges, {calibration.method} was asked"  # type: ignore[union-attr]
            )
    if calibration is None:
        raise ConfigError(
            f"INT8 needs calibration data: {reason}; calibrate with "
            "visionflow convert MODEL --precision int8 --calib DIR_OR_VIDEO",
            key="int8-calib-file",
        )
    log.info("calibrating %s: %s", Path(model).name, reason)
    cache = calibrate(model, calibration)
    if calib_file is not None:
        cache.save(calib_file)
        log.info("wrote the INT8 calibration cache %s", calib_file)
    return cache


# ----------------------------------------------------------------------------- quantisation


def quantize_int8(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    ranges: CalibrationCache,
    *,
    per_channel: bool = True,
    reduce_range: bool | None = None,
    keep_fp32: Literal["head", "tail", "none"] = "head",
    exclude: Sequence[str] = (),
) -> Path:
    """Quantise an FP32 ONNX model to INT8 QDQ with the given tensor ranges.

    Args:
        model: the FP32 ONNX file (the one ``ranges`` were computed for).
        output: the QDQ ONNX file to write.
        ranges: the calibration result.
        per_channel: one weight scale per output channel (better accuracy, same speed).
        reduce_range: 7-bit weights; None picks it for x86 CPUs without VNNI.
        keep_fp32: what stays in FP32: the ``head`` (:func:`head_nodes`: the last learned
            layers and the post-processing after them), only the ``tail``
            (:func:`tail_nodes`: the post-processing) or ``none``.
        exclude: further node names to keep in FP32.

    Raises:
        ConversionError: the ranges belong to another model, or quantisation failed.
    """
    from onnxruntime.quantization import CalibrationMethod as OrtMethod
    from onnxruntime.quantization import QDQQuantizer, QuantType, TensorData, TensorsData

    path, output = Path(model), Path(output)
    if ranges.model_sha256 != file_sha256(path):
        raise ConversionError(f"the calibration ranges were computed for another model than {path}")
    with tempfile.TemporaryDirectory(prefix="visionflow-int8-") as tmp:
        graph = basic_optimized(path, Path(tmp, "model.onnx"))
        proto = _named(onnx.shape_inference.infer_shapes(_load(graph)))
    if max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0) < 13:
        raise ConversionError(f"{path}: INT8 QDQ needs ONNX opset 13 or newer; re-export the model")
    kept = {"head": head_nodes, "tail": tail_nodes, "none": lambda _: []}[keep_fp32](proto)
    excluded = [*kept, *exclude]
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    tensors = TensorsData(
        OrtMethod.MinMax,
        {
            name: TensorData(lowest=np.float32(lo), highest=np.float32(hi))
            for name, (lo, hi) in ranges.ranges.items()
        },
    )
    try:
        with _quiet_onnxruntime():
            quantizer = QDQQuantizer(
                model=proto,
                per_channel=per_channel,
                reduce_range=reduce_range,
                weight_qType=QuantType.QInt8,
                activation_qType=QuantType.QUInt8,
                tensors_range=tensors,
                nodes_to_quantize=[],
                nodes_to_exclude=excluded,
                op_types_to_quantize=_quantizable_op_types(),
                extra_options={},
            )
            quantizer.quantize_model()
        output.parent.mkdir(parents=True, exist_ok=True)
        quantizer.model.save_model_to_file(str(output))
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ConversionError(f"INT8 quantisation of {path} failed: {exc}") from exc
    log.info(
        "quantised %s to INT8 QDQ (per-channel %s, reduce-range %s, %d nodes kept in FP32)",
        path.name,
        per_channel,
        reduce_range,
        len(excluded),
    )
    return output


def tail_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes after the last learned layer on every path onward.

    A learned layer is a convolution or matrix product, except one that reads a Softmax: that
    is an expectation over bins (the DFL box decoding of YOLOv8 and later), part of the
    decoding. What follows the last learned layers is a network's post-processing (box
    decoding, activations on the final logits, concatenation of unlike quantities): quantising
    it costs accuracy and saves no time.
    """
    nodes = model.graph.node
    producer = {out: node for node in nodes for out in node.output}
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)

    def learned(node: onnx.NodeProto) -> bool:
        source = producer.get(node.input[0]) if node.input else None
        return node.op_type in _HEAVY_OPS and (source is None or source.op_type != "Softmax")

    learned_after = [False] * len(nodes)
    for index in reversed(range(len(nodes))):  # nodes are topologically sorted
        node = nodes[index]
        learned_after[index] = learned(node) or any(
            learned_after[c] for out in node.output for c in consumers.get(out, ())
        )
    return [n.name for n, after in zip(nodes, learned_after, strict=True) if not after]


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """:func:`tail_nodes` plus the last learned layers: those whose outputs feed only the tail.

    These small layers (a detector's final 1x1 convolutions, a classifier's last Gemm) produce
    the logits the post-processing decodes; 8-bit outputs there cost box precision and save
    little time.
    """
    tail = set(tail_nodes(model))
    consumers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)
    return [
        node.name
        for node in model.graph.node
        if node.name in tail
        or (
            node.op_type in _HEAVY_OPS
            and all(c in tail for out in node.output for c in consumers.get(out, ()))
        )
    ]


def cpu_has_vnni() -> bool:
    """Whether the CPU has 8-bit dot products (AVX-VNNI / AVX512-VNNI); True off x86 Linux."""
    try:
        with open("/proc/cpuinfo") as stream:
            info = stream.read()
    except OSError:
        return True
    if "flags" not in info:
        return True
    return "avx512_vnni" in info or "avx_vnni" in info


def convert_fp16(model: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Convert an FP32 ONNX model to FP16 weights and arithmetic, keeping FP32 inputs/outputs.

    Uses ONNX Runtime's float16 converter; operators without an FP16 kernel stay in FP32.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    path, output = Path(model), Path(output)
    try:
        converted = convert_float_to_float16(_load(path), keep_io_types=True)
    except Exception as exc:  # the converter raises plain exceptions
        raise ConversionError(f"FP16 conversion of {path} failed: {exc}") from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(converted, str(output))
    log.info("converted %s to FP16 (inputs and outputs stay FP32)", path.name)
    return output


# ----------------------------------------------------------------------------- helpers


def basic_optimized(model: Path, output: Path) -> Path:
    """Write ``model`` after ONNX Runtime's hardware-independent graph optimisations.

    Constant folding, Identity removal and Conv+BatchNorm fusion leave every convolution with
    constant weights and bias, which is what quantisation needs; the result is deterministic, so
    the tensor names of a calibration cache stay valid for later builds.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = os.fspath(output)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(os.fspath(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ConversionError(f"ONNX Runtime cannot load {model}: {exc}") from exc
    return output


class _DropOnnxRuntimeChatter(logging.Filter):
    """Drops the INFO records ONNX Runtime's quantiser writes on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "onnxruntime" not in record.pathname


@contextlib.contextmanager
def _quiet_onnxruntime() -> Iterator[None]:
    root = logging.getLogger()
    chatter = _DropOnnxRuntimeChatter()
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)


def _load(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise ConversionError(f"{path}: ONNX file not found") from None
    except Exception as exc:  # protobuf decode errors
        raise ConversionError(f"{path}: not a readable ONNX model ({exc})") from exc


def _graph_inputs(model: onnx.ModelProto) -> list[str]:
    initializers = {init.name for init in model.graph.initializer}
    return [value.name for value in model.graph.input if value.name not in initializers]


def _named(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every unnamed node a unique name (exclusion lists refer to nodes by name)."""
    taken = {node.name for node in model.graph.node if node.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
    return model


def _quantizable_op_types() -> list[str]:
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, with the mode a
    new file gets (0666 less the umask; ``mkstemp`` alone would leave 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
