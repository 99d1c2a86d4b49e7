from __future__ import annotations

import numpy as np
import pytest

from visionflow.core.geometry import Letterbox
from visionflow.core.meta import ClassifierLabel, Detections, SegmentationMap
from visionflow.osd.draw import (
    DARK_TEXT,
    LIGHT_TEXT,
    contrast_text_colors,
    display_texts,
    draw_detections,
    draw_segmentation,
    draw_text,
)
from visionflow.osd.palette import DEFAULT_COLORS

BLUE = DEFAULT_COLORS[3]


def blank(h: int, w: int, value: int = 0) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def painted(image: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """(H, W) bool: pixels exactly of ``color``."""
    return np.all(image == np.asarray(color, np.uint8), axis=-1)


def changed_bbox(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """``x1, y1, x2, y2`` (exclusive) of the pixels that differ."""
    ys, xs = np.nonzero(np.any(before != after, axis=-1))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


# -- boxes -------------------------------------------------------------------------------------
def test_border_is_drawn_inside_the_box_in_the_class_colour() -> None:
    image = blank(100, 120)
    dets = Detections(np.array([[10, 20, 50, 60]]), class_id=[3])
    draw_detections(image, dets, border_width=2, labels=False)
    expected = blank(100, 120)
    expected[20:60, 10:50] = BLUE
    expected[22:58, 12:48] = 0  # interior untouched
    np.testing.assert_array_equal(image, expected)


def test_fractional_boxes_round_to_pixels() -> None:
    image = blank(40, 40)
    draw_detections(
        image,
        Detections(np.array([[4.6, 5.4, 20.5, 30.49]]), class_id=[3]),
        border_width=1,
        labels=False,
    )
    ys, xs = np.nonzero(painted(image, BLUE))
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (5, 5, 19, 29)


def test_class_colour_override_and_border_alpha() -> None:
    image = blank(50, 50, 100)
    dets = Detections(np.array([[10, 10, 40, 40]]), class_id=[3])
    draw_detections(image, dets, border_width=1, labels=False, colors={3: (1.0, 0.0, 0.0, 0.5)})
    # 0.5 · 255 + 0.5 · 100 = 177.5 → 178 in red; 0.5 · 0 + 0.5 · 100 = 50 in green and blue.
    assert image[10, 20].tolist() == [178, 50, 50]
    assert image[20, 20].tolist() == [100, 100, 100]


def test_box_partly_outside_the_image_keeps_visible_edges() -> None:
    image = blank(50, 50)
    draw_detections(
        image, Detections(np.array([[-10, 30, 20, 70]]), class_id=[3]), border_width=2, labels=False
    )
    expected = blank(50, 50)
    expected[30:32, 0:20] = BLUE  # top edge; left and bottom edges are outside the image
    expected[30:50, 18:20] = BLUE  # right edge
    np.testing.assert_array_equal(image, expected)


def test_bg_color_fills_the_box() -> None:
    image = blank(30, 30, 200)
    dets = Detections(np.array([[5, 5, 25, 25]]), class_id=[1])
    draw_detections(image, dets, border_width=0, labels=False, bg_colors={1: (0.0, 0.0, 1.0, 0.25)})
    # 0.75 · 200 = 150 (red, green); 0.75 · 200 + 0.25 · 255 = 213.75 → 214 (blue)
    assert image[15, 15].tolist() == [150, 150, 214]
    assert image[2, 2].tolist() == [200, 200, 200]


# -- instance masks ------------------------------------------------------------------------------
def test_half_mask_paints_exactly_its_half() -> None:
    image = blank(200, 200)
    mask = np.array([[[1.0, 0.0], [1.0, 0.0]]], np.float32)  # the left half of the object
    dets = Detections(np.array([[20, 30, 120, 130]]), class_id=[3], masks=mask)
    draw_detections(image, dets, border_width=0, labels=False, mask_alpha=1.0)
    # Bilinear upsampling 2 → 100 px falls from 1 to 0 between box columns 25 and 75, crossing 0.5
    # exactly between columns 49 and 50.
    expected = np.zeros((200, 200), bool)
    expected[30:130, 20:70] = True
    np.testing.assert_array_equal(painted(image, BLUE), expected)


def test_disk_mask_paints_the_disk_within_one_pixel() -> None:
    image = blank(300, 300)
    yy, xx = np.mgrid[:64, :64] + 0.5
    disk = ((xx - 32) ** 2 + (yy - 32) ** 2 <= 24**2).astype(np.float32)  # radius 24 of 64
    dets = Detections(np.array([[50, 40, 178, 168]]), class_id=[3], masks=disk[None])
    draw_detections(image, dets, border_width=0, labels=False, mask_alpha=1.0)
    # On the 128 px box the disk has radius 48 around the box centre (114, 104).
    py, px = np.mgrid[:300, :300] + 0.5
    dist = np.hypot(px - 114, py - 104)
    got = painted(image, BLUE)
    assert got[dist < 47].all()
    assert not got[dist > 49].any()


def test_mask_of_a_box_crossing_the_image_edge_is_clipped() -> None:
    image = blank(60, 60)
    dets = Detections(
        np.array([[-40, -40, 40, 40]]), class_id=[3], masks=np.ones((1, 8, 8), np.float32)
    )
    draw_detections(image, dets, border_width=0, labels=False, mask_alpha=1.0)
    expected = np.zeros((60, 60), bool)
    expected[:40, :40] = True
    np.testing.assert_array_equal(painted(image, BLUE), expected)


def test_mask_alpha_blends_and_masks_can_be_switched_off() -> None:
    image = blank(20, 20, 100)
    dets = Detections(
        np.array([[0, 0, 20, 20]]), class_id=[0], masks=np.ones((1, 4, 4), np.float32)
    )
    off = draw_detections(image.copy(), dets, border_width=0, labels=False, masks=False)
    np.testing.assert_array_equal(off, image)
    on = draw_detections(image.copy(), dets, border_width=0, labels=False, mask_alpha=0.5)
    red = np.asarray(DEFAULT_COLORS[0], np.float32)
    np.testing.assert_allclose(on[10, 10], 0.5 * red + 50, atol=1)


# -- tags and text -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "options", "expected"),
    [
        ({"labels": ("car",), "confidence": [0.876]}, {}, "car 0.88"),
        ({"labels": ("car",), "confidence": [0.5], "tracker_id": [12]}, {}, "car 0.50 #12"),
        (
            {"labels": ("car",), "confidence": [0.5], "tracker_id": [12]},
            {"confidence": False, "tracker_ids": False},
            "car",
        ),
        ({"class_id": [7]}, {}, "class 7"),  # no label, confidence unknown (−0.1)
        (
            {
                "labels": ("car",),
                "classifications": (
                    (ClassifierLabel(2, 0, 1, 0.9, "red"), ClassifierLabel(3, 0, 4, 0.8, "sedan")),
                ),
            },
            {},
            "car: red, sedan",
        ),
        (
            {"class_id": [-1], "classifications": ((ClassifierLabel(2, 0, 1, 0.9, "indoor"),),)},
            {},
            "indoor",
        ),
    ],
)
def test_display_texts(kwargs: dict, options: dict, expected: str) -> None:
    assert display_texts(Detections(np.zeros((1, 4)), **kwargs), **options) == [expected]


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ((255, 255, 255), DARK_TEXT),
        ((0, 0, 0), LIGHT_TEXT),
        ((255, 225, 25), DARK_TEXT),
        ((0, 0, 117), LIGHT_TEXT),
    ],
)
def test_tag_text_contrasts_with_its_background(background: tuple, text: tuple) -> None:
    assert contrast_text_colors(np.array([background])).tolist() == [list(text)]


