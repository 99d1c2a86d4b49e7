"""Micro-benchmarks of the inference element's own CPU work: preprocessing, YOLO parsing, NMS.

The model is left out: these are the steps around it that visionflow writes itself. Each
workload times the current implementation against the one it replaced, in one process,
interleaved call by call (old, new, old, new …) after a warm-up, and reports medians and the ratio
old ÷ new (shared/bench.md: on the shared CPU machines only ratios count).

Workloads (all inputs generated, seeded):

* ``preprocess``: a batch of 1920x1080 RGB frames → 640x640 letterboxed (symmetric), RGB, /255,
  NCHW float32 — batch 1 and 4 — and a secondary batch of 16 object crops of one frame → 224x224
  stretched, BGR, ImageNet offsets. Variants: ``whole-batch`` (per-crop loop, whole batch
  converted to float then transposed: before plane-wise normalisation), ``per-crop loop`` (the
  plane-wise loop that came next, kept in ``tests/infer/test_preprocess.py`` as the reference),
  ``Preprocessor`` (current: reused buffers, in-place resize, table lookup).
* ``yolo``: a YOLOv8 head output (84, 8400) with 60 objects among low-score anchors, parsed at
  pre-cluster threshold 0.25. Variants: ``arg-max all anchors`` (before anchors were filtered) and
  ``parse_yolov8`` (current).
* ``nms``: 30, 300 and 2,000 candidate boxes over 80 classes (clusters of six overlapping boxes
  around each object, as a detector emits them; and 30 lone boxes of random classes), nvinfer NMS
  at IoU 0.45. Variants: ``per-class loop`` (the
  former implementation, kept in ``tests/infer/test_cluster.py`` as the reference) and
  ``cluster`` (current, vectorised over all classes).

Every variant's output is checked against the current one (bit for bit, except ``whole-batch``,
whose formula rounds differently: within 1e-6). The references are loaded from the test files, so
this script needs the repository checkout and pytest. Run:
``python benchmarks/infer_micro.py [--repeats 41]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from visionflow.core.geometry import xywh_to_xyxy
from visionflow.infer.cluster import ClusterMode, ClusterParams, cluster
from visionflow.infer.parsers.base import DetectionCandidates, NetworkInfo, ParseContext
from visionflow.infer.parsers.yolo import _best_class, _candidates, parse_yolov8
from visionflow.infer.preprocess import ColorFormat, Preprocessor, PreprocessSpec, ScalingFilter

ROOT = Path(__file__).resolve().parents[1]


def _load_test_module(relative: str) -> ModuleType:
    """A test file as a module, for the reference implementations it keeps."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- timing ---------------------------------------------------------------------------------


