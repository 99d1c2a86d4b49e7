"""GPU preprocessing (torch) against the CPU Preprocessor on the same frames.

On the same RGB pixels the torch input tensor matches the CPU one within one level (1/255 after
``net-scale-factor = 1/255``) for every scaling filter, layout, colour format and mean; NV12
frames are converted with the stream's matrix. Runs on CPU torch in CI; the ``gpu`` variants
repeat it on a CUDA device.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionflow.core.frame import Frame, PixelFormat  # noqa: E402
from visionflow.errors import ConfigError  # noqa: E402
from visionflow.infer.gpu_preprocess import GpuPreprocessor, crop_rgb, yuv_to_rgb  # noqa: E402
from visionflow.infer.preprocess import (  # noqa: E402
    ColorFormat,
    Preprocessor,
    PreprocessSpec,
    ScalingFilter,
    even_crop,
)

CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    ],
)
DEVICES = ["cpu", CUDA]


def scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A frame with smooth gradients, texture and hard-edged coloured shapes."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (h, w, 3)).astype(np.float32), (7, 7), 0)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for k in range(6):
        x1, y1 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x1, y1), (x1 + w // 6, y1 + h // 7), color, -1)
        cv2.circle(img, (w - x1 - 1, h - y1 - 1), h // 10 + k, color[::-1], 2)
    return img


def rgb_frame(pixels: np.ndarray, device: str, sid: int = 0) -> Frame:
    data = torch.from_numpy(pixels).to(device)
    return Frame(data=data, format=PixelFormat.RGB24, source_id=sid, frame_num=0)


def levels(gpu: torch.Tensor, cpu: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """|gpu − cpu| in input levels (divided by the net scale factor)."""
    diff = np.abs(gpu.float().cpu().numpy().astype(np.float64) - cpu.astype(np.float64))
    return diff / (spec.net_scale_factor if spec.dtype != np.uint8 else 1.0)


SPECS: dict[str, Callable[[], PreprocessSpec]] = {
    "bilinear-stretch": lambda: PreprocessSpec(160, 96, net_scale_factor=1 / 255),
    "letterbox-bgr-offsets": lambda: PreprocessSpec(
        128, 128, color_format=ColorFormat.BGR, net_scale_factor=0.0174,
        offsets=(123.675, 116.28, 103.53), maintain_aspect_ratio=True,
    ),
    "symmetric-nearest": lambda: PreprocessSpec(
        100, 120, net_scale_factor=1 / 255, maintain_aspect_ratio=True, symmetric_padding=True,
        scaling_filter=ScalingFilter.NEAREST,
    ),
    "gray": lambda: PreprocessSpec(
        96, 64, channels=1, color_format=ColorFormat.GRAY, net_scale_factor=1 / 255
    ),
    "nhwc-fp16": lambda: PreprocessSpec(
        112, 80, nhwc=True, net_scale_factor=1 / 255, offsets=(10.0, 20.0, 30.0),
        dtype=np.dtype(np.float16),
    ),
    "mean-image": lambda: PreprocessSpec(
        64, 48, net_scale_factor=0.5,
        mean_image=np.random.default_rng(3).uniform(0, 255, (48, 64, 3)).astype(np.float32),
    ),
    "raw-uint8": lambda: PreprocessSpec(80, 60, dtype=np.dtype(np.uint8)),
    "cubic": lambda: PreprocessSpec(120, 72, net_scale_factor=1 / 255,
                                    scaling_filter=ScalingFilter.ALGO1),
    "area": lambda: PreprocessSpec(100, 60, net_scale_factor=1 / 255,
                                   scaling_filter=ScalingFilter.ALGO2),
    "area-upscale": lambda: PreprocessSpec(400, 300, net_scale_factor=1 / 255,
                                           scaling_filter=ScalingFilter.ALGO2),
    "lanczos": lambda: PreprocessSpec(100, 60, net_scale_factor=1 / 255,
                                      scaling_filter=ScalingFilter.ALGO3),
    "bilinear-upscale": lambda: PreprocessSpec(500, 400, net_scale_factor=1 / 255),
}  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(SPECS))
def test_same_rgb_frames_give_the_cpu_tensor_within_one_level(name: str, device: str) -> None:
    spec = SPECS[name]()
    frames = [scene(240, 320, seed) for seed in range(3)]
    rois = [(0, 0, 320, 240)] * 3
    cpu, cpu_boxes = Preprocessor(spec)(frames, rois)
    gpu, gpu_boxes = GpuPreprocessor(spec)([rgb_frame(f, device) for f in frames], rois)
    assert gpu.shape == cpu.shape
    assert gpu.dtype == torch.from_numpy(cpu).dtype
    assert str(gpu.device).startswith(device)
    assert gpu_boxes == cpu_boxes
    diff = levels(gpu, cpu, spec)
    # FP16: each side rounds once more, half a unit in the last place (2**-11 relative)
    top = float(np.abs(cpu.astype(np.float64)).max()) / spec.net_scale_factor
    tolerance = 1.0 + (2 * top * 2.0**-11 if spec.dtype == np.float16 else 0.0)
    assert diff.max() <= tolerance + 1e-3, f"max {diff.max():.3f} levels"
    assert diff.mean() < 0.15  # about one value in ten is one level off


@pytest.mark.parametrize("device", DEVICES)
def test_object_crops_match_the_cpu_crops(device: str) -> None:
    spec = PreprocessSpec(
        64, 64, net_scale_factor=1 / 255, maintain_aspect_ratio=True, symmetric_padding=True
    )
    frame = scene(240, 320, 7)
    boxes = np.array(
        [[10.7, 20.2, 90.9, 200.5], [150, 30, 310, 90], [3, 3, 9, 11], [200.5, 101, 319, 239]],
        np.float32,
    )
    rois = [tuple(int(v) for v in r) for r in even_crop(boxes, 320, 240)]
    cpu, cpu_boxes = Preprocessor(spec)([frame] * len(rois), rois)
    shared = rgb_frame(frame, device)
    gpu, gpu_boxes = GpuPreprocessor(spec)([shared] * len(rois), rois)
    assert gpu_boxes == cpu_boxes
    assert levels(gpu, cpu, spec).max() <= 1.0 + 1e-3


def test_bgr_and_gray_frames_are_read_in_their_layout() -> None:
    spec = PreprocessSpec(80, 60, net_scale_factor=1 / 255)
    rgb = scene(120, 160, 1)
    want, _ = Preprocessor(spec)([rgb], [(0, 0, 160, 120)])
    bgr = Frame(
        data=torch.from_numpy(rgb[..., ::-1].copy()),
        format=PixelFormat.BGR24,
        source_id=0,
        frame_num=0,
    )
    got, _ = GpuPreprocessor(spec)([bgr], [(0, 0, 160, 120)])
    assert levels(got, want, spec).max() <= 1.0 + 1e-3
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    want, _ = Preprocessor(spec)([cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)], [(0, 0, 160, 120)])
    frame = Frame(data=torch.from_numpy(gray), format=PixelFormat.GRAY8, source_id=0, frame_num=0)
    got, _ = GpuPreprocessor(spec)([frame], [(0, 0, 160, 120)])
    assert levels(got, want, spec).max() <= 1.0 + 1e-3


def test_bad_specs_fail_as_on_the_cpu() -> None:
    with pytest.raises(ConfigError, match="needs a network input of 3 channels"):
        GpuPreprocessor(PreprocessSpec(8, 8, channels=1))
    with pytest.raises(ConfigError) as err:
        GpuPreprocessor(PreprocessSpec(8, 8, offsets=(1.0, 2.0)))
    assert err.value.key == "offsets"


def _nv12_of(rgb: np.ndarray) -> np.ndarray:
    """An NV12 picture (BT.601 limited range, as OpenCV encodes) of an RGB image."""
    h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    u = i420[h : h + h // 4].reshape(h // 2, w // 2)
    v = i420[h + h // 4 :].reshape(h // 2, w // 2)
    return np.concatenate([i420[:h], np.stack([u, v], -1).reshape(h // 2, w)])


def _exact_rgb(nv12: np.ndarray, kr: float, kb: float, full: bool) -> np.ndarray:
    h = nv12.shape[0] * 2 // 3
    y = nv12[:h].astype(np.float64)
    uv = nv12[h:].reshape(h // 2, -1, 2).astype(np.float64).repeat(2, 0).repeat(2, 1)
    if full:
        luma, cb, cr = y, uv[..., 0] - 128, uv[..., 1] - 128
    else:
        luma, cb, cr = (
            (y - 16) * 255 / 219,
            (uv[..., 0] - 128) * 255 / 224,
            (uv[..., 1] - 128) * 255 / 224,
        )
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("matrix", "kr", "kb", "full"),
    [
        ("bt601", 0.299, 0.114, False),
        ("bt709", 0.2126, 0.0722, False),
        ("bt709", 0.2126, 0.0722, True),
        ("", 0.299, 0.114, False),
    ],
)
def test_nv12_conversion_is_the_matrix_formula(
    device: str, matrix: str, kr: float, kb: float, full: bool
) -> None:
    nv12 = _nv12_of(scene(64, 96, 2))
    data = torch.from_numpy(nv12).to(device)
    got = crop_rgb(data, PixelFormat.NV12, (0, 0, 96, 64), matrix, full)
    want = _exact_rgb(nv12, kr, kb, full).transpose(2, 0, 1)
    assert np.abs(got.cpu().numpy() - want).max() <= 1  # float32 vs float64 at .5 ties
    # an odd region takes the chroma of the pixels it covers
    part = crop_rgb(data, PixelFormat.NV12, (3, 5, 40, 21), matrix, full).cpu().numpy()
    np.testing.assert_array_equal(part, got.cpu().numpy()[:, 5:26, 3:43])


def test_nv12_against_opencv_bt601() -> None:
    rgb = scene(120, 160, 4)
    nv12 = _nv12_of(rgb)
    cv = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12).transpose(2, 0, 1).astype(np.float64)
    ours = yuv_to_rgb(
        *(torch.from_numpy(p) for p in _planes(nv12)), matrix="bt601", full_range=False
    )
    assert np.abs(ours.numpy() - cv).max() <= 2  # OpenCV's fixed point


def _planes(nv12: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = nv12.shape[0] * 2 // 3
    uv = nv12[h:].reshape(h // 2, -1, 2).repeat(2, 0).repeat(2, 1)
    return nv12[:h], uv[..., 0], uv[..., 1]


def _clip(path: Path, colorspace: str) -> Path:
    pytest.importorskip("av")
    import av
    import av.video.stream

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {"colorspace": colorspace, "color_range": "tv"}
        for i in range(4):
            picture = av.VideoFrame.from_ndarray(scene(240, 320, i), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("colorspace", "matrix"), [("bt709", "bt709"), ("bt470bg", "bt601")])
def test_decoded_nv12_matches_the_cpu_path_on_the_same_frames(
    tmp_path: Path, colorspace: str, matrix: str
) -> None:
    """The CPU path (FFmpeg's RGB + Preprocessor) and the GPU path (the same decoded YUV as
    NV12 + GpuPreprocessor with the stream's matrix) on one clip: FFmpeg's converter rounds its
    fixed-point arithmetic off by up to 3 levels; the wrong matrix would be off by far more."""
    av = pytest.importorskip("av")
    path = _clip(tmp_path / "clip.mp4", colorspace)
    spec = PreprocessSpec(160, 128, net_scale_factor=1 / 255, maintain_aspect_ratio=True)
    rgb_frames, nv12_frames = [], []
    with av.open(str(path)) as container:
        for picture in container.decode(video=0):
            rgb_frames.append(picture.to_ndarray(format="rgb24"))
            nv12_frames.append(picture.to_ndarray(format="nv12"))
    rois = [(0, 0, 320, 240)] * len(rgb_frames)
    cpu, _ = Preprocessor(spec)(rgb_frames, rois)

    def gpu(with_matrix: str) -> np.ndarray:
        frames = [
            Frame(
                data=torch.from_numpy(f),
                format=PixelFormat.NV12,
                source_id=0,
                frame_num=0,
                color_matrix=with_matrix,
            )
            for f in nv12_frames
        ]
        return levels(GpuPreprocessor(spec)(frames, rois)[0], cpu, spec)

    right = gpu(matrix)
    assert right.max() <= 4.0, f"max {right.max():.2f} levels"
    assert right.mean() <= 1.5
    wrong = gpu("bt601" if matrix == "bt709" else "bt709")
    assert wrong.max() > 10.0  # the matrix matters: the stream's is taken


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_and_cpu_torch_agree() -> None:
    spec = PreprocessSpec(
        128, 96, net_scale_factor=1 / 255, maintain_aspect_ratio=True, dtype=np.dtype(np.float16)
    )
    nv12 = _nv12_of(scene(240, 320, 9))
    frames = {
        d: [Frame(torch.from_numpy(nv12).to(d), PixelFormat.NV12, 0, 0, color_matrix="bt709")]
        for d in ("cpu", "cuda")
    }
    a, _ = GpuPreprocessor(spec)(frames["cpu"], [(0, 0, 320, 240)])
    b, _ = GpuPreprocessor(spec)(frames["cuda"], [(0, 0, 320, 240)])
    assert (a.float() - b.float().cpu()).abs().max().item() <= 1.0 / 255 + 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_scaling_nv12_planes_first_stays_close_to_the_exact_path(device: str) -> None:
    """``exact=False`` (convert at the network's size) differs only at colour edges."""
    spec = PreprocessSpec(
        160, 160, net_scale_factor=1 / 255, maintain_aspect_ratio=True, symmetric_padding=True
    )
    nv12 = torch.from_numpy(_nv12_of(scene(240, 320, 3))).to(device)
    frames = [Frame(nv12, PixelFormat.NV12, 0, 0, color_matrix="bt709")]
    exact, boxes = GpuPreprocessor(spec)(frames, [(0, 0, 320, 240)])
    fast, fast_boxes = GpuPreprocessor(spec, exact=False)(frames, [(0, 0, 320, 240)])
    assert fast_boxes == boxes
    diff = ((exact - fast).abs() * 255).cpu().numpy()
    assert diff.mean() < 0.5
    assert np.percentile(diff, 99) <= 2.0
