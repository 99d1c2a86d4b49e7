"""Binary masks as text: COCO run-length encoding and polygon outlines.

* :func:`rle_encode` / :func:`rle_decode` — COCO's compressed RLE (``pycocotools.mask``): run
  lengths of alternating 0 and 1 in **column-major** order, the first run counting zeros
  (possibly 0); from the fourth run on each length is stored as its difference to the run two
  before, in 5-bit groups offset into printable ASCII (``rleToString`` / ``rleFrString``).
* :func:`mask_polygons` — the outer boundaries of a mask's connected regions (OpenCV
  ``findContours``, 8-connected, straight runs compressed to their ends), as COCO's polygon
  segmentation lists them: ``[x1, y1, x2, y2, …]`` per region. Holes are not represented.
"""

from __future__ import annotations

import cv2
import numpy as np


def rle_encode(mask: np.ndarray) -> str:
    """COCO compressed RLE ``counts`` of an (H, W) binary mask."""
    flat = np.asarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat.size and flat[0]:
        runs = np.concatenate(([0], runs))
    deltas = runs.astype(np.int64)
    deltas[3:] -= runs[1:-2]
    chars: list[str] = []
    for x in deltas.tolist():
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr(c + 48 + (0x20 if more else 0)))
    return "".join(chars)


def rle_decode(counts: str, height: int, width: int) -> np.ndarray:
    """The (height, width) bool mask of a COCO compressed RLE string.

    Raises:
        ValueError: the runs do not add up to ``height × width``.
    """
    runs: list[int] = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    if sum(runs) != height * width or any(r < 0 for r in runs):
        raise ValueError(
            f"RLE runs add up to {sum(runs)}, not {height} x {width} = {height * width}"
        )
    values = np.arange(len(runs)) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape((width, height)).T.copy()


def mask_polygons(mask: np.ndarray, *, min_points: int = 3) -> list[np.ndarray]:
    """The outer boundary of each connected region of an (H, W) binary mask.

    Returns:
        One (K, 2) float32 array of ``x, y`` cell coordinates per region (the centres of its
        boundary cells, corners only along straight runs), regions with fewer than
        ``min_points`` vertices left out — a lone cell or a one-cell-wide line, which COCO's
        polygons cannot hold; in OpenCV's order.
    """
    binary = np.ascontiguousarray(np.asarray(mask, bool), np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float32) for c in contours if len(c) >= min_points]
