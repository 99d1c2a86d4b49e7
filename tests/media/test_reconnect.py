from __future__ import annotations

import pytest

from visionflow.media.reconnect import RETRY_DELAYS, Reconnect


@pytest.mark.parametrize(
    ("attempts", "enabled", "allowed", "described"),
    [
        (-1, True, [1, 2, 3, 1000], "forever"),
        (0, False, [], "never"),
        (2, True, [1, 2], "2 attempts"),
    ],
)
def test_attempts(attempts: int, enabled: bool, allowed: list[int], described: str) -> None:
    policy = Reconnect(attempts)
    assert policy.enabled is enabled
    assert [n for n in (1, 2, 3, 1000) if policy.allows(n)] == allowed
    assert policy.describe() == described


def test_backoff_starts_at_once_and_levels_off() -> None:
    assert [Reconnect.delay(n) for n in range(1, 8)] == [0.0, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert RETRY_DELAYS[-1] <= 2.0  # a server that is back is found within ~2 s


def test_invalid_attempts() -> None:
    with pytest.raises(ValueError, match="attempts must be -1 \\(forever\\) or ≥ 0, got -2"):
        Reconnect(-2)
