"""``visionflow convert`` and ``visionflow bench``: build a verified engine; time a model alone.

``convert`` recognises the model's format, imports it into ONNX (checked for parity against the
source), builds the engine for a backend, precision and batch size — calibrating INT8 on images
or a video through the model's own preprocessing — and verifies it against the FP32 model:
parity of every output, and accuracy before/after on labelled data when given.

``bench`` measures a model alone, like ``trtexec``: latency percentiles and throughput per batch
size and precision, with the precisions timed in turns (A B A B …) so they share the machine's
state.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from visionflow.convert.evaluate import ComparisonReport
    from visionflow.convert.spec import ImportResult
    from visionflow.infer.backends import Backend
    from visionflow.infer.config import InferConfig

log = logging.getLogger(__name__)

EXIT_INVALID = 2


def convert(
    model: Annotated[
        Path, typer.Argument(help="Model: ONNX, TorchScript, SavedModel, Keras, TFLite, Caffe…")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Engine to write (.onnx for onnxruntime, .blob for openvino)."
        ),
    ],
    precision: Annotated[str, typer.Option(help="fp32, fp16, int8 or best.")] = "fp32",
    backend: Annotated[str, typer.Option(help="onnxruntime or openvino.")] = "onnxruntime",
    device: Annotated[str, typer.Option(help="cpu, cuda:N, GPU, NPU …")] = "cpu",
    batch: Annotated[int | None, typer.Option(help="Batch size (default: the config's).")] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(help="Input shape, e.g. 1x3x224x224 (-1: dynamic, checked at 224)."),
    ] = None,
    source_format: Annotated[
        str | None, typer.Option("--from", help="Source format when the file does not tell.")
    ] = None,
    proto: Annotated[Path | None, typer.Option(help="Caffe prototxt.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Inference config (its preprocessing, parser, labels)."
        ),
    ] = None,
    calib: Annotated[
        Path | None, typer.Option(help="INT8 calibration images: a folder or a video.")
    ] = None,
    calib_file: Annotated[
        Path | None, typer.Option(help="INT8 calibration cache (int8-calib-file).")
    ] = None,
    calib_samples: Annotated[
        int, typer.Option(help="Images taken from --calib, spread evenly.")
    ] = 128,
    calib_method: Annotated[str, typer.Option(help="minmax, entropy or percentile.")] = "minmax",
    eval_data: Annotated[
        Path | None, typer.Option(help="Labelled data: COCO JSON or class folders.")
    ] = None,
    max_drop: Annotated[
        float, typer.Option(help="INT8 with --eval-data: most accuracy points it may lose.")
    ] = 1.0,
    min_agreement: Annotated[
        float,
        typer.Option(help="INT8 with --calib only: least agreement with fp32 (0-1)."),
    ] = 0.9,
    report: Annotated[Path | None, typer.Option(help="Write the conversion report (JSON).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Import a model to ONNX, build an engine (fp32/fp16/int8) and verify it."""
    _logging(verbose)
    from visionflow.errors import ConfigError, VisionflowError

    try:
        result = _convert(
            _Request(
                model, output, precision, backend, device, batch, input_shape, source_format,
                proto, config, calib, calib_file, calib_samples, calib_method, eval_data,
                max_drop, min_agreement,
            )
        )  # fmt: skip
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    except VisionflowError as exc:
        _fail(str(exc))
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2))
    typer.echo(f"engine: {result['engine']} ({result['precision']}, {result['backend']})")


@dataclass(frozen=True)
class _Request:
    """What ``visionflow convert`` was asked to do: its options as given."""

    model: Path
    output: Path
    precision: str
    backend: str
    device: str
    batch: int | None
    input_shape: str | None
    source_format: str | None
    proto: Path | None
    config_file: Path | None
    calib: Path | None
    calib_file: Path | None
    calib_samples: int
    calib_method: str
    eval_data: Path | None
    max_drop: float = 1.0
    min_agreement: float = 0.9


def _convert(req: _Request) -> dict[str, Any]:
    from visionflow.convert.engine import ENGINE_SUFFIXES
    from visionflow.errors import ConfigError
    from visionflow.infer.backends import BACKENDS

    backend = BACKENDS.get(req.backend).name
    req = replace(req, backend=backend)
    output, model = req.output, req.model
    suffix = ENGINE_SUFFIXES.get(backend)
    if suffix is None or output.suffix != suffix:
        raise ConfigError(
            f"the {backend} engine is a {suffix or 'format visionflow does not build'} file",
            key="--output",
            value=str(output),
        )
    if (req.calib is not None or req.eval_data is not None) and req.config_file is None:
        raise ConfigError(
            "calibration and evaluation images go through the model's preprocessing: give it "
            "with --config (a visionflow inference YAML or a DeepStream nvinfer file)",
            key="--config",
        )
    if output.resolve() == model.resolve():
        raise ConfigError(
            "the engine would overwrite the model; name another file",
            key="--output",
            value=str(output),
        )
    with tempfile.TemporaryDirectory(prefix="visionflow-convert-") as scratch:
        return _build_and_verify(req, Path(scratch))