def test_tag_sits_above_the_box_with_the_text_inside() -> None:
    image = blank(200, 300)
    draw_detections(
        image,
        Detections(np.array([[100, 100, 200, 160]]), labels=("person",), class_id=[2]),
        border_width=0,
    )
    x1, y1, x2, y2 = changed_bbox(blank(200, 300), image)
    assert (x1, y2) == (100, 100)  # left-aligned with the box, ending on its top edge
    tag = image[y1:y2, x1:x2]
    assert painted(tag, DEFAULT_COLORS[2]).mean() > 0.5  # filled in the class colour (yellow) …
    assert (tag.astype(int).sum(-1) < 200).any()  # … with dark text on it


@pytest.mark.parametrize(
    ("box", "edges"),
    [
        ((250, 100, 300, 150), "right"),  # tag wider than the space left of the right edge
        ((20, 0, 60, 40), "top"),  # no room above the box: the tag goes inside it
        ((-30, 190, 10, 230), "left"),  # box leaves the image at the bottom left
    ],
)
def test_tag_at_the_image_edge_is_shifted_not_cut(box: tuple, edges: str) -> None:
    dets = Detections(
        np.array([box], np.float32),
        labels=("person",),
        confidence=[0.93],
        tracker_id=[12],
        class_id=[5],
    )
    reference = blank(400, 400)
    draw_detections(
        reference, dets.replace(xyxy=np.array([[150, 150, 250, 250]], np.float32)), border_width=0
    )
    rx1, ry1, rx2, ry2 = changed_bbox(blank(400, 400), reference)
    image = blank(200, 300)
    draw_detections(image, dets, border_width=0)
    x1, y1, x2, y2 = changed_bbox(blank(200, 300), image)
    np.testing.assert_array_equal(image[y1:y2, x1:x2], reference[ry1:ry2, rx1:rx2])
    assert {"right": x2 == 300, "top": y1 == 0, "left": x1 == 0}[edges]


def test_boxes_outside_the_image_draw_nothing() -> None:
    image = blank(50, 50)
    boxes = np.array([[-30, 10, -5, 20], [10, 60, 20, 90], [55, 0, 70, 10]], np.float32)
    draw_detections(image, Detections(boxes, labels=("a", "b", "c")), masks=False)
    assert not image.any()


