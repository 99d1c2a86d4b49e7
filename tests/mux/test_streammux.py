"""The stream muxer batches at most one frame per source, and a tiler after it loses no frame."""

from __future__ import annotations

from pathlib import Path

import av
import av.video.stream
import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.geometry import Letterbox
from visionflow.core.pipeline import Pipeline
from visionflow.core.source import Source
from visionflow.media.synthetic import SyntheticSource, decode_stamp
from visionflow.media.video import VideoSource
from visionflow.mux.streammux import StreamMux
from visionflow.mux.tiler import Tiler, no_cell
from visionflow.sinks.video import VideoFileSink

W, H = 128, 96


class Record(Element):
    """Keeps ``(source_id, frame_num)`` of every frame of every batch."""

    kind = "record"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[int, int]]] = []

    def process(self, batch: Batch) -> Batch:
        self.batches.append([(f.source_id, f.frame_num) for f in batch.frames])
        return batch


def write_clip(path: Path, source_id: int, num_frames: int) -> Path:
    """A real H.264 MP4 of stamped frames: ``decode_stamp`` reads ``(source_id, n)`` back."""
    render = SyntheticSource(W, H, num_frames, source_id=source_id).render
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for n in range(num_frames):
            picture = av.VideoFrame.from_ndarray(render(n), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def assert_one_frame_per_source(batches: list[list[tuple[int, int]]]) -> None:
    for batch in batches:
        sources = [sid for sid, _ in batch]
        assert len(sources) == len(set(sources)), f"a batch holds two frames of one source: {batch}"


@pytest.mark.parametrize("timeout", [-1, 0, 40_000])
def test_a_batch_holds_at_most_one_frame_per_source(timeout: int) -> None:
    record = Record()
    sources: list[Source] = [SyntheticSource(32, 16, n) for n in (12, 3, 7)]
    Pipeline(sources, [record], mux=StreamMux(batch_size=3, batched_push_timeout=timeout)).run()

    assert_one_frame_per_source(record.batches)
    frames = [f for b in record.batches for f in b]
    assert sorted(frames) == [(s, n) for s, length in enumerate((12, 3, 7)) for n in range(length)]
    if timeout == -1:  # batches wait for every stream still running: 3 of 3, 4 of 2, 5 of 1
        assert [len(b) for b in record.batches] == [3] * 3 + [2] * 4 + [1] * 5


def test_a_live_source_beside_a_file_gets_its_own_slot() -> None:
    record = Record()
    live = SyntheticSource(32, 16, 15, fps=60, live=True)
    pipeline = Pipeline([SyntheticSource(32, 16, 40), live], [record], mux=StreamMux(batch_size=2))
    report = pipeline.run()

    assert_one_frame_per_source(record.batches)
    frames = [f for b in record.batches for f in b]
    assert sorted(f for f in frames if f[0] == 0) == [(0, n) for n in range(40)]
    dropped = report.drops.get("source 1: live queue overflow", 0)  # only if this machine stalls
    assert len(frames) == 55 - dropped


@pytest.mark.parametrize("timeout", [-1, 40_000])
def test_clips_of_different_lengths_tiled_to_mp4_lose_no_frame(
    tmp_path: Path, timeout: int
) -> None:
    lengths = (60, 24)
    sources: list[Source] = [
        VideoSource(write_clip(tmp_path / f"cam{i}.mp4", i, n)) for i, n in enumerate(lengths)
    ]
    out = tmp_path / "tiled.mp4"
    tiler = Tiler(rows=1, columns=2, width=2 * W, height=H)  # cells of the frames' own size
    pipeline = Pipeline(
        sources,
        [tiler, VideoFileSink(out, crf=18)],
        mux=StreamMux(batch_size=2, batched_push_timeout=timeout),
    )
    report = pipeline.run()

    mosaics = decoded(out)
    seen = {decode_stamp(m[:, sid * W : (sid + 1) * W]) for m in mosaics for sid in (0, 1)}
    expected = {(sid, n) for sid, length in enumerate(lengths) for n in range(length)}
    assert seen == expected  # every input frame is in the MP4
    if timeout == -1:  # the streams advance together: one mosaic per frame of the longer one
        assert len(mosaics) == max(lengths)
    assert max(lengths) <= len(mosaics) <= sum(lengths)
    assert [(s.source_id, s.frames) for s in report.streams] == [(0, 60), (1, 24)]
    assert (report.frames_in, report.frames_out, report.drops) == (84, 84, {})
    assert report.balanced


def test_the_tiler_turns_several_frames_of_a_stream_into_as_many_mosaics() -> None:
    a, b = SyntheticSource(W, H, 3, source_id=0), SyntheticSource(W, H, 1, source_id=1)
    frames = [*a.frames(), *b.frames()]  # three of stream 0, one of stream 1
    tiler = Tiler(rows=1, columns=2, width=2 * W, height=H)
    out = tiler.process(Batch(frames))

    assert len(out) == 3
    assert [m.frame_num for m in out.frames] == [0, 1, 2]
    stamps = [decode_stamp(m.data[:, :W]) for m in out.frames]
    assert stamps == [(0, 0), (0, 1), (0, 2)]
    assert [decode_stamp(m.data[:, W:]) for m in out.frames] == [(1, 0)] * 3  # kept, not redrawn
    composed = [[tuple(p)[:2] for p in meta.user["composed_of"]] for meta in out.meta.frames]
    assert composed == [[(0, 0), (1, 0)], [(0, 1)], [(0, 2)]]


def test_frames_without_a_cell_are_counted_as_dropped() -> None:
    record = Record()
    sources: list[Source] = [SyntheticSource(32, 16, 5) for _ in range(3)]
    pipeline = Pipeline(
        sources, [Tiler(rows=1, columns=2, width=64, height=16), record], mux=StreamMux(3, -1)
    )
    report = pipeline.run()

    assert [(s.source_id, s.frames) for s in report.streams] == [(0, 5), (1, 5), (2, 0)]
    assert report.drops == {no_cell(2, (1, 2)): 5}
    assert report.drops == {"tiler: stream 2 has no cell in the 1x2 grid": 5}
    assert report.balanced


@pytest.mark.parametrize(
    ("frame", "size", "scaled", "origin"),
    [
        ((80, 40), (100, 100), (100, 50), (0, 25)),
        ((1280, 720), (426, 240), (426, 239), (0, 0)),  # 239.625 → 239, odd pixel below
        ((1280, 720), (640, 640), (640, 360), (0, 140)),
        ((641, 360), (320, 320), (320, 179), (0, 70)),  # 179.72 → 179; (320 − 179) // 2 = 70
        ((100, 300), (99, 99), (33, 99), (33, 0)),
        ((2000, 1), (100, 100), (100, 1), (0, 49)),  # never 0 pixels
    ],
)
def test_the_muxer_letterboxes_as_geometry_does(
    frame: tuple[int, int],
    size: tuple[int, int],
    scaled: tuple[int, int],
    origin: tuple[int, int],
) -> None:
    placement = Letterbox.place(frame, (0, 0, *size), size)
    assert placement.scaled_size == scaled
    assert (placement.pad_left, placement.pad_top) == origin

    mux = StreamMux(width=size[0], height=size[1], enable_padding=True)
    pixels = np.full((frame[1], frame[0], 3), 255, np.uint8)
    (source_frame,) = SyntheticSource(8, 4, 1).frames()
    out = mux._scale(source_frame.with_pixels(pixels, source_frame.format)).data
    ys, xs = np.nonzero(out[..., 0])
    assert (xs.min(), ys.min()) == origin
    assert (xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == scaled


def test_visionflow_run_tiles_a_300_and_a_150_frame_clip_into_300_mosaics(tmp_path: Path) -> None:
    """The issue's case through the user's route: a pipeline YAML run by ``visionflow run``."""
    from typer.testing import CliRunner

    from visionflow.cli import app

    clips = [write_clip(tmp_path / f"cam{i}.mp4", i, n) for i, n in enumerate((300, 150))]
    out = tmp_path / "mosaic.mp4"
    (tmp_path / "pipeline.yml").write_text(
        "sources:\n"
        + "".join(f"  - uri: {clip}\n" for clip in clips)
        + f"tiler: {{rows: 1, columns: 2, width: {2 * W}, height: {H}}}\n"
        + f"sinks:\n  - type: video\n    path: {out}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["run", str(tmp_path / "pipeline.yml"), "--no-progress"])
    assert result.exit_code == 0, result.output

    mosaics = decoded(out)
    seen = {decode_stamp(m[:, sid * W : (sid + 1) * W]) for m in mosaics for sid in (0, 1)}
    assert seen == {(0, n) for n in range(300)} | {(1, n) for n in range(150)}
    assert 300 <= len(mosaics) <= 450
    assert "dropped" not in result.output