def _build_and_verify(req: _Request, scratch: Path) -> dict[str, Any]:
    from visionflow.config.infer_loader import load_infer_config
    from visionflow.convert.engine import model_preprocess, resolve_engine
    from visionflow.convert.importers import import_model
    from visionflow.convert.quantize import Calibration
    from visionflow.errors import ParityError
    from visionflow.infer.config import InferConfig

    model, output, config_file, calib = req.model, req.output, req.config_file, req.calib
    shape = _shape(req.input_shape) if req.input_shape else None
    imported = import_model(
        model,
        fmt=req.source_format,
        input_shape=shape,
        proto=req.proto,
        output=_imported_path(model, output, scratch),
    )
    if shape is not None:
        # dimensions given as -1 stay dynamic in the model; the engine check samples them at
        # PROBE_DIM, as the import's own check does
        imported = replace(imported, spec=imported.spec.probed([tuple(shape)]))
    # an ONNX model is checked, then built as it is: the engine key and the INT8 calibration
    # cache then name the file that configs and `bench` use, not a by-product beside it
    source = model if imported.source_format == "onnx" else imported.onnx_path
    base = load_infer_config(config_file) if config_file is not None else InferConfig()
    update: dict[str, Any] = {
        "onnx_file": source,
        "model_engine_file": output,
        "precision": req.precision,
        "int8_calib_file": req.calib_file
        or base.int8_calib_file
        or output.with_suffix(".calib.json"),
        "batch_size": req.batch or base.batch_size,
    }
    if imported.input_layout == "NHWC":
        update["network_input_order"] = "nhwc"
    cfg = InferConfig.model_validate({**base.model_dump(), **update})
    spec = model_preprocess(cfg) if config_file is not None else None
    calibration = None
    if calib is not None and spec is not None:
        calibration = Calibration.from_media(
            calib,
            spec,
            samples=req.calib_samples,
            batch_size=8,
            method=req.calib_method,  # type: ignore[arg-type]
        )
    calib_path = cfg.int8_calib_file
    kept_calibration = calib_path is not None and calib_path.is_file()
    engine = resolve_engine(cfg, req.backend, req.device, calibration=calibration, preprocess=spec)
    try:
        return _verify(req, cfg, engine, imported, source, scratch)
    except ParityError:
        # an engine that failed its check must not be found and used by the next run
        for path in (engine, engine.with_name(engine.name + ".json")):
            path.unlink(missing_ok=True)
        if calib_path is not None and not kept_calibration:
            calib_path.unlink(missing_ok=True)
        raise


def _verify(
    req: _Request,
    cfg: InferConfig,
    engine: Path,
    imported: ImportResult,
    source: Path,
    scratch: Path,
) -> dict[str, Any]:
    """Check the built engine against the FP32 model; the conversion report.

    Raises:
        ParityError: an FP32/FP16 engine differs beyond its tolerance, or an INT8 engine lost
            more accuracy (labelled data) or agrees less with FP32 (images) than allowed.
    """
    from visionflow.convert.engine import read_key
    from visionflow.convert.evaluate import compare_models, load_eval_data
    from visionflow.convert.parity import check_parity, sample_inputs
    from visionflow.convert.quantize import sample_images
    from visionflow.convert.spec import DEFAULT_TOLERANCES
    from visionflow.infer.backends import load_backend
    from visionflow.infer.config import Precision

    backend, device, calib, eval_data = req.backend, req.device, req.calib, req.eval_data
    key = read_key(engine)
    built = key.precision
    result: dict[str, Any] = {
        "model": str(req.model),
        "format": imported.source_format,
        "onnx": str(source) if source.exists() and scratch not in source.parents else None,
        "import_parity": imported.parity.to_dict() if imported.parity else None,
        "import_parity_note": None,
        "engine": str(engine),
        "backend": backend,
        "precision": built,
        "key": key.to_dict(),
    }
    # An import not compared with its own framework (Caffe without pycaffe) is not verified:
    # the engine's check below is against the imported ONNX, never against the source model.
    unchecked = imported.parity is None and imported.source_format != "onnx"
    if unchecked:
        framework = _FRAMEWORKS.get(imported.source_format, imported.source_format)
        note = (
            f"parity against {framework} not checked (no {framework} runtime installed): the "
            f"import is unverified; the engine is compared with the imported ONNX only"
        )
        result["import_parity_note"] = note
        typer.echo(note)
    converted = cfg.model_copy(update={"precision": Precision(built)})
    if eval_data is not None or calib is not None:
        if eval_data is not None:
            images, labels = load_eval_data(eval_data, cfg.class_labels)
        else:
            images, labels = list(sample_images(calib, 16)), None  # type: ignore[arg-type]
        comparison = compare_models(
            cfg, converted, images, labels=labels, backend=backend, device=device
        )
        typer.echo(comparison.render())
        result["verification"] = comparison.to_dict()
        if built == "int8":
            _judge_int8(comparison, req.max_drop, req.min_agreement)
    else:
        candidate = load_backend(engine, backend, device=device)
        samples = sample_inputs(source, imported.spec, batch_sizes=(1, cfg.batch_size))
        parity = check_parity(
            source,
            candidate.infer,
            samples,
            DEFAULT_TOLERANCES[built],
            raise_on_failure=built != "int8",
        )
        if built == "int8":
            typer.echo(
                f"int8: raw outputs differ from fp32 by up to {parity.max_abs_diff:.3g} on random "
                "inputs; not judged (INT8 moves raw outputs, accuracy decides): give --calib "
                "or --eval-data images to check agreement or accuracy"
            )
        elif unchecked:
            verdict = "within" if parity.passed else "outside"
            typer.echo(
                f"engine vs imported ONNX: {verdict} {built} tolerance on {parity.samples} "
                f"sample(s), max abs diff {parity.max_abs_diff:.3g} (not a check against "
                f"{framework})"
            )
        else:
            typer.echo(str(parity))
        result["verification"] = {"precision": built, "parity": parity.to_dict()}
    return result


