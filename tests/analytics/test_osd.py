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
