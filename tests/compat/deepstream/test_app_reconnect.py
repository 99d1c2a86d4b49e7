"""deepstream-app's RTSP reconnection keys → the sources' timeout and reconnect_attempts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from visionflow.app import App
from visionflow.compat.deepstream.app import read_deepstream_app
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.config.pipeline import PipelineConfig
from visionflow.media.video import VideoSource

PGIE = "[property]\nonnx-file=model.onnx\nnetwork-type=0\nnum-detected-classes=4\n"
ONLY_RTSP = "deepstream-app reconnects type=4 (RTSP) sources only"
NO_INTERVAL = "no reconnection: rtsp-reconnect-interval-sec is not > 0"


def read(folder: Path, sources: str) -> tuple[PipelineConfig, ConfigReport]:
    (folder / "pgie.txt").write_text(PGIE)
    path = folder / "app.txt"
    path.write_text(textwrap.dedent(sources) + "\n[primary-gie]\nenable=1\nconfig-file=pgie.txt\n")
    return read_deepstream_app(path)


@pytest.mark.parametrize(
    ("keys", "timeout", "attempts"),
    [
        ("type=4\nrtsp-reconnect-interval-sec=5\nrtsp-reconnect-attempts=3", 5.0, 3),
        ("type=4\nrtsp-reconnect-interval-sec=2", 2.0, -1),  # DeepStream's default: forever
        ("type=4\nrtsp-reconnect-interval-sec=2\nrtsp-reconnect-attempts=-7", 2.0, 0),
        ("type=4\nrtsp-reconnect-attempts=3", 10.0, 0),  # interval 0: no watch, no reconnection
        ("type=4\nrtsp-reconnect-interval-sec=0", 10.0, 0),
        ("type=2\nrtsp-reconnect-interval-sec=5", 10.0, 0),  # uridecodebin: no reconnection
        ("type=4", 10.0, 0),
    ],
)
def test_rtsp_reconnect_keys(tmp_path: Path, keys: str, timeout: float, attempts: int) -> None:
    config, _report = read(tmp_path, f"[source0]\nenable=1\nuri=rtsp://cam.local/1\n{keys}\n")
    source = config.sources[0]
    assert (source.timeout, source.reconnect_attempts) == (timeout, attempts)


def test_the_report_says_when_they_count(tmp_path: Path) -> None:
    _config, report = read(
        tmp_path,
        """
        [source0]
        enable=1
        type=4
        uri=rtsp://cam.local/0
        rtsp-reconnect-interval-sec=5
        rtsp-reconnect-attempts=3
        init-rtsp-reconnect-interval-sec=9
        [source1]
        enable=1
        type=4
        uri=rtsp://cam.local/1
        rtsp-reconnect-attempts=3
        [source2]
        enable=1
        type=2
        uri=rtsp://cam.local/2
        rtsp-reconnect-interval-sec=5
        """,
    )
    ignored = report.ignored
    assert "source0.rtsp-reconnect-interval-sec" not in ignored
    assert "source0.rtsp-reconnect-attempts" not in ignored
    assert ignored["source0.init-rtsp-reconnect-interval-sec"] == (
        "a camera down at the start is waited for rtsp-reconnect-interval-sec seconds"
    )
    assert ignored["source1.rtsp-reconnect-attempts"] == NO_INTERVAL
    assert ignored["source2.rtsp-reconnect-interval-sec"] == ONLY_RTSP


def test_source_list_attributes_reach_the_video_sources(tmp_path: Path) -> None:
    config, _report = read(
        tmp_path,
        """
        [source-list]
        list=rtsp://cam.local/1;rtsp://cam.local/2
        [source-attr-all]
        enable=1
        rtsp-reconnect-interval-sec=4
        rtsp-reconnect-attempts=6
        """,
    )
    sources = [s for s in App.from_config(config).pipeline.sources if isinstance(s, VideoSource)]
    assert len(sources) == 2
    assert [(s.timeout, s.reconnect.attempts) for s in sources] == [(4.0, 6), (4.0, 6)]
