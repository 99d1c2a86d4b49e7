"""Matching: the optimal matcher's shortcut for isolated pairs keeps the optimum."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from visionflow.track.association import INVALID, match_optimal


def _reference(scores: np.ndarray) -> tuple[int, float]:
    """Matches and total score of the plain assignment over the whole matrix."""
    cost = np.where(scores > INVALID, -scores - 1.0, 0.0)
    rows, cols = linear_sum_assignment(cost)
    keep = scores[rows, cols] > INVALID
    return int(keep.sum()), float(scores[rows[keep], cols[keep]].sum())


def test_optimal_matching_with_isolated_pairs_taken_directly_keeps_the_optimum() -> None:
    rng = np.random.default_rng(11)
    for _ in range(2000):
        n, m = rng.integers(1, 14, 2)
        density = rng.choice([0.05, 0.15, 0.4, 0.9])
        scores = np.where(rng.random((n, m)) < density, rng.random((n, m)), INVALID)
        scores = scores.astype(np.float32)
        rows, cols = match_optimal(scores)
        assert len(set(rows.tolist())) == len(rows)
        assert len(set(cols.tolist())) == len(cols)
        assert (scores[rows, cols] > INVALID).all()
        count, total = _reference(scores)
        assert len(rows) == count
        assert abs(float(scores[rows, cols].sum()) - total) < 1e-4


def test_a_frame_of_separate_objects_is_matched_without_an_assignment_problem() -> None:
    scores = np.full((4, 5), INVALID, np.float32)
    scores[0, 2], scores[1, 0], scores[3, 4] = 0.9, 0.5, 0.7  # each other's only candidate
    scores[2, 1], scores[2, 3] = 0.4, 0.6  # row 2 chooses
    rows, cols = match_optimal(scores)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 2), (1, 0), (2, 3), (3, 4)
    ]  # fmt: skip
