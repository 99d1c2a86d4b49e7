from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.core.meta import Detections, SegmentationMap
from visionflow.core.pipeline import Pipeline
from visionflow.core.source import Source
from visionflow.errors import ConfigError
from visionflow.mux.streammux import StreamMux
from visionflow.mux.tiler import Tiler, grid_shape
from visionflow.osd.draw import draw_segmentation
from visionflow.osd.element import OSD
from visionflow.osd.palette import DEFAULT_COLORS

A, B, C = (200, 10, 10), (10, 200, 10), (10, 10, 200)


def frame(
    source_id: int, color: tuple[int, int, int], h: int = 40, w: int = 80, num: int = 0
) -> Frame:
    data = np.empty((h, w, 3), np.uint8)
    data[...] = color
    return Frame(
        data, PixelFormat.RGB24, source_id, num, pts=1000 + num, time_base=Fraction(1, 1000)
    )


def batch(*frames: Frame, dets: dict[int, Detections] | None = None) -> Batch:
    b = Batch(list(frames))
    for meta in b.meta.frames:
        meta.detections = (dets or {}).get(meta.source_id, Detections.empty())
    return b


def canvas_of(out: Batch) -> np.ndarray:
    assert len(out) == 1
    return out.frames[0].data


@pytest.mark.parametrize(
    ("n", "rows", "columns", "expected"),
    [
        (1, 0, 0, (1, 1)),
        (2, 0, 0, (1, 2)),
        (3, 0, 0, (2, 2)),
        (4, 0, 0, (2, 2)),
        (5, 0, 0, (2, 3)),
        (10, 0, 0, (3, 4)),
        (5, 1, 0, (1, 5)),
        (5, 0, 2, (3, 2)),
        (5, 2, 2, (2, 2)),  # fixed: streams beyond the grid are not shown
    ],
)
def test_grid_shape(n: int, rows: int, columns: int, expected: tuple[int, int]) -> None:
    assert grid_shape(n, rows, columns) == expected


def test_two_streams_side_by_side_letterboxed() -> None:
    tiler = Tiler(width=200, height=100)
    out = tiler.process(batch(frame(0, A), frame(1, B)))
    assert tiler.grid == (1, 2)
    # 80x40 into a 100x100 cell: ×1.25 → 100x50, centred 25 px down.
    expected = np.zeros((100, 200, 3), np.uint8)
    expected[25:75, :100], expected[25:75, 100:] = A, B
    np.testing.assert_array_equal(canvas_of(out), expected)


def test_three_streams_on_a_two_by_two_grid() -> None:
    tiler = Tiler(width=200, height=200)
    out = tiler.process(batch(frame(0, A), frame(1, B, h=60, w=60), frame(2, C, h=100, w=50)))
    assert tiler.grid == (2, 2)
    expected = np.zeros((200, 200, 3), np.uint8)
    expected[25:75, 0:100] = A  # 80x40 → 100x50
    expected[0:100, 100:200] = B  # 60x60 → 100x100
    expected[100:200, 25:75] = C  # 50x100 → 50x100, centred 25 px right
    np.testing.assert_array_equal(canvas_of(out), expected)  # cell (1, 1) stays black


def test_the_mosaic_frame_and_its_metadata() -> None:
    tiler = Tiler(width=200, height=100)
    f0, f1 = frame(0, A, num=7), frame(1, B, num=9)
    dets0 = Detections(np.array([[0, 0, 80, 40]]), class_id=[1], labels=("a",))
    dets1 = Detections(
        np.array([[8, 4, 40, 20], [70, 30, 90, 50]]), class_id=[2, 3], tracker_id=[5, 6]
    )
    out = tiler.process(batch(f1, f0, dets={0: dets0, 1: dets1}))
    mosaic, meta = out.frames[0], out.meta.frames[0]
    assert (mosaic.source_id, mosaic.frame_num, mosaic.pts, mosaic.width, mosaic.height) == (
        0,
        0,
        1009,
        200,
        100,
    )
    assert (meta.source_id, meta.frame_num, meta.width, meta.height) == (0, 0, 200, 100)
    # Canvas = frame × 1.25 + tile origin; stream 0 at (0, 25), stream 1 at (100, 25); the last box
    # leaves its frame and is clipped to its tile (x ≤ 200, y ≤ 75).
    np.testing.assert_allclose(
        meta.detections.xyxy,
        [[0, 25, 100, 75], [110, 30, 150, 50], [187.5, 62.5, 200, 75]],
    )
    assert meta.detections.extra["source_id"].tolist() == [0, 1, 1]
    assert meta.detections.class_id.tolist() == [1, 2, 3]
    assert meta.detections.tracker_id.tolist() == [-1, 5, 6]
    assert meta.detections.labels == ("a", "", "")
    np.testing.assert_allclose(
        meta.user["tiles"][1].to_frame(meta.detections.xyxy[1:2]), [[8, 4, 40, 20]]
    )


def test_a_stream_without_a_frame_keeps_its_last_one() -> None:
    tiler = Tiler(width=200, height=100)
    dets1 = Detections(np.array([[8, 4, 40, 20]]), class_id=[2])
    tiler.process(batch(frame(0, A), frame(1, B), dets={1: dets1}))
    out = tiler.process(batch(frame(0, C, num=1)))
    expected = np.zeros((100, 200, 3), np.uint8)
    expected[25:75, :100], expected[25:75, 100:] = C, B
    np.testing.assert_array_equal(canvas_of(out), expected)
    assert out.frames[0].frame_num == 1
    np.testing.assert_allclose(out.meta.frames[0].detections.xyxy, [[110, 30, 150, 50]])


