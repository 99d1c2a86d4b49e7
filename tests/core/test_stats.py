"""Frame accounting and latency percentiles: bounded memory, accurate quantiles."""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.stats import COMPOSED_OF, ComposedFrame, LatencyHistogram, PipelineStats


def test_memory_stays_bounded_over_a_million_frames() -> None:
    stats = PipelineStats()
    frames = [
        Frame(np.zeros((2, 2, 3), np.uint8), PixelFormat.RGB24, source_id=s, frame_num=0)
        for s in range(4)
    ] * 250  # 1,000 frames of 4 streams per call
    for _ in range(900):
        stats.frames_done(frames)
    tracemalloc.start()  # traced for the last 100,000 frames only: tracing is slow
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            stats.frames_done(frames)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert stats.total_out == 1_000_000
    assert grown < 16 * 1024  # a float kept per frame would be ≥ 800 kB more
    reports = stats.streams(elapsed=10.0)
    assert [(r.source_id, r.frames, r.fps) for r in reports] == [
        (s, 250_000, 25_000.0) for s in range(4)
    ]
    assert all(0 < r.latency_p50_ms <= r.latency_p95_ms < 60_000 for r in reports)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).lognormal(3.0, 1.0, 1_000_000),  # ms, long tail
        np.random.default_rng(1).uniform(5.0, 6.0, 100_000),  # narrow
        0.002 + np.random.default_rng(2).exponential(0.2, 100_000),  # sub-millisecond
    ],
    ids=["lognormal-1e6", "uniform", "exponential"],
)
def test_quantiles_within_half_a_percent(values: np.ndarray) -> None:
    histogram = LatencyHistogram()
    for v in values.tolist():
        histogram.add(v)
    for q in (0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 1.0):
        exact = float(np.percentile(values, 100 * q))
        assert histogram.quantile(q) == pytest.approx(exact, rel=0.005), q
    assert histogram.count == len(values)
    assert len(histogram) == 2303  # counters, whatever the number of values


def test_few_values_interpolate_as_numpy_percentile() -> None:
    histogram = LatencyHistogram()
    for v in (10.0, 20.0, 30.0):
        histogram.add(v)
    assert histogram.quantile(0.5) == pytest.approx(20.0, rel=0.005)
    assert histogram.quantile(0.95) == pytest.approx(29.0, rel=0.005)
    assert math.isnan(LatencyHistogram().quantile(0.5))


def test_out_of_range_values_are_clamped() -> None:
    histogram = LatencyHistogram()
    for v in (0.0, -3.0, 1e12):
        histogram.add(v)
    assert histogram.quantile(0.0) == pytest.approx(1e-3, rel=0.005)
    assert histogram.quantile(1.0) == pytest.approx(1e7, rel=0.005)
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\], got 1.5"):
        histogram.quantile(1.5)


def test_a_composite_frame_counts_as_its_source_frames() -> None:
    stats = PipelineStats()
    mosaic = Frame(np.zeros((2, 2, 3), np.uint8), PixelFormat.RGB24, source_id=0, frame_num=0)
    now = time.monotonic_ns()
    batch = Batch([mosaic])
    batch.meta.frames[0].user[COMPOSED_OF] = [
        ComposedFrame(0, 7, now - 10_000_000),
        ComposedFrame(2, 3, now - 30_000_000),
    ]
    stats.batch_done(batch)
    stats.drop_batch("probe", batch)

    assert dict(stats.frames_out) == {0: 1, 2: 1}
    assert dict(stats.drops) == {"probe": 2}
    reports = {r.source_id: r for r in stats.streams(1.0)}
    assert reports[0].latency_p50_ms == pytest.approx(10.0, abs=1.0)
    assert reports[2].latency_p50_ms == pytest.approx(30.0, abs=1.0)
