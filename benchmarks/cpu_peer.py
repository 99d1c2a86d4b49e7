"""cpu-peer benchmark (shared/bench.md): visionflow against Ultralytics' streaming predict.

Workload: S streams of one generated 1920x1080 H.264 clip (30 fps, yuv420p, libx264) →
detector → metadata, on the CPU. Both sides get the *same ONNX file*: a YOLOv8n architecture at
640x640 with 80 classes and randomly initialised weights (Ultralytics' bias prior, so almost no
box passes the 0.25 threshold on either side; speed does not depend on the weights, see
bench.md). Same thresholds (confidence 0.25, IoU 0.45), same letterbox to 640x640.

* ``visionflow`` — the pipeline as ``visionflow infer``/``run`` builds it: decode threads,
  streammux (batch S), the inference element with its *default* backend and precision for the
  CPU (or ``--vf-backend``/``--vf-precision``), a JSON Lines metadata sink.
* ``peer`` — Ultralytics ``YOLO(model.onnx).predict(source=clip, stream=True)``: its ONNX Runtime
  backend (CPU provider, ONNX Runtime's default threads), decoding with OpenCV; S streams are
  the clip predicted S times in a row (Ultralytics' multi-stream loader is for live streams and
  drops frames to stay current, so it cannot be timed on files).

Each measurement is fps over all streams in the steady state: from the first result out to the
last (model loading, engine building and the first frame are excluded). Runs are interleaved
(visionflow, peer, visionflow, peer …), ``--repeats`` each; the headline is the ratio of the
medians. A run of visionflow with ONNX Runtime FP32 (the peer's runtime and precision) is
interleaved as well, so the gain of the default path over the same runtime is visible.

The peer needs PyTorch, torchvision, Ultralytics and ONNX Runtime. They live in a virtualenv of
their own, never in visionflow's (visionflow's CPU torch has no matching torchvision)::

    python3.11 -m venv ../peer-venv
    ../peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    ../peer-venv/bin/pip install ultralytics onnxruntime

and the peer runs in a subprocess of that Python (``--peer-python``), offline
(``YOLO_OFFLINE=1``). Run:

``python benchmarks/cpu_peer.py --peer-python ../peer-venv/bin/python
[--streams 1,4 --frames 90 --repeats 3]``

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER_SCRIPT = r"""
import json, sys, time
from ultralytics import YOLO

model_path, clip, streams = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = YOLO(model_path, task="detect")
marks, boxes = [], 0
for _ in range(streams):
    for result in model.predict(
        source=clip, stream=True, imgsz=640, conf=0.25, iou=0.45, device="cpu",
        max_det=300, verbose=False, half=False, rect=False,
    ):
        marks.append(time.perf_counter())
        boxes += len(result.boxes)
import onnxruntime, ultralytics, torch
print(json.dumps({
    "frames": len(marks),
    "fps": (len(marks) - 1) / (marks[-1] - marks[0]),
    "boxes": boxes,
    "versions": {"ultralytics": ultralytics.__version__, "onnxruntime": onnxruntime.__version__,
                 "torch": torch.__version__},
}))
"""


def run_visionflow(
    clip: Path, streams: int, model: Path, backend: str | None, precision: str | None, meta: Path
) -> dict[str, float]:
    """fps of visionflow's pipeline over all streams, first batch out → last batch out."""
    from visionflow.core.pipeline import Pipeline
    from visionflow.infer.element import Infer
    from visionflow.media import VideoSource
    from visionflow.mux import StreamMux
    from visionflow.sinks import JsonLinesSink

    config = detector_config(model, streams, precision)
    options = {} if backend is None else {"backend": backend}
    infer = Infer(config, **options)  # type: ignore[arg-type]
    marks: list[tuple[float, int]] = []
    boxes = 0

    def on_batch(batch: object) -> None:
        nonlocal boxes
        marks.append((time.perf_counter(), len(batch)))  # type: ignore[arg-type]
        boxes += sum(len(m.detections) for m in batch.meta.frames)  # type: ignore[attr-defined]

    pipe = Pipeline(
        [VideoSource(clip) for _ in range(streams)],
        [infer, JsonLinesSink(meta)],
        mux=StreamMux(batch_size=streams, batched_push_timeout=-1),
        queue_size=4,
    )
    pipe.run(on_batch=on_batch)
    (t0, _), (t1, _) = marks[0], marks[-1]
    frames = sum(n for _, n in marks[1:])
    return {
        "fps": frames / (t1 - t0),
        "frames": frames + marks[0][1],
        "boxes": boxes,
        "backend": infer.backend_name if infer.backend is None else infer.backend.name,
        "engine": str(infer.backend.model.name) if infer.backend else "",
    }


