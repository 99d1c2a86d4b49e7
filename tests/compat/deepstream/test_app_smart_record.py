"""deepstream-app's ``smart-record`` source keys → visionflow's smart record settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from visionflow.compat.deepstream.app import read_deepstream_app
from visionflow.errors import ConfigError


def app_file(folder: Path, source: str) -> Path:
    path = folder / "app.txt"
    body = "[source0]\nenable=1\ntype=3\nnum-sources=2\nuri=file://clip%d.mp4\n" + source
    path.write_text(body + "\n[sink0]\nenable=1\ntype=1\n")
    return path


def test_smart_record_2_maps_every_key(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        smart-record=2
        smart-rec-dir-path=/tmp/recs
        smart-rec-file-prefix=cam
        smart-rec-cache=30
        smart-rec-container=1
        smart-rec-start-time=4
        smart-rec-duration=6
        smart-rec-default-duration=12
        smart-rec-interval=7
        """
    )
    config, report = read_deepstream_app(app_file(tmp_path, source))
    assert len(config.sources) == 2  # MultiURI: each source records on its own
    for s in config.sources:
        record = s.smart_record
        assert record is not None
        assert (record.cache, record.start_time, record.duration) == (30, 4, 6)
        assert (record.default_duration, record.interval) == (12, 7)
        assert (record.dir, record.prefix, record.container) == (Path("/tmp/recs"), "cam", "mkv")
    keys = [line.split("=")[0] for line in source.splitlines()]
    assert {f"source0.{k}" for k in keys} <= set(report.honoured)


def test_smart_record_1_has_no_clock_and_deepstream_zeros_take_visionflow_defaults(
    tmp_path: Path,
) -> None:
    config, report = read_deepstream_app(
        app_file(tmp_path, "smart-record=1\nsmart-rec-video-cache=8\nsmart-rec-interval=3\n")
    )
    record = config.sources[0].smart_record
    assert record is not None
    assert (record.cache, record.interval, record.start_time, record.duration) == (8, 0, 0, 0)
    assert record.default_duration == 20
    assert record.dir == Path(".")
    assert report.ignored["source0.smart-rec-interval"] == "used with smart-record=2 only"
    assert "cloud" in report.ignored["source0.smart-record"]


def test_smart_record_0_leaves_the_keys_unused(tmp_path: Path) -> None:
    config, report = read_deepstream_app(app_file(tmp_path, "smart-rec-cache=5\n"))
    assert config.sources[0].smart_record is None
    assert report.ignored["source0.smart-rec-cache"] == "unused: smart-record is 0"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("smart-record=3", "smart-record = 3: invalid value; expected 0 (off)"),
        ("smart-rec-container=2", "smart-rec-container = 2: invalid value; expected 0 (MP4)"),
    ],
)
def test_bad_smart_record_values_name_file_line_key_and_what_is_allowed(
    tmp_path: Path, line: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_deepstream_app(app_file(tmp_path, f"smart-record=1\n{line}\n"))
    message = str(caught.value)
    assert "app.txt:" in message
    assert expected in message
