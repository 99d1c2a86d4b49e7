from __future__ import annotations

import cv2
import numpy as np
import pytest

from visionflow.core.geometry import Letterbox
from visionflow.errors import ConfigError
from visionflow.infer.preprocess import (
    ColorFormat,
    Preprocessor,
    PreprocessSpec,
    ScalingFilter,
    even_crop,
    preprocess,
)


def white_box_frame(w: int, h: int, box: tuple[int, int, int, int]) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    frame[y1:y2, x1:x2] = 255
    return frame


def extent(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(("w", "h"), [(1280, 720), (480, 640), (333, 200)])
def test_letterboxed_boxes_map_back_within_one_pixel(w: int, h: int, symmetric: bool) -> None:
    box = (w // 5, h // 3, w // 5 + w // 4, h // 3 + h // 3)
    frame = white_box_frame(w, h, box)
    spec = PreprocessSpec(
        320,
        320,
        maintain_aspect_ratio=True,
        symmetric_padding=symmetric,
        scaling_filter=ScalingFilter.NEAREST,
    )
    tensor, (geometry,) = preprocess([frame], [(0, 0, w, h)], spec)
    assert tensor.shape == (1, 3, 320, 320)
    found = extent(tensor[0, 0] > 127)
    back = geometry.to_frame(found)
    assert (
        np.abs(back - np.array([box], np.float32)).max()
        <= 1.0 / min(geometry.scale_x, geometry.scale_y) + 1
    )
    # padding is black and where the rules say
    scaled_w, scaled_h = geometry.scaled_size
    if symmetric:
        assert geometry.pad_left == (320 - scaled_w) // 2
        assert geometry.pad_top == (320 - scaled_h) // 2
    else:
        assert geometry.pad_left == geometry.pad_top == 0
    assert tensor[0, :, :, int(geometry.pad_left) + scaled_w :].max(initial=0) == 0


def test_normalisation_colour_order_and_layout() -> None:
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 10, 20, 30  # R G B
    spec = PreprocessSpec(
        2, 2, color_format=ColorFormat.BGR, net_scale_factor=0.5, offsets=(1.0, 2.0, 3.0)
    )
    tensor, _ = preprocess([frame], [(0, 0, 2, 2)], spec)
    # BGR order: B=30, G=20, R=10; y = 0.5 * (x - offset_c)
    assert tensor[0, :, 0, 0].tolist() == [0.5 * (30 - 1), 0.5 * (20 - 2), 0.5 * (10 - 3)]
    nhwc, _ = preprocess([frame], [(0, 0, 2, 2)], PreprocessSpec(2, 2, nhwc=True))
    assert nhwc.shape == (1, 2, 2, 3)
    assert nhwc[0, 0, 0].tolist() == [10, 20, 30]


def test_gray_input() -> None:
    frame = np.full((4, 4, 3), 100, np.uint8)
    tensor, _ = preprocess(
        [frame], [(0, 0, 4, 4)], PreprocessSpec(4, 4, channels=1, color_format=ColorFormat.GRAY)
    )
    assert tensor.shape == (1, 1, 4, 4)
    assert float(tensor.max()) == 100.0


def test_even_crop_rounding() -> None:
    crops = even_crop(
        np.array([[3.2, 5.9, 20.7, 17.1], [-4, -4, 9, 9], [100, 100, 101, 101]]), 50, 40
    )
    # left/top rounded up to even, width/height rounded down to even; clipped to the frame
    assert crops.tolist() == [[4, 6, 16, 10], [0, 0, 8, 8], [50, 40, 0, 0]]


# --- the buffered, vectorised preprocessor against the per-crop loop it replaced -------------
# The functions below are visionflow's former implementation (a new canvas and output per batch,
# a loop per crop and channel), kept as the reference: outputs must match bit for bit.

_REFERENCE_INTERPOLATION = {
    ScalingFilter.NEAREST: cv2.INTER_NEAREST,
    ScalingFilter.BILINEAR: cv2.INTER_LINEAR,
    ScalingFilter.ALGO1: cv2.INTER_CUBIC,
    ScalingFilter.ALGO2: cv2.INTER_AREA,
    ScalingFilter.ALGO3: cv2.INTER_LANCZOS4,
    ScalingFilter.ALGO4: cv2.INTER_LANCZOS4,
    ScalingFilter.DEFAULT: cv2.INTER_NEAREST,
}


def _reference_to_color(pixels: np.ndarray, color: ColorFormat) -> np.ndarray:
    if color is ColorFormat.BGR:
        return pixels[..., ::-1]
    if color is ColorFormat.GRAY:
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)[..., None]
    return pixels


def _reference_normalize(canvas: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    if spec.dtype == np.uint8 and spec.net_scale_factor == 1.0 and not spec.offsets:
        return canvas if spec.nhwc else np.ascontiguousarray(canvas.transpose(0, 3, 1, 2))
    n, h, w, c = canvas.shape
    scale = np.float32(spec.net_scale_factor)
    mean: np.ndarray | None = None
    if spec.mean_image is not None:
        mean = spec.mean_image.astype(np.float32) * scale
    elif any(spec.offsets):
        mean = np.broadcast_to(np.asarray(spec.offsets[:c], np.float32) * scale, (h, w, c))
    if spec.nhwc:
        out = np.multiply(canvas, scale, dtype=np.float32)
        if mean is not None:
            out -= mean
        return out.astype(spec.dtype, copy=False)
    out = np.empty((n, c, h, w), np.float32)
    for i in range(n):
        planes = cv2.split(canvas[i]) if c > 1 else [canvas[i, :, :, 0]]
        for ch, plane in enumerate(planes):
            np.multiply(plane, scale, out=out[i, ch], dtype=np.float32)
            if mean is not None:
                out[i, ch] -= mean[:, :, ch]
    return out.astype(spec.dtype, copy=False)


def reference_preprocess(
    images: list[np.ndarray], rois: list[tuple[int, int, int, int]], spec: PreprocessSpec
) -> tuple[np.ndarray, list[Letterbox]]:
    n = len(images)
    canvas = np.zeros((n, spec.height, spec.width, spec.channels), np.uint8)
    interpolation = _REFERENCE_INTERPOLATION[spec.scaling_filter]
    transforms = []
    for i, (image, roi) in enumerate(zip(images, rois, strict=True)):
        box = Letterbox.fit(
            roi,
            spec.net_size,
            maintain_aspect_ratio=spec.maintain_aspect_ratio,
            symmetric_padding=spec.symmetric_padding,
        )
        transforms.append(box)
        left, top, width, height = (int(v) for v in roi)
        crop = image[top : top + height, left : left + width]
        dst_w = min(spec.width, round(width * box.scale_x))
        dst_h = min(spec.height, round(height * box.scale_y))
        if crop.shape[:2] != (dst_h, dst_w):
            crop = cv2.resize(crop, (dst_w, dst_h), interpolation=interpolation)
        px, py = int(box.pad_left), int(box.pad_top)
        canvas[i, py : py + dst_h, px : px + dst_w] = _reference_to_color(crop, spec.color_format)
    return _reference_normalize(canvas, spec), transforms


def _random_spec(rng: np.random.Generator, case: int) -> PreprocessSpec:
    color = ColorFormat(case % 3)
    channels = 3 if color is not ColorFormat.GRAY else int(rng.choice([1, 3]))
    width, height = int(rng.integers(8, 48)), int(rng.integers(8, 48))
    offsets_choice = [(), (0.0, 0.0, 0.0), (127.5,), (123.675, 116.28, 103.53)]
    offsets = offsets_choice[int(rng.integers(len(offsets_choice)))]
    if channels == 1 and len(offsets) == 3:
        offsets = offsets[:1]
    mean_image = None
    if rng.random() < 0.2:
        mean_image = rng.uniform(0, 255, (height, width, channels)).astype(np.float32)
    return PreprocessSpec(
        width,
        height,
        channels=channels,
        color_format=color,
        net_scale_factor=float(rng.choice([1.0, 1 / 255, 0.0078431372, 0.5])),
        offsets=offsets,
        mean_image=mean_image,
        maintain_aspect_ratio=bool(rng.random() < 0.6),
        symmetric_padding=bool(rng.random() < 0.5),
        nhwc=bool(rng.random() < 0.3),
        scaling_filter=ScalingFilter(int(rng.integers(0, 7))),
        dtype=np.dtype(rng.choice(["float32", "float32", "float16", "uint8"])),
    )


def _random_batch(
    rng: np.random.Generator, n: int
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """Frames of several sizes; whole frames and even crops of them, some as small as 2×2."""
    frames = [
        rng.integers(0, 256, (int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3), np.uint8)
        for _ in range(2)
    ]
    images, rois = [], []
    for _ in range(n):
        frame = frames[int(rng.integers(2))]
        h, w = frame.shape[:2]
        if rng.random() < 0.3:
            roi = (0, 0, w, h)
        else:
            x1, y1 = (int(v) for v in rng.integers(0, [w - 2, h - 2]))
            x2, y2 = int(rng.integers(x1 + 2, w + 1)), int(rng.integers(y1 + 2, h + 1))
            roi = tuple(int(v) for v in even_crop(np.array([[x1, y1, x2, y2]]), w, h)[0])
            if roi[2] == 0 or roi[3] == 0:
                roi = (0, 0, w, h)
        images.append(frame)
        rois.append(roi)
    return images, rois


def test_preprocessor_equals_the_former_loop_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    for case in range(240):
        spec = _random_spec(rng, case)
        preprocessor = Preprocessor(spec)
        for n in (3, 1, 4, 2):  # buffers grow, then get reused by smaller batches
            images, rois = _random_batch(rng, n)
            got, got_boxes = preprocessor(images, rois)
            want, want_boxes = reference_preprocess(images, rois, spec)
            assert got.dtype == want.dtype, (case, spec)
            assert got.shape == want.shape, (case, spec)
            assert got.tobytes() == want.tobytes(), (case, n, spec)
            assert got_boxes == want_boxes


def test_preprocess_returns_arrays_of_its_own_and_the_preprocessor_reuses_its_buffer() -> None:
    spec = PreprocessSpec(16, 16, net_scale_factor=1 / 255)
    frame = np.full((20, 30, 3), 200, np.uint8)
    first, _ = preprocess([frame], [(0, 0, 30, 20)], spec)
    second, _ = preprocess([frame], [(0, 0, 30, 20)], spec)
    assert not np.shares_memory(first, second)
    preprocessor = Preprocessor(spec)
    a, _ = preprocessor([frame, frame], [(0, 0, 30, 20)] * 2)
    b, _ = preprocessor([frame], [(0, 0, 30, 20)])
    assert np.shares_memory(a, b)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            PreprocessSpec(8, 8, channels=1),
            "model-color-format = 0: RGB needs a network input of 3 channels, this one has 1; "
            "expected 2 (GRAY) for a 1-channel input",
        ),
        (
            PreprocessSpec(8, 8, offsets=(1.0, 2.5)),
            "offsets = 1;2.5: 2 values for a network input of 3 channels; "
            "expected one value per channel (3)",
        ),
    ],
)
def test_preprocessor_refuses_specs_it_cannot_fill(spec: PreprocessSpec, message: str) -> None:
    # Before, these failed on every frame with a NumPy broadcasting error.
    with pytest.raises(ConfigError, match="network input of") as err:
        Preprocessor(spec)
    assert str(err.value) == message
