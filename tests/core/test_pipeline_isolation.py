"""One failing stream or sink ends alone; the rest goes on and every output stays valid.

Real failures only: a 1x1 clip encoded by FFmpeg, a sink whose folder is a file, a full disk (a
small tmpfs mounted by the test; skipped where mounting is not allowed).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.core.element import Element
from visionflow.core.pipeline import Pipeline
from visionflow.media.synthetic import SyntheticSource, decode_stamp
from visionflow.media.video import VideoSource
from visionflow.sinks import JsonLinesSink, VideoFileSink

SMALL_DISK = "48k"


def write_clip(path: Path, width: int, height: int, num_frames: int, pix_fmt: str) -> Path:
    """A valid H.264 clip of stamped synthetic frames (``yuv444p`` allows odd and tiny sizes)."""
    render = SyntheticSource(max(width, 8), max(height, 8), num_frames).render
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for i in range(num_frames):
            pixels = np.ascontiguousarray(render(i)[:height, :width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def jsonl(path: Path) -> list[tuple[int, int]]:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")  # whole lines only
    return [(r["source_id"], r["frame_num"]) for r in map(json.loads, text.splitlines())]


def test_a_1x1_clip_beside_a_good_one(tmp_path: Path) -> None:
    good = write_clip(tmp_path / "good.mp4", 96, 64, 60, "yuv420p")
    tiny = write_clip(tmp_path / "tiny.mp4", 1, 1, 30, "yuv444p")
    meta = JsonLinesSink(tmp_path / "out" / "meta.jsonl", name="meta")
    sinks: list[Element] = [
        meta,
        VideoFileSink(tmp_path / "out" / "good.mp4", source_id=0, name="video0"),
        VideoFileSink(tmp_path / "out" / "tiny.mp4", source_id=1, name="video1"),
    ]
    report = Pipeline([VideoSource(good), VideoSource(tiny)], sinks).run()
    assert (report.source_failures, report.sink_failures, report.outcome) == ([], [], "ok")
    assert sorted(jsonl(tmp_path / "out" / "meta.jsonl")) == sorted(
        [(0, i) for i in range(60)] + [(1, i) for i in range(30)]
    )
    frames = decoded_frames(tmp_path / "out" / "good.mp4")
    assert [decode_stamp(f) for f in frames] == [(0, i) for i in range(60)]
    assert [f.shape for f in decoded_frames(tmp_path / "out" / "tiny.mp4")] == [(2, 2, 3)] * 30


def test_a_sink_that_cannot_start_fails_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    sinks: list[Element] = [
        JsonLinesSink(blocker / "meta.jsonl", name="broken"),
        JsonLinesSink(tmp_path / "meta.jsonl", name="meta"),
        VideoFileSink(tmp_path / "out.mp4", name="video"),
    ]
    report = Pipeline([SyntheticSource(64, 48, 40)], sinks).run()
    (failure,) = report.sink_failures
    assert failure.name == "broken"
    assert failure.error.startswith(f"cannot create metadata file '{blocker / 'meta.jsonl'}': ")
    assert report.outcome == "partial"
    assert report.frames_out == 40
    assert report.balanced
    assert jsonl(tmp_path / "meta.jsonl") == [(0, i) for i in range(40)]
    assert len(decoded_frames(tmp_path / "out.mp4")) == 40


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 48 KiB, mounted for the test and unmounted after it."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a small tmpfs, which needs root (Linux)")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("full", ["video", "jsonl"])
def test_a_full_disk_under_one_output(tmp_path: Path, small_disk: Path, full: str) -> None:
    video = (small_disk if full == "video" else tmp_path) / "out.mp4"
    meta = (small_disk if full == "jsonl" else tmp_path) / "meta.jsonl"
    sinks: list[Element] = [
        JsonLinesSink(meta, name="meta"),
        VideoFileSink(video, fps=30, name="video"),  # fragments of 60 frames
    ]
    report = Pipeline([SyntheticSource(320, 240, 300)], sinks).run()

    (failure,) = report.sink_failures
    assert failure.name == ("video" if full == "video" else "meta")
    assert "No space left on device" in failure.error
    assert report.outcome == "partial"
    assert report.frames_out == 300
    assert report.balanced
    lines = jsonl(meta)  # whole lines only, also on the full disk
    stamps = [decode_stamp(f) for f in decoded_frames(video)]  # decodes to the end, no error
    if full == "video":
        assert lines == [(0, i) for i in range(300)]
        assert 60 <= len(stamps) < 300
        assert stamps == [(0, i) for i in range(len(stamps))]
    else:
        assert stamps == [(0, i) for i in range(300)]
        assert 0 < len(lines) < 300
        assert lines == [(0, i) for i in range(len(lines))]
