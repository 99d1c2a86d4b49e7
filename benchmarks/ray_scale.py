"""ray-scale benchmark (shared/bench.md): the cpu workload on 1, 2, 4, 8 Ray workers.

Workload per worker: S streams (default 4) of one generated 1280x720 H.264 clip → streammux →
the bundled detector (ONNX Runtime, FP32, one thread) → IOU tracker → JSON Lines metadata; the
whole cluster writes one metadata file. Weak scaling: N workers get N × S streams, one CPU each.

Measured in one invocation, each configuration repeated (``--repeat``) and interleaved:

* ``plain``   — the same S-stream pipeline in this process, no Ray (the baseline);
* ``ray-N``   — N workers on a Ray instance started for the benchmark (its start-up and the
                workers' model loading are outside the timed window: the clock runs from the
                first metadata line written to the last);
* ``recovery`` — with 2 workers, one worker's process is killed (SIGKILL) once frames flow:
                seconds until its streams write lines again on the survivor.

Figures: aggregate fps per configuration; scaling efficiency = fps(N) ÷ (N × fps(1)); Ray's
overhead = 1 − fps(1 worker) ÷ fps(plain); recovery seconds. On a machine with fewer cores than
workers the efficiency shows oversubscription, not Ray: say so with the figures (the JSON
carries ``cpu_count``).

Run: ``python benchmarks/ray_scale.py [--workers 1,2,4,8 --streams 4 --frames 120]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from visionflow.app import App
from visionflow.cluster.driver import ClusterRunner
from visionflow.config.pipeline import PipelineConfig
from visionflow.zoo.scenes import write_clip

DETECTOR = Path(__file__).parents[1] / "src/visionflow/zoo/models/shapes_det.infer.yml"


def config(clip: Path, streams: int, out: Path, workers: int) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "sources": [{"uri": str(clip)} for _ in range(streams)],
            "infer": [{"config": str(DETECTOR), "backend": "onnxruntime", "threads": 1}],
            "tracker": {"algorithm": "iou"},
            "sinks": [{"type": "jsonl", "path": str(out)}],
            "cluster": {"workers": workers, "cpus_per_worker": 1, "poll_interval": 0.05},
        }
    )


def window_fps(marks: list[tuple[float, int]]) -> float:
    """Frames per second from the first output to the last (``marks``: time, frames so far);
    the frames of the first output are outside the window."""
    if len(marks) < 2 or marks[-1][0] <= marks[0][0]:
        return 0.0
    return (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])


def run_plain(cfg: PipelineConfig) -> float:
    app = App.from_config(cfg)
    marks: list[tuple[float, int]] = []
    total = [0]

    def out(batch: Any) -> None:
        total[0] += len(batch)
        marks.append((time.monotonic(), total[0]))

    report = app.pipeline.run(on_batch=out)
    assert report.outcome == "ok", report
    return window_fps(marks)


def run_cluster(cfg: PipelineConfig, kill_after: int | None = None) -> dict[str, Any]:
    runner = ClusterRunner(cfg)
    marks: list[tuple[float, int]] = []
    done = threading.Event()
    result: list[Any] = []

    def go() -> None:
        result.append(runner.run())
        done.set()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    killed_at = None
    seen = 0
    while not done.wait(0.02):
        total = sum(runner.progress.values())
        if total > seen:
            marks.append((time.monotonic(), total))
            seen = total
        if kill_after is not None and killed_at is None and total >= kill_after:
            workers = runner.workers
            if len(workers) >= 2:
                victim = sorted(workers)[0]
                os.kill(workers[victim]["pid"], signal.SIGKILL)
                killed_at = time.monotonic()
    thread.join()
    report = result[0]
    frames = report.frames_written
    recovered = [m.recovered_s for m in report.moves if m.recovered_s is not None]
    return {
        "fps": window_fps(marks),
        "frames": frames,
        "outcome": report.outcome,
        "duplicates": report.duplicates_dropped,
        "recovery_s": max(recovered) if recovered else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--streams", type=int, default=4, help="streams per worker")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    import ray

    ray.init(num_cpus=max(counts) + 1, include_dashboard=False, log_to_driver=False)
    results: dict[str, list[float]] = {}
    recovery: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_clip(work / "clip.mp4", 1280, 720, args.frames, seed=1)
        for rep in range(args.repeat):
            plain = run_plain(config(clip, args.streams, work / "plain.jsonl", 1))
            results.setdefault("plain", []).append(plain)
            print(f"[{rep}] plain: {plain:.1f} fps", flush=True)
            for n in counts:
                cfg = config(clip, n * args.streams, work / f"ray{n}.jsonl", n)
                figures = run_cluster(cfg)
                assert figures["outcome"] == "ok", figures
                assert figures["frames"] == n * args.streams * args.frames, figures
                results.setdefault(f"ray-{n}", []).append(figures["fps"])
                print(f"[{rep}] ray-{n}: {figures['fps']:.1f} fps", flush=True)
            cfg = config(clip, 2 * args.streams, work / "kill.jsonl", 2)
            killed = run_cluster(cfg, kill_after=args.streams * 10)
            assert killed["frames"] == 2 * args.streams * args.frames, killed
            if killed["recovery_s"] is not None:
                recovery.append(killed["recovery_s"])
            print(f"[{rep}] recovery after a killed worker: {killed['recovery_s']} s", flush=True)
    ray.shutdown()

    median = {k: statistics.median(v) for k, v in results.items()}
    one = median.get("ray-1", 0.0)
    rows = []
    print(f"\n{'configuration':<14}{'fps':>10}{'efficiency':>12}")
    for key, fps in median.items():
        size = int(key.split("-")[1]) if key.startswith("ray-") else None
        eff = fps / (size * one) if size and one else None
        rows.append({"config": key, "fps": round(fps, 2), "efficiency": eff and round(eff, 3)})
        print(f"{key:<14}{fps:>10.1f}{'' if eff is None else f'{eff:.3f}':>12}")
    overhead = 1 - one / median["plain"] if median.get("plain") else None
    print(f"Ray overhead vs a plain process: {overhead:.1%}" if overhead is not None else "")
    print(json.dumps({
        "benchmark": "ray-scale",
        "cpu_count": os.cpu_count(),
        "streams_per_worker": args.streams,
        "frames_per_stream": args.frames,
        "repeat": args.repeat,
        "results": rows,
        "ray_overhead": overhead,
        "recovery_s": statistics.median(recovery) if recovery else None,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
