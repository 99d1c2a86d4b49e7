"""Choosing the decoder for the pipeline's device (CPU-side logic; no GPU needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.media.select import choose, describe, open_device_source, parse_device
from visionflow.media.synthetic import SyntheticSource


def _no_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return True
    return not torch.cuda.is_available()


needs_no_gpu = pytest.mark.skipif(
    not _no_cuda(), reason="checks the error on a machine with no GPU"
)


def test_devices_are_parsed_and_unknown_ones_refused() -> None:
    assert parse_device("cpu") == ("cpu", 0)
    assert parse_device("cuda") == ("cuda", 0)
    assert parse_device("cuda:3") == ("cuda", 3)
    with pytest.raises(ConfigError) as err:
        parse_device("gpu0")
    assert err.value.key == "device"
    assert "cuda:N" in str(err.value)


def test_cpu_device_decodes_with_pyav() -> None:
    assert choose("clip.mp4", "cpu").decoder == "pyav"
    assert choose("frames/*.jpg", "cpu").decoder == "host"
    assert choose("synthetic://64x48", "cpu", "pyav").decoder == "host"


def test_nvdec_on_the_cpu_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        choose("clip.mp4", "cpu", "nvdec")
    assert err.value.key == "decoder"
    assert "GPU device" in str(err.value)


def test_unknown_decoder_is_an_error() -> None:
    with pytest.raises(ConfigError) as err:
        choose("clip.mp4", "cuda", "vaapi")
    assert "auto, nvdec, pyav" in str(err.value)


@needs_no_gpu
@pytest.mark.parametrize("decoder", ["auto", "nvdec", "pyav"])
def test_a_gpu_device_without_a_gpu_is_an_error_never_a_cpu_run(decoder: str) -> None:
    with pytest.raises(ConfigError) as err:
        choose("clip.mp4", "cuda:0", decoder)
    text = str(err.value)
    assert err.value.key == "device"
    assert "cannot run" in text
    assert "torch" in text  # names what is missing: torch, or its CUDA


@needs_no_gpu
def test_doctor_tells_the_gpu_decode_choice() -> None:
    from visionflow import doctor

    info = doctor._video_decode()
    assert info["cpu"]["decoder"] == "pyav"
    assert info["cuda"]["decoder"] == "unavailable"
    assert "cannot run" in info["cuda"]["reason"]
    assert describe("cuda")["decoder"] == "unavailable"


def test_cpu_device_gives_the_host_source(tmp_path: Path) -> None:
    from visionflow.media.video import VideoSource

    source = open_device_source(tmp_path / "clip.mp4", 2, device="cpu")
    assert isinstance(source, VideoSource)
    assert source.source_id == 2


def test_pipeline_config_takes_device_and_decoder() -> None:
    from pydantic import ValidationError

    from visionflow.config.pipeline import PipelineConfig

    cfg = PipelineConfig.model_validate(
        {"device": "cuda:1", "sources": [{"uri": "a.mp4", "decoder": "nvdec"}]}
    )
    assert cfg.device == "cuda:1"
    assert cfg.sources[0].decoder == "nvdec"
    with pytest.raises(ValidationError):
        PipelineConfig.model_validate({"device": "gpu", "sources": [{"uri": "a.mp4"}]})
    with pytest.raises(ValidationError):
        PipelineConfig.model_validate({"sources": [{"uri": "a.mp4", "decoder": "cuvid"}]})


@needs_no_gpu
def test_app_with_a_gpu_device_fails_at_build_naming_the_device() -> None:
    from visionflow.app import App
    from visionflow.config.pipeline import PipelineConfig

    cfg = PipelineConfig.model_validate({"device": "cuda", "sources": [{"uri": "a.mp4"}]})
    with pytest.raises(ConfigError, match="device cuda cannot run"):
        App.from_config(cfg)


def test_upload_source_yields_the_host_pixels_as_tensors_in_reused_slots() -> None:
    torch = pytest.importorskip("torch")
    from visionflow.media.cuda_upload import UploadSource

    inner = SyntheticSource(32, 24, 6, source_id=0)
    source = UploadSource(inner, "cpu", slots=1)
    source.source_id = 5
    assert inner.source_id == 5
    assert source.num_frames == 6
    expected = [f.data.copy() for f in SyntheticSource(32, 24, 6, source_id=5).frames()]
    pointers = set()
    count = 0
    for frame, want in zip(source.frames(), expected, strict=True):
        assert isinstance(frame.data, torch.Tensor)
        np.testing.assert_array_equal(frame.data.numpy(), want)
        pointers.add(frame.data.data_ptr())
        count += 1
        del frame
    assert count == 6
    assert len(pointers) <= 2  # a frame dropped frees its slot for the next


def test_the_nvdec_path_does_not_need_pyav(tmp_path: Path) -> None:
    """A GPU machine may have PyNvVideoCodec and no PyAV (the project's GPU machine has none):
    opening an NVDEC source must not import PyAV."""
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["av"] = None  # any 'import av' now fails
import visionflow.media.select as select
from visionflow.media.nvdec import NvdecSource
select.choose = lambda *a, **k: select.Choice("nvdec", "cuda:0", "NVDEC available")
source = select.open_device_source({str(tmp_path / "a.mp4")!r}, device="cuda:0")
assert isinstance(source, NvdecSource), source
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