def detector_config(model: Path, batch: int, precision: str | None) -> object:
    """The YOLOv8 detector config both sides share: letterbox 640, conf 0.25, NMS IoU 0.45."""
    from visionflow.infer.config import InferConfig

    fields = {
        "onnx_file": model,
        "parser": "yolov8",
        "num_detected_classes": 80,
        "net_scale_factor": 1 / 255,
        "maintain_aspect_ratio": True,
        "symmetric_padding": True,
        "scaling_filter": "BILINEAR",
        "cluster_mode": "nms",
        "class_attrs_all": {"pre_cluster_threshold": 0.25, "nms_iou_threshold": 0.45, "topk": 300},
        "batch_size": batch,
    }
    if precision is not None:
        fields["precision"] = precision
    return InferConfig.model_validate(fields)


def run_peer(python: str, clip: Path, streams: int, model: Path, script: Path) -> dict:
    """fps of Ultralytics' streaming predict in a subprocess of the peer's Python."""
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False"}
    done = subprocess.run(
        [python, str(script), str(model), str(clip), str(streams)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the peer failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=True, help="Python of the peer's virtualenv")
    parser.add_argument("--streams", default="1,4", help="stream counts, comma-separated")
    parser.add_argument("--frames", type=int, default=90, help="frames in the clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vf-backend", default=None, help="visionflow backend (default: its own)")
    parser.add_argument("--vf-precision", default=None, help="precision (default: its own)")
    parser.add_argument("--no-same-runtime", action="store_true", help="skip the ORT FP32 runs")
    args = parser.parse_args()
    counts = [int(s) for s in args.streams.split(",")]

    import onnxruntime

    from visionflow.zoo.scenes import write_clip
    from visionflow.zoo.yolov8 import export_yolov8_onnx

    started = time.perf_counter()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vf-peer-") as tmp:
        work = Path(tmp)
        os.environ["VISIONFLOW_CACHE"] = str(work / "cache")
        clip = write_clip(work / "clip.mp4", 1920, 1080, args.frames, fps=30, seed=3)
        model = export_yolov8_onnx(work / "yolov8n.onnx", scale="n", num_classes=80, imgsz=640)
        script = work / "peer.py"
        script.write_text(PEER_SCRIPT)
        sides = {
            "visionflow": (args.vf_backend, args.vf_precision),
            "visionflow_ort_fp32": ("onnxruntime", "fp32"),
        }
        if args.no_same_runtime:
            del sides["visionflow_ort_fp32"]
        runs: dict[int, dict[str, list[dict]]] = {}
        for streams in counts:
            runs[streams] = {name: [] for name in [*sides, "peer"]}
            for backend, precision in sides.values():  # warm-up: engines built, cached
                run_visionflow(clip, streams, model, backend, precision, work / "warm.jsonl")
            for _ in range(args.repeats):
                for name, (backend, precision) in sides.items():
                    runs[streams][name].append(
                        run_visionflow(clip, streams, model, backend, precision, work / "m.jsonl")
                    )
                runs[streams]["peer"].append(
                    run_peer(args.peer_python, clip, streams, model, script)
                )

    figures: dict = {
        "benchmark": "cpu-peer",
        "model": "YOLOv8n architecture, 640x640, 80 classes, random weights (same ONNX file)",
        "clip": f"generated 1920x1080 H.264 (libx264 yuv420p), {args.frames} frames, 30 fps",
        "repeats": args.repeats,
        "window": "first result out -> last result out (load, engine build, first frame excluded)",
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "onnxruntime": onnxruntime.__version__,
        "peer": runs[counts[0]]["peer"][0]["versions"],
        "streams": {},
    }
    print(
        f"cpu-peer: 1080p H.264, {args.frames} frames; YOLOv8n 640 (random weights); "
        f"medians of {args.repeats}, interleaved"
    )
    print(f"{'streams':>7}  {'side':<22}{'fps (median)':>13}   runs")
    for streams, by_side in runs.items():
        med = {k: statistics.median(r["fps"] for r in v) for k, v in by_side.items()}
        entry = {
            "fps": {k: round(v, 2) for k, v in med.items()},
            "fps_runs": {k: [round(r["fps"], 2) for r in v] for k, v in by_side.items()},
            "boxes_per_run": {k: v[0]["boxes"] for k, v in by_side.items()},
            "visionflow_engine": by_side["visionflow"][0]["engine"],
            "visionflow_backend": by_side["visionflow"][0]["backend"],
            "ratio_visionflow_over_peer": round(med["visionflow"] / med["peer"], 3),
        }
        if "visionflow_ort_fp32" in med:
            entry["ratio_ort_fp32_over_peer"] = round(med["visionflow_ort_fp32"] / med["peer"], 3)
        figures["streams"][str(streams)] = entry
        for name, runs_of in by_side.items():
            text = ", ".join(f"{r['fps']:.1f}" for r in runs_of)
            print(f"{streams:>7}  {name:<22}{med[name]:>13.1f}   {text}")
        print(
            f"{'':>7}  visionflow / peer: {entry['ratio_visionflow_over_peer']:.2f}x "
            f"({entry['visionflow_backend']}, {entry['visionflow_engine']})"
        )
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
