from __future__ import annotations

import numpy as np
import pytest

from visionflow.analytics.geometry import anchors, cosine, crosses_segment, in_polygon, side

SQUARE = [(10, 10), (30, 10), (30, 30), (10, 30)]
# An L: the square (0,0)-(40,40) without its top-right quarter (20..40, 0..20).
L_SHAPE = [(0, 0), (20, 0), (20, 20), (40, 20), (40, 40), (0, 40)]


def test_anchor_is_the_bottom_centre_of_the_box() -> None:
    boxes = np.array([[10, 20, 30, 60], [0, 0, 1, 1]], np.float32)
    assert anchors(boxes).tolist() == [[20.0, 60.0], [0.5, 1.0]]


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((20, 20), True),  # centre
        ((10, 20), True),  # on the left edge
        ((30, 30), True),  # on a corner
        ((20, 10), True),  # on the top edge
        ((30.001, 20), False),  # just outside the right edge
        ((9.999, 10), False),
        ((40, 40), False),
        ((-5, 20), False),
    ],
)
def test_point_in_square_counts_edges_and_corners_as_inside(
    point: tuple[float, float], inside: bool
) -> None:
    assert in_polygon(np.array([point]), SQUARE).tolist() == [inside]


@pytest.mark.parametrize(
    ("point", "inside"),
    [((10, 10), True), ((30, 10), False), ((30, 30), True), ((20, 10), True), ((25, 20), True)],
)
def test_concave_polygon(point: tuple[float, float], inside: bool) -> None:
    """(30, 10) lies in the L's notch; (20, 10) and (25, 20) on its inner edges."""
    assert in_polygon(np.array([point]), L_SHAPE).tolist() == [inside]


def test_many_points_at_once_and_no_points() -> None:
    points = np.array([[20, 20], [0, 0], [10, 30]])
    assert in_polygon(points, SQUARE).tolist() == [True, False, True]
    assert in_polygon(np.zeros((0, 2)), SQUARE).tolist() == []


def test_side_of_a_line() -> None:
    line = (0, 100, 200, 100)  # pointing +x; +y (down in an image) is the positive side
    points = np.array([[50, 90], [50, 110], [500, 100]])
    assert side(points, line).tolist() == [-1, 1, 0]


@pytest.mark.parametrize(
    ("start", "end", "extended", "crosses"),
    [
        ((50, 90), (50, 110), False, True),
        ((250, 90), (250, 110), False, False),  # beyond the segment's end
        ((250, 90), (250, 110), True, True),  # the infinite line
        ((200, 90), (200, 110), False, True),  # through the end point itself
        ((190, 90), (210, 110), False, True),  # crossing at x = 200
    ],
)
def test_crossing_within_the_segment_or_the_extended_line(
    start: tuple[float, float], end: tuple[float, float], extended: bool, crosses: bool
) -> None:
    assert crosses_segment(start, end, (0, 100, 200, 100), extended=extended) is crosses


def test_cosine() -> None:
    assert cosine((0, 2), (0, 1)) == pytest.approx(1.0)
    assert cosine((1, 0), (0, 1)) == pytest.approx(0.0)
    assert cosine((0, 0), (0, 1)) == 0.0
