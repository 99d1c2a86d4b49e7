"""Object crops beyond nvinfer's upright box: perspective crops of rotated boxes, and turns.

nvinfer cuts a secondary element's input from the object's upright box (:func:`even_crop` in
:mod:`visionflow.infer.preprocess`). Text recognisers want a tilted line straightened: with
``object_crop: perspective`` an object whose ``polygon`` column holds 4 corners (clockwise from
the top-left, as the ``db_text`` parsers write them) is warped upright as PP-OCR's
``get_rotate_crop_image`` does — corners rounded to whole pixels, the crop as wide as the longer
of the top and bottom edges and as high as the longer of the left and right edges, sampled
bicubically with the border repeated, and turned 90° counter-clockwise when 1.5 times taller
than wide.
``object_crop_rotations`` then turns the crop by the angle its classifier labels name
(PP-OCR's direction classifier: a line read as upside down, label ``180``, is turned 180°).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from visionflow.core.geometry import Letterbox
from visionflow.core.meta import ClassifierLabel

POLYGON = "polygon"
"""The object column (``Detections.extra``) holding (N, K, 2) float32 outlines on the frame."""

_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def perspective_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The quadrilateral ``quad`` (4, 2) — top-left, top-right, bottom-right, bottom-left —
    of ``image`` warped into an upright (H, W, C) crop (PP-OCR's ``get_rotate_crop_image``);
    the corners are rounded to whole pixels first, as PP-OCR's detector returns them.

    Returns an empty (0, 0, C) array when the quadrilateral has no width or height.
    """
    quad = np.round(np.asarray(quad, np.float32).reshape(4, 2))
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    if width < 1 or height < 1:
        return np.zeros((0, 0, image.shape[2]), image.dtype)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height / width >= 1.5:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def turn(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` turned clockwise by 0, 90, 180 or 270 degrees."""
    if degrees % 360 == 0:
        return image
    return cv2.rotate(image, _TURNS[degrees % 360])


def rotation_of(labels: Sequence[ClassifierLabel], rotations: Mapping[str, int]) -> int:
    """The turn (degrees clockwise) the object's classifier labels ask for: the first label
    found in ``rotations``, 0 when none is."""
    for label in labels:
        if label.label in rotations:
            return rotations[label.label]
    return 0


def object_crop(
    image: np.ndarray,
    roi: tuple[int, int, int, int],
    polygon: np.ndarray | None,
    degrees: int,
) -> np.ndarray:
    """The pixels a secondary element reads for one object: the perspective crop of its
    ``polygon`` (4 finite corners), else its ``roi`` ``(left, top, width, height)``; turned
    clockwise by ``degrees``."""
    if polygon is not None and polygon.shape == (4, 2) and np.isfinite(polygon).all():
        crop = perspective_crop(image, polygon)
    else:
        left, top, width, height = roi
        crop = image[top : top + height, left : left + width]
    return turn(crop, degrees)


def map_polygons(
    polygons: np.ndarray, transform: Letterbox, frame_size: tuple[int, int]
) -> np.ndarray:
    """(N, K, 2) outlines in network-input pixels → frame pixels through the region that was
    cut and scaled (``transform``), clipped to the ``(width, height)`` frame."""
    points = np.asarray(polygons, np.float32).reshape(-1, 4)  # two points per row
    frame = transform.to_frame(points).reshape(polygons.shape)
    return np.clip(frame, 0, np.array(frame_size, np.float32)).astype(np.float32)
