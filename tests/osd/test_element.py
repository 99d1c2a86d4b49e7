from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections, SegmentationMap
from visionflow.core.pipeline import Pipeline
from visionflow.core.source import Source
from visionflow.osd.element import OSD
from visionflow.osd.palette import DEFAULT_COLORS

BLUE = np.asarray(DEFAULT_COLORS[3], np.uint8)
GREY = 60


class ArraySource(Source):
    """Yields the given host arrays as frames (kept, so a test can check they were not drawn on)."""

    def __init__(self, arrays: list[np.ndarray], fmt: PixelFormat = PixelFormat.RGB24) -> None:
        super().__init__("arrays://test")
        self.arrays = arrays
        self.fmt = fmt

    def frames(self) -> Iterator[Frame]:
        for i, data in enumerate(self.arrays):
            yield Frame(data, self.fmt, self.source_id, i)

    @property
    def num_frames(self) -> int:
        return len(self.arrays)


def add_box(batch: Batch) -> None:
    """Probe: one 'car' of class 3 at (20, 10)-(60, 50) on every frame."""
    for meta in batch.meta.frames:
        meta.detections = Detections(np.array([[20, 10, 60, 50]]), class_id=[3], labels=("car",))


def run(
    source: Source, osd: OSD, probe: Callable[[Batch], None] = add_box
) -> tuple[list[Frame], Pipeline]:
    pipeline = Pipeline([source], [osd])
    pipeline.add_probe(osd.name, probe, where="before")
    out: list[Frame] = []
    report = pipeline.run(on_batch=lambda batch: out.extend(batch.frames))
    assert report.balanced
    assert report.frames_out == source.num_frames
    return out, pipeline


def test_osd_draws_the_probe_boxes_on_copies_of_the_frames() -> None:
    arrays = [np.full((72, 128, 3), GREY, np.uint8) for _ in range(3)]
    frames, _ = run(ArraySource(arrays), OSD(border_width=2))
    assert [f.frame_num for f in frames] == [0, 1, 2]
    for frame in frames:
        assert frame.format is PixelFormat.RGB24
        image = frame.to_numpy()
        border = np.zeros((72, 128), bool)
        border[10:50, 20:60] = True
        border[12:48, 22:58] = False
        assert (image[border] == BLUE).all()
        assert (image[40:48, 22:58] == GREY).all()  # inside the box, below its tag
        assert (image[:, 70:] == GREY).all()  # far from the box
        assert (image[10:30, 22:58] != GREY).any()  # the tag (inside: no room above the box)
    assert all((a == GREY).all() for a in arrays)  # the source's buffers were not drawn on


def test_switches_turn_drawing_off() -> None:
    arrays = [np.full((72, 128, 3), GREY, np.uint8)]
    frames, _ = run(ArraySource(arrays), OSD(display_bbox=False, display_text=False))
    np.testing.assert_array_equal(frames[0].to_numpy(), arrays[0])


def test_nv12_frames_come_out_as_drawn_rgb() -> None:
    rgb = np.full((72, 128, 3), GREY, np.uint8)
    nv12 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # planar; interleave U and V for NV12
    y, u, v = nv12[:72], nv12[72:90].reshape(36, 64), nv12[90:].reshape(36, 64)
    nv12 = np.concatenate([y, np.stack([u, v], axis=-1).reshape(36, 128)])
    frames, _ = run(ArraySource([nv12], PixelFormat.NV12), OSD(border_width=2))
    assert frames[0].format is PixelFormat.RGB24
    image = frames[0].data
    assert image.shape == (72, 128, 3)
    assert (image[49, 20:60] == BLUE).all()
    assert np.abs(image[:, 70:].astype(int) - GREY).max() <= 3


def test_segmentation_and_clock() -> None:
    def add_map(batch: Batch) -> None:
        for meta in batch.meta.frames:
            meta.segmentation = [SegmentationMap(1, np.array([[-1, 1]], np.int32))]

    arrays = [np.full((72, 128, 3), GREY, np.uint8)]
    frames, _ = run(ArraySource(arrays), OSD(show_clock=True), probe=add_map)
    image = frames[0].to_numpy()
    green = np.asarray(DEFAULT_COLORS[1], np.float32)
    np.testing.assert_allclose(
        image[60, 100], 0.5 * green + GREY / 2, atol=1
    )  # right half: class 1
    assert (image[40:, :64] == GREY).all()  # left half: class −1, transparent
    assert (image[:20, :64] != GREY).any()  # the clock, top left


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"border_width": -1}, "border_width"), ({"text_scale": 0}, "text_scale")],
)
def test_argument_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OSD(**kwargs)


@pytest.mark.parametrize("text_scale", [0.4, 1.0])
def test_on_a_mosaic_tags_and_boxes_stay_inside_their_tile(text_scale: float) -> None:
    from visionflow.mux.tiler import Tiler

    colors = [(200, 10, 10), (10, 200, 10)]
    tag = ("a long label that is wider than its tile",)
    # A box at the right edge of stream 0 (its tag runs right, towards stream 1), and one at the
    # top-left of stream 1 (its tag would go up, over the letterbox bar).
    boxes = [[[60, 10, 80, 30]], [[0, 0, 30, 20]]]
    batch = Batch(
        [
            Frame(np.full((40, 80, 3), c, np.uint8), PixelFormat.RGB24, s, 0)
            for s, c in enumerate(colors)
        ]
    )
    for meta, box in zip(batch.meta.frames, boxes, strict=True):
        meta.detections = Detections(np.array(box), class_id=[3], labels=tag)
    mosaic = Tiler(width=200, height=100).process(batch)
    osd = OSD(text_scale=text_scale, border_width=2)
    drawn = osd.process(mosaic).frames[0].data

    # Each 80x40 stream is a 100x50 picture at (100 * s, 25): it looks as the stream drawn alone
    # at that size, and the letterbox bars stay black.
    for sid, (color, box) in enumerate(zip(colors, boxes, strict=True)):
        alone = Frame(np.full((50, 100, 3), color, np.uint8), PixelFormat.RGB24, sid, 0)
        meta = Batch([alone]).meta.frames[0]
        meta.detections = Detections(np.array(box) * 1.25, class_id=[3], labels=tag)
        expected = osd.draw(alone, meta).data
        np.testing.assert_array_equal(drawn[25:75, 100 * sid : 100 * (sid + 1)], expected)
    assert (drawn[:25] == 0).all()
    assert (drawn[75:] == 0).all()
