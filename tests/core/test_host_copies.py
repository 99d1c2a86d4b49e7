"""The run report counts the frames copied from a device to the host."""

from __future__ import annotations

import pytest

from visionflow.core.pipeline import Pipeline
from visionflow.media.synthetic import SyntheticSource
from visionflow.osd.element import OSD


def test_frames_pulled_to_the_host_are_counted_in_the_report() -> None:
    pytest.importorskip("torch")
    from visionflow.media.cuda_upload import UploadSource

    kept = Pipeline([UploadSource(SyntheticSource(32, 24, 5), "cpu")], []).run()
    assert kept.frames_out == 5
    assert kept.host_copies == 0
    drawn = Pipeline([UploadSource(SyntheticSource(32, 24, 5), "cpu")], [OSD()]).run()
    assert drawn.host_copies == 5  # the CPU OSD needs every frame on the host


def test_host_frames_are_never_counted() -> None:
    report = Pipeline([SyntheticSource(32, 24, 4)], [OSD()]).run()
    assert report.host_copies == 0
