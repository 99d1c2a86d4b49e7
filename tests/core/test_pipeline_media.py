"""The pipeline with real media: synthetic streams, MP4 files decoded by FFmpeg, missing files."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.pipeline import Pipeline, SourceFailure
from visionflow.core.source import Source
from visionflow.errors import PipelineError
from visionflow.media.synthetic import SyntheticSource, decode_stamp
from visionflow.media.video import VideoSource
from visionflow.mux.streammux import StreamMux

LENGTHS = (7, 12, 20)


def write_mp4(path: Path, source_id: int, num_frames: int, fps: int = 25) -> Path:
    """An H.264 MP4 of stamped synthetic frames, written with PyAV alone."""
    render = SyntheticSource(96, 64, num_frames, source_id=source_id).render
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(num_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(render(i), format="rgb24")))
        container.mux(stream.encode(None))
    return path


class Record(Element):
    """Remembers every frame's identity, from its metadata and from its pixels."""

    kind = "record"

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.meta: list[tuple[int, int]] = []
        self.pixels: list[tuple[int, int]] = []
        self.sizes: list[int] = []

    def process(self, batch: Batch) -> Batch:
        time.sleep(self.delay)
        self.sizes.append(len(batch))
        for frame, meta in batch:
            self.meta.append((meta.source_id, meta.frame_num))
            self.pixels.append(decode_stamp(frame.to_numpy()))
        return batch


class FailAt(Element):
    kind = "detector"

    def process(self, batch: Batch) -> Batch:
        if batch.index == 5:
            raise ValueError("tensor shape mismatch")
        return batch


def sources_of(kind: str, tmp_path: Path) -> list[Source]:
    if kind == "synthetic":
        return [SyntheticSource(96, 64, n, source_id=i) for i, n in enumerate(LENGTHS)]
    return [VideoSource(write_mp4(tmp_path / f"cam{i}.mp4", i, n)) for i, n in enumerate(LENGTHS)]


@pytest.mark.parametrize("batch_size", [2, 4])
@pytest.mark.parametrize("kind", ["synthetic", "mp4"])
def test_every_frame_arrives_once_and_in_order(tmp_path: Path, kind: str, batch_size: int) -> None:
    record = Record()
    mux = StreamMux(batch_size=batch_size, batched_push_timeout=-1)
    report = Pipeline(sources_of(kind, tmp_path), [record], mux=mux).run()
    expected = {(sid, n) for sid, length in enumerate(LENGTHS) for n in range(length)}
    assert len(record.meta) == sum(LENGTHS)
    assert set(record.meta) == expected
    assert record.pixels == record.meta  # the pixels are those of the frame the metadata names
    for sid in range(len(LENGTHS)):
        assert [n for s, n in record.meta if s == sid] == list(range(LENGTHS[sid]))
    assert max(record.sizes) == min(batch_size, len(LENGTHS))  # one frame per source a batch
    assert (report.frames_in, report.frames_out, report.drops) == (39, 39, {})
    assert report.balanced
    assert not report.source_failures


def test_failing_element_stops_everything_quickly() -> None:
    sources = [SyntheticSource(96, 64, None, source_id=i) for i in range(3)]  # endless
    started = time.monotonic()
    with pytest.raises(PipelineError) as info:
        Pipeline(sources, [FailAt(), Record()]).run()
    assert time.monotonic() - started < 2
    assert info.value.element == "detector"
    assert str(info.value) == "element 'detector' failed: ValueError: tensor shape mismatch"
    assert isinstance(info.value.__cause__, ValueError)


def test_missing_file_fails_alone(tmp_path: Path) -> None:
    missing = tmp_path / "gone.mp4"
    sources: list[Source] = [
        SyntheticSource(96, 64, 9),
        VideoSource(missing),
        VideoSource(write_mp4(tmp_path / "cam2.mp4", 2, 6)),
    ]
    record = Record()
    report = Pipeline(sources, [record]).run()
    assert report.source_failures == [
        SourceFailure(1, str(missing), f"video file not found: {missing}")
    ]
    assert sorted(record.meta) == [*((0, n) for n in range(9)), *((2, n) for n in range(6))]
    assert report.balanced


@pytest.mark.parametrize("kind", ["synthetic", "realtime-mp4"])
def test_live_source_drops_what_a_slow_pipeline_cannot_take(tmp_path: Path, kind: str) -> None:
    source: Source
    if kind == "synthetic":
        source = SyntheticSource(96, 64, 60, fps=200, live=True)
    else:
        source = VideoSource(write_mp4(tmp_path / "cam.mp4", 0, 60, fps=200), realtime=True)
    assert source.live
    record = Record(delay=0.02)  # 50 batches/s at most, against 200 frames/s
    report = Pipeline([source], [record], queue_size=2).run()
    dropped = report.drops.get("source 0: live queue overflow", 0)
    assert dropped > 10
    assert report.frames_in == 60
    assert report.frames_out == len(record.meta) == 60 - sum(report.drops.values())
    assert report.balanced
    received = [n for _, n in record.meta]
    assert received == sorted(received)  # drops leave gaps, never reorder
    assert record.pixels == record.meta
