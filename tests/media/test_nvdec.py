"""The NVDEC source: errors and location handling everywhere; decoding, slots, corrupt data and
the pipeline on a GPU (``gpu`` tests, which make their clips with NVENC: no PyAV needed)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from support.gpu_media import gpu_problem, nvenc_clip
from visionflow.errors import DecodeError, SourceError, SourceNotFoundError
from visionflow.media.nvdec import NvdecSource, NvdecUnavailableError, local_path

GPU_PROBLEM = gpu_problem()
gpu = pytest.mark.gpu
needs_gpu = pytest.mark.skipif(GPU_PROBLEM is not None, reason=str(GPU_PROBLEM))


def test_locations() -> None:
    assert local_path("clips/a.mp4") == Path("clips/a.mp4")
    assert local_path("file:///data/a%20b.mp4") == Path("/data/a b.mp4")
    assert local_path("file://localhost/data/a.mp4") == Path("/data/a.mp4")
    assert local_path("file://../streams/a.mp4") == Path("../streams/a.mp4")
    assert local_path("rtsp://cam/stream") is None
    assert NvdecSource("rtsp://cam/stream").live
    assert not NvdecSource("a.mp4").live


def test_a_missing_file_is_reported_before_anything_is_loaded(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="not found"):
        next(iter(NvdecSource(tmp_path / "nope.mp4").frames()))


@pytest.mark.skipif(
    importlib.util.find_spec("PyNvVideoCodec") is not None, reason="PyNvVideoCodec is installed"
)
def test_without_pynvvideocodec_the_error_names_the_extra(tmp_path: Path) -> None:
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\0" * 64)
    with pytest.raises(NvdecUnavailableError) as err:
        next(iter(NvdecSource(clip).frames()))
    assert "visionflow[nvidia]" in str(err.value)
    assert isinstance(err.value, SourceError)  # the pipeline reports it for this source alone


# -- on a GPU ------------------------------------------------------------------------------------
@gpu
@needs_gpu
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_decodes_to_nv12_cuda_tensors_in_order(tmp_path: Path, codec: str) -> None:
    import torch

    from visionflow.core.frame import PixelFormat, device_copies
    from visionflow.media.synthetic import decode_stamp

    clip = nvenc_clip(tmp_path / f"clip-{codec}.mp4", codec=codec)
    source = NvdecSource(clip, source_id=3)
    copies = device_copies()
    frames = list(source.frames())
    assert device_copies() == copies
    assert len(frames) == 40
    first = frames[0]
    assert first.format is PixelFormat.NV12
    assert first.data.is_cuda
    assert first.data.dtype == torch.uint8
    assert tuple(first.data.shape) == (360, 320)
    assert (first.width, first.height) == (320, 240)
    assert [f.frame_num for f in frames] == list(range(40))
    assert all(f.source_id == 3 for f in frames)
    # every frame kept its own pixels: the decoder's surfaces were copied out in time
    assert [decode_stamp(f.to_numpy())[1] for f in frames] == list(range(40))


@gpu
@needs_gpu
def test_dropped_frames_free_their_slots(tmp_path: Path) -> None:
    clip = nvenc_clip(tmp_path / "clip.mp4", frames=30)
    source = NvdecSource(clip, slots=2)
    pointers = set()
    for frame in source.frames():
        pointers.add(frame.data.data_ptr())
        del frame
    assert len(pointers) <= 3  # steady state: no allocation per frame


@gpu
@needs_gpu
def test_garbage_is_a_source_error_naming_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"garbage\.mp4"):
        list(NvdecSource(garbage).frames())


@gpu
@needs_gpu
def test_damaged_data_costs_frames_or_ends_with_decode_error(
    tmp_path: Path, damage: Callable[..., None]
) -> None:
    clip = nvenc_clip(tmp_path / "clip.mp4", frames=60)
    damage(clip, 0.3, 0.6)
    source = NvdecSource(clip)
    got = 0
    error: DecodeError | None = None
    try:  # any other exception type fails the test
        for _ in source.frames():
            got += 1
    except DecodeError as exc:
        error = exc
    print(f"damaged clip: {got} frames, {source.bad_packets} bad packets, error: {error}")
    if error is None:
        assert got > 0  # the undamaged parts still decode
    else:
        assert "clip.mp4" in str(error)


@gpu
@needs_gpu
def test_a_failing_source_ends_alone_in_the_pipeline(tmp_path: Path) -> None:
    from visionflow.core.pipeline import Pipeline
    from visionflow.mux.gpu_batch import stacked
    from visionflow.mux.streammux import StreamMux

    good = nvenc_clip(tmp_path / "good.mp4", frames=20)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 1000)
    seen: list[bool] = []
    pipeline = Pipeline([NvdecSource(good), NvdecSource(garbage)], [], mux=StreamMux(2))
    report = pipeline.run(on_batch=lambda b: seen.append(stacked(b.frames) is not None))
    assert report.frames_out == 20
    assert len(report.source_failures) == 1
    assert "garbage.mp4" in str(report.source_failures[0])
    assert all(seen)  # batches are views of the muxer's reused device buffers


@gpu
@needs_gpu
def test_device_choice_takes_nvdec_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from visionflow.media.select import choose, open_device_source

    clip = nvenc_clip(tmp_path / "clip.mp4", frames=5)
    assert choose(str(clip), "cuda", "auto").decoder == "nvdec"
    with caplog.at_level(logging.INFO, logger="visionflow.media.select"):
        source = open_device_source(clip, device="cuda")
    assert isinstance(source, NvdecSource)
    assert "nvdec on cuda:0" in caplog.text
