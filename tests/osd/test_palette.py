from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.osd.palette import DEFAULT_COLORS, Palette, rgba_from_floats


def test_twenty_distinct_colours_cycle_by_class_id() -> None:
    assert len(set(DEFAULT_COLORS)) == 20
    palette = Palette()
    colors = palette.rgba([0, 1, 20, 21, -1])
    assert colors.dtype == np.uint8
    assert colors.tolist() == [
        [*DEFAULT_COLORS[0], 255],
        [*DEFAULT_COLORS[1], 255],
        [*DEFAULT_COLORS[0], 255],
        [*DEFAULT_COLORS[1], 255],
        [*DEFAULT_COLORS[19], 255],  # whole-frame objects (class −1) are grey
    ]


def test_overrides_take_deepstream_rgba_floats() -> None:
    palette = Palette({2: (1.0, 0.0, 0.0, 1.0), 5: (0.0, 0.5, 1.0)})
    assert palette.color(2) == (255, 0, 0, 255)
    assert palette.color(5) == (0, 128, 255, 255)
    assert palette.rgba([2, 3, 2]).tolist() == [
        [255, 0, 0, 255],
        [*DEFAULT_COLORS[3], 255],
        [255, 0, 0, 255],
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1.0, 0.0), "border-color = 1;0: has 2 values; expected r;g;b;a"),
        ((1.0, 0.0, 2.0, 1.0), r"border-color = 1;0;2;1: has a value outside \[0, 1\]"),
    ],
)
def test_rgba_validation(value: tuple, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rgba_from_floats(value, key="border-color")