def interleaved(
    variants: dict[str, Callable[[], object]], repeats: int, budget_s: float = 0.003
) -> dict[str, float]:
    """Median seconds per call of each variant, timed in turns (A B A B …).

    Each turn runs a variant ``inner`` times in a row (so that sub-millisecond calls are not
    swamped by the clock), ``inner`` chosen once from a warm-up call so a turn takes about
    ``budget_s``.
    """
    inner = {}
    for name, call in variants.items():
        call()  # warm-up (first-touch of buffers, caches)
        start = time.perf_counter()
        call()
        inner[name] = max(1, int(budget_s / max(time.perf_counter() - start, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, call in variants.items():
            start = time.perf_counter()
            for _ in range(inner[name]):
                call()
            samples[name].append((time.perf_counter() - start) / inner[name])
    return {name: statistics.median(values) for name, values in samples.items()}


# --- preprocessing --------------------------------------------------------------------------


def whole_batch_preprocess(
    reference: ModuleType,
    images: Sequence[np.ndarray],
    rois: Sequence[tuple[int, int, int, int]],
    spec: PreprocessSpec,
) -> np.ndarray:
    """The per-crop loop with the normalisation visionflow had before it went plane-wise: the
    whole batch converted to float32, the mean subtracted, scaled, then transposed."""
    plain = PreprocessSpec(
        spec.width,
        spec.height,
        channels=spec.channels,
        color_format=spec.color_format,
        maintain_aspect_ratio=spec.maintain_aspect_ratio,
        symmetric_padding=spec.symmetric_padding,
        nhwc=True,
        scaling_filter=spec.scaling_filter,
        dtype=np.dtype(np.uint8),
    )
    canvas, _ = reference.reference_preprocess(images, rois, plain)  # uint8 NHWC, colour done
    tensor = canvas.astype(np.float32)
    if spec.offsets:
        tensor -= np.asarray(spec.offsets[: spec.channels], np.float32)
    if spec.net_scale_factor != 1.0:
        tensor *= np.float32(spec.net_scale_factor)
    return np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))


def preprocess_workloads(rng: np.random.Generator) -> list[tuple[str, Any, list, list]]:
    frames = [rng.integers(0, 256, (1080, 1920, 3), np.uint8) for _ in range(4)]
    primary = PreprocessSpec(
        640,
        640,
        net_scale_factor=1 / 255,
        maintain_aspect_ratio=True,
        symmetric_padding=True,
        scaling_filter=ScalingFilter.BILINEAR,
    )
    secondary = PreprocessSpec(
        224,
        224,
        color_format=ColorFormat.BGR,
        net_scale_factor=0.017,
        offsets=(123.675, 116.28, 103.53),
        scaling_filter=ScalingFilter.BILINEAR,
    )
    crops = []
    for _ in range(16):
        w, h = int(rng.integers(40, 400)) // 2 * 2, int(rng.integers(40, 400)) // 2 * 2
        x, y = int(rng.integers(0, 1920 - w)) // 2 * 2, int(rng.integers(0, 1080 - h)) // 2 * 2
        crops.append((x, y, w, h))
    whole = (0, 0, 1920, 1080)
    return [
        ("primary 1080p→640 letterbox, batch 1", primary, frames[:1], [whole]),
        ("primary 1080p→640 letterbox, batch 4", primary, frames, [whole] * 4),
        ("secondary 16 crops→224, BGR, offsets", secondary, [frames[0]] * 16, crops),
    ]


def bench_preprocess(repeats: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    reference = _load_test_module("tests/infer/test_preprocess.py")
    rows = []
    for name, spec, images, rois in preprocess_workloads(rng):
        preprocessor = Preprocessor(spec)
        current = preprocessor(images, rois)[0].copy()
        former = reference.reference_preprocess(images, rois, spec)[0]
        oldest = whole_batch_preprocess(reference, images, rois, spec)
        assert former.tobytes() == current.tobytes(), name
        np.testing.assert_allclose(oldest, current, rtol=0, atol=1e-5)
        times = interleaved(
            {
                "whole-batch": partial(whole_batch_preprocess, reference, images, rois, spec),
                "per-crop loop": partial(reference.reference_preprocess, images, rois, spec),
                "Preprocessor": partial(preprocessor, images, rois),
            },
            repeats,
        )
        rows.append({"workload": "preprocess", "case": name, "times": times, "new": "Preprocessor"})
    return rows


# --- YOLO parsing ---------------------------------------------------------------------------


def yolo_all_anchors(outputs: dict[str, np.ndarray], ctx: ParseContext) -> DetectionCandidates:
    """parse_yolov8 as it was before anchors were filtered: arg-max and box conversion of all."""
    rows = np.asarray(next(iter(outputs.values())), np.float32).T
    score, class_id = _best_class(rows[:, 4:])
    return _candidates(xywh_to_xyxy(rows[:, :4]), score, class_id, ctx)


def bench_yolo(repeats: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    anchors, classes = 8400, 80
    output = np.empty((4 + classes, anchors), np.float32)
    output[:2] = rng.uniform(0, 640, (2, anchors))
    output[2:4] = rng.uniform(4, 200, (2, anchors))
    output[4:] = rng.uniform(0, 0.05, (classes, anchors))
    objects = rng.choice(anchors, 60, replace=False)
    output[4 + rng.integers(0, classes, 60), objects] = rng.uniform(0.25, 0.95, 60)
    outputs = {"output0": output}
    ctx = ParseContext(NetworkInfo(640, 640, 3), classes, np.full(classes, 0.25, np.float32))
    new, old = parse_yolov8(outputs, ctx), yolo_all_anchors(outputs, ctx)
    for column in ("xyxy", "confidence", "class_id"):
        assert getattr(new, column).tobytes() == getattr(old, column).tobytes(), column
    times = interleaved(
        {
            "arg-max all anchors": lambda: yolo_all_anchors(outputs, ctx),
            "parse_yolov8": lambda: parse_yolov8(outputs, ctx),
        },
        repeats,
    )
    case = f"YOLOv8 (84, 8400), {len(new)} candidates"
    return [{"workload": "yolo", "case": case, "times": times, "new": "parse_yolov8"}]


# --- NMS ------------------------------------------------------------------------------------


def detector_like_boxes(
    rng: np.random.Generator, n: int, classes: int, per_object: int = 6
) -> DetectionCandidates:
    """``n`` candidates around ``n / per_object`` objects: jittered copies of each object's box,
    one class per object."""
    objects = max(1, n // per_object)
    centre = rng.uniform(0, 640, (objects, 2))
    size = rng.uniform(12, 160, (objects, 2))
    object_class = rng.integers(0, classes, objects)
    owner = rng.integers(0, objects, n)
    jitter = rng.normal(0, 0.08, (n, 4)) * np.tile(size[owner], 2)
    xyxy = np.concatenate([centre[owner] - size[owner] / 2, centre[owner] + size[owner] / 2], 1)
    confidence = rng.uniform(0.25, 0.95, n).astype(np.float32)
    return DetectionCandidates(xyxy + jitter, confidence, object_class[owner])


def bench_nms(repeats: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    reference = _load_test_module("tests/infer/test_cluster.py")
    classes = 80
    params = ClusterParams.uniform(classes, pre_cluster=0.25, nms_iou=0.45)
    rows = []
    for n, per_object in ((30, 1), (30, 6), (300, 6), (2000, 6)):
        dets = detector_like_boxes(rng, n, classes, per_object)
        kept = cluster(dets, params, ClusterMode.NMS)
        former = dets.select(reference.reference_selection(dets, params, ClusterMode.NMS))
        for column in ("xyxy", "confidence", "class_id"):
            assert getattr(kept, column).tobytes() == getattr(former, column).tobytes(), column
        times = interleaved(
            {
                "per-class loop": partial(
                    reference.reference_selection, dets, params, ClusterMode.NMS
                ),
                "cluster": partial(cluster, dets, params, ClusterMode.NMS),
            },
            repeats,
        )
        present = len(np.unique(dets.class_id))
        case = f"{n} boxes, {present} of 80 classes → {len(kept)} kept"
        rows.append({"workload": "nms", "case": case, "times": times, "new": "cluster"})
    return rows


# --- report ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=41, help="interleaved turns per variant")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--only", choices=("preprocess", "yolo", "nms"), action="append", help="workloads to run"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    benches = {"preprocess": bench_preprocess, "yolo": bench_yolo, "nms": bench_nms}
    rows = []
    for name in args.only or list(benches):
        rows.extend(benches[name](args.repeats, rng))

    print(f"# infer-micro: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"# OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), NumPy {np.__version__}")
    print(f"# medians of {args.repeats} interleaved turns after a warm-up; ratio = variant ÷ new")
    print()
    print("| workload | case | variant | median ms | × new |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        new = row["times"][row["new"]]
        row["ratios"] = {name: t / new for name, t in row["times"].items()}
        for name, seconds in row["times"].items():
            ratio = row["ratios"][name]
            cells = (row["workload"], row["case"], name, f"{seconds * 1e3:.3f}", f"{ratio:.2f}")
            print("| " + " | ".join(cells) + " |")
    summary = {
        "benchmark": "infer-micro",
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "opencv_threads": cv2.getNumThreads(),
        "results": [
            {
                "workload": row["workload"],
                "case": row["case"],
                "new": row["new"],
                "median_ms": {k: round(v * 1e3, 4) for k, v in row["times"].items()},
                "old_over_new": {k: round(v, 2) for k, v in row["ratios"].items()},
            }
            for row in rows
        ],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
