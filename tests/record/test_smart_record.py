"""Smart record through real pipelines: real H.264 clips (PyAV/libx264), real remuxed files, the
frames in them read back by their pixel stamps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import av.video.stream
import pytest

from visionflow.app import App
from visionflow.config.pipeline import PipelineConfig
from visionflow.core.batch import Batch
from visionflow.core.meta import AnalyticsFrameMeta
from visionflow.media.synthetic import SyntheticSource, decode_stamp
from visionflow.record import SmartRecord, request_recording
from visionflow.record.config import SmartRecordConfig
from visionflow.record.recorder import SmartRecorder

FPS, GOP = 30, 15  # a key frame every 0.5 s


def stamped_clip(path: Path, frames: int, *, fps: int = FPS, gop: int = GOP) -> Path:
    """An H.264 MP4 (with B-frames) whose frame i shows the stamp of frame i."""
    render = SyntheticSource(160, 96, frames).render
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.options = {"bf": "2", "sc_threshold": "0"}
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(render(i), format="rgb24")))
        out.mux(stream.encode(None))
    return path


def stamps(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [decode_stamp(f.to_ndarray(format="rgb24"))[1] for f in container.decode(video=0)]


def packets(path: Path) -> set[bytes]:
    with av.open(str(path)) as container:
        return {bytes(p) for p in container.demux(video=0) if p.size}


def run(
    clip: Path,
    tmp_path: Path,
    record: dict[str, Any],
    probe: Callable[[Batch], None] | None = None,
) -> tuple[App, list[dict[str, Any]]]:
    config = PipelineConfig.model_validate(
        {
            "sources": [
                {"uri": str(clip), "smart_record": {"dir": str(tmp_path / "rec"), **record}}
            ],
            "sinks": [{"type": "jsonl", "path": str(tmp_path / "meta.jsonl")}],
        }
    )
    app = App.from_config(config)
    if probe is not None:
        app.pipeline.add_probe("smart_record", probe, "before")
    report = app.run()
    assert report.outcome == "ok", report
    lines = (tmp_path / "meta.jsonl").read_text().splitlines()
    return app, [json.loads(line) for line in lines]


def recorder_element(app: App) -> SmartRecord:
    element = app.pipeline.element("smart_record")
    assert isinstance(element, SmartRecord)
    return element


def at_frame(frame: int, **request: Any) -> Callable[[Batch], None]:
    def probe(batch: Batch) -> None:
        for _, meta in batch:
            if meta.frame_num == frame:
                request_recording(meta, **request)

    return probe


def test_an_event_records_from_start_time_before_to_duration_after_without_re_encoding(
    tmp_path: Path,
) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 300)  # 10 s
    app, lines = run(clip, tmp_path, {"start_time": 2, "duration": 3}, at_frame(150))

    (recording,) = recorder_element(app).recordings
    assert recording.done
    assert recording.error is None
    assert recording.reason == "probe"
    assert recording.event_time == pytest.approx(5.0)
    got = stamps(recording.path)
    # from the key frame at 3.0 s (frame 90) to 8.0 s (frame 240), every frame once, in order
    assert got[0] == 90
    assert got == list(range(90, 90 + len(got)))
    assert 240 <= got[-1] <= 245
    assert recording.frames == len(got)
    assert packets(recording.path) <= packets(clip)  # the source's own packets: a remux
    events = [ln["user"]["smart_record"] for ln in lines if "smart_record" in ln.get("user", {})]
    started = [e["started"] for e in events]
    finished = [e["finished"] for e in events]
    assert [r["path"] for rs in started for r in rs] == [str(recording.path)]
    assert [(r["path"], r["frames"], r["done"]) for rs in finished for r in rs] == [
        (str(recording.path), len(got), True)
    ]
    assert recording.path.name.startswith("Smart_Record_00000_00001_")
    assert recording.path.suffix == ".mp4"


def test_an_event_during_a_recording_extends_it(tmp_path: Path) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 300)

    def probe(batch: Batch) -> None:
        for _, meta in batch:
            if meta.frame_num in (60, 90):  # 2 s and 3 s: the second comes while recording
                request_recording(meta, start_time=1, duration=2)

    app, _ = run(clip, tmp_path, {}, probe)
    (recording,) = recorder_element(app).recordings
    got = stamps(recording.path)
    assert got[0] == 30
    assert 150 <= got[-1] <= 155


def test_a_recording_goes_on_across_the_passes_of_a_looped_file(tmp_path: Path) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 60)  # 2 s, key frames at 0, 15, 30, 45
    config = PipelineConfig.model_validate(
        {
            "sources": [
                {
                    "uri": str(clip),
                    "loop": True,
                    "smart_record": {"dir": str(tmp_path / "rec"), "start_time": 2, "duration": 1},
                }
            ]
        }
    )
    app = App.from_config(config)

    def probe(batch: Batch) -> None:
        for _, meta in batch:
            if meta.frame_num == 100:  # 3.33 s, in the second pass
                request_recording(meta)
            if meta.frame_num == 200:
                app.pipeline.stop()

    app.pipeline.add_probe("smart_record", probe, "before")
    app.run()
    (recording,) = recorder_element(app).recordings
    assert recording.error is None
    got = stamps(recording.path)
    # 1.33 s … 4.33 s: from the key frame at frame 30 of the first pass, across the second pass,
    # into the third; every frame once, in order
    assert got[:31] == [*range(30, 60), 0]
    assert got == [(30 + i) % 60 for i in range(len(got))]
    assert 100 <= len(got) <= 106


def test_smart_record_2_starts_and_stops_every_interval(tmp_path: Path) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 300)
    app, _ = run(
        clip, tmp_path, {"interval": 2, "start_time": 0, "duration": 0, "container": "mkv"}
    )
    recordings = recorder_element(app).recordings
    assert [r.reason for r in recordings] == ["interval", "interval"]
    first, second = (stamps(r.path) for r in recordings)
    # started at 2 s, stopped at 4 s; 6 s … 8 s. A stop ends the file where the demuxer is, at
    # most the pipeline's depth past the tick: its queues (4 frames each) and the decoder's
    # frame threads — 11 frames once in a full-suite run on a loaded 2-core machine
    assert first[0] == 60
    assert 120 <= first[-1] <= 140
    assert second[0] == 180
    assert 240 <= second[-1] <= 260
    assert all(r.path.suffix == ".mkv" for r in recordings)


def test_a_line_crossing_starts_a_recording(tmp_path: Path) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 150)

    def crossing_at_frame_75(batch: Batch) -> None:
        for _, meta in batch:
            crossed = 1 if meta.frame_num == 75 else 0
            meta.analytics.append(AnalyticsFrameMeta(component_id=1, line_crossings={"L": crossed}))

    record = {"on": ["line_crossing"], "start_time": 1, "duration": 1}
    app, _ = run(clip, tmp_path, record, crossing_at_frame_75)
    (recording,) = recorder_element(app).recordings
    assert recording.reason == "line_crossing"
    got = stamps(recording.path)
    assert got[0] == 45
    assert 105 <= got[-1] <= 110


def test_overcrowding_starts_a_recording_once_per_episode(tmp_path: Path) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 300)

    def crowded(batch: Batch) -> None:
        for _, meta in batch:
            on = 30 <= meta.frame_num < 60 or 240 <= meta.frame_num < 250
            meta.analytics.append(AnalyticsFrameMeta(component_id=1, overcrowding={"Z": on}))

    record = {"on": ["overcrowding"], "start_time": 0, "duration": 1}
    app, _ = run(clip, tmp_path, record, crowded)
    assert [r.event_time for r in recorder_element(app).recordings] == pytest.approx([1.0, 8.0])


def test_a_recording_that_cannot_be_written_is_reported_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 90)
    (tmp_path / "rec").write_text("a file where the folder should be")
    app, lines = run(clip, tmp_path, {"start_time": 0, "duration": 1}, at_frame(30))
    (recording,) = recorder_element(app).recordings
    assert recording.done
    assert recording.error is not None
    assert "cannot create" in recording.error
    assert len(lines) == 90  # every frame's metadata


def test_the_cache_holds_its_seconds_and_a_late_start_begins_at_its_first_key_frame(
    tmp_path: Path,
) -> None:
    clip = stamped_clip(tmp_path / "clip.mp4", 300)
    recorder = SmartRecorder(0, SmartRecordConfig(cache=2, dir=tmp_path / "rec"))
    with av.open(str(clip)) as container:
        recorder.opened(container.streams.video[0])
        for packet in container.demux(video=0):
            recorder.packet(packet)
        # the stream is at 9.97 s; 6 s back is beyond the 2 s cache
        recording = recorder.start(start_time=6, duration=0)
    recorder.close()
    got = stamps(recording.path)
    assert got[0] == 240  # the first key frame in the cache (8.0 s)
    assert got[-1] == 299


def test_a_non_video_source_with_smart_record_is_a_config_error(tmp_path: Path) -> None:
    from visionflow.errors import ConfigError

    config = PipelineConfig.model_validate(
        {"sources": [{"uri": "synthetic://64x64?frames=3", "smart_record": {}}]}
    )
    with pytest.raises(ConfigError, match="smart_record needs a video file or stream"):
        App.from_config(config)
