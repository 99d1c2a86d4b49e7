"""``use_past_frame``: a line crossed while the track was on probation counts once the tracker
confirms the track, from the tracker's past-frame data (off by default, as nvdsanalytics)."""

from __future__ import annotations

from tests.analytics.support import box, frame

from visionflow.analytics import Analytics, AnalyticsConfig, LineRule, StreamRules
from visionflow.core.meta import ANALYTICS_LINES, Detections
from visionflow.track import ALGORITHMS, PAST_FRAME, preset

SEGMENT = (100, 200, 540, 200)  # y = 200
DOWN = (0, 0, 0, 10)


def counts(use_past_frame: bool) -> tuple[list[int], list[tuple[str, ...]]]:
    """An object moving down 10 px a frame crosses y = 200 on its 3rd frame, while the tracker
    (probation 5) has not reported it yet; per frame: crossings counted, lines of the object."""
    analytics = Analytics(
        AnalyticsConfig(
            use_past_frame=use_past_frame,
            streams={0: StreamRules(lines=[LineRule(label="Down", direction=DOWN, line=SEGMENT)])},
        )
    )
    tracker = ALGORITHMS.get("nvsort")(preset("nvsort", probation_age=5))
    crossed, lines = [], []
    for t in range(15):
        meta = frame(t, [])
        meta.detections = tracker.update(
            Detections([box(300, 180 + 10 * t)], confidence=[0.9]), frame_num=t
        )
        if tracker.past_frame:
            meta.user[PAST_FRAME] = tracker.past_frame
        analytics.analyse(meta)
        crossed.append(meta.analytics[0].line_crossings["Down"])
        column = meta.detections.extra[ANALYTICS_LINES]
        lines.append(column[0] if len(column) else ())
    return crossed, lines


def test_a_crossing_on_probation_counts_when_the_track_is_confirmed() -> None:
    crossed, lines = counts(use_past_frame=True)

    assert sum(crossed) == 1
    assert crossed.index(1) == 5  # the first frame the track is reported (its 6th)
    assert lines[5] == ("Down",)


def test_without_past_frame_data_the_crossing_on_probation_is_lost() -> None:
    crossed, _ = counts(use_past_frame=False)

    assert sum(crossed) == 0  # as nvdsanalytics: it sees the track only from the other side
