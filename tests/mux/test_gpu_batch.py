"""GPU batch buffers: reused slots, views of one buffer, scaling on the device.

The logic runs on CPU torch tensors in CI; the ``gpu`` tests repeat it on a CUDA device.
"""

from __future__ import annotations

import gc

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support.devices import DEVICES  # noqa: E402
from visionflow.core.frame import Frame, PixelFormat  # noqa: E402
from visionflow.mux.gpu_batch import GpuBatcher, SlotRing, stacked  # noqa: E402


def _frame(data: torch.Tensor, sid: int, fmt: PixelFormat = PixelFormat.NV12) -> Frame:
    return Frame(data=data, format=fmt, source_id=sid, frame_num=0)


def _nv12(h: int, w: int, seed: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (h * 3 // 2, w), generator=g, dtype=torch.uint8).to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_slot_is_reused_once_its_views_are_gone(device: str) -> None:
    ring = SlotRing((2, 3), device=device, slots=1)
    a = ring.acquire()
    b = ring.acquire()  # a is alive: a second slot is allocated
    assert a.data_ptr() != b.data_ptr()
    assert len(ring) == 2
    ptr = a.data_ptr()
    del a
    gc.collect()
    c = ring.acquire()
    assert c.data_ptr() == ptr  # the freed slot, not a new one
    assert ring.allocations == 2


@pytest.mark.parametrize("device", DEVICES)
def test_steady_batches_allocate_nothing(device: str) -> None:
    batcher = GpuBatcher(batch_size=4)
    for k in range(20):
        frames = [_frame(_nv12(48, 64, k * 4 + i, device), i) for i in range(4)]
        batch = batcher.assemble(frames, index=k)
        for got, sent in zip(batch.frames, frames, strict=True):
            assert torch.equal(got.data, sent.data)
            assert got.source_id == sent.source_id
        del batch, frames
    assert batcher.allocations <= 2  # the buffers made at the start, never more


@pytest.mark.parametrize("device", DEVICES)
def test_frames_of_a_batch_are_views_of_one_buffer(device: str) -> None:
    batcher = GpuBatcher(batch_size=3)
    frames = [_frame(_nv12(16, 16, i, device), i) for i in range(3)]
    batch = batcher.assemble(frames)
    whole = stacked(batch.frames)
    assert whole is not None
    assert whole.shape == (3, 24, 16)
    for i, frame in enumerate(frames):
        assert torch.equal(whole[i], frame.data)
    assert stacked(frames) is None  # separate tensors are not one buffer


@pytest.mark.parametrize("device", DEVICES)
def test_a_kept_batch_is_never_overwritten(device: str) -> None:
    batcher = GpuBatcher(batch_size=1, slots=1)
    first = batcher.assemble([_frame(_nv12(8, 8, 1, device), 0)])
    kept = first.frames[0].data.clone()
    for k in range(5):
        batcher.assemble([_frame(_nv12(8, 8, 10 + k, device), 0)])
    assert torch.equal(first.frames[0].data, kept)


@pytest.mark.parametrize("padding", [False, True])
def test_rgb_scaling_matches_the_cpu_muxer(padding: bool) -> None:
    from visionflow.mux.streammux import StreamMux

    rng = np.random.default_rng(0)
    pixels = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (5, 5), 0)
    host = Frame(data=pixels, format=PixelFormat.RGB24, source_id=0, frame_num=0)
    expected = StreamMux(1, width=64, height=64, enable_padding=padding)._scale(host).data
    batcher = GpuBatcher(1, 64, 64, padding)
    got = batcher.assemble([host.with_pixels(torch.from_numpy(pixels))]).frames[0]
    assert got.width == 64
    assert got.height == 64
    assert got.source_width == 160
    diff = np.abs(got.data.numpy().astype(int) - expected.astype(int))
    assert diff.max() <= 1  # OpenCV's fixed-point bilinear vs float, rounded


def test_nv12_letterbox_pads_black_in_yuv() -> None:
    batcher = GpuBatcher(1, 32, 32, enable_padding=True)
    wide = _frame(torch.full((12, 32), 200, dtype=torch.uint8), 0)  # 32x8
    out = batcher.assemble([wide]).frames[0].data
    y, uv = out[:32], out[32:]
    assert out.shape == (48, 32)
    assert int(y[0, 0]) == 16
    assert int(uv[0, 0]) == 128
    assert int(y[16, 16]) == 200  # the picture, centred


def test_streammux_batches_device_frames_in_reused_buffers() -> None:
    import threading

    from visionflow.core.stats import PipelineStats
    from visionflow.mux.streammux import SourceQueues, StreamMux

    mux = StreamMux(batch_size=2, batched_push_timeout=-1)
    stop = threading.Event()
    queues = SourceQueues(2, 8, stop)
    stats = PipelineStats()
    for k in range(3):
        for sid in range(2):
            queues.put(sid, _frame(_nv12(8, 8, k * 2 + sid, "cpu"), sid), leaky=False, stats=stats)
    for sid in range(2):
        queues.finish(sid)
    batches = []
    mux.run(queues, lambda b: batches.append(stacked(b.frames) is not None) or True, stop)
    assert batches == [True, True, True]
