"""The GPU OSD draws what the CPU OSD draws, on frames that stay tensors (CPU torch in CI,
CUDA in the ``gpu`` variants), and changes no buffer another element holds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support.devices import DEVICES  # noqa: E402
from visionflow.core.batch import Batch  # noqa: E402
from visionflow.core.frame import Frame, PixelFormat, device_copies  # noqa: E402
from visionflow.core.meta import Detections, SegmentationMap  # noqa: E402
from visionflow.osd.element import OSD  # noqa: E402
from visionflow.osd.gpu_draw import GpuOSD, rgb_planes_to_nv12, rgb_to_yuv  # noqa: E402


def _picture() -> np.ndarray:
    x = np.linspace(40, 200, 320, dtype=np.float32)[None, :]
    y = np.linspace(60, 180, 240, dtype=np.float32)[:, None]
    return np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], -1).astype(np.uint8)


def _batch(frame: Frame) -> Batch:
    batch = Batch([frame])
    batch.meta.frames[0].detections = Detections(
        np.array([[20, 30, 120, 150], [150.4, 60.6, 300, 200]], np.float32),
        confidence=np.array([0.9, 0.5], np.float32),
        class_id=[3, 0],
        labels=("car", "person"),
    )
    return batch


@pytest.mark.parametrize("device", DEVICES)
def test_rgb_frames_are_drawn_as_the_cpu_osd_draws_them(device: str) -> None:
    pixels = _picture()
    cpu = OSD().process(_batch(Frame(pixels.copy(), PixelFormat.RGB24, 0, 0))).frames[0]
    source = torch.from_numpy(pixels.copy()).to(device)
    copies = device_copies()
    gpu = GpuOSD().process(_batch(Frame(source, PixelFormat.RGB24, 0, 0))).frames[0]
    assert device_copies() == copies
    assert isinstance(gpu.data, torch.Tensor)
    assert str(gpu.data.device).startswith(device)
    assert torch.equal(source.cpu(), torch.from_numpy(pixels))  # the input was not drawn on
    diff = np.abs(gpu.data.cpu().numpy().astype(int) - cpu.data.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.001
    assert (cpu.data != pixels).any()  # something was drawn at all


@pytest.mark.parametrize("device", DEVICES)
def test_nv12_frames_get_the_same_boxes_and_tags(device: str) -> None:
    pixels = _picture()
    nv12 = rgb_planes_to_nv12(torch.from_numpy(pixels)).to(device)
    gpu = GpuOSD(border_width=2).process(_batch(Frame(nv12, PixelFormat.NV12, 0, 0))).frames[0]
    assert gpu.format is PixelFormat.NV12
    drawn = cv2.cvtColor(gpu.data.cpu().numpy(), cv2.COLOR_YUV2RGB_NV12).astype(int)
    frame = Frame(pixels.copy(), PixelFormat.RGB24, 0, 0)
    cpu = OSD(border_width=2).process(_batch(frame)).frames[0].data
    inside_border = (slice(100, 140), slice(20, 22))  # left border of the car: 2 px wide
    assert np.abs(drawn[inside_border] - cpu[inside_border].astype(int)).max() <= 12
    untouched = (slice(180, 230), slice(10, 100))
    assert np.abs(drawn[untouched] - pixels[untouched].astype(int)).max() <= 4
    tag = (slice(13, 28), slice(24, 60))  # the car's label tag above its box
    changed = np.abs(drawn[tag] - pixels[tag].astype(int)).max(-1) > 30
    assert changed.mean() > 0.5


def test_colours_convert_with_the_frames_matrix() -> None:
    white = rgb_to_yuv((255, 255, 255))
    np.testing.assert_allclose(white, [235, 128, 128], atol=1e-6)
    red601, red709 = rgb_to_yuv((255, 0, 0), "bt601"), rgb_to_yuv((255, 0, 0), "bt709")
    assert red601[0] == pytest.approx(16 + 0.299 * 219)
    assert red709[0] == pytest.approx(16 + 0.2126 * 219)


def test_what_the_gpu_does_not_draw_goes_through_the_host_and_is_counted() -> None:
    pixels = _picture()
    batch = _batch(Frame(torch.from_numpy(pixels.copy()), PixelFormat.RGB24, 0, 0))
    batch.meta.frames[0].segmentation = [
        SegmentationMap(class_map=np.zeros((24, 32), np.int32), component_id=1, object_index=-1)
    ]
    osd = GpuOSD()
    copies = device_copies()
    out = osd.process(batch).frames[0]
    assert device_copies() == copies + 1
    assert osd.host_fallbacks == 1
    assert isinstance(out.data, torch.Tensor)
