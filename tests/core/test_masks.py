"""COCO RLE and polygon outlines of binary masks."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.core.masks import mask_polygons, rle_decode, rle_encode


def test_rle_round_trips_and_matches_pycocotools() -> None:
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(2)
    for case in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.uniform(0, 1)
        if case % 3 == 0:  # long runs: multi-group deltas, negative deltas
            mask = np.zeros((h, w), bool)
            mask[: h // 2, w // 3 :] = True
        counts = rle_encode(mask)
        assert counts == coco.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
        np.testing.assert_array_equal(rle_decode(counts, h, w), mask)


def test_rle_decode_checks_the_size() -> None:
    with pytest.raises(ValueError, match="add up to 12, not 4 x 4 = 16"):
        rle_decode(rle_encode(np.ones((3, 4), bool)), 4, 4)


def test_polygons_outline_each_region() -> None:
    mask = np.zeros((10, 12), bool)
    mask[1:4, 2:7] = True  # a 5 × 3 rectangle
    mask[6:9, 8:11] = True  # a 3 × 3 square
    mask[0, 11] = True  # one cell: no polygon
    outlines = sorted(mask_polygons(mask), key=lambda p: float(p[:, 0].min()))
    assert len(outlines) == 2
    rect, square = outlines
    assert sorted(map(tuple, rect.tolist())) == [(2, 1), (2, 3), (6, 1), (6, 3)]
    assert sorted(map(tuple, square.tolist())) == [(8, 6), (8, 8), (10, 6), (10, 8)]
