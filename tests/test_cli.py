from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from support.onnx_models import constant_output_model
from visionflow.cli import app

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


@pytest.mark.slow
def test_ctrl_c_leaves_a_playable_mp4(tmp_path: Path) -> None:
    config = detector_yaml(tmp_path)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "visionflow.cli",
            "infer",
            "--config",
            str(config),
            "--input",
            "synthetic://320x240?frames=100000",
            "--output",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 10
