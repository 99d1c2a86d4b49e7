from __future__ import annotations

import numpy as np
import pytest

from visionflow.infer.preprocess import (
    ColorFormat,
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
