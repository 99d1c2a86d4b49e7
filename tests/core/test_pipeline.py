from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.element import Element, Sink
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.core.pipeline import Pipeline, PipelineReport, SinkFailure, SourceFailure
from visionflow.core.source import Source
from visionflow.errors import PipelineError, SourceError
from visionflow.mux.streammux import StreamMux


class CountingSource(Source):
    """Yields ``n`` tiny frames whose first pixel stores the frame number."""

    def __init__(
        self, n: int, *, fail_after: int | None = None, delay: float = 0.0, live: bool = False
    ) -> None:
        super().__init__(f"count://{n}")
        self.n = n
        self.fail_after = fail_after
        self.delay = delay
        self.live = live
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            if self.fail_after is not None and i == self.fail_after:
                raise SourceError(f"{self.uri}: stream vanished at frame {i}")
            if self.delay:
                time.sleep(self.delay)
            data = np.full((4, 6, 3), i % 256, np.uint8)
            yield Frame(data, PixelFormat.RGB24, self.source_id, i)

    def close(self) -> None:
        self.closed = True

    @property
    def num_frames(self) -> int:
        return self.n


class Collect(Element):
    kind = "collect"

    def __init__(self, name: str = "collect", delay: float = 0.0) -> None:
        super().__init__(name)
        self.seen: list[tuple[int, int]] = []
        self.batch_sizes: list[int] = []
        self.delay = delay
        self.flushed = self.stopped = False

    def process(self, batch: Batch) -> Batch:
        if self.delay:
            time.sleep(self.delay)
        self.batch_sizes.append(len(batch))
        self.seen.extend((f.source_id, f.frame_num) for f in batch.frames)
        return batch

    def flush(self) -> list[Batch]:
        self.flushed = True
        return []

    def stop(self) -> None:
        self.stopped = True


class Boom(Element):
    kind = "boom"

    def __init__(self, after: int) -> None:
        super().__init__("boom")
        self.after = after
        self.count = 0

    def process(self, batch: Batch) -> Batch:
        self.count += 1
        if self.count > self.after:
            raise RuntimeError("kaboom")
        return batch


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_every_frame_exactly_once_across_uneven_sources(batch_size: int) -> None:
    lengths = [7, 12, 20]
    collect = Collect()
    pipe = Pipeline(
        [CountingSource(n) for n in lengths],
        [collect],
        mux=StreamMux(batch_size=batch_size, batched_push_timeout=-1),
    )
    report = pipe.run()
    expected = {(s, i) for s, n in enumerate(lengths) for i in range(n)}
    assert set(collect.seen) == expected
    assert len(collect.seen) == sum(lengths)
    for s in range(3):  # per-stream order is kept
        nums = [i for sid, i in collect.seen if sid == s]
        assert nums == sorted(nums)
    assert max(collect.batch_sizes) <= batch_size
    assert report.frames_in == report.frames_out == sum(lengths)
    assert report.balanced
    assert report.drops == {}
    assert collect.flushed
    assert collect.stopped
    assert [s.frames for s in report.streams] == lengths


def test_full_batches_when_waiting() -> None:
    collect = Collect()
    Pipeline([CountingSource(8), CountingSource(8)], [collect], mux=StreamMux(2, -1)).run()
    assert collect.batch_sizes == [2] * 8


def test_partial_batch_pushed_after_timeout() -> None:
    # One slow source: with a 1 ms timeout, batches of 4 cannot fill and go out partial.
    collect = Collect()
    mux = StreamMux(batch_size=4, batched_push_timeout=1000)
    Pipeline([CountingSource(5, delay=0.02)], [collect], mux=mux).run()
    assert sum(collect.batch_sizes) == 5
    assert max(collect.batch_sizes) < 4


def test_failing_element_stops_pipeline_quickly_with_its_name() -> None:
    sources = [CountingSource(100_000, delay=0.001) for _ in range(3)]
    after = Collect("after")
    pipe = Pipeline(sources, [Collect("before"), Boom(after=3), after], mux=StreamMux(2))
    started = time.monotonic()
    with pytest.raises(PipelineError, match="element 'boom' failed: RuntimeError: kaboom") as info:
        pipe.run()
    assert time.monotonic() - started < 2.0
    assert info.value.element == "boom"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert after.stopped
    assert all(s.closed for s in sources)
    assert not [t for t in threading.enumerate() if t.name.startswith("vf-")]


