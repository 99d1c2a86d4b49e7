from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.pipeline import Pipeline
from visionflow.errors import ConfigError, PipelineError, SinkError
from visionflow.media.synthetic import SyntheticSource, decode_stamp
from visionflow.sinks.video import VideoFileSink


def read_video(path: Path) -> tuple[str, str, list[av.VideoFrame]]:
    """(container format, codec, decoded frames), read with PyAV alone."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        frames = list(container.decode(stream))
        return container.format.name, codec, frames


def stamps(frames: list[av.VideoFrame]) -> list[tuple[int, int]]:
    return [decode_stamp(f.to_ndarray(format="rgb24")) for f in frames]


def encode(sink: VideoFileSink, frames: list[Frame], per_batch: int = 1) -> None:
    sink.start()
    try:
        for i in range(0, len(frames), per_batch):
            batch = Batch(frames[i : i + per_batch])
            assert sink.process(batch) is batch
    finally:
        sink.stop()


def synthetic(n: int, width: int = 128, height: int = 96, **kwargs: object) -> list[Frame]:
    return list(SyntheticSource(width, height, n, **kwargs).frames())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "codec", "muxer", "decoder"),
    [
        ("out.mp4", "h264", "mov,mp4,m4a,3gp,3g2,mj2", "h264"),
        ("out.mkv", "h264", "matroska,webm", "h264"),
        ("out.mov", "h265", "mov,mp4,m4a,3gp,3g2,mj2", "hevc"),
        ("out.avi", "mpeg4", "avi", "mpeg4"),
        ("out", "hevc", "mov,mp4,m4a,3gp,3g2,mj2", "hevc"),
    ],
)
def test_encodes_every_frame(
    tmp_path: Path, name: str, codec: str, muxer: str, decoder: str
) -> None:
    sink = VideoFileSink(tmp_path / name, codec=codec)
    encode(sink, synthetic(40), per_batch=3)
    assert sink.frames_written == 40
    fmt, codec_name, frames = read_video(tmp_path / name)
    assert (fmt, codec_name) == (muxer, decoder)
    assert len(frames) == 40
    assert (frames[0].width, frames[0].height, frames[0].format.name) == (128, 96, "yuv420p")
    assert stamps(frames) == [(0, i) for i in range(40)]


def test_keeps_frame_timestamps_or_numbers_frames_at_fps(tmp_path: Path) -> None:
    source_frames = synthetic(12, fps=10)
    encode(VideoFileSink(tmp_path / "kept.mp4"), source_frames)
    encode(VideoFileSink(tmp_path / "fixed.mp4", fps=25), source_frames)
    kept = [f.time for f in read_video(tmp_path / "kept.mp4")[2]]
    fixed = [f.time for f in read_video(tmp_path / "fixed.mp4")[2]]
    assert kept == pytest.approx([n / 10 for n in range(12)])
    assert fixed == pytest.approx([n / 25 for n in range(12)])


def test_timestamps_that_do_not_advance_still_give_increasing_pts(tmp_path: Path) -> None:
    frames = synthetic(6)
    for frame, pts in zip(frames, [0, 100, 200, 0, 100, 200], strict=True):
        frame.pts, frame.time_base = pts, Fraction(1, 1000)  # a source restarting its clock
    encode(VideoFileSink(tmp_path / "restart.mp4"), frames)
    times = [f.time for f in read_video(tmp_path / "restart.mp4")[2]]
    # after the restart each frame comes 1/30 s (33 ticks of 1 ms) after the previous one
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.233, 0.266, 0.299])


def test_takes_only_its_source(tmp_path: Path) -> None:
    a, b = synthetic(5, source_id=0), synthetic(5, source_id=1)
    mixed = [frame for pair in zip(a, b, strict=True) for frame in pair]
    sink = VideoFileSink(tmp_path / "one.mp4", source_id=1)
    encode(sink, mixed, per_batch=2)
    assert stamps(read_video(tmp_path / "one.mp4")[2]) == [(1, i) for i in range(5)]
    every = VideoFileSink(tmp_path / "all.mp4")
    encode(every, mixed, per_batch=2)
    assert every.frames_written == 10


def test_frames_of_another_size_are_scaled_to_the_first(tmp_path: Path) -> None:
    frames = synthetic(3, 128, 96) + synthetic(3, 256, 192) + synthetic(3, 63, 47)
    encode(VideoFileSink(tmp_path / "sizes.mp4"), frames)
    decoded = read_video(tmp_path / "sizes.mp4")[2]
    assert [(f.width, f.height) for f in decoded] == [(128, 96)] * 9


def test_odd_size_is_padded_to_even_without_resampling(tmp_path: Path) -> None:
    encode(VideoFileSink(tmp_path / "odd.mp4"), synthetic(3, 101, 75))
    decoded = read_video(tmp_path / "odd.mp4")[2]
    assert {(f.width, f.height) for f in decoded} == {(102, 76)}
    pictures = [f.to_ndarray(format="rgb24") for f in decoded]
    assert [decode_stamp(p[:75, :101]) for p in pictures] == [(0, 0), (0, 1), (0, 2)]
    assert max(p[:, 101:].max() for p in pictures) < 40  # the padding is black


@pytest.mark.parametrize(
    ("codec", "size", "expected"),
    [
        ("h264", (1, 1), (2, 2)),
        ("h264", (3, 1), (4, 2)),
        ("mpeg4", (1, 1), (2, 2)),
        ("h265", (1, 1), (64, 64)),
        ("h265", (40, 3), (64, 64)),
        ("h265", (101, 3), (102, 64)),
    ],
)
def test_tiny_sizes_are_padded_to_the_encoders_minimum(
    tmp_path: Path, codec: str, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = size
    frames = [
        Frame(np.full((height, width, 3), 255, np.uint8), PixelFormat.RGB24, 0, i) for i in range(5)
    ]
    sink = VideoFileSink(tmp_path / "tiny.mkv", codec=codec)
    encode(sink, frames)
    decoded = read_video(tmp_path / "tiny.mkv")[2]
    assert sink.frames_written == 5
    assert [(f.width, f.height) for f in decoded] == [expected] * 5
    luma = decoded[-1].to_ndarray(format="gray")
    assert luma[0, 0] > 100  # the picture, top left
    assert luma[-1, -1] < 60  # the black padding


@pytest.mark.parametrize(
    ("format", "pixels"),
    [
        (PixelFormat.RGB24, np.full((32, 48, 3), (200, 30, 30), np.uint8)),
        (PixelFormat.BGR24, np.full((32, 48, 3), (30, 30, 200), np.uint8)),
        (PixelFormat.GRAY8, np.full((32, 48), 120, np.uint8)),
    ],
)
def test_pixel_formats_keep_their_colours(
    tmp_path: Path, format: PixelFormat, pixels: np.ndarray
) -> None:
    frame = Frame(pixels, format, source_id=0, frame_num=0)
    encode(VideoFileSink(tmp_path / "colour.mkv"), [frame])
    decoded = read_video(tmp_path / "colour.mkv")[2][0].to_ndarray(format="rgb24")
    expected = (200, 30, 30) if format is not PixelFormat.GRAY8 else (120, 120, 120)
    assert np.abs(decoded.reshape(-1, 3).mean(axis=0) - expected).max() < 6


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError) as info:
        VideoFileSink("out.mp4", codec="vp12")
    assert str(info.value) == (
        "codec = vp12: no such video encoder in this FFmpeg build; "
        "expected h264, h265, hevc, mpeg4 or an FFmpeg video encoder name"
    )
    with pytest.raises(
        ConfigError, match=r"^output-file = out\.gif: unsupported video file suffix"
    ):
        VideoFileSink("out.gif")
    with pytest.raises(ConfigError, match="codec = aac: no such video encoder"):
        VideoFileSink("out.mp4", codec="aac")


def test_unwritable_path_is_a_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sink = VideoFileSink(blocker / "out.mp4")
    with pytest.raises(
        SinkError, match=f"^cannot create video file '{re.escape(str(blocker / 'out.mp4'))}': "
    ):
        sink.start()
    sink.stop()  # safe after a failed start


def test_no_frames_leaves_no_file(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "empty.mp4", source_id=3)
    encode(sink, synthetic(4))  # frames of source 0 only
    assert not (tmp_path / "empty.mp4").exists()


def test_pipeline_writes_the_whole_stream(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "run.mp4", fps=30)
    report = Pipeline([SyntheticSource(160, 120, 45)], [sink]).run()
    assert report.frames_out == 45
    assert report.balanced
    assert stamps(read_video(tmp_path / "run.mp4")[2]) == [(0, i) for i in range(45)]


class FailAt(Element):
    kind = "fail"

    def __init__(self, batch_index: int) -> None:
        super().__init__()
        self.batch_index = batch_index

    def process(self, batch: Batch) -> Batch:
        if batch.index == self.batch_index:
            raise RuntimeError("boom")
        return batch


@pytest.mark.parametrize("failing_first", [True, False])
def test_error_mid_run_leaves_a_playable_file(tmp_path: Path, failing_first: bool) -> None:
    sink = VideoFileSink(tmp_path / "partial.mp4")
    fail = FailAt(30)
    elements = [fail, sink] if failing_first else [sink, fail]
    with pytest.raises(PipelineError, match="element 'fail' failed: RuntimeError: boom"):
        Pipeline([SyntheticSource(128, 96, 10_000)], elements).run()
    written = stamps(read_video(tmp_path / "partial.mp4")[2])
    assert written == [(0, i) for i in range(sink.frames_written)]
    assert sink.frames_written >= (1 if failing_first else 31)


def test_killed_process_leaves_the_completed_fragments(tmp_path: Path) -> None:
    path = tmp_path / "killed.mp4"
    script = f"""
        import os
        from visionflow.core.batch import Batch
        from visionflow.media.synthetic import SyntheticSource
        from visionflow.sinks.video import VideoFileSink

        sink = VideoFileSink({str(path)!r}, fps=30)  # GOPs and fragments of 60 frames
        sink.start()
        for frame in SyntheticSource(128, 96, 150).frames():
            sink.process(Batch([frame]))
        os._exit(3)  # no stop(): the encoder still holds frames, the index is never written
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], timeout=60)
    assert done.returncode == 3
    assert stamps(read_video(path)[2]) == [(0, i) for i in range(120)]


def test_frame_rate_is_a_fraction() -> None:
    assert VideoFileSink("a.mp4", fps=29.97).fps == Fraction(2997, 100)
    assert repr(VideoFileSink("a.mp4", codec="h264")) == (
        "<VideoFileSink 'videofilesink' a.mp4 libx264 closed>"
    )
