"""Tracker cost per frame: every algorithm at 10, 100 and 500 objects, on one CPU core.

Only the tracker runs (no decoding, no detector): a seeded synthetic stream of N objects on a
1920x1080 canvas, each moving at its own constant velocity with ±1.5 px box jitter, bouncing off the
borders; every detection is dropped with probability 5 % (shadow tracking at work), confidences are
uniform in [0.3, 1.0], classes 0–2. The first ``--warmup`` frames (targets being created and on
probation) are not timed; then each of ``--frames`` frames is timed alone (``time.perf_counter``)
and the median and 90th percentile per frame are reported, with the mean number of reported
objects as a sanity check that the tracker tracks. Each algorithm runs with NVIDIA's sample
settings (``preset``), ``max_targets_per_stream`` raised to twice the objects so that every object
is tracked.

The process is pinned to one core and BLAS threads are limited to one, as the issue's target
("on one core") asks. Run ``python benchmarks/tracking.py [--frames 300]``; the last line is one
JSON object.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 - after the thread limits, which NumPy reads at import
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from visionflow.core.meta import Detections  # noqa: E402
from visionflow.track import ALGORITHMS, preset  # noqa: E402

WIDTH, HEIGHT = 1920.0, 1080.0


def stream(num_objects: int, seed: int) -> Iterator[Detections]:
    """Endless frames of ``num_objects`` moving boxes, as a detector would report them."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(24, 80, (num_objects, 2))
    pos = rng.uniform(0, 1, (num_objects, 2)) * ([WIDTH, HEIGHT] - size)
    vel = rng.uniform(-6, 6, (num_objects, 2))
    classes = rng.integers(0, 3, num_objects).astype(np.int32)
    while True:
        pos += vel
        for axis, limit in ((0, WIDTH), (1, HEIGHT)):
            low, high = pos[:, axis] < 0, pos[:, axis] + size[:, axis] > limit
            vel[low | high, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, limit - size[:, axis])
        seen = rng.random(num_objects) >= 0.05
        jitter = rng.uniform(-1.5, 1.5, (num_objects, 4))
        boxes = np.concatenate([pos, pos + size], axis=1) + jitter
        yield Detections(
            boxes[seen].astype(np.float32),
            confidence=rng.uniform(0.3, 1.0, int(seen.sum())).astype(np.float32),
            class_id=classes[seen],
        )


def measure(algorithm: str, num_objects: int, frames: int, warmup: int) -> dict[str, Any]:
    config = preset(algorithm, max_targets_per_stream=2 * num_objects)  # type: ignore[arg-type]
    tracker = ALGORITHMS.get(algorithm)(config)
    source = stream(num_objects, seed=num_objects)
    for _ in range(warmup):
        tracker.update(next(source))
    times, reported = [], []
    for _ in range(frames):
        dets = next(source)
        start = time.perf_counter()
        out = tracker.update(dets)
        times.append(time.perf_counter() - start)
        reported.append(len(out))
    times_ms = sorted(t * 1e3 for t in times)
    return {
        "algorithm": algorithm,
        "objects": num_objects,
        "median_ms": round(statistics.median(times_ms), 4),
        "p90_ms": round(times_ms[int(0.9 * (len(times_ms) - 1))], 4),
        "reported_mean": round(statistics.fmean(reported), 1),
        "targets_end": len(tracker),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames per case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed frames first")
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--algorithms", nargs="+", default=ALGORITHMS.names())
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    results = [
        measure(algorithm, n, args.frames, args.warmup)
        for algorithm in args.algorithms
        for n in args.objects
    ]
    print(f"{'algorithm':<10}{'objects':>8}{'median ms':>11}{'p90 ms':>9}{'reported':>10}")
    for r in results:
        print(
            f"{r['algorithm']:<10}{r['objects']:>8}{r['median_ms']:>11.3f}{r['p90_ms']:>9.3f}"
            f"{r['reported_mean']:>10.1f}"
        )
    print(
        json.dumps(
            {
                "benchmark": "tracking",
                "cpu": platform.processor() or platform.machine(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "frames": args.frames,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