_FRAMEWORKS = {"caffe": "Caffe"}
"""Display names of source formats whose importer may run without the framework's runtime."""


def _judge_int8(comparison: ComparisonReport, max_drop: float, min_agreement: float) -> None:
    """Raise :class:`ParityError` when the INT8 engine lost more than the allowed accuracy
    (labelled data) or agrees with FP32 less than required (unlabelled images)."""
    from visionflow.errors import ParityError

    for metric, drop in comparison.accuracy_drop.items():
        if drop * 100 > max_drop:
            raise ParityError(
                f"INT8 verification failed: {metric} fell by {drop * 100:.2f} points "
                f"({comparison.accuracy['before'][metric]:.4f} → "
                f"{comparison.accuracy['after'][metric]:.4f}), more than --max-drop {max_drop:g}; "
                "calibrate on more representative images (--calib) or use fp32"
            )
    agreement = comparison.agreement
    if agreement is not None and agreement < min_agreement:
        raise ParityError(
            f"INT8 verification failed: the engine agrees with fp32 on {agreement:.1%} of results "
            f"over {comparison.images} images, below --min-agreement {min_agreement:g}; "
            "calibrate on more representative images (--calib) or use fp32"
        )


def _imported_path(model: Path, output: Path, scratch: Path) -> Path:
    """Where the imported FP32 ONNX goes.

    A model of another framework becomes ``<stem>.onnx`` beside the engine, the FP32 model the
    engine was built from. An ONNX model's checked copy, or an import whose name is the
    engine's own, is only a by-product: it goes to ``scratch``, removed after the conversion.
    """
    candidate = output.parent / f"{model.stem}.onnx"
    if model.suffix.lower() == ".onnx" or candidate.resolve() == output.resolve():
        return scratch / f"{model.stem}.onnx"
    return candidate


def _shape(text: str) -> list[int | None]:
    try:
        return [None if d in ("-1", "?") else int(d) for d in text.lower().split("x")]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a shape like 1x3x224x224") from None


# ----------------------------------------------------------------------------- bench


@dataclass(frozen=True)
class Timing:
    """Latency of one engine at one batch size.

    Attributes:
        precision: the engine's precision.
        batch: images per run.
        runs: timed runs.
        p50_ms, p95_ms, p99_ms, mean_ms: latency of a run, in milliseconds.
        images_per_s: ``batch * runs / total time``.
    """

    precision: str
    batch: int
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    images_per_s: float


