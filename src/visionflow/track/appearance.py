"""The nvdcf tracker's appearance model: a cheap colour feature of each object's pixels.

NvDCF learns a correlation filter per target on ColorNames/HOG features; visionflow keeps the
part that association needs — *does this detection look like this target?* — at a cost of a
few array operations per frame for all objects together:

* :func:`features` samples a ``PATCH`` x ``PATCH`` grid of pixels inside each box (nearest
  pixel, one fancy-indexing gather for all boxes: no per-object Python loop), weighted by a
  Gaussian window centred on the box (the object rather than the background in its corners,
  as NvDCF's Hann window does), and histograms them in HSV: hue x saturation x value bins, the
  hue of grey pixels (low saturation) folded into one bin. The square root of the normalised
  histogram is unit length, so the dot product of two features is their Bhattacharyya
  coefficient: 1 for the same colour distribution, 0 for disjoint ones.
* A colour histogram does not change when the object turns, and little under blur, noise and
  JPEG; it does change with lighting, which :class:`~visionflow.track.algorithm.NvDCFTracker`
  follows by an exponential moving average of each target's matched features
  (``VisualTracker.filterLr``).
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

PATCH = 16
"""Pixels sampled along each side of a box."""
HUE_BINS, SAT_BINS, VAL_BINS = 8, 3, 3
DIM = HUE_BINS * SAT_BINS * VAL_BINS
"""Length of a feature."""

_grid = (np.arange(PATCH) + 0.5) / PATCH
_gauss = np.exp(-0.5 * ((_grid - 0.5) / 0.3) ** 2)
_WINDOW = np.outer(_gauss, _gauss).ravel()
"""(PATCH², ) weight of each sampled pixel: a Gaussian window, sigma 0.3 of the box side."""

_levels = np.arange(256)
_BIN_LUT = np.stack(
    [
        # hue (OpenCV: 0–179) bins centred on red (hue 0, which wraps round to 179), green, blue…
        (_levels + 90 // HUE_BINS) % 180 * HUE_BINS // 180 * SAT_BINS * VAL_BINS,
        _levels * SAT_BINS // 256 * VAL_BINS,
        _levels * VAL_BINS // 256,
    ],
    axis=-1,
).astype(np.uint8)[None]
"""(1, 256, 3) ``cv2.LUT`` table: HSV channel value → its part of the bin index."""


def features(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Appearance features of ``boxes`` (N, 4) xyxy in ``image`` (H, W, 3) uint8 RGB.

    Returns:
        ``(features, valid)``: (N, :data:`DIM`) float32 unit rows, and (N,) bool — False for a
        box with less than 2 pixels inside the image on a side (its row is zeros).
    """
    n = len(boxes)
    out = np.zeros((n, DIM), np.float32)
    if not n:
        return out, np.zeros(0, bool)
    height, width = image.shape[:2]
    b = np.asarray(boxes, np.float32)
    x0 = np.clip(b[:, 0], 0, width)
    x1 = np.clip(b[:, 2], 0, width)
    y0 = np.clip(b[:, 1], 0, height)
    y1 = np.clip(b[:, 3], 0, height)
    valid = (x1 - x0 >= 2) & (y1 - y0 >= 2)
    if not valid.any():
        return out, valid
    rows = np.flatnonzero(valid)
    xs = (x0[rows, None] + (x1 - x0)[rows, None] * _grid).astype(np.intp)
    ys = (y0[rows, None] + (y1 - y0)[rows, None] * _grid).astype(np.intp)
    np.minimum(xs, width - 1, out=xs)
    np.minimum(ys, height - 1, out=ys)
    out[rows] = histogram(image[ys[:, :, None], xs[:, None, :]])  # (K, PATCH, PATCH, 3)
    return out, valid


def inside(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: boxes with at least 2 pixels inside the image on each side."""
    height, width = image.shape[:2]
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w = np.clip(b[:, 2], 0, width) - np.clip(b[:, 0], 0, width)
    h = np.clip(b[:, 3], 0, height) - np.clip(b[:, 1], 0, height)
    return (w >= 2) & (h >= 2)


def histogram(pixels: np.ndarray) -> np.ndarray:
    """(K, DIM) float32 unit features of K square grids of sampled pixels (K, P, P, 3) uint8
    RGB, weighted by a Gaussian window over each grid (sigma 0.3 of its side)."""
    k, side = pixels.shape[0], pixels.shape[1]
    if not k:
        return np.zeros((0, DIM), np.float32)
    window = _WINDOW if side == PATCH else _window(side)
    # all pixels as one row: OpenCV converts a long row many times faster than K·P short ones
    row = np.ascontiguousarray(pixels).reshape(1, k * side * side, 3)
    q = cv2.LUT(cv2.cvtColor(row, cv2.COLOR_RGB2HSV), _BIN_LUT).reshape(k, side * side, 3)
    # grey pixels (saturation bin 0) share hue bin 0
    hue = np.where(q[..., 1] > 0, q[..., 0], 0)
    bins = (hue + q[..., 1] + q[..., 2]).astype(np.intp) + (np.arange(k) * DIM)[:, None]
    hist = np.bincount(bins.ravel(), weights=np.tile(window, k), minlength=k * DIM)
    hist = np.sqrt(hist.reshape(k, DIM) / window.sum())
    hist /= np.maximum(np.linalg.norm(hist, axis=1, keepdims=True), 1e-12)
    return hist.astype(np.float32)


@cache
def _window(side: int) -> np.ndarray:
    """(side², ) Gaussian window weights of a grid (sigma 0.3 of its side), computed once per
    side (the grids of one tracker have one size); read-only."""
    grid = (np.arange(side) + 0.5) / side
    gauss = np.exp(-0.5 * ((grid - 0.5) / 0.3) ** 2)
    window = np.outer(gauss, gauss).ravel()
    window.flags.writeable = False
    return window


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float32 similarity of unit features ``a`` (N, D) and ``b`` (M, D), 0 to 1."""
    return np.clip(a @ b.T, 0.0, 1.0).astype(np.float32)