def test_the_automatic_grid_grows_with_a_new_stream() -> None:
    tiler = Tiler(width=200, height=100)
    first = canvas_of(tiler.process(batch(frame(0, A))))
    assert tiler.grid == (1, 1)
    assert (first == A).all()  # 80x40 × 2.5 fills the whole canvas
    out = tiler.process(batch(frame(1, B)))
    assert tiler.grid == (1, 2)
    expected = np.zeros((100, 200, 3), np.uint8)
    expected[25:75, :100], expected[25:75, 100:] = A, B
    np.testing.assert_array_equal(canvas_of(out), expected)
    assert (first == A).all()  # mosaics already emitted are not painted over


def test_a_fixed_grid_leaves_out_extra_streams() -> None:
    tiler = Tiler(rows=1, columns=1, width=80, height=40)
    dets = Detections(np.array([[1, 2, 3, 4]]))
    out = tiler.process(batch(frame(0, A), frame(1, B), dets={0: dets, 1: dets}))
    assert (canvas_of(out) == A).all()
    assert out.meta.frames[0].detections.extra["source_id"].tolist() == [0]
    assert list(out.meta.frames[0].user["tiles"]) == [0]


def test_segmentation_maps_follow_their_tile() -> None:
    tiler = Tiler(width=200, height=100)
    stretched = SegmentationMap(1, np.ones((2, 2), np.int32))  # covers its 80x40 frame
    # An 80x40 frame letterboxed into a 40x40 network (10 px bars), class 3 in the bars.
    letterbox = Letterbox.fit(
        (0, 0, 80, 40), (40, 40), maintain_aspect_ratio=True, symmetric_padding=True
    )
    class_map = np.full((40, 40), 3, np.int32)
    class_map[10:30] = 2
    boxed = SegmentationMap(1, class_map, transform=letterbox)
    b = batch(frame(0, A), frame(1, B))
    b.meta.frames[0].segmentation, b.meta.frames[1].segmentation = [stretched], [boxed]
    meta = tiler.process(b).meta.frames[0]
    image = np.zeros((100, 200, 3), np.uint8)
    for segmap in meta.segmentation:
        draw_segmentation(image, segmap, alpha=1.0)
    expected = np.zeros((100, 200, 3), np.uint8)
    expected[25:75, :100], expected[25:75, 100:] = DEFAULT_COLORS[1], DEFAULT_COLORS[2]
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": -1}, r"\[tiled-display\] rows = -1: must be at least 0"),
        ({"width": 0}, r"\[tiled-display\] width = 0: must be at least 1"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Tiler(**kwargs)


class ArraySource(Source):
    def __init__(self, n: int, color: tuple[int, int, int]) -> None:
        super().__init__(f"color://{color}")
        self.n, self.color = n, color

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield frame(self.source_id, self.color, num=i)

    @property
    def num_frames(self) -> int:
        return self.n


def test_in_a_pipeline_frames_balance_and_an_osd_draws_on_the_canvas() -> None:
    def add_box(b: Batch) -> None:
        for meta in b.meta.frames:
            meta.detections = Detections(np.array([[8, 4, 40, 20]]), class_id=[3])

    tiler, osd = Tiler(width=200, height=100), OSD(border_width=1, display_text=False)
    pipeline = Pipeline(
        [ArraySource(4, A), ArraySource(4, B)],
        [tiler, osd],
        mux=StreamMux(batch_size=2, batched_push_timeout=-1),
    )
    pipeline.add_probe("tiler", add_box, where="before")
    mosaics: list[Batch] = []
    report = pipeline.run(on_batch=mosaics.append)
    assert report.frames_in == report.frames_out == 8
    assert len(mosaics) == 4  # one frame of each stream per mosaic
    assert report.drops == {}
    assert [(s.source_id, s.frames) for s in report.streams] == [(0, 4), (1, 4)]
    assert report.balanced
    assert [b.frames[0].frame_num for b in mosaics] == list(range(len(mosaics)))
    image = mosaics[-1].frames[0].data
    blue = np.asarray(DEFAULT_COLORS[3], np.uint8)
    # Stream 1's box (8, 4)-(40, 20) lands at (110, 30)-(150, 50) on the canvas.
    assert (image[30, 110:150] == blue).all()
    assert (image[49, 110:150] == blue).all()
    assert (image[35, 115:145] == B).all()


def test_tiles_round_as_the_one_letterbox() -> None:
    """1280x720 into a 426x240 cell: 426x239 (truncated as nvinfer does), the odd row below."""
    tiler = Tiler(rows=2, columns=3, width=1280, height=480)
    canvas = canvas_of(tiler.process(batch(frame(0, A, h=720, w=1280))))
    placement = Letterbox.place((1280, 720), (0, 0, 426, 240), (1280, 480))
    assert placement.scaled_size == (426, 239)
    assert (canvas[:239, :426] == A).all()
    assert (canvas[239, :426] == 0).all()
    assert (canvas[:, 426:] == 0).all()
