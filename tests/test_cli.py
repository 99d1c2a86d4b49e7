from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from support.onnx_models import constant_output_model
from visionflow.cli import app
from visionflow.media.synthetic import SyntheticSource

runner = CliRunner()


def detector_yaml(tmp_path: Path) -> Path:
    """A detector config whose model always finds one 'car' box in the middle (YOLOv8 layout)."""
    out = np.zeros((6, 1), np.float32)
    out[:4, 0] = 32, 32, 16, 16
    out[4, 0] = 0.9
    constant_output_model(tmp_path / "det.onnx", {"output0": out})
    config = tmp_path / "det.yml"
    config.write_text(
        "onnx_file: det.onnx\nparser: yolov8\nnum_detected_classes: 2\nlabels: [car, person]\n"
        "cluster_mode: nms\n",
        encoding="utf-8",
    )
    return config


def test_help_is_fast_and_lists_commands() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "visionflow.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - started < 5
    for command in ("run", "infer", "validate", "doctor", "demo"):
        assert command in result.stdout


def test_doctor_json() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert "h264" in info["codecs"]["decoders"]
    assert "onnxruntime" in info["backends"]


def test_infer_writes_video_and_metadata(tmp_path: Path) -> None:
    config = detector_yaml(tmp_path)
    out, meta = tmp_path / "out.mp4", tmp_path / "meta.jsonl"
    result = runner.invoke(
        app,
        [
            "infer",
            "--config",
            str(config),
            "--input",
            "synthetic://128x64?frames=12",
            "--output",
            str(out),
            "--meta",
            str(meta),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    assert [line["frame_num"] for line in lines] == list(range(12))
    (obj,) = lines[0]["objects"]
    # 128x64 frame stretched into 64x64: x scaled by 2, y by 1 → box 24..40 → 48..80, 24..40.
    assert obj["label"] == "car"
    assert obj["bbox"] == {"left": 48.0, "top": 24.0, "width": 32.0, "height": 16.0}
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_infer_bad_config_exits_2_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("[property]\nonnx-file=m.onnx\nnetwork-mode=7\n", encoding="utf-8")
    result = runner.invoke(
        app, ["infer", "--config", str(bad), "--input", "synthetic://64x64?frames=1"]
    )
    assert result.exit_code == 2
    assert "bad.txt:3: [property] network-mode = 7" in result.output
    assert "0 (FP32), 1 (INT8), 2 (FP16) or 3 (best)" in result.output


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the real ``visionflow`` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "visionflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"visionflow {importlib.metadata.version('visionflow')}\n"


@pytest.mark.parametrize("command", [[], ["run"], ["infer"], ["validate"]])
def test_h_is_help(command: list[str]) -> None:
    short, long = cli(*command, "-h"), cli(*command, "--help")
    assert (short.returncode, long.returncode) == (0, 0)
    assert short.stdout == long.stdout
    assert "-h, --help" in short.stdout


@pytest.mark.parametrize("command", ["run", "infer", "demo", "doctor", "validate"])
def test_flags_take_no_value_in_help(command: str) -> None:
    text = cli(command, "--help").stdout
    assert "<bool>" not in text
    assert "bool" not in text.lower().replace("boolean", "")
    if command in ("run", "infer", "demo"):
        assert "--progress / --no-progress" in text
        assert "128+N" in text  # the exit statuses are documented


def test_an_element_error_is_printed_once(tmp_path: Path) -> None:
    config = tmp_path / "det.yml"
    config.write_text("onnx_file: missing.onnx\nparser: yolov8\nnum_detected_classes: 2\n")
    result = cli("infer", "-c", str(config), "-i", "synthetic://64x64?frames=3", "--no-progress")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("model file not found") == 1, output


def test_a_source_error_is_printed_once(tmp_path: Path) -> None:
    config = detector_yaml(tmp_path)
    missing = tmp_path / "missing.mp4"
    result = cli("infer", "-c", str(config), "-i", str(missing), "--no-progress")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert output.count("not found") == 1, output
    assert "error: nothing could be processed: 1 of 1 sources failed" in result.stderr


# -- exit status ------------------------------------------------------------------------------


def write_clip(path: Path, num_frames: int) -> Path:
    render = SyntheticSource(64, 48, num_frames).render
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(num_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(render(i), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bad_input(kind: str, tmp_path: Path) -> str:
    """A real input of each kind that cannot be processed."""
    path = tmp_path / f"{kind}.mp4"
    if kind == "missing":
        return str(path)
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n")
    elif kind == "truncated":  # the index (moov) comes last: the first 2 KiB cannot be opened
        path.write_bytes(write_clip(tmp_path / "whole.mp4", 30).read_bytes()[:2048])
    elif kind == "audio-only":
        write_audio_only(path)
    elif kind == "dead-url":
        return f"http://127.0.0.1:{closed_port()}/x.mp4"
    return str(path)


FAILURE_KINDS = ["missing", "zero-byte", "text", "truncated", "audio-only", "dead-url"]


@pytest.mark.parametrize("kind", FAILURE_KINDS)
def test_exit_1_when_every_source_failed(tmp_path: Path, kind: str) -> None:
    config, meta = detector_yaml(tmp_path), tmp_path / "meta.jsonl"
    uri = bad_input(kind, tmp_path)
    result = runner.invoke(
        app, ["infer", "-c", str(config), "-i", uri, "-i", uri, "-m", str(meta), "--no-progress"]
    )
    assert result.exit_code == 1, result.output
    assert "error: nothing could be processed: 2 of 2 sources failed" in result.output
    assert not meta.exists()  # no empty metadata file left behind


@pytest.mark.parametrize("kind", FAILURE_KINDS)
def test_exit_3_when_some_sources_failed(tmp_path: Path, kind: str) -> None:
    config, meta = detector_yaml(tmp_path), tmp_path / "meta.jsonl"
    good = write_clip(tmp_path / "good.mp4", 20)
    result = runner.invoke(
        app,
        [
            *("infer", "-c", str(config), "-i", bad_input(kind, tmp_path), "-i", str(good)),
            *("-m", str(meta), "--no-progress"),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "warning: 1 of 2 sources failed; the rest ran to the end (exit status 3)" in (
        result.output
    )
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    assert [(r["source_id"], r["frame_num"]) for r in lines] == [(1, i) for i in range(20)]


def test_exit_3_when_an_output_failed(tmp_path: Path) -> None:
    config, meta = detector_yaml(tmp_path), tmp_path / "meta.jsonl"
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(
        app,
        [
            *("infer", "-c", str(config), "-i", "synthetic://64x64?frames=10", "-m", str(meta)),
            *("-o", str(blocker / "out.mp4"), "--no-progress"),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "warning: 1 of 2 outputs failed" in result.output
    assert len(meta.read_text().splitlines()) == 10


def test_exit_1_says_every_output_failed_when_frames_flowed_but_no_output_took_them(
    tmp_path: Path,
) -> None:
    config = detector_yaml(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(
        app,
        [
            *("infer", "-c", str(config), "-i", "synthetic://64x64?frames=10"),
            *("-o", str(blocker / "out.mp4"), "--no-progress"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "error: every output failed: 1 of 1 outputs failed" in result.output


def test_infer_without_outputs_warns_that_it_writes_nothing(tmp_path: Path) -> None:
    config = detector_yaml(tmp_path)
    result = runner.invoke(
        app, ["infer", "-c", str(config), "-i", "synthetic://64x64?frames=3", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: neither --output nor --meta given: nothing will be written" in (result.output)


# -- signals ----------------------------------------------------------------------------------


def _default_signals() -> None:
    """The child starts with SIGHUP and SIGTERM at their defaults (even under ``nohup``)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "signum"),
    [
        ("infer", signal.SIGINT),
        ("infer", signal.SIGTERM),
        ("infer", signal.SIGHUP),
        ("run", signal.SIGTERM),
    ],
)
def test_a_signal_drains_the_run(tmp_path: Path, command: str, signum: signal.Signals) -> None:
    """Ctrl-C, SIGTERM and SIGHUP drain: the MP4 plays and holds exactly the frames that the
    metadata lists; the exit status is 128 + the signal number."""
    config = detector_yaml(tmp_path)
    out, meta = tmp_path / "out.mp4", tmp_path / "meta.jsonl"
    source = "synthetic://320x240?frames=100000"
    if command == "infer":
        args = ["infer", "-c", str(config), "-i", source, "-o", str(out), "-m", str(meta)]
    else:
        pipeline = tmp_path / "pipeline.yml"
        pipeline.write_text(
            f"sources:\n  - uri: '{source}'\ninfer:\n  - config: det.yml\nosd: {{}}\n"
            "sinks:\n  - {type: jsonl, path: meta.jsonl}\n  - {type: video, path: out.mp4}\n"
        )
        args = ["run", str(pipeline)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "visionflow.cli", *args, "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 180  # a loaded machine builds the engine slowly
    while time.monotonic() < deadline and (not meta.exists() or meta.stat().st_size < 20_000):
        time.sleep(0.1)
    assert meta.exists(), "the run never got going"
    assert meta.stat().st_size >= 20_000, "the run never got going"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err.decode()
    assert f"{signal.Signals(signum).name}: draining the pipeline" in err.decode()
    lines = [json.loads(line)["frame_num"] for line in meta.read_text().splitlines()]
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert len(lines) > 10
    assert frames == len(lines)
    assert lines == list(range(len(lines)))


def write_tiny_clip(path: Path, num_frames: int) -> Path:
    """A valid 1x1 H.264 clip (``yuv444p`` allows odd sizes)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1, 1, "yuv444p"
        for i in range(num_frames):
            pixels = np.full((1, 1, 3), i * 8 % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("tiler", [True, False])
def test_a_1x1_clip_does_not_stop_the_good_stream(tmp_path: Path, tiler: bool) -> None:
    """With a tiler (two inputs to ``infer``) or one video output per stream (``run``)."""
    config, meta = detector_yaml(tmp_path), tmp_path / "meta.jsonl"
    good = write_clip(tmp_path / "good.mp4", 60)
    tiny = write_tiny_clip(tmp_path / "tiny.mp4", 30)
    if tiler:
        args = ["infer", "-c", str(config), "-i", str(good), "-i", str(tiny)]
        args += ["-m", str(meta), "-o", str(tmp_path / "out.mp4"), "--no-progress"]
    else:
        pipeline = tmp_path / "pipeline.yml"
        pipeline.write_text(
            "sources: [{uri: good.mp4}, {uri: tiny.mp4}]\ninfer: [{config: det.yml}]\nosd: {}\n"
            "sinks:\n  - {type: jsonl, path: meta.jsonl}\n"
            "  - {type: video, path: out.mp4, source_id: 0}\n"
            "  - {type: video, path: tiny-out.mp4, source_id: 1}\n"
        )
        args = ["run", str(pipeline), "--no-progress"]
    result = runner.invoke(app, args)
    # 0 when every element handles a 1x1 picture; 3 when one cannot and the tiny stream ends
    assert result.exit_code in (0, 3), result.output
    if result.exit_code == 3:
        assert "warning: 1 of 2 sources failed" in result.output
    records = [json.loads(line) for line in meta.read_text().splitlines()]
    assert [r["frame_num"] for r in records if r["source_id"] == 0] == list(range(60))
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 60


@pytest.mark.parametrize(("with_good", "status"), [(False, 1), (True, 3)])
def test_run_exit_status(tmp_path: Path, with_good: bool, status: int) -> None:
    detector_yaml(tmp_path)
    write_clip(tmp_path / "good.mp4", 10)
    sources = "[{uri: missing.mp4}, {uri: good.mp4}]" if with_good else "[{uri: missing.mp4}]"
    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text(
        f"sources: {sources}\ninfer: [{{config: det.yml}}]\n"
        "sinks: [{type: jsonl, path: meta.jsonl}]\n"
    )
    result = runner.invoke(app, ["run", str(pipeline), "--no-progress"])
    assert result.exit_code == status, result.output
    assert (tmp_path / "meta.jsonl").exists() == with_good