def test_failing_source_is_reported_and_others_continue() -> None:
    collect = Collect()
    report = Pipeline(
        [CountingSource(10), CountingSource(10, fail_after=4)], [collect], mux=StreamMux(2, -1)
    ).run()
    assert len(report.source_failures) == 1
    failure = report.source_failures[0]
    assert failure.source_id == 1
    assert "stream vanished at frame 4" in failure.error
    assert sorted(i for s, i in collect.seen if s == 0) == list(range(10))
    assert sorted(i for s, i in collect.seen if s == 1) == list(range(4))
    assert report.balanced


def test_live_source_drops_are_counted() -> None:
    collect = Collect(delay=0.02)
    report = Pipeline(
        [CountingSource(200, live=True)], [collect], mux=StreamMux(1), queue_size=2
    ).run()
    assert report.drops.get("source 0: live queue overflow", 0) > 0
    assert report.balanced
    assert report.frames_out == len(collect.seen) < 200


def test_probes_read_change_and_drop() -> None:
    collect = Collect()
    pipe = Pipeline([CountingSource(6)], [Collect("first"), collect], mux=StreamMux(1))

    def add_box(batch: Batch) -> None:
        for meta in batch.meta.frames:
            meta.detections = Detections(np.array([[0, 0, 2, 2]], np.float32))

    def drop_odd(batch: Batch) -> bool:
        return batch.frames[0].frame_num % 2 == 0

    seen_boxes: list[int] = []
    pipe.add_probe("first", add_box, where="before")
    pipe.add_probe("first", drop_odd, where="after")
    pipe.add_probe(
        "collect", lambda b: seen_boxes.append(len(b.meta.frames[0].detections)), where="before"
    )
    report = pipe.run()
    assert [i for _, i in collect.seen] == [0, 2, 4]
    assert seen_boxes == [1, 1, 1]
    assert report.drops == {"probe after first": 3}
    assert report.balanced


def test_probe_on_unknown_element_lists_elements() -> None:
    pipe = Pipeline([CountingSource(1)], [Collect()])
    with pytest.raises(Exception, match="no element named 'osd'; elements: streammux, collect"):
        pipe.add_probe("osd", lambda b: None)


def test_drain_on_stop_flushes_everything() -> None:
    collect = Collect()
    pipe = Pipeline([CountingSource(100_000, delay=0.001)], [collect])
    timer = threading.Timer(0.2, pipe.stop)
    timer.start()
    report = pipe.run()
    assert collect.flushed
    assert 0 < report.frames_out < 100_000
    assert report.balanced


class BrokenSource(CountingSource):
    """A source whose own code fails (not with a SourceError) after ``fail_after`` frames."""

    def frames(self) -> Iterator[Frame]:
        for frame in super().frames():
            if frame.frame_num == 3:
                raise KeyError("width")
            yield frame


def test_any_error_of_a_source_ends_that_source_alone() -> None:
    collect = Collect()
    report = Pipeline([CountingSource(10), BrokenSource(10)], [collect], mux=StreamMux(2)).run()
    assert report.source_failures == [SourceFailure(1, "count://10", "KeyError: 'width'")]
    assert sorted(i for s, i in collect.seen if s == 0) == list(range(10))
    assert sorted(i for s, i in collect.seen if s == 1) == [0, 1, 2]
    assert report.outcome == "partial"
    assert report.balanced


def test_a_stream_without_a_single_frame_is_a_failure() -> None:
    report = Pipeline([CountingSource(0), CountingSource(5)], [Collect()]).run()
    assert report.source_failures == [
        SourceFailure(0, "count://0", "the stream ended without a single frame")
    ]
    assert report.outcome == "partial"
    report = Pipeline([CountingSource(0)], [Collect()]).run()
    assert report.outcome == "failed"


class FailingSink(Sink):
    """A sink whose output breaks at its ``fail_at``-th batch."""

    def __init__(self, name: str, fail_at: int) -> None:
        super().__init__(name)
        self.fail_at = fail_at
        self.batches = self.stops = 0

    def process(self, batch: Batch) -> Batch:
        self.batches += 1
        if self.batches == self.fail_at:
            raise OSError(28, "No space left on device")
        return batch

    def stop(self) -> None:
        self.stops += 1


