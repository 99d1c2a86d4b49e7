"""cpu-pipeline benchmark (shared/bench.md): pipeline efficiency and speed-up over a naive loop.

Workload: S streams of one generated 1280x720 H.264 clip → streammux (batch S) → detector
(ONNX Runtime, FP32, CPU — or ``--backend``/``--precision``, e.g. ``auto`` for visionflow's
default path) → tracker (``--tracker``, default ``nvdcf`` with NVIDIA's NvDCF_perf settings;
``none`` leaves it out) → metadata, no drawing. Four measurements of the same model, clip,
input size, batch and thread count, interleaved A B C D A B C D … in one process:

* ``e2e``   — the visionflow pipeline: decode threads, batching, preprocessing, inference,
              parsing and NMS, the tracker, with a JSON Lines metadata sink;
* ``e2e_no_tracker`` — the same pipeline without the tracker (what the tracker costs);
* ``model`` — the model alone on preprocessed batches of the same size (the ceiling);
* ``naive`` — a naive per-frame loop: decode a frame, preprocess it, infer batch 1, parse, track
              (one tracker per stream, as the pipeline has), next.

Figures: e2e fps ÷ model fps (pipeline efficiency) and e2e fps ÷ naive fps, as medians over
repetitions. Steady state: e2e time runs from the first batch out to the last, so model loading
and decoder start-up are excluded; the model is warmed up before it is timed. The detector is a
YOLOv8n architecture (640x640, 80 classes) with random weights (speed does not depend on the
weights; building it needs PyTorch), or with ``--model shapes`` the bundled 640x384 detector.

Run: ``python benchmarks/cpu_pipeline.py [--model yolov8n|shapes --streams 4 --frames 24]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from visionflow.convert.engine import resolve_engine
from visionflow.core.element import Element
from visionflow.core.meta import Detections
from visionflow.core.pipeline import Pipeline
from visionflow.infer.backends import load_backend
from visionflow.infer.backends.auto import resolve_backend
from visionflow.infer.config import InferConfig, Precision
from visionflow.infer.element import Infer
from visionflow.media import VideoSource
from visionflow.mux import StreamMux
from visionflow.sinks import JsonLinesSink
from visionflow.track import ALGORITHMS, Tracker, preset
from visionflow.zoo import bundled_config
from visionflow.zoo.scenes import write_clip


def detector(workdir: Path, model: str, batch: int) -> tuple[InferConfig, str]:
    """The benchmark's detector config and a description of the model."""
    if model == "yolov8n":
        from visionflow.zoo.yolov8 import export_yolov8_onnx

        onnx_file = export_yolov8_onnx(
            workdir / "yolov8n.onnx", scale="n", num_classes=80, imgsz=640
        )
        config = InferConfig.model_validate(
            {
                "onnx_file": onnx_file,
                "parser": "yolov8",
                "num_detected_classes": 80,
                "net_scale_factor": 1 / 255,
                "maintain_aspect_ratio": True,
                "symmetric_padding": True,
                "scaling_filter": "BILINEAR",
                "cluster_mode": "nms",
                "class_attrs_all": {
                    "pre_cluster_threshold": 0.25,
                    "nms_iou_threshold": 0.45,
                    "topk": 300,
                },
                "batch_size": batch,
            }
        )
        return config, "YOLOv8n architecture, random weights, 640x640, 80 classes"
    from visionflow.config.infer_loader import load_infer_config

    config = load_infer_config(bundled_config("shapes_det"))
    return config.model_copy(update={"batch_size": batch}), "bundled shapes detector, 640x384"


def run_e2e(
    clip: Path,
    streams: int,
    config: InferConfig,
    threads: int,
    meta: Path,
    backend: str,
    tracker: str,
) -> float:
    """Frames per second of the whole pipeline, from its first batch out to its last."""
    marks: list[tuple[float, int]] = []
    elements: list[Element] = [Infer(config, threads=threads, backend=backend)]
    if tracker != "none":
        elements.append(Tracker(preset(tracker)))  # type: ignore[arg-type]
    pipe = Pipeline(
        [VideoSource(clip) for _ in range(streams)],
        [*elements, JsonLinesSink(meta)],
        mux=StreamMux(batch_size=streams, batched_push_timeout=-1),
        queue_size=4,
    )
    pipe.run(on_batch=lambda b: marks.append((time.perf_counter(), len(b))))
    (t0, _), (t1, _) = marks[0], marks[-1]
    return sum(n for _, n in marks[1:]) / (t1 - t0)


def run_model(config: InferConfig, threads: int, batch: int, batches: int, name: str) -> float:
    """Frames per second of the model alone (the engine the element loads) on one batch."""
    engine = resolve_engine(config, name, "cpu")
    backend = load_backend(engine, name, threads=threads)
    spec = backend.inputs[0]
    _, c, h, w = (batch, *[d or 1 for d in spec.shape[1:]])
    x = np.random.default_rng(0).random((batch, c, h, w), np.float32)
    backend.infer({spec.name: x})  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        backend.infer({spec.name: x})
    return batch * batches / (time.perf_counter() - start)


