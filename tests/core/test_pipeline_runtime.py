"""Runtime control of the pipeline core: sources join and leave while it runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.pipeline import Pipeline, PipelineReport
from visionflow.errors import VisionflowError
from visionflow.media import VideoSource
from visionflow.media.synthetic import SyntheticSource


class Recorder(Element):
    """Records, in order, the streams of every batch and every stream end it is told of."""

    def __init__(self, name: str = "recorder") -> None:
        super().__init__(name)
        self.events: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    def process(self, batch: Batch) -> Batch:
        with self.lock:
            self.events.append(("batch", tuple(f.source_id for f in batch.frames)))
        return batch

    def end_stream(self, source_id: int) -> None:
        with self.lock:
            self.events.append(("end", source_id))


def running(pipeline: Pipeline) -> tuple[threading.Thread, dict[str, PipelineReport]]:
    result: dict[str, PipelineReport] = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", pipeline.run()))
    thread.start()
    deadline = time.monotonic() + 10
    while not pipeline.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return thread, result


def wait_out(pipeline: Pipeline, sid: int, frames: int) -> None:
    deadline = time.monotonic() + 30
    while pipeline.stats.snapshot()[1].get(sid, 0) < frames:
        assert time.monotonic() < deadline, f"stream {sid} gave no frames"
        time.sleep(0.01)


def test_sources_join_and_leave_with_new_ids_and_flushed_frames(tmp_path: Path) -> None:
    from visionflow.zoo.scenes import write_clip

    clip = write_clip(tmp_path / "clip.mp4", 64, 48, 40)
    first, second = Recorder("first"), Recorder("second")
    pipeline = Pipeline([SyntheticSource(32, 16, None, fps=200, live=True)], [first, second],
                        keep_alive=True)  # fmt: skip
    thread, result = running(pipeline)
    joined = [pipeline.add_source(VideoSource(clip, loop=True)) for _ in range(2)]
    assert joined == [1, 2]
    for sid in joined:
        wait_out(pipeline, sid, 5)
    pipeline.remove_source(1)
    assert pipeline.wait_flushed(1, 30)
    assert pipeline.stream_state(1) == "removed"
    frames_in, frames_out, _ = pipeline.stats.snapshot()
    assert frames_in[1] == frames_out[1]  # every frame it read came out: flushed, not cut
    assert pipeline.add_source(VideoSource(clip)) == 3  # ids are never reused
    assert pipeline.wait_flushed(3, 30)
    assert pipeline.stream_state(3) == "ended"
    pipeline.stop()
    thread.join(30)
    report = result["report"]
    assert report.balanced
    assert report.num_sources == 4
    assert report.frames_in == report.frames_out + sum(report.drops.values())
    for recorder in (first, second):
        events = recorder.events
        for sid in (1, 3):
            end = events.index(("end", sid))  # told once, after the stream's last batch
            assert events.count(("end", sid)) == 1
            assert not any(kind == "batch" and sid in ids for kind, ids in events[end:])  # type: ignore[operator]
    sizes = [len(ids) for kind, ids in first.events if kind == "batch"]  # type: ignore[arg-type]
    assert max(sizes) == 3  # the batch grew to the three streams running at once


def test_a_keep_alive_pipeline_waits_for_sources_until_stopped() -> None:
    pipeline = Pipeline([], [Recorder()], keep_alive=True)
    thread, result = running(pipeline)
    time.sleep(0.2)
    assert thread.is_alive()
    sid = pipeline.add_source(SyntheticSource(16, 8, 10))
    assert pipeline.wait_flushed(sid, 10)
    assert thread.is_alive()  # every source ended, and it still waits
    pipeline.stop()
    thread.join(10)
    assert result["report"].frames_out == 10
    with pytest.raises(VisionflowError, match="not running: no source can join"):
        pipeline.add_source(SyntheticSource(16, 8, 10))


def test_without_keep_alive_the_run_ends_with_its_sources() -> None:
    pipeline = Pipeline([SyntheticSource(16, 8, 30)], [Recorder()])
    assert pipeline.add_source(SyntheticSource(16, 8, 20)) == 1  # before the run: it runs too
    report = pipeline.run()
    assert report.frames_out == 50
    assert pipeline.stream_states() == {0: "ended", 1: "ended"}


def test_a_source_added_while_the_run_starts_runs_once() -> None:
    """Regression: a source added between the run's set-up steps got two threads."""
    for _ in range(20):
        pipeline = Pipeline([SyntheticSource(16, 8, 5)], [Recorder()], keep_alive=True)
        thread = threading.Thread(target=pipeline.run)
        thread.start()
        sid = pipeline.add_source(SyntheticSource(16, 8, 5))
        assert pipeline.wait_flushed(sid, 10)
        pipeline.stop()
        thread.join(10)
        assert pipeline.stats.snapshot()[1] == {0: 5, 1: 5}
        assert not pipeline._failures


def test_max_sources_and_unknown_ids() -> None:
    pipeline = Pipeline([SyntheticSource(16, 8, None)], [Recorder()], keep_alive=True,
                        max_sources=1)  # fmt: skip
    thread, _ = running(pipeline)
    with pytest.raises(VisionflowError, match=r"1 sources are running.*max_sources=1"):
        pipeline.add_source(SyntheticSource(16, 8, None))
    with pytest.raises(KeyError):
        pipeline.remove_source(7)
    with pytest.raises(KeyError):
        pipeline.wait_flushed(7, 0)
    pipeline.remove_source(0)
    assert pipeline.wait_flushed(0, 10)
    assert pipeline.add_source(SyntheticSource(16, 8, 5)) == 1  # room again
    pipeline.stop()
    thread.join(10)


def test_set_interval_checks_the_element_and_the_value() -> None:
    pipeline = Pipeline([SyntheticSource(16, 8, 1)], [Recorder()])
    with pytest.raises(VisionflowError, match="element 'recorder' has no inference interval"):
        pipeline.set_interval("recorder", 2)
    with pytest.raises(VisionflowError, match="no element named 'infer'"):
        pipeline.set_interval("infer", 2)


def test_the_tracker_and_the_tiler_forget_a_stream_that_left() -> None:
    """Their ``end_stream``: no state (targets, last picture) kept for streams gone — memory
    stays flat as streams come and go — and the stream's tile goes black."""
    from visionflow.mux.tiler import Tiler
    from visionflow.track import Tracker

    tracker, tiler, last = Tracker(), Tiler(rows=1, columns=2, width=64, height=16), Recorder()
    pictures: list = []
    pipeline = Pipeline([SyntheticSource(32, 16, None, fps=100, live=True)], [tracker, tiler, last],
                        keep_alive=True)  # fmt: skip
    pipeline.add_probe("recorder", lambda b: pictures.append(b.frames[0].to_numpy().copy()))
    thread, _ = running(pipeline)
    sid = pipeline.add_source(SyntheticSource(32, 16, None, fps=100, live=True, seed=3))
    wait_out(pipeline, sid, 5)
    assert set(tracker.streams) == {0, 1}
    assert pictures[-1][:, 32:].any()  # the second stream's tile is painted
    pipeline.remove_source(sid)
    assert pipeline.wait_flushed(sid, 10)
    assert set(tracker.streams) == {0}
    count = len(pictures)
    wait_out(pipeline, 0, pipeline.stats.snapshot()[1][0] + 3)
    assert len(pictures) > count
    assert not pictures[-1][:, 32:].any()  # its tile is black now
    assert sid not in tiler._tiles
    pipeline.stop()
    thread.join(10)