def test_a_failing_sink_is_detached_and_the_rest_goes_on() -> None:
    broken, after = FailingSink("disk", fail_at=5), Collect("after")
    report = Pipeline([CountingSource(50)], [Collect("before"), broken, after]).run()
    assert report.sink_failures == [
        SinkFailure("disk", "OSError: [Errno 28] No space left on device")
    ]
    assert broken.batches == 5  # no batch after its failure
    assert broken.stops == 1  # stopped once, when it failed
    assert [i for _, i in after.seen] == list(range(50))
    assert report.frames_out == 50
    assert report.sinks == ["disk"]
    assert report.outcome == "failed"  # its only sink failed
    assert after.stopped


def _report(**kwargs: Any) -> PipelineReport:
    """A report of 10 frames from 2 sources into 2 sinks, with ``kwargs`` changed."""
    base = PipelineReport(1.0, 10, 10, {}, [], num_sources=2, sinks=["meta", "video"])
    return dataclasses.replace(base, **kwargs)


SRC = SourceFailure(0, "a.mp4", "not found")


@pytest.mark.parametrize(
    ("report", "outcome"),
    [
        (_report(), "ok"),
        (_report(source_failures=[SRC]), "partial"),
        (_report(source_failures=[SRC], frames_out=0), "failed"),
        (_report(sink_failures=[SinkFailure("video", "full")]), "partial"),
        (_report(sink_failures=[SinkFailure("video", "x"), SinkFailure("meta", "y")]), "failed"),
        (_report(frames_out=0, drops={"probe after infer": 10}), "ok"),
    ],
)
def test_outcome(report: PipelineReport, outcome: str) -> None:
    assert report.outcome == outcome


class TinySource(CountingSource):
    """A valid stream of 1x1 pictures."""

    def frames(self) -> Iterator[Frame]:
        for frame in super().frames():
            yield frame.with_pixels(frame.data[:1, :1])


class Picky(Element):
    """Marks every frame, then fails on a batch holding a picture under 2x2 (as a resize would)."""

    kind = "picky"

    def process(self, batch: Batch) -> Batch:
        for meta in batch.meta.frames:
            meta.user["marks"] = [*meta.user.get("marks", []), self.name]
        if any(f.width < 2 for f in batch.frames):
            raise ValueError("picture too small to resize")
        return batch


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_stream_whose_frames_make_an_element_fail_ends_alone(batch_size: int) -> None:
    before, after = Collect("before"), Collect("after")
    sources = [CountingSource(30), TinySource(30)]
    pipe = Pipeline(sources, [before, Picky(), after], mux=StreamMux(batch_size))
    marks: list[list[str]] = []
    pipe.add_probe("after", lambda b: marks.extend(m.user["marks"] for m in b.meta.frames))
    report = pipe.run()
    assert report.source_failures == [
        SourceFailure(
            1, "count://30", "element 'picky' failed on its frames: ValueError: picture too small"
            " to resize",
        )
    ]  # fmt: skip
    assert [i for s, i in after.seen if s == 0] == list(range(30))
    assert [s for s, _ in after.seen] == [0] * 30
    assert marks == [["picky"]] * 30  # what the failed call added was undone before the retry
    assert report.outcome == "partial"
    assert report.balanced
    assert report.drops.get("source 1 failed in picky", 0) >= 1


def test_an_element_failing_on_its_only_stream_stops_the_pipeline() -> None:
    with pytest.raises(PipelineError, match="element 'picky' failed: ValueError: picture too"):
        Pipeline([TinySource(5)], [Picky()]).run()


class StalledSource(CountingSource):
    """A live stream that sends 3 frames, then nothing for 30 s (a stalled camera)."""

    def __init__(self) -> None:
        super().__init__(3, live=True)
        self.woken = threading.Event()

    def frames(self) -> Iterator[Frame]:
        yield from super().frames()
        self.woken.wait(30)

    def interrupt(self) -> None:
        self.woken.set()


def test_stop_interrupts_a_source_waiting_for_data() -> None:
    stalled, collect = StalledSource(), Collect()
    pipe = Pipeline([stalled, CountingSource(100_000, delay=0.001)], [collect])
    threading.Timer(0.3, pipe.stop).start()
    started = time.monotonic()
    report = pipe.run()
    assert time.monotonic() - started < 3
    assert stalled.woken.is_set()
    assert [i for s, i in collect.seen if s == 0] == [0, 1, 2]
    assert report.balanced
