"""NVENC output: the MP4 writer of encoded packets (CI, with x264's packets), the NV12
conversion, and the whole sink on a GPU (``gpu``)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from support.gpu_media import nvenc_missing
from visionflow.core.frame import Frame, PixelFormat
from visionflow.errors import ConfigError
from visionflow.media.synthetic import SyntheticSource
from visionflow.sinks.nvenc import NvencSink, PyAVWriter, _is_idr, to_nv12


def _x264_packets(n: int, size: tuple[int, int] = (128, 96)) -> list[tuple[bytes, bool]]:
    """Annex-B H.264 access units (parameter sets in the first), no B-frames: what NVENC gives."""
    av = pytest.importorskip("av")
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = size[0], size[1], "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"x264-params": "bframes=0:keyint=10", "preset": "ultrafast"}
    render = SyntheticSource(size[0], size[1], n).render
    out = []
    for i in range(n):
        picture = av.VideoFrame.from_ndarray(render(i), format="rgb24")
        picture.pts = i
        out += [(bytes(p), p.is_keyframe) for p in ctx.encode(picture)]
    out += [(bytes(p), p.is_keyframe) for p in ctx.encode(None)]
    return out


def test_pyav_writer_muxes_an_elementary_stream_into_a_playable_mp4(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    packets = _x264_packets(24)
    assert _is_idr(packets[0][0], "h264")
    assert not _is_idr(packets[1][0], "h264")
    path = tmp_path / "out.mp4"
    writer = PyAVWriter(path, "h264", Fraction(25))
    for i, (data, key) in enumerate(packets):
        writer.write(data, i, _is_idr(data, "h264"))
        assert key == _is_idr(data, "h264")
    writer.close()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (128, 96)
        frames = list(container.decode(video=0))
    assert len(frames) == 24
    assert float(frames[-1].time) == pytest.approx(23 / 25)


def test_rgb_frames_become_nv12_with_bt601_limited_range() -> None:
    torch = pytest.importorskip("torch")
    import cv2

    rgb = SyntheticSource(64, 48, 1).render(0)
    frame = Frame(torch.from_numpy(rgb), PixelFormat.RGB24, 0, 0)
    nv12 = to_nv12(frame).numpy()
    assert nv12.shape == (72, 64)
    back = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12).astype(int)
    smooth = cv2.blur(rgb, (3, 3)).astype(int)  # chroma is averaged over 2x2
    assert np.abs(back - smooth).mean() < 6
    odd = Frame(torch.from_numpy(rgb[:47, :63].copy()), PixelFormat.RGB24, 0, 0)
    assert tuple(to_nv12(odd).shape) == (72, 64)  # padded to even
    scaled = to_nv12(frame, (32, 24))
    assert tuple(scaled.shape) == (36, 32)


def test_only_h264_and_hevc_and_known_containers(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"H\.264 and HEVC"):
        NvencSink(tmp_path / "a.mp4", codec="mpeg4")
    with pytest.raises(ConfigError) as err:
        NvencSink(tmp_path / "a.avi")
    assert err.value.key == "output-file"


@pytest.mark.gpu
@pytest.mark.skipif(nvenc_missing() is not None, reason=str(nvenc_missing()))
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_nvenc_encodes_gpu_frames_without_host_copies(tmp_path: Path, codec: str) -> None:
    import torch

    from visionflow.core.batch import Batch
    from visionflow.core.frame import device_copies
    from visionflow.media.nvdec import NvdecSource

    render = SyntheticSource(320, 240, 30).render
    frames = [
        Frame(torch.from_numpy(render(i)).cuda(), PixelFormat.RGB24, 0, i, pts=i,
              time_base=Fraction(1, 30))
        for i in range(30)
    ]  # fmt: skip
    path = tmp_path / f"out-{codec}.mp4"
    sink = NvencSink(path, codec=codec)
    copies = device_copies()
    sink.start()
    for i in range(0, 30, 5):
        sink.process(Batch(frames[i : i + 5]))
    sink.stop()
    assert device_copies() == copies  # no frame came to the host
    assert sink.frames_written == 30
    written = path if sink.writer != "elementary" else path.with_suffix("." + codec)
    assert written.stat().st_size > 1000
    decoded = list(NvdecSource(written).frames())
    assert len(decoded) == 30
    back = decoded[10].to_numpy()
    error = np.abs(back.astype(int) - render(10).astype(int)).mean()
    assert error < 8, f"mean error {error:.1f} levels"
