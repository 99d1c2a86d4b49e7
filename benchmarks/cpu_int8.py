"""cpu-int8 benchmark (shared/bench.md): the bundled detector at FP32 against INT8, speed and mAP.

Workload: the bundled shapes detector (YOLOv8 layout, 320x320) on the CPU with ONNX Runtime (or
``--backend openvino``). One run:

1. calibrates INT8 (``--method``) on ``--calib`` generated scenes (640x360) through the
   model's own preprocessing (letterbox, RGB, /255) and builds both engines
   (``visionflow.convert.engine``; the detection head stays FP32);
2. times the two engines on the same input, interleaved run by run (FP32 INT8 FP32 INT8 …),
   after a warm-up, at each batch size, with the same thread count; the figure is the ratio of
   median latencies;
3. evaluates both through the same inference element (preprocessing, YOLOv8 parser, NMS) on
   ``--eval`` held-out generated scenes: COCO mAP@0.5 and mAP@0.5:0.95 with pycocotools, plus
   the largest difference of the raw output.

The last line is one JSON object with the figures. Run:
``python benchmarks/cpu_int8.py [--calib 128 --eval 300 --batch 1,4 --threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from visionflow.convert.cli import time_engines
from visionflow.convert.engine import ENGINE_SUFFIXES, model_preprocess, resolve_engine
from visionflow.convert.evaluate import compare_models
from visionflow.convert.quantize import Calibration, preprocessed_batches
from visionflow.infer.backends import load_backend
from visionflow.config.infer_loader import load_infer_config
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


def configs(work: Path, batch: int, suffix: str) -> tuple[InferConfig, InferConfig]:
    """FP32 and INT8 configs of the bundled detector at ``batch``, engines and cache in ``work``."""
    base = load_infer_config(bundled_config("shapes_det"))
    fp32 = InferConfig.model_validate(
        {
            **base.model_dump(),
            "batch_size": batch,
            "model_engine_file": work / f"fp32_b{batch}{suffix}",
        }
    )
    int8 = InferConfig.model_validate(
        {
            **fp32.model_dump(),
            "precision": "int8",
            "model_engine_file": work / f"int8_b{batch}{suffix}",
            "int8_calib_file": work / "shapes_det.calib.json",
        }
    )
    return fp32, int8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=128, help="calibration scenes")
    parser.add_argument("--eval", type=int, default=300, help="held-out scenes")
    parser.add_argument("--batch", default="1,4", help="batch sizes timed")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--iterations", type=int, default=60, help="timed runs per engine")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "openvino"))
    parser.add_argument("--method", default="minmax", choices=("minmax", "entropy", "percentile"))
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch.split(",")]
    suffix = ENGINE_SUFFIXES[args.backend]
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="vf-int8-") as tmp:
        work = Path(tmp)
        os.environ["VISIONFLOW_CACHE"] = str(work / "cache")
        images, _ = scenes(CALIBRATION_SEED, args.calib)
        fp32, int8 = configs(work, max(sizes), suffix)
        batches = preprocessed_batches(images, model_preprocess(fp32))
        calibration = Calibration(batches, method=args.method)
        t0 = time.perf_counter()
        resolve_engine(int8, args.backend, "cpu", calibration=calibration)
        build_s = time.perf_counter() - t0

        speed = {}
        for size in sizes:
            engines = {
                config.precision.value: load_backend(
                    resolve_engine(config, args.backend, "cpu"),
                    args.backend,
                    device="cpu",
                    threads=args.threads,
                    spinning=False,  # the sessions take turns: no spinning between runs
                )
                for config in configs(work, size, suffix)
            }
            timings = time_engines(engines, size, iterations=args.iterations, warmup=args.warmup)
            speed[size] = {t.precision: t for t in timings}

        eval_images, truth = scenes(EVALUATION_SEED, args.eval)
        report = compare_models(
            fp32,
            int8,
            eval_images,
            labels=truth,
            backend=args.backend,
            device="cpu",
            threads=args.threads,
        )

    print(report.render())
    header = ("batch", "fp32 p50 ms", "int8 p50 ms", "speed-up", "fp32 img/s", "int8 img/s")
    print("  ".join(f"{h:>11}" for h in header))
    for size, t in speed.items():
        ratio = t["fp32"].p50_ms / t["int8"].p50_ms
        print(
            f"{size:>11}  {t['fp32'].p50_ms:>11.2f}  {t['int8'].p50_ms:>11.2f}  {ratio:>10.2f}x  "
            f"{t['fp32'].images_per_s:>11.1f}  {t['int8'].images_per_s:>11.1f}"
        )
    accuracy = report.accuracy
    figures = {
        "workload": "cpu-int8",
        "model": "bundled shapes_det (YOLOv8 layout, 320x320, trained)",
        "backend": args.backend,
        "threads": args.threads,
        "timing": (
            f"interleaved fp32/int8, {args.warmup} warm-up + {args.iterations} timed runs each, "
            "same random input"
        ),
        "speedup_p50": {
            str(size): round(t["fp32"].p50_ms / t["int8"].p50_ms, 3) for size, t in speed.items()
        },
        "p50_ms": {
            str(size): {k: round(v.p50_ms, 3) for k, v in t.items()} for size, t in speed.items()
        },
        "map50": {
            "fp32": round(accuracy["before"]["map50"], 4),
            "int8": round(accuracy["after"]["map50"], 4),
        },
        "map50_95": {
            "fp32": round(accuracy["before"]["map50_95"], 4),
            "int8": round(accuracy["after"]["map50_95"], 4),
        },
        "map_drop_points": {k: round(100 * v, 2) for k, v in report.accuracy_drop.items()},
        "max_abs_diff": report.parity.max_abs_diff,
        "calibration": f"{args.method}, {args.calib} scenes",
        "eval_images": args.eval,
        "int8_build_s": round(build_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
