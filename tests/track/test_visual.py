"""The visual tracker's pixel gathering and colour feature give the values of their plain
definitions (they are written for speed)."""

from __future__ import annotations

import cv2
import numpy as np

from visionflow.track.appearance import DIM, HUE_BINS, SAT_BINS, VAL_BINS, histogram
from visionflow.track.visual import patches


def _boxes(rng: np.random.Generator, n: int, width: int, height: int) -> np.ndarray:
    corner = rng.uniform(-30, [width, height], (n, 2))
    return np.concatenate([corner, corner + rng.uniform(2, 90, (n, 2))], axis=1).astype(np.float32)


def test_patches_are_the_nearest_pixels_of_each_grid_border_repeated() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    boxes = _boxes(rng, 40, 200, 120)  # some half out of the picture
    for source in (image, image[:, ::-1], image[10:110, 5:190]):  # also not contiguous
        h, w = source.shape[:2]
        got = patches(source, boxes, 9, 1.5)
        for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            sw, sh = max(x1 - x0, 2.0) * 1.5, max(y1 - y0, 2.0) * 1.5
            for i in range(9):
                for j in range(9):
                    g = np.float32((np.float32(i) + np.float32(0.5)) / 9 - np.float32(0.5))
                    gx = np.float32((np.float32(j) + np.float32(0.5)) / 9 - np.float32(0.5))
                    y = min(max(int(np.float32(cy) + np.float32(sh) * g), 0), h - 1)
                    x = min(max(int(np.float32(cx) + np.float32(sw) * gx), 0), w - 1)
                    assert (got[k, i, j] == source[y, x]).all()


def test_histogram_counts_each_pixel_in_its_hsv_bin_under_the_window() -> None:
    rng = np.random.default_rng(5)
    grids = rng.integers(0, 256, (6, 12, 12, 3), dtype=np.uint8)
    grids[0] = (200, 200, 200)  # grey: saturation bin 0, hue bin 0
    got = histogram(grids)
    side = (np.arange(12) + 0.5) / 12
    gauss = np.exp(-0.5 * ((side - 0.5) / 0.3) ** 2)
    window = np.outer(gauss, gauss)
    for k in range(len(grids)):
        want = np.zeros(DIM)
        hsv = cv2.cvtColor(grids[k], cv2.COLOR_RGB2HSV).astype(int)
        for i in range(12):
            for j in range(12):
                h, s, v = hsv[i, j]
                sat = s * SAT_BINS // 256
                hue = (h + 90 // HUE_BINS) % 180 * HUE_BINS // 180 if sat else 0
                want[(hue * SAT_BINS + sat) * VAL_BINS + v * VAL_BINS // 256] += window[i, j]
        want = np.sqrt(want / window.sum())
        np.testing.assert_allclose(got[k], want / np.linalg.norm(want), rtol=1e-5, atol=1e-6)
