"""The OSD draws analytics: ROIs, zones, lines, arrows and counts, as osd_mode asks."""

from __future__ import annotations

import numpy as np
import pytest
from tests.analytics.support import batch_of, frame

from visionflow.analytics import (
    Analytics,
    AnalyticsConfig,
    DirectionRule,
    LineRule,
    OvercrowdingRule,
    RoiRule,
    StreamRules,
)
from visionflow.osd import OSD
from visionflow.osd.analytics import CROWDED_COLOR, LINE_COLOR, ROI_COLOR, ZONE_COLOR

RULES = StreamRules(
    # config space 1280 x 720 on a 640 x 360 frame: all drawn at half the coordinates
    rois=[RoiRule(label="RF", polygon=[(200, 200), (600, 200), (600, 600), (200, 600)])],
    overcrowding=[
        OvercrowdingRule(
            label="OC",
            polygon=[(800, 100), (1200, 100), (1200, 300), (800, 300)],
            object_threshold=1,
        )
    ],
    lines=[LineRule(label="L", direction=(0, 0, 0, 10), line=(700, 600, 1200, 600))],
    directions=[DirectionRule(label="N", vector=(100, 500, 100, 300))],
)


def drawn(osd_mode: int, anchors: list[tuple[float, float]]) -> np.ndarray:
    config = AnalyticsConfig(
        config_width=1280, config_height=720, osd_mode=osd_mode, streams={0: RULES}
    )
    meta = frame(0, anchors)
    Analytics(config).analyse(meta)
    batch = OSD(display_bbox=False, display_text=False).process(batch_of(meta))
    return batch.frames[0].to_numpy()


def test_osd_mode_0_draws_nothing() -> None:
    assert not drawn(0, []).any()


def test_shapes_are_drawn_in_frame_pixels() -> None:
    image = drawn(1, [])
    # image[y, x]; config coordinates halved
    assert image[200, 100].tolist() == list(ROI_COLOR)  # the ROI's left edge, x = 200 / 2
    assert image[300, 150].tolist() == list(ROI_COLOR)  # its bottom edge, y = 600 / 2
    assert image[300, 550].tolist() == list(LINE_COLOR)  # the line, y = 600 / 2
    assert image[100, 600].tolist() == list(ZONE_COLOR)  # the zone's right edge, x = 1200 / 2
    assert not image[20:45, 20:45].any()  # nothing far from every shape


def test_overcrowded_zone_turns_red_and_mode_2_adds_counts() -> None:
    crowded = drawn(2, [(500, 100)])  # inside the zone (config 1000, 200)
    assert crowded[100, 600].tolist() == list(CROWDED_COLOR)
    quiet_1, quiet_2 = drawn(1, []), drawn(2, [])
    # Mode 2 labels read "RF: 0" where mode 1 reads "RF": the tag at the ROI's first corner grows.
    tag = (slice(100, 125), slice(100, 200))
    assert (quiet_2[tag] != quiet_1[tag]).any()


@pytest.mark.parametrize("osd_mode", [1, 2])
def test_object_status_only_in_mode_2(osd_mode: int) -> None:
    """An object in the ROI gets an 'RF' tag under its box in mode 2 only."""
    with_object = drawn(osd_mode, [(180, 200)])
    without = drawn(osd_mode, [])
    below = (slice(202, 230), slice(165, 200))
    assert (with_object[below] != without[below]).any() == (osd_mode == 2)


def test_on_a_tilers_mosaic_each_streams_shapes_are_drawn_in_its_tile() -> None:
    """Two 640 x 360 streams side by side on a 640 x 180 mosaic (each tile scaled by 1/2):
    stream 0's ROI lands in the left tile, stream 1's in the right one."""
    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.core.meta import BatchMeta
    from visionflow.mux.tiler import Tiler

    square = [(200, 100), (400, 100), (400, 300), (200, 300)]  # frame pixels
    config = AnalyticsConfig(
        osd_mode=1,
        streams={s: StreamRules(rois=[RoiRule(label=f"S{s}", polygon=square)]) for s in (0, 1)},
    )
    element = Analytics(config)
    metas = [frame(0, [], source_id=s) for s in (0, 1)]
    for meta in metas:
        element.analyse(meta)
    pictures = [
        Frame(np.zeros((360, 640, 3), np.uint8), PixelFormat.RGB24, source_id=s, frame_num=0)
        for s in (0, 1)
    ]
    mosaic = Tiler(rows=1, columns=2, width=640, height=180).process(
        Batch(pictures, BatchMeta(frames=metas))
    )
    assert [a.shapes[0].label for a in mosaic.meta.frames[0].analytics] == ["S0", "S1"]
    image = OSD(display_bbox=False).process(mosaic).frames[0].to_numpy()
    # Left tile: x 0..320, scale 1/2: the square's left edge at x = 100; right tile: 320 + 100.
    assert image[100, 100].tolist() == list(ROI_COLOR)
    assert image[100, 420].tolist() == list(ROI_COLOR)
    assert image[100, 300].tolist() == [0, 0, 0]  # unmapped, the top edge would pass here