def time_engines(
    engines: Mapping[str, Backend],
    batch: int,
    *,
    iterations: int = 50,
    warmup: int = 10,
    seed: int = 0,
) -> list[Timing]:
    """Time engines (named by precision) at one batch size, taking turns run by run (A B A B …).

    Every engine gets the same input, uniform random in [0, 1) (an image after normalisation),
    ``warmup`` untimed runs, then ``iterations`` timed runs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {
        name: {
            t.name: rng.random((batch, *(d or 1 for d in t.shape[1:]))).astype(t.dtype)
            for t in engine.inputs
        }
        for name, engine in engines.items()
    }
    for name, engine in engines.items():
        for _ in range(warmup):
            engine.run(feeds[name])
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(iterations):
        for name, engine in engines.items():
            start = time.perf_counter()
            engine.run(feeds[name])
            seconds[name].append(time.perf_counter() - start)
    results = []
    for name, values in seconds.items():
        ms = np.array(values) * 1e3
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        results.append(
            Timing(
                precision=name,
                batch=batch,
                runs=len(ms),
                p50_ms=float(p50),
                p95_ms=float(p95),
                p99_ms=float(p99),
                mean_ms=float(ms.mean()),
                images_per_s=float(batch * len(ms) / (ms.sum() / 1e3)),
            )
        )
    return results


def bench(
    model: Annotated[
        Path, typer.Argument(help="ONNX model (engines are built and cached), or an engine file.")
    ],
    backend: Annotated[str, typer.Option(help="onnxruntime or openvino.")] = "onnxruntime",
    device: Annotated[str, typer.Option(help="cpu, cuda:N, GPU, NPU …")] = "cpu",
    precision: Annotated[
        str, typer.Option(help="Comma-separated precisions, e.g. fp32,int8.")
    ] = "fp32",
    batch: Annotated[str, typer.Option(help="Comma-separated batch sizes, e.g. 1,4,8.")] = "1",
    iterations: Annotated[int, typer.Option(help="Timed runs per engine and batch size.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed runs first.")] = 10,
    threads: Annotated[int, typer.Option(help="Inference threads (0: the runtime's default).")] = 0,
    calib_file: Annotated[
        Path | None, typer.Option(help="INT8 calibration cache, for int8.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Time a model alone (like trtexec): latency p50/p95/p99 and throughput.

    Engines are built (or taken from the cache) per precision and batch size; the precisions
    are timed in turns at each batch size.
    """
    _logging(verbose)
    from visionflow.errors import ConfigError, VisionflowError

    precisions = [p.strip() for p in precision.split(",") if p.strip()]
    try:
        sizes = [int(b) for b in batch.split(",")]
    except ValueError:
        _fail(f"--batch {batch!r}: expected comma-separated integers", EXIT_INVALID)
    timings: list[Timing] = []
    devices = set()
    try:
        for size in sizes:
            engines = _bench_engines(model, backend, device, precisions, size, threads, calib_file)
            devices |= {engine.device for engine in engines.values()}
            timings += time_engines(engines, size, iterations=iterations, warmup=warmup)
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    except VisionflowError as exc:
        _fail(str(exc))
    summary = {
        "model": str(model),
        "backend": backend,
        "device": ", ".join(sorted(devices)),
        "threads": threads,
        "iterations": iterations,
        "warmup": warmup,
        "input": "uniform random [0, 1)",
        "results": [asdict(t) for t in timings],
    }
    if json_output:
        typer.echo(json.dumps(summary))
        return
    typer.echo(_timing_table(summary, timings))


def _bench_engines(
    model: Path,
    backend: str,
    device: str,
    precisions: Sequence[str],
    batch: int,
    threads: int,
    calib_file: Path | None,
) -> dict[str, Backend]:
    """One loaded engine per precision for ``batch``; an engine file is run as it is."""
    from visionflow.convert.engine import resolve_engine
    from visionflow.infer.backends import load_backend
    from visionflow.infer.config import InferConfig

    if model.suffix != ".onnx":
        return {precisions[0]: load_backend(model, backend, device=device, threads=threads)}
    engines = {}
    for precision in precisions:
        config = InferConfig.model_validate(
            {
                "onnx_file": model,
                "precision": precision,
                "batch_size": batch,
                "int8_calib_file": calib_file,
            }
        )
        engine = resolve_engine(config, backend, device)
        # precisions are timed in turns: idle threads of one session must not spin on the cores
        options = {"spinning": False} if backend == "onnxruntime" and len(precisions) > 1 else {}
        engines[precision] = load_backend(
            engine, backend, device=device, threads=threads, **options
        )
    return engines


def _timing_table(summary: Mapping[str, Any], timings: Sequence[Timing]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    console = Console(file=io.StringIO(), width=110, color_system=None)
    table = Table(
        title=f"{summary['model']} on {summary['backend']} {summary['device']}, "
        f"threads {summary['threads'] or 'default'}, {summary['iterations']} runs each"
    )
    for column in ("precision", "batch", "p50 ms", "p95 ms", "p99 ms", "mean ms", "images/s"):
        table.add_column(column, justify="right")
    for t in timings:
        table.add_row(
            t.precision,
            str(t.batch),
            f"{t.p50_ms:.2f}",
            f"{t.p95_ms:.2f}",
            f"{t.p99_ms:.2f}",
            f"{t.mean_ms:.2f}",
            f"{t.images_per_s:.1f}",
        )
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
