from __future__ import annotations

from visionflow.core.pipeline import Pipeline
from visionflow.media.synthetic import SyntheticSource
from visionflow.sinks.fake import FakeSink


def test_fake_sink_passes_everything_through() -> None:
    seen: list[int] = []
    pipeline = Pipeline([SyntheticSource(16, 8, 9), SyntheticSource(16, 8, 4)], [FakeSink()])
    pipeline.add_probe("fakesink", lambda batch: seen.extend(f.frame_num for f in batch.frames))
    report = pipeline.run()
    assert (report.frames_in, report.frames_out, report.drops) == (13, 13, {})
    assert sorted(seen) == sorted([*range(9), *range(4)])