def test_draw_text_is_kept_inside_the_image() -> None:
    image = blank(50, 80, 128)
    draw_text(image, "12:00", (1000, 1000), bg_color=(0, 0, 0), scale=0.5)
    x1, y1, x2, y2 = changed_bbox(blank(50, 80, 128), image)
    assert (x2, y2) == (80, 50)  # moved into the bottom-right corner, whole
    assert x1 > 0
    assert y1 > 0
    assert painted(image[y1:y2, x1:x2], LIGHT_TEXT).any()  # light text on the black box


def test_draw_text_without_background_draws_light_text_with_a_shadow() -> None:
    image = blank(40, 120, 128)
    draw_text(image, "hello", (5, 5), scale=0.6)
    assert painted(image, LIGHT_TEXT).any()
    assert (image < 60).all(axis=-1).any()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "got dtype float32"),
        (np.zeros((10, 10), np.uint8), r"got shape \(10, 10\)"),
        (np.zeros((10, 10, 3), np.uint8)[:, :, ::-1], "packed RGB"),
    ],
)
def test_image_validation(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        draw_detections(image, Detections(np.zeros((1, 4))))


def test_read_only_images_are_refused() -> None:
    image = blank(10, 10)
    image.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        draw_text(image, "x", (0, 0))


# -- semantic segmentation -----------------------------------------------------------------------
CLASS_MAP = np.array([[0, 1, -1, 2], [0, 1, -1, 2], [3, 3, -1, -1], [3, 3, -1, -1]], np.int32)


def expected_blocks(class_map: np.ndarray, block: int, base: int) -> np.ndarray:
    """Each map pixel becomes a ``block × block`` square of its palette colour (−1: ``base``)."""
    colors = np.array([*DEFAULT_COLORS[:4], (base,) * 3], np.uint8)
    return colors[np.where(class_map < 0, 4, class_map)].repeat(block, 0).repeat(block, 1)


def test_segmentation_without_transform_is_stretched_over_the_frame() -> None:
    image = blank(40, 40, 7)
    draw_segmentation(image, SegmentationMap(1, CLASS_MAP), alpha=1.0)
    np.testing.assert_array_equal(image, expected_blocks(CLASS_MAP, 10, 7))


def test_segmentation_alpha_blends_and_keeps_minus_one_transparent() -> None:
    image = blank(40, 40, 100)
    draw_segmentation(image, SegmentationMap(1, CLASS_MAP), alpha=0.5)
    red = np.asarray(DEFAULT_COLORS[0], np.float32)
    np.testing.assert_allclose(image[5, 5], 0.5 * red + 50, atol=1)
    assert image[5, 25].tolist() == [100, 100, 100]


def test_segmentation_letterbox_is_undone() -> None:
    # An 80x40 frame letterboxed into a 40x40 network: scale 0.5, 10 px bars above and below.
    transform = Letterbox.fit(
        (0, 0, 80, 40), (40, 40), maintain_aspect_ratio=True, symmetric_padding=True
    )
    class_map = np.full((40, 40), 3, np.int32)  # class 3 fills the padding bars
    class_map[10:30, :20], class_map[10:30, 20:] = 1, 2
    image = blank(40, 80)
    draw_segmentation(image, SegmentationMap(1, class_map, transform=transform), alpha=1.0)
    expected = blank(40, 80)
    expected[:, :40], expected[:, 40:] = DEFAULT_COLORS[1], DEFAULT_COLORS[2]
    np.testing.assert_array_equal(image, expected)
    # A map at half the network resolution lands on the same pixels.
    half = blank(40, 80)
    draw_segmentation(half, SegmentationMap(1, class_map[::2, ::2], transform=transform), alpha=1.0)
    np.testing.assert_array_equal(half, expected)


def test_object_segmentation_is_drawn_inside_its_roi_only() -> None:
    # A secondary model saw the object box (20, 10)-(60, 30) letterboxed into 20x20 (pad 5 top).
    transform = Letterbox.fit(
        (20, 10, 40, 20), (20, 20), maintain_aspect_ratio=True, symmetric_padding=True
    )
    class_map = np.full((20, 20), 1, np.int32)  # the padding rows too
    image = blank(50, 80)
    draw_segmentation(
        image, SegmentationMap(1, class_map, transform=transform, object_index=0), alpha=1.0
    )
    expected = np.zeros((50, 80), bool)
    expected[10:30, 20:60] = True
    np.testing.assert_array_equal(painted(image, DEFAULT_COLORS[1]), expected)


def test_segmentation_without_transform_can_cover_a_box() -> None:
    image = blank(30, 30)
    draw_segmentation(
        image, SegmentationMap(1, np.zeros((3, 3), np.int32)), alpha=1.0, box=(6, 3, 18, 21)
    )
    expected = np.zeros((30, 30), bool)
    expected[3:21, 6:18] = True
    np.testing.assert_array_equal(painted(image, DEFAULT_COLORS[0]), expected)