def run_naive(
    clip: Path, streams: int, config: InferConfig, threads: int, name: str, tracker: str
) -> float:
    """Frames per second of a sequential decode → preprocess → infer (batch 1) → parse → track
    loop."""
    from visionflow.infer.preprocess import preprocess

    infer = Infer(config.model_copy(update={"batch_size": 1}), threads=threads, backend=name)
    infer.start()
    backend, spec, ctx = infer.backend, infer.preprocess_spec, infer.context
    assert backend is not None
    assert infer.parser is not None
    frames = 0
    start = time.perf_counter()
    for _ in range(streams):
        follow = None if tracker == "none" else ALGORITHMS.get(tracker)(preset(tracker))  # type: ignore[arg-type]
        with av.open(str(clip)) as container:
            for frame in container.decode(video=0):
                image = frame.to_ndarray(format="rgb24")
                tensor, (box,) = preprocess([image], [(0, 0, image.shape[1], image.shape[0])], spec)
                outputs = backend.infer({infer.input_name: tensor})
                found = infer.parser({k: v[0] for k, v in outputs.items()}, ctx)
                kept = infer.attach.cluster(found)
                boxes = box.to_frame(kept.xyxy)  # type: ignore[arg-type]
                if follow is not None:
                    dets = Detections(boxes, confidence=kept.confidence, class_id=kept.class_id)
                    follow.update(dets, True, image if follow.needs_pixels else None)
                frames += 1
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--frames", type=int, default=24, help="frames per stream (clip length)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model",
        choices=("yolov8n", "shapes"),
        default="yolov8n",
        help="yolov8n: YOLOv8n architecture at 640 (needs torch to build); "
        "shapes: the bundled 640x384 detector",
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="backend inference threads"
    )
    parser.add_argument(
        "--backend",
        default="onnxruntime",
        help="onnxruntime (the workload of bench.md), openvino, or auto (visionflow's default)",
    )
    parser.add_argument(
        "--precision", default="fp32", help="fp32 (the workload), bf16, auto (the default) …"
    )
    parser.add_argument(
        "--tracker",
        choices=("none", *ALGORITHMS.names()),
        default="nvdcf",
        help="the tracker after the detector, with NVIDIA's sample settings (none: no tracker)",
    )
    args = parser.parse_args()
    backend = resolve_backend(args.backend, "cpu")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.mp4", 1280, 720, args.frames, fps=30, seed=3)
        os.environ["VISIONFLOW_CACHE"] = str(work / "cache")
        config, model_desc = detector(work, args.model, args.streams)
        config = config.model_copy(update={"precision": Precision(args.precision)})
        results: dict[str, list[float]] = {
            "e2e": [],
            "e2e_no_tracker": [],
            "model": [],
            "naive": [],
        }
        common = (clip, args.streams, config, args.threads)
        run_e2e(*common, work / "warm.jsonl", backend, args.tracker)
        for _ in range(args.repeats):
            results["e2e"].append(run_e2e(*common, work / "m.jsonl", backend, args.tracker))
            results["e2e_no_tracker"].append(run_e2e(*common, work / "n.jsonl", backend, "none"))
            results["model"].append(
                run_model(config, args.threads, args.streams, args.frames, backend)
            )
            results["naive"].append(run_naive(*common, backend, args.tracker))

    med = {k: statistics.median(v) for k, v in results.items()}
    figures = {
        "benchmark": "cpu-pipeline",
        "model": model_desc,
        "streams": args.streams,
        "frames_per_stream": args.frames,
        "clip": "generated 1280x720 H.264, 30 fps",
        "batch": args.streams,
        "threads": args.threads,
        "backend": backend,
        "precision": args.precision,
        "tracker": args.tracker,
        "repeats": args.repeats,
        "fps": {k: round(v, 2) for k, v in med.items()},
        "fps_runs": {k: [round(x, 2) for x in v] for k, v in results.items()},
        "pipeline_efficiency": round(med["e2e"] / med["model"], 3),
        "speedup_vs_naive": round(med["e2e"] / med["naive"], 3),
        "tracker_share": round(1 - med["e2e"] / med["e2e_no_tracker"], 3),
        "window": "e2e: first batch out → last batch out; model: after one warm-up batch",
    }
    print(
        f"cpu-pipeline: {model_desc}; {args.streams} streams x {args.frames} frames 1280x720; "
        f"batch {args.streams}; {args.threads} threads; {backend} {args.precision}; "
        f"tracker {args.tracker}; median of {args.repeats}"
    )
    print(f"{'measurement':<12}{'fps (median)':>14}   runs")
    for name in ("e2e", "e2e_no_tracker", "model", "naive"):
        runs = ", ".join(f"{x:.1f}" for x in results[name])
        print(f"{name:<16}{med[name]:>10.1f}   {runs}")
    print(f"pipeline efficiency (e2e / model): {figures['pipeline_efficiency']:.2f}")
    print(f"speed-up over the naive loop:      {figures['speedup_vs_naive']:.2f}x")
    print(f"share of e2e time in the tracker:  {figures['tracker_share']:.1%}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
