"""The GPU tiler composes what the CPU tiler composes, with the pixels staying tensors (CPU torch
in CI, CUDA in the ``gpu`` variants): same grid, same metadata, mosaic within a level on RGB
frames, and no copy to the host."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support.devices import DEVICES  # noqa: E402
from visionflow.core.batch import Batch  # noqa: E402
from visionflow.core.frame import Frame, PixelFormat, device_copies  # noqa: E402
from visionflow.core.meta import Detections  # noqa: E402
from visionflow.core.stats import COMPOSED_OF  # noqa: E402
from visionflow.mux.gpu_tiler import GpuTiler  # noqa: E402
from visionflow.mux.tiler import Tiler  # noqa: E402
from visionflow.osd.element import OSD  # noqa: E402
from visionflow.osd.gpu_draw import GpuOSD  # noqa: E402


def picture(seed: int, w: int = 320, h: int = 180) -> np.ndarray:
    """A textured RGB picture: gradients, a few shapes and noise (every filter has work)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(255, 0, h, dtype=np.float32)[:, None]
    image = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], -1)
    image += rng.normal(0, 12, image.shape)
    out = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(4):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(out, c, int(rng.integers(8, 40)), colour, -1)
    return out


def rgb_to_nv12(rgb: np.ndarray) -> np.ndarray:
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # BT.601, limited range
    h, w = rgb.shape[:2]
    u = yuv[h : h + h // 4].reshape(h // 2, w // 2)
    v = yuv[h + h // 4 :].reshape(h // 2, w // 2)
    return np.concatenate([yuv[:h], np.stack([u, v], -1).reshape(h // 2, w)])


def frames(
    pixels: list[np.ndarray], device: str | None, fmt: PixelFormat = PixelFormat.RGB24, num: int = 0
) -> list[Frame]:
    out = []
    for sid, data in enumerate(pixels):
        if fmt is PixelFormat.NV12:
            data = rgb_to_nv12(data)
        held = data if device is None else torch.from_numpy(data).to(device)
        out.append(Frame(held, fmt, sid, num, pts=num, time_base=Fraction(1, 30)))
    return out


def batch(items: list[Frame]) -> Batch:
    b = Batch(items)
    for meta in b.meta.frames:
        s = meta.source_id
        meta.detections = Detections(
            np.array([[20 + 10 * s, 30, 150, 120], [200, 10 + 5 * s, 300, 170]], np.float32),
            confidence=np.array([0.9, 0.6], np.float32),
            class_id=np.array([s % 4, 2]),
            labels=("a", "b"),
        )
    return b


def mosaic(tiler: Tiler, items: list[Frame]) -> tuple[np.ndarray, Batch]:
    out = tiler.process(batch(items))
    assert len(out) == 1
    data = out.frames[0].data
    return (data.cpu().numpy() if isinstance(data, torch.Tensor) else data), out


def assert_same_meta(cpu: Batch, gpu: Batch) -> None:
    a, b = cpu.meta.frames[0], gpu.meta.frames[0]
    np.testing.assert_array_equal(a.detections.xyxy, b.detections.xyxy)
    np.testing.assert_array_equal(a.detections.extra["source_id"], b.detections.extra["source_id"])
    assert a.user["tiles"] == b.user["tiles"]
    composed = [[(c.source_id, c.frame_num) for c in m.user[COMPOSED_OF]] for m in (a, b)]
    assert composed[0] == composed[1]
    assert composed[0]
    assert (a.width, a.height, a.frame_num) == (b.width, b.height, b.frame_num)


@pytest.mark.parametrize("device", DEVICES)
def test_rgb_frames_compose_as_on_the_cpu_without_host_copies(device: str) -> None:
    pixels = [picture(s) for s in range(5)]  # 5 streams: a 2x3 grid, shrinking
    cpu_mosaic, cpu = mosaic(Tiler(width=640, height=360), frames(pixels, None))
    copies = device_copies()
    gpu_tiler = GpuTiler(width=640, height=360)
    out = gpu_tiler.process(batch(frames(pixels, device)))
    assert device_copies() == copies
    data = out.frames[0].data
    assert isinstance(data, torch.Tensor)
    assert str(data.device).startswith(device)
    assert out.frames[0].format is PixelFormat.RGB24
    assert data.shape == (360, 640, 3)
    diff = np.abs(data.cpu().numpy().astype(int) - cpu_mosaic.astype(int))
    assert diff.max() <= 1
    assert_same_meta(cpu, out)


@pytest.mark.parametrize("device", DEVICES)
def test_a_batch_of_unlike_frames_is_scaled_group_by_group(device: str) -> None:
    """Two sizes and two layouts in one batch: each group is scaled on its own, each tile right."""
    big, small = [picture(0), picture(1)], [picture(2, w=160, h=90)]
    nv12 = frames([picture(3)], None, PixelFormat.NV12)[0]

    def batch_of(dev: str | None) -> list[Frame]:
        items = frames(big, dev) + frames(small, dev)
        for f, sid in zip(items, (0, 1, 3), strict=True):
            f.source_id = sid
        data = nv12.data if dev is None else torch.from_numpy(nv12.data).to(dev)
        return [*items, Frame(data, PixelFormat.NV12, 2, 0)]

    cpu_mosaic, cpu = mosaic(Tiler(width=640, height=360), batch_of(None))
    gpu_mosaic, gpu = mosaic(GpuTiler(width=640, height=360), batch_of(device))
    diff = np.abs(gpu_mosaic.astype(int) - cpu_mosaic.astype(int))
    assert diff[:180].max() <= 1  # streams 0 and 1: RGB 320x180
    assert diff[180:, 320:].max() <= 1  # stream 3: RGB 160x90, enlarged
    assert diff[180:, :320].mean() < 5  # stream 2: NV12 at scale 1 (chroma interpolated)
    assert_same_meta(cpu, gpu)


@pytest.mark.parametrize("device", DEVICES)
def test_frames_of_one_batch_buffer_compose_as_separate_ones(device: str) -> None:
    """The stream muxer's GPU frames are views of one batch tensor: read in place, same mosaic."""
    pixels = [picture(s) for s in range(5)]
    buffer = torch.from_numpy(np.stack(pixels)).to(device)
    views = [Frame(buffer[s], PixelFormat.RGB24, s, 0) for s in range(5)]
    from_views, _ = mosaic(GpuTiler(width=640, height=360), views)
    separate, _ = mosaic(GpuTiler(width=640, height=360), frames(pixels, device))
    assert np.array_equal(from_views, separate)


@pytest.mark.parametrize("device", DEVICES)
def test_enlarged_tiles_are_bilinear_as_on_the_cpu(device: str) -> None:
    pixels = [picture(s, w=160, h=90) for s in range(2)]  # 1x2 grid of 640x720 cells
    cpu_mosaic, _ = mosaic(Tiler(width=1280, height=720), frames(pixels, None))
    gpu_mosaic, _ = mosaic(GpuTiler(width=1280, height=720), frames(pixels, device))
    diff = np.abs(gpu_mosaic.astype(int) - cpu_mosaic.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.05


@pytest.mark.parametrize("device", DEVICES)
def test_nv12_frames_are_converted_at_the_tile_size(device: str) -> None:
    """The CPU tiler converts at full size with chroma replicated, this one scales the chroma
    plane first: shrunk into tiles the two agree within a level or two."""
    pixels = [picture(s) for s in range(5)]
    cpu_mosaic, cpu = mosaic(Tiler(width=640, height=360), frames(pixels, None, PixelFormat.NV12))
    gpu_mosaic, gpu = mosaic(
        GpuTiler(width=640, height=360), frames(pixels, device, PixelFormat.NV12)
    )
    diff = np.abs(gpu_mosaic.astype(int) - cpu_mosaic.astype(int))
    assert diff.mean() < 0.5
    assert np.percentile(diff, 99) <= 3
    assert_same_meta(cpu, gpu)


@pytest.mark.parametrize("device", DEVICES)
def test_nv12_tiles_at_full_size_are_no_farther_from_the_picture_than_the_cpus(
    device: str,
) -> None:
    """At scale 1 the chroma is upsampled: interpolated here, replicated by the CPU tiler — the
    two differ on a noisy picture, and this one is the closer to the RGB picture encoded."""
    pixels = [picture(s) for s in range(4)]  # 320x180 frames in 320x180 cells
    truth, _ = mosaic(Tiler(width=640, height=360), frames(pixels, None))
    cpu_mosaic, _ = mosaic(Tiler(width=640, height=360), frames(pixels, None, PixelFormat.NV12))
    gpu_mosaic, _ = mosaic(
        GpuTiler(width=640, height=360), frames(pixels, device, PixelFormat.NV12)
    )

    def error(image: np.ndarray) -> float:
        return float(np.abs(image.astype(int) - truth.astype(int)).mean())

    assert error(gpu_mosaic) <= error(cpu_mosaic)


@pytest.mark.parametrize("device", DEVICES)
def test_a_later_mosaic_leaves_an_earlier_one_as_it_was(device: str) -> None:
    tiler = GpuTiler(width=320, height=180)
    first = tiler.process(batch(frames([picture(0), picture(1)], device))).frames[0].data
    kept = first.clone()
    for n in range(1, 6):  # more mosaics than the ring has buffers
        tiler.process(batch(frames([picture(10 + n), picture(20 + n)], device, num=n)))
    assert torch.equal(first, kept)


@pytest.mark.parametrize("device", DEVICES)
def test_the_automatic_grid_grows_and_repaints_the_streams_it_had(device: str) -> None:
    cpu, gpu = Tiler(width=640, height=360), GpuTiler(width=640, height=360)
    two = [picture(0), picture(1)]
    mosaic(cpu, frames(two, None))
    mosaic(gpu, frames(two, device))
    third = frames([picture(0), picture(1), picture(2)], None)[2:]  # only stream 2 this time
    cpu_mosaic, cpu_out = mosaic(cpu, third)
    gpu_third = frames([picture(0), picture(1), picture(2)], device)[2:]
    gpu_mosaic, gpu_out = mosaic(gpu, gpu_third)
    assert gpu.grid == cpu.grid == (2, 2)
    assert_same_meta(cpu_out, gpu_out)
    # streams 0 and 1 are repainted from their kept 320x180 tiles, the CPU from their frames
    diff = np.abs(gpu_mosaic.astype(int) - cpu_mosaic.astype(int))
    assert diff[180:, :320].max() <= 1  # stream 2: its own frame
    assert diff.mean() < 3
    gpu.end_stream(0)
    blank, _ = mosaic(gpu, gpu_third)
    assert (blank[:180, :320] == 0).all()
    assert blank[:180, 320:].any()


@pytest.mark.parametrize("device", DEVICES)
def test_the_gpu_osd_draws_each_streams_objects_inside_its_tile(device: str) -> None:
    pixels = [picture(s) for s in range(3)]
    cpu_osd, gpu_osd = OSD(), GpuOSD()
    _, cpu = mosaic(Tiler(width=640, height=360), frames(pixels, None))
    _, gpu = mosaic(GpuTiler(width=640, height=360), frames(pixels, device))
    expected = cpu_osd.process(cpu).frames[0].data
    undrawn = gpu.frames[0].data
    copies = device_copies()
    drawn = gpu_osd.process(gpu).frames[0].data
    assert device_copies() == copies
    assert gpu_osd.host_fallbacks == 0
    assert isinstance(drawn, torch.Tensor)
    assert str(drawn.device).startswith(device)
    # on the canvas as the CPU OSD draws it on the CPU mosaic (which differs by a level)
    diff = np.abs(drawn.cpu().numpy().astype(int) - expected.astype(int))
    assert diff.max() <= 2
    changed = (drawn != undrawn).any(dim=-1).float().mean().item()
    assert changed > 0.01  # borders and tags were drawn, on a copy of the tiler's mosaic


def test_a_gpu_device_pipeline_composes_on_the_device() -> None:
    from visionflow.app import _gpu_twins

    twins = _gpu_twins([Tiler(rows=2, columns=3, width=960, height=540)], "cuda:0")
    assert isinstance(twins[0], GpuTiler)
    assert (twins[0].rows, twins[0].columns, twins[0].width, twins[0].height) == (2, 3, 960, 540)
    assert twins[0].device == torch.device("cuda:0")
