from __future__ import annotations

import numpy as np
import pytest

from visionflow.core.geometry import Letterbox, box_iou, ltwh_to_xyxy, xywh_to_xyxy, xyxy_to_ltwh


def test_box_conversions() -> None:
    xywh = np.array([[10, 20, 4, 6]], np.float32)
    assert xywh_to_xyxy(xywh).tolist() == [[8, 17, 12, 23]]
    assert ltwh_to_xyxy(np.array([[8, 17, 4, 6]])).tolist() == [[8, 17, 12, 23]]
    assert xyxy_to_ltwh(np.array([[8, 17, 12, 23]])).tolist() == [[8, 17, 4, 6]]


def test_iou_without_plus_one() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    assert box_iou(a, b)[0].tolist() == pytest.approx([50 / 150, 0.0, 1.0])


@pytest.mark.parametrize(
    ("roi", "net", "maintain", "symmetric", "expected"),
    [
        # 1280x720 into 640x640, letterboxed: 640x360, padding split 140/140.
        ((0, 0, 1280, 720), (640, 640), True, True, (0.5, 0.5, 0.0, 140.0)),
        # same without symmetric padding: all padding at the bottom.
        ((0, 0, 1280, 720), (640, 640), True, False, (0.5, 0.5, 0.0, 0.0)),
        # stretched.
        ((0, 0, 1280, 720), (640, 640), False, False, (0.5, 640 / 720, 0.0, 0.0)),
        # tall region: width limits; 360 * 300/1000 = 108 px wide; pad (300-108)//2 = 96.
        ((0, 0, 360, 1000), (300, 300), True, True, (108 / 360, 0.3, 96.0, 0.0)),
    ],
)
def test_letterbox_fit(roi, net, maintain, symmetric, expected) -> None:
    box = Letterbox.fit(roi, net, maintain_aspect_ratio=maintain, symmetric_padding=symmetric)
    assert (box.scale_x, box.scale_y, box.pad_left, box.pad_top) == pytest.approx(expected)


def test_letterbox_round_trip_with_roi_offset() -> None:
    box = Letterbox.fit(
        (100, 50, 333, 171), (224, 224), maintain_aspect_ratio=True, symmetric_padding=True
    )
    frame_boxes = np.array([[110, 60, 300, 200], [100, 50, 433, 221]], np.float32)
    back = box.to_frame(box.to_network(frame_boxes))
    assert np.abs(back - frame_boxes).max() < 1e-3


@pytest.mark.parametrize(
    ("frame", "cell", "scaled", "origin"),
    [
        # The one letterbox of the stream muxer and the tiler: the scaled size is truncated as
        # nvinfer's maintain-aspect-ratio truncates it, centred by integer halves.
        ((80, 40), (0, 0, 100, 100), (100, 50), (0, 25)),
        ((1280, 720), (0, 0, 426, 240), (426, 239), (0, 0)),  # 239.625 → 239 (round gave 240)
        ((641, 360), (0, 0, 320, 320), (320, 179), (0, 70)),  # 179.72 → 179; 141 // 2 = 70
        ((100, 300), (0, 0, 99, 99), (33, 99), (33, 0)),
        ((1920, 1080), (426, 240, 852, 480), (426, 239), (426, 240)),  # a tile: cell origin added
        ((2000, 1), (0, 0, 100, 100), (100, 1), (0, 49)),  # never 0 pixels
    ],
)
def test_letterbox_place_rounding(
    frame: tuple[int, int],
    cell: tuple[int, int, int, int],
    scaled: tuple[int, int],
    origin: tuple[int, int],
) -> None:
    placement = Letterbox.place(frame, cell, (1280, 720))
    assert placement.scaled_size == scaled
    assert (placement.pad_left, placement.pad_top) == origin
    assert (placement.net_width, placement.net_height) == (1280, 720)
    fit = Letterbox.fit(
        (0, 0, *frame),
        (cell[2] - cell[0], cell[3] - cell[1]),
        maintain_aspect_ratio=True,
        symmetric_padding=True,
    )
    assert fit.scaled_size == scaled  # place is fit, moved to the cell
    # The whole frame maps onto the placed picture and back.
    corners = np.array([[0, 0, *frame]], np.float32)
    picture = [[*origin, origin[0] + scaled[0], origin[1] + scaled[1]]]
    np.testing.assert_allclose(placement.to_network(corners), picture, atol=1e-3)
    np.testing.assert_allclose(
        placement.to_frame(placement.to_network(corners)), corners, atol=1e-2
    )
