"""Line crossing: counts per line and class, modes, extended lines, class filters, once per
track, untracked objects."""

from __future__ import annotations

import pytest
from tests.analytics.support import line, run_tracks

from visionflow.analytics import Analytics, AnalyticsConfig, LineRule, StreamRules
from visionflow.core.meta import ANALYTICS_DIRECTION, ANALYTICS_LINES, UNTRACKED

SEGMENT = (100, 200, 540, 200)  # horizontal, y = 200, x in 100..540
DOWN = (0, 0, 0, 10)
UP = (0, 10, 0, 0)


def analytics(*lines: LineRule) -> Analytics:
    return Analytics(AnalyticsConfig(streams={0: StreamRules(lines=list(lines))}))


def rule(label: str, direction: tuple[int, int, int, int], **kw: object) -> LineRule:
    return LineRule(label=label, direction=direction, line=SEGMENT, **kw)  # type: ignore[arg-type]


def test_two_objects_crossing_in_opposite_directions_count_once_each_way() -> None:
    element = analytics(rule("Down", DOWN), rule("Up", UP))
    down = line(300, 150, 0, 5, 21)  # 150 → 250
    up = line(340, 250, 0, -5, 21)  # 250 → 150

    frames = run_tracks(element, [down, up], ids=[7, 9])

    last = frames[-1].analytics[0]
    assert last.line_counts == {"Down": 1, "Up": 1}
    assert last.line_class_counts == {"Down": {0: 1}, "Up": {0: 1}}
    assert sum(f.analytics[0].line_crossings["Down"] for f in frames) == 1
    assert sum(f.analytics[0].line_crossings["Up"] for f in frames) == 1
    crossed = [f.detections.extra[ANALYTICS_LINES].tolist() for f in frames]
    assert [c[0] for c in crossed if c[0]] == [("Down",)]
    assert [c[1] for c in crossed if c[1]] == [("Up",)]
    # Counted on the frame the anchor passed y = 200 (200 → 205): loose needs 3 observations and
    # √1000 px from the anchor 10 observations before (y = 155).
    assert next(t for t, c in enumerate(crossed) if c[0]) == 11


@pytest.mark.parametrize(
    ("velocity", "counted"),
    [
        # cos(motion, down): 0.32 → loose only; 0.71 → loose and balanced; 1 → every mode.
        ((6, 2), {"loose": 1, "balanced": 0, "strict": 0}),
        ((2, 2), {"loose": 1, "balanced": 1, "strict": 0}),
        ((0, 3), {"loose": 1, "balanced": 1, "strict": 1}),
        ((0, -3), {"loose": 0, "balanced": 0, "strict": 0}),  # against the direction
    ],
)
def test_modes_differ_in_how_closely_the_motion_follows_the_direction(
    velocity: tuple[float, float], counted: dict[str, int]
) -> None:
    vx, vy = velocity
    start_y = 141 if vy > 0 else 259
    for mode, expected in counted.items():
        element = analytics(rule("Down", DOWN, mode=mode, extended=True))
        frames = run_tracks(element, [line(20, start_y, vx, vy, 60)])
        assert frames[-1].analytics[0].line_counts == {"Down": expected}, mode


@pytest.mark.parametrize(
    ("stop_y", "counted"),
    [
        (201, {"loose": 0, "balanced": 0, "strict": 0}),
        (221, {"loose": 1, "balanced": 0, "strict": 0}),
        (241, {"loose": 1, "balanced": 1, "strict": 0}),
        (261, {"loose": 1, "balanced": 1, "strict": 1}),
    ],
)
def test_modes_differ_in_how_far_the_object_must_move(stop_y: int, counted: dict[str, int]) -> None:
    """2 px per frame from y = 181 down to ``stop_y``, then standing still for 40 frames: the
    motion from the anchor 10 observations before the crossing (y = 181) must reach √1000,
    √3000, √6000 px."""
    path = [(300.0, float(y)) for y in range(181, stop_y + 1, 2)]
    path += [path[-1]] * 40
    for mode, expected in counted.items():
        frames = run_tracks(analytics(rule("Down", DOWN, mode=mode)), [path])
        assert frames[-1].analytics[0].line_counts == {"Down": expected}, mode


def test_jitter_on_the_line_is_never_counted() -> None:
    path = [(300.0, 195.0 if t % 2 else 205.0) for t in range(60)]
    for mode in ("loose", "balanced", "strict"):
        frames = run_tracks(
            analytics(rule("Down", DOWN, mode=mode), rule("Up", UP, mode=mode)), [path]
        )
        assert frames[-1].analytics[0].line_counts == {"Down": 0, "Up": 0}


def test_an_object_is_counted_once_per_line_however_often_it_crosses() -> None:
    path = line(300, 150, 0, 5, 21) + line(300, 250, 0, -5, 21)[1:] + line(300, 150, 0, 5, 21)[1:]
    frames = run_tracks(analytics(rule("Down", DOWN), rule("Up", UP)), [path])
    assert frames[-1].analytics[0].line_counts == {"Down": 1, "Up": 1}


@pytest.mark.parametrize(("extended", "expected"), [(False, 0), (True, 1)])
def test_extended_line_counts_crossings_beyond_the_segment(extended: bool, expected: int) -> None:
    frames = run_tracks(
        analytics(rule("Down", DOWN, extended=extended)), [line(600, 150, 0, 5, 21)]
    )
    assert frames[-1].analytics[0].line_counts == {"Down": expected}


def test_class_filter() -> None:
    element = analytics(rule("Down", DOWN, class_ids=[0, 2]))
    paths = [line(200, 150, 0, 5, 21), line(300, 150, 0, 5, 21), line(400, 150, 0, 5, 21)]
    frames = run_tracks(element, paths, classes=[0, 1, 2])
    last = frames[-1].analytics[0]
    assert last.line_counts == {"Down": 2}
    assert last.line_class_counts == {"Down": {0: 1, 2: 1}}


def test_untracked_objects_are_not_counted_and_have_no_direction() -> None:
    frames = run_tracks(analytics(rule("Down", DOWN)), [line(300, 150, 0, 5, 21)], ids=[UNTRACKED])
    assert frames[-1].analytics[0].line_counts == {"Down": 0}
    assert frames[-1].detections.extra[ANALYTICS_DIRECTION].tolist() == [None]


def test_streams_are_counted_apart() -> None:
    """Tracker ids of two streams may coincide; each stream has its own lines and counts."""
    from tests.analytics.support import frame

    config = AnalyticsConfig(
        streams={0: StreamRules(lines=[rule("Down", DOWN)]), 1: StreamRules(lines=[rule("Up", UP)])}
    )
    element = Analytics(config)
    for t, (a, b) in enumerate(
        zip(line(300, 150, 0, 5, 21), line(300, 250, 0, -5, 21), strict=True)
    ):
        m0, m1 = frame(t, [a], [1], source_id=0), frame(t, [b], [1], source_id=1)
        element.analyse(m0)
        element.analyse(m1)
    assert m0.analytics[0].line_counts == {"Down": 1}
    assert m1.analytics[0].line_counts == {"Up": 1}
