from __future__ import annotations

import time

from visionflow.media.pacing import Pacer


def test_frames_are_held_to_stream_time_from_the_first_one() -> None:
    pacer = Pacer()
    started = time.monotonic()
    pacer.wait(7.0)  # the first frame sets the origin and is due at once
    assert time.monotonic() - started < 0.03
    pacer.wait(7.05)
    pacer.wait(7.08)
    assert time.monotonic() - started >= 0.08 - 0.005


def test_a_late_frame_is_not_waited_for() -> None:
    pacer = Pacer()
    pacer.wait(0.0)
    time.sleep(0.1)
    started = time.monotonic()
    pacer.wait(0.05)  # due 50 ms ago
    assert time.monotonic() - started < 0.03
