"""prune benchmark: what structured channel pruning buys a trained CNN, and what it costs.

Workload: the shapes classifier (``visionflow.zoo.shapes_classifier``: five Conv-BN-ReLU blocks
of 16–128 channels and a linear head, 32x32 input) trained for five epochs on 2,000 crops of
generated scenes, then pruned with ``visionflow.convert.prune.prune_model``: ``--ratio`` of the
channels of every convolution removed by L2 weight norm, the head's outputs kept, two epochs of
fine-tuning through the ``fine_tune`` callback. Two variants of the same pruning:

* ``exact``      — every layer keeps ``floor((1 - ratio) * channels)`` channels;
* ``round_to_8`` — kept channel counts rounded down to a multiple of 8 (removes a little more).

For comparison, ``unstructured``: the same fraction of every convolution's *weights* zeroed by
magnitude (``torch.nn.utils.prune.l1_unstructured``, made permanent), no fine-tuning — the
sparsity that dense runtimes cannot turn into speed.

Figures per variant: parameters and MACs (Torch-Pruning's counter), top-1 accuracy on 600
held-out crops before pruning, right after it and after fine-tuning, and ONNX Runtime latency
of the original and the pruned ONNX export (FP32, CPU, ``--threads`` intra-op threads), timed in
turns on the same input (A B, B A, …) after a warm-up; medians of ``--runs`` runs at each batch
size, and their ratio. Training uses one torch thread, which is the fastest on a shared 2-core
machine.

Run: ``python benchmarks/prune.py [--ratio 0.3 --threads 1 --runs 500]`` (about 30 s).
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch.nn.utils import prune as unstructured_pruning

from visionflow.convert.importers.torch import import_torch
from visionflow.convert.prune import (
    LatencyComparison,
    PruneReport,
    export_pruned,
    measure_latency,
    prune_model,
)
from visionflow.zoo.shapes_classifier import (
    CROP_SIZE,
    build_shapes_classifier,
    make_crops,
    top1_accuracy,
    train_classifier,
)

BATCHES = (32, 1)
"""Batch sizes timed; the last one's latency goes into the printed report."""
VARIANTS = {"exact": None, "round_to_8": 8}

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def structured(
    model: torch.nn.Module, data: Data, round_to: int | None, args: argparse.Namespace, tmp: Path
) -> tuple[PruneReport, dict[int, LatencyComparison]]:
    """Prune, fine-tune and evaluate; time the export against the original at every batch."""
    train_x, train_y, test_x, test_y = data
    result = prune_model(
        model,
        torch.rand(1, 3, CROP_SIZE, CROP_SIZE),
        ratio=args.ratio,
        round_to=round_to,
        fine_tune=lambda m: train_classifier(m, train_x, train_y, epochs=2, lr=2e-3),
        evaluate=lambda m: top1_accuracy(m, test_x, test_y),
    )
    latencies = {}
    for batch in BATCHES:
        example = torch.rand(batch, 3, CROP_SIZE, CROP_SIZE)
        _, result = export_pruned(
            result, model, tmp / f"pruned_{round_to}.onnx", example, threads=args.threads,
            runs=args.runs,
        )  # fmt: skip
        latencies[batch] = cast(LatencyComparison, result.report.latency)
    return result.report, latencies


def unstructured(
    model: torch.nn.Module, data: Data, args: argparse.Namespace, tmp: Path
) -> tuple[float, float, dict[int, LatencyComparison]]:
    """Zero ``ratio`` of every convolution's weights; fraction of zero weights, top-1, latency."""
    sparse = copy.deepcopy(model)
    convs = [m for m in sparse.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        unstructured_pruning.l1_unstructured(conv, "weight", amount=args.ratio)
        unstructured_pruning.remove(conv, "weight")
    zeros = sum(int((c.weight == 0).sum()) for c in convs) / sum(c.weight.numel() for c in convs)
    example = torch.rand(1, 3, CROP_SIZE, CROP_SIZE)
    dense_onnx = import_torch(model, tmp / "dense.onnx", example).onnx_path
    sparse_onnx = import_torch(sparse, tmp / "sparse.onnx", example).onnx_path
    latencies = {
        batch: measure_latency(
            dense_onnx,
            sparse_onnx,
            {
                "input": np.random.default_rng(batch).random(
                    (batch, 3, CROP_SIZE, CROP_SIZE), np.float32
                )
            },
            threads=args.threads,
            runs=args.runs,
        )
        for batch in BATCHES
    }
    return zeros, top1_accuracy(sparse, data[2], data[3]), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--runs", type=int, default=500, help="timed runs per model and batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    train_x, train_y = make_crops(seed=0, count=2000)
    test_x, test_y = make_crops(seed=1, count=600)
    data = (train_x, train_y, test_x, test_y)
    model = build_shapes_classifier(seed=0)
    train_classifier(model, train_x, train_y, epochs=5)
    trained_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        results = {
            name: structured(model, data, round_to, args, Path(tmp))
            for name, round_to in VARIANTS.items()
        }
        zeros, sparse_top1, sparse_latencies = unstructured(model, data, args, Path(tmp))

    print(
        f"prune: shapes classifier, {CROP_SIZE}x{CROP_SIZE} input, trained 5 epochs on "
        f"{len(train_x)} generated crops ({trained_s:.0f} s); {args.ratio:.0%} of channels "
        f"removed by L2 norm, 2 epochs of fine-tuning; top-1 on {len(test_x)} held-out crops; "
        f"ONNX Runtime CPU, FP32, {args.threads} intra-op thread(s), {args.runs} interleaved "
        "runs per model and batch, medians"
    )
    for name, (report, latencies) in results.items():
        print(f"\n[{name}]\n{report}")
        print(_latency_lines(latencies, skip_last=True))
    print(
        f"\n[unstructured, for comparison]\n{zeros:.1%} of the convolution weights zeroed, "
        f"no fine-tuning: top-1 {results['exact'][0].accuracy_before:.4f} -> {sparse_top1:.4f}"
    )
    print(_latency_lines(sparse_latencies, skip_last=False))

    def figures(report: PruneReport, latencies: dict[int, LatencyComparison]) -> dict:
        return {
            "params": [report.params_before, report.params_after],
            "macs": [report.macs_before, report.macs_after],
            "channels": [report.channels_before, report.channels_after],
            "top1": [report.accuracy_before, report.accuracy_pruned, report.accuracy_after],
            **_latency_figures(latencies),
        }

    summary = {
        "benchmark": "prune",
        "ratio": args.ratio,
        "threads": args.threads,
        "runs": args.runs,
        "variants": {name: figures(*result) for name, result in results.items()},
        "unstructured": {
            "zero_weights": zeros,
            "top1": [results["exact"][0].accuracy_before, sparse_top1],
            **_latency_figures(sparse_latencies),
        },
        "wall_s": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))


def _latency_lines(latencies: dict[int, LatencyComparison], skip_last: bool) -> str:
    shown = list(latencies.items())[:-1] if skip_last else latencies.items()
    return "\n".join(
        f"latency p50 at batch {batch:>2}: {lat.before_ms:.3f} ms -> {lat.after_ms:.3f} ms "
        f"({lat.speedup:.2f}x)"
        for batch, lat in shown
    )


def _latency_figures(latencies: dict[int, LatencyComparison]) -> dict:
    return {
        "latency_ms": {str(b): [lat.before_ms, lat.after_ms] for b, lat in latencies.items()},
        "speedup": {str(b): lat.speedup for b, lat in latencies.items()},
    }


if __name__ == "__main__":
    main()
