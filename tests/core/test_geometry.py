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
