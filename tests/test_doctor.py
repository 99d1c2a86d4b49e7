"""``visionflow doctor`` lists what works here: every backend, decoder and encoder it lists does."""

from __future__ import annotations

import json
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
import numpy as np
import pytest
from typer.testing import CliRunner

from visionflow import doctor
from visionflow.cli import app
from visionflow.infer.backends import openvino as openvino_backend

runner = CliRunner()


@pytest.fixture(scope="module")
def info() -> dict:
    return doctor.collect()


def has_nvidia_gpu() -> bool:
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def test_every_listed_encoder_writes_a_video_that_decodes(info: dict, tmp_path: Path) -> None:
    assert "libx264" in info["codecs"]["encoders"]  # a dependency of PyAV's wheels
    for name in info["codecs"]["encoders"]:
        path = tmp_path / f"{name}.mkv"
        with av.open(str(path), "w") as container:
            stream = container.add_stream(name, rate=25)
            assert isinstance(stream, av.video.stream.VideoStream)
            stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 25)
            for n in range(5):
                pixels = np.full((144, 256, 3), 40 * n, np.uint8)
                picture = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                picture.pts = n
                container.mux(stream.encode(picture))
            container.mux(stream.encode(None))
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 5, name


def test_every_listed_decoder_opens(info: dict) -> None:
    for name in info["codecs"]["decoders"]:
        context = av.CodecContext.create(name, "r")
        context.open()


@pytest.mark.skipif(has_nvidia_gpu(), reason="this machine has an NVIDIA GPU")
def test_no_nvidia_codec_is_listed_without_a_gpu(info: dict) -> None:
    listed = info["codecs"]["decoders"] + info["codecs"]["encoders"]
    assert [n for n in listed if "nvenc" in n or "cuvid" in n] == []
    assert info["unavailable"]["encoder h264_nvenc"]  # checked, and the reason given
    assert info["unavailable"]["decoder h264_cuvid"]


def test_openvino_is_not_listed_when_it_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    openvino_backend._core.cache_clear()
    try:
        info = doctor.collect()
    finally:
        openvino_backend._core.cache_clear()

    assert "openvino" not in info["backends"]
    assert "ov" not in info["backends"]
    assert "onnxruntime" in info["backends"]
    assert info["openvino_devices"] == []
    assert info["unavailable"]["backend openvino"] == (
        "not installed: pip install 'visionflow[openvino]'"
    )
    text = doctor.render(info)
    assert "openvino devices" not in text
    assert "  backend openvino: not installed: pip install 'visionflow[openvino]'" in text


def test_openvino_is_listed_with_its_devices_when_installed(info: dict) -> None:
    pytest.importorskip("openvino")
    assert "openvino" in info["backends"]
    assert "CPU" in info["openvino_devices"]


def test_cli_prints_the_report_and_json(info: dict) -> None:
    text = runner.invoke(app, ["doctor"])
    assert text.exit_code == 0, text.output
    assert "encoders: " + ", ".join(info["codecs"]["encoders"]) in text.output
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["codecs"] == info["codecs"]
