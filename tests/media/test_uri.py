from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from visionflow.core.source import Source
from visionflow.errors import ConfigError
from visionflow.media.images import ImageSource
from visionflow.media.synthetic import SyntheticSource
from visionflow.media.uri import open_source
from visionflow.media.video import VideoSource


@pytest.mark.parametrize(
    ("spec", "kind", "uri"),
    [
        ("clip.mp4", VideoSource, "clip.mp4"),
        ("/data/stream.h264", VideoSource, "/data/stream.h264"),
        ("file:///data/clip.mkv", VideoSource, "file:///data/clip.mkv"),
        ("rtsp://cam:554/live", VideoSource, "rtsp://cam:554/live"),
        ("https://host/clip.mp4", VideoSource, "https://host/clip.mp4"),
        ("udp://239.0.0.1:5000", VideoSource, "udp://239.0.0.1:5000"),
        ("photo.JPG", ImageSource, "photo.JPG"),
        ("file:///data/frames/0001.png", ImageSource, "/data/frames/0001.png"),
        ("frames/*.png", ImageSource, "frames/*.png"),
        ("frames/img_[0-9].jpg", ImageSource, "frames/img_[0-9].jpg"),
        ("synthetic://320x240?frames=5", SyntheticSource, "synthetic://320x240?frames=5&fps=30"),
    ],
)
def test_spec_chooses_the_source_class(spec: str, kind: type[Source], uri: str) -> None:
    source = open_source(spec, source_id=4)
    assert type(source) is kind
    assert source.uri == uri
    assert source.source_id == 4


def test_folder_and_path_objects(tmp_path: Path) -> None:
    assert isinstance(open_source(tmp_path), ImageSource)
    assert isinstance(open_source(f"file://{tmp_path}"), ImageSource)
    assert isinstance(open_source(tmp_path / "clip.mov"), VideoSource)


def test_options_reach_the_constructor() -> None:
    source = open_source("clip.mp4", loop=True, threads=2)
    assert isinstance(source, VideoSource)
    assert (source.loop, source.threads) == (True, 2)
    with pytest.raises(TypeError, match="fps"):
        open_source("clip.mp4", fps=10)


def test_synthetic_query() -> None:
    source = open_source("synthetic://64x48?frames=7&fps=30000/1001&pattern=noise&seed=3&live=1")
    assert isinstance(source, SyntheticSource)
    assert (source.width, source.height, source.num_frames) == (64, 48, 7)
    assert source.fps == Fraction(30000, 1001)
    assert (source.pattern, source.seed, source.live) == ("noise", 3, True)
    endless = open_source("synthetic://64x48", seed=9)
    assert isinstance(endless, SyntheticSource)
    assert (endless.num_frames, endless.seed, endless.live) == (None, 9, False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "ftp://host/clip.mp4",
            "uri = ftp://host/clip.mp4: unsupported URI scheme 'ftp'; expected a path or a URI "
            "with one of the schemes file, http, https, rtmp, rtmps, rtp, rtsp, rtsps, srt, tcp, "
            "udp, synthetic",
        ),
        (
            "synthetic://640?frames=2",
            "uri = synthetic://640?frames=2: malformed synthetic source; "
            "expected synthetic://WIDTHxHEIGHT?…",
        ),
        (
            "synthetic://64x48?speed=2",
            "uri = synthetic://64x48?speed=2: unknown query key 'speed'; "
            "expected frames, fps, pattern, seed, live",
        ),
        (
            "synthetic://64x48?frames=ten",
            "uri = synthetic://64x48?frames=ten: invalid frames 'ten'",
        ),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_source(spec)
    assert str(info.value) == message


def test_windows_drive_letter_is_a_path() -> None:
    source = open_source(r"C:\videos\clip.mp4")
    assert isinstance(source, VideoSource)
    assert source.uri == r"C:\videos\clip.mp4"


def test_network_options_reach_video_sources_only(tmp_path: Path) -> None:
    camera = open_source("rtsp://cam/1", timeout=3, reconnect_attempts=2)
    assert isinstance(camera, VideoSource)
    assert (camera.timeout, camera.reconnect.attempts, camera.reconnecting) == (3, 2, True)
    default = open_source("rtsp://cam/1")
    assert isinstance(default, VideoSource)
    assert (default.timeout, default.reconnect.attempts) == (10.0, -1)
    assert not open_source("rtsp://cam/1", reconnect_attempts=0).reconnecting  # type: ignore[attr-defined]
    assert not VideoSource("https://host/clip.mp4").reconnecting  # a recording, not live
    # the pipeline passes them for every source; images and synthetic frames take none
    images = open_source(str(tmp_path / "*.png"), timeout=3, reconnect_attempts=2)
    assert isinstance(images, ImageSource)
    synthetic = open_source("synthetic://8x8?frames=1", timeout=3, reconnect_attempts=2)
    assert isinstance(synthetic, SyntheticSource)


def test_pipeline_yaml_sets_timeout_and_reconnect_attempts(tmp_path: Path) -> None:
    from visionflow.app import App
    from visionflow.config.pipeline import load_pipeline_config

    path = tmp_path / "pipeline.yml"
    path.write_text(
        "sources:\n"
        "  - uri: rtsp://cam/1\n"
        "    timeout: 4\n"
        "    reconnect_attempts: 0\n"
        "  - uri: http://cam/2\n"
        "sinks:\n  - type: fake\n"
    )
    sources = App.from_config(load_pipeline_config(path)).pipeline.sources
    assert [(s.timeout, s.reconnect.attempts) for s in sources if isinstance(s, VideoSource)] == [
        (4.0, 0),
        (10.0, -1),
    ]


def test_a_pipeline_of_synthetic_sources_runs_without_pyav(tmp_path: Path) -> None:
    """PyAV is imported only where a video is opened or written: synthetic sources through the
    bundled detector and a tracker into JSON Lines run with ``import av`` failing (a GPU machine
    or a Ray worker image may have no PyAV)."""
    import subprocess
    import sys

    out = tmp_path / "meta.jsonl"
    script = f"""
import sys
sys.modules["av"] = None  # any 'import av' now fails
from visionflow.app import App
from visionflow.config.pipeline import PipelineConfig
from visionflow.zoo import bundled_config
config = PipelineConfig.model_validate({{
    "sources": [{{"uri": "synthetic://320x240?frames=6&pattern=moving-boxes&seed=" + str(i)}}
                for i in range(2)],
    "infer": [{{"config": str(bundled_config("shapes_det")), "threads": 1}}],
    "tracker": {{"algorithm": "iou"}},
    "sinks": [{{"type": "jsonl", "path": {str(out)!r}}}],
}})
App.from_config(config).run()
assert "av" not in sys.modules or sys.modules["av"] is None
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 12
