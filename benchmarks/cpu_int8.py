"""cpu-int8 benchmark (shared/bench.md): FP32 against INT8 (and BF16), speed and mAP, on the CPU.

Two parts, because accuracy needs a trained detector and speed a realistic network:

1. **Accuracy** — the bundled shapes detector (YOLOv8 layout, width 0.125, 640x384, trained)
   through the inference element (its config's thresholds, YOLOv8 parser, NMS): INT8 calibrated
   (``--method``) on ``--calib`` generated scenes (640x360, seeds apart from its training
   scenes) through the model's own preprocessing; COCO mAP@0.5 and mAP@0.5:0.95 with
   pycocotools on ``--eval`` held-out scenes, FP32 against INT8 and, where the backend runs it
   natively, BF16 — per backend (ONNX Runtime; OpenVINO where installed).
2. **Speed** — a YOLOv8n architecture at 640x640, 80 classes, *randomly initialised* (speed does
   not depend on the weights; INT8 calibrated on generated scenes), each engine built as the
   inference element builds it (``visionflow.convert.engine``: INT8 is ONNX Runtime QDQ with the
   detection head in FP32; OpenVINO runs the same QDQ model with its integer kernels). All
   engines of all backends are timed in one process, in blocks of ``--block`` runs taking turns
   (A×5 B×5 C×5 … repeated ``--rounds`` times; threads spin as they do in a pipeline, and a
   block gives the previous session's spinning threads time to sleep), same input, same thread
   count; the figures are medians and their ratios, against each backend's FP32 and against
   ONNX Runtime's FP32.

The last line is one JSON object with the figures. Run (about 2-4 minutes on 2 cores):
``python benchmarks/cpu_int8.py [--calib 128 --eval 300 --batch 1,4 --threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.config.infer_loader import load_infer_config
from visionflow.convert.engine import ENGINE_SUFFIXES, model_preprocess, resolve_engine
from visionflow.convert.evaluate import compare_models
from visionflow.convert.precision import runnable_precisions
from visionflow.convert.quantize import Calibration, preprocessed_batches
from visionflow.infer.backends import load_backend
from visionflow.infer.backends.auto import openvino_installed
from visionflow.infer.config import InferConfig
from visionflow.zoo import bundled_config
from visionflow.zoo.scenes import Annotations, render_scene

CALIBRATION_SEED = 7_000_001
EVALUATION_SEED = 7_000_003
"""Seeds of the calibration and held-out scenes (the detector was trained on other seeds)."""


def scenes(seed: int, count: int) -> tuple[list[np.ndarray], list[Annotations]]:
    """``count`` generated 640x360 scenes and their ground truth."""
    rng = np.random.default_rng(seed)
    rendered = [render_scene(rng, 640, 360) for _ in range(count)]
    return [image for image, _ in rendered], [truth for _, truth in rendered]


def precisions(backend: str) -> list[str]:
    """FP32, INT8 and, where the backend runs it natively on this CPU, BF16."""
    return ["fp32", "int8", *(["bf16"] if "bf16" in runnable_precisions(backend, "cpu") else [])]


def configs(base: InferConfig, work: Path, backend: str, batch: int) -> dict[str, InferConfig]:
    """One config per precision at ``batch``, engines in ``work``, one calibration cache."""
    suffix = ENGINE_SUFFIXES[backend]
    return {
        precision: InferConfig.model_validate(
            {
                **base.model_dump(),
                "precision": precision,
                "batch_size": batch,
                "model_engine_file": work / f"{backend}_{precision}_b{batch}{suffix}",
                "int8_calib_file": work / "calib.json",
            }
        )
        for precision in precisions(backend)
    }


def accuracy(
    backend: str,
    work: Path,
    calib: list[np.ndarray],
    held_out: tuple[list, list],
    threads: int,
    method: str,
) -> dict[str, Any]:
    """mAP of the bundled detector at FP32 and each other precision, through the element."""
    base = load_infer_config(bundled_config("shapes_det"))
    by_precision = configs(base, work, backend, 4)
    fp32 = by_precision.pop("fp32")
    batches = preprocessed_batches(calib, model_preprocess(fp32))
    calibration = Calibration(batches, method=method)  # type: ignore[arg-type]
    resolve_engine(by_precision["int8"], backend, "cpu", calibration=calibration)
    images, truth = held_out
    out: dict[str, Any] = {}
    for precision, config in by_precision.items():
        report = compare_models(
            fp32, config, images, labels=truth, backend=backend, device="cpu", threads=threads
        )
        out[precision] = {
            "map50": {k: round(report.accuracy[k]["map50"], 4) for k in ("before", "after")},
            "map50_95": {k: round(report.accuracy[k]["map50_95"], 4) for k in ("before", "after")},
            "drop_points": {k: round(100 * v, 2) for k, v in report.accuracy_drop.items()},
            "max_abs_diff": report.parity.max_abs_diff,
        }
    return out


def speed(
    work: Path, backends: list[str], sizes: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    """Median latency of every engine of YOLOv8n-640 (random weights), timed in turns."""
    from visionflow.zoo.yolov8 import export_yolov8_onnx

    model = export_yolov8_onnx(work / "yolov8n.onnx", scale="n", num_classes=80, imgsz=640)
    base = InferConfig.model_validate(
        {
            "onnx_file": model,
            "parser": "yolov8",
            "num_detected_classes": 80,
            "net_scale_factor": 1 / 255,
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
        }
    )
    images, _ = scenes(CALIBRATION_SEED, args.speed_calib)
    results: dict[str, Any] = {}
    for size in sizes:
        runners: dict[str, Callable[[], object]] = {}
        for backend in backends:
            for precision, config in configs(base, work, backend, size).items():
                calibration = None
                if precision == "int8" and not (work / "calib.json").is_file():
                    batches = preprocessed_batches(images, model_preprocess(config))
                    calibration = Calibration(batches)
                engine = resolve_engine(config, backend, "cpu", calibration=calibration)
                runner = load_backend(engine, backend, device="cpu", threads=args.threads)
                spec = runner.inputs[0]
                shape = (size, *(d or 1 for d in spec.shape[1:]))
                x = np.random.default_rng(0).random(shape, np.float32)
                runners[f"{backend}/{precision}"] = lambda r=runner, n=spec.name, x=x: r.infer(
                    {n: x}
                )
        times: dict[str, list[float]] = {name: [] for name in runners}
        for run in runners.values():  # warm-up
            for _ in range(args.warmup):
                run()
        for _ in range(args.rounds):
            for name, run in runners.items():
                run()  # the first run of a block wakes the session's threads; not timed
                for _ in range(args.block):
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
        p50 = {name: 1000 * statistics.median(t) for name, t in times.items()}
        results[str(size)] = {
            "p50_ms": {k: round(v, 2) for k, v in p50.items()},
            "speedup_vs_own_fp32": {
                k: round(p50[k.split("/")[0] + "/fp32"] / v, 3) for k, v in p50.items()
            },
            "speedup_vs_onnxruntime_fp32": {
                k: round(p50["onnxruntime/fp32"] / v, 3) for k, v in p50.items()
            },
            "images_per_s": {k: round(1000 * size / v, 1) for k, v in p50.items()},
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=128, help="calibration scenes (accuracy)")
    parser.add_argument("--speed-calib", type=int, default=16, help="calibration scenes (speed)")
    parser.add_argument("--eval", type=int, default=300, help="held-out scenes")
    parser.add_argument("--batch", default="1,4", help="batch sizes timed")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=8, help="timed blocks per engine")
    parser.add_argument("--block", type=int, default=4, help="timed runs per block")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--method", default="minmax", choices=("minmax", "entropy", "percentile"))
    parser.add_argument(
        "--backends",
        default="onnxruntime,openvino" if openvino_installed() else "onnxruntime",
        help="backends compared (onnxruntime first)",
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch.split(",")]
    backends = args.backends.split(",")
    started = time.perf_counter()
    load = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="vf-int8-") as tmp:
        work = Path(tmp)
        os.environ["VISIONFLOW_CACHE"] = str(work / "cache")
        maps: dict[str, Any] = {}
        if not args.skip_accuracy:
            calib, _ = scenes(CALIBRATION_SEED, args.calib)
            held_out = scenes(EVALUATION_SEED, args.eval)
            for backend in backends:
                folder = work / "accuracy" / backend
                folder.mkdir(parents=True)
                maps[backend] = accuracy(
                    backend, folder, calib, held_out, args.threads, args.method
                )
        (work / "speed").mkdir()
        timing = speed(work / "speed", backends, sizes, args)

    print("accuracy: bundled shapes detector, held-out scenes, mAP (fp32 → other), drop in points")
    for backend, by_precision in maps.items():
        for precision, m in by_precision.items():
            print(
                f"  {backend:<12}{precision:<6} mAP50 {m['map50']['before']:.4f} → "
                f"{m['map50']['after']:.4f} ({m['drop_points']['map50']:+.2f})   mAP50-95 "
                f"{m['map50_95']['before']:.4f} → {m['map50_95']['after']:.4f} "
                f"({m['drop_points']['map50_95']:+.2f})"
            )
    print("speed: YOLOv8n 640 (random weights), median ms; speed-up vs own fp32 / vs ORT fp32")
    for size, t in timing.items():
        for name, ms in t["p50_ms"].items():
            print(
                f"  batch {size}  {name:<20}{ms:>9.1f} ms  {t['speedup_vs_own_fp32'][name]:>6.2f}x"
                f"  {t['speedup_vs_onnxruntime_fp32'][name]:>6.2f}x"
            )
    figures = {
        "workload": "cpu-int8",
        "accuracy_model": "bundled shapes_det (YOLOv8 layout, 640x384, trained)",
        "speed_model": "YOLOv8n architecture, 640x640, 80 classes, random weights",
        "backends": backends,
        "threads": args.threads,
        "timing": (
            f"all engines in one process, blocks of {args.block} runs in turns, "
            f"{args.rounds} rounds, {args.warmup} warm-up runs each, same random input"
        ),
        "speed": timing,
        "accuracy": maps,
        "calibration": f"{args.method}, {args.calib} scenes (accuracy), {args.speed_calib} (speed)",
        "eval_images": args.eval,
        "loadavg_at_start": [round(x, 2) for x in load],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
