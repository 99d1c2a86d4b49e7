"""Drawing metadata onto frames: boxes, label tags, instance masks, segmentation maps and text.

Every function draws in place on an ``(H, W, 3) uint8`` RGB image and returns it. Coordinates are
frame pixels; a box ``x1, y1, x2, y2`` covers the pixel columns ``round(x1) … round(x2) − 1`` and
rows ``round(y1) … round(y2) − 1``; its border is drawn inside that area (a box partly outside the
image keeps the edges that are inside it). Text is anti-aliased OpenCV text (``LINE_AA``), always
kept inside the image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import cv2
import numpy as np

from visionflow.core.geometry import Letterbox
from visionflow.core.meta import UNTRACKED, Detections, SegmentationMap
from visionflow.osd.palette import Palette, rgba_from_floats

FONT = cv2.FONT_HERSHEY_SIMPLEX
DARK_TEXT = (20, 20, 20)
LIGHT_TEXT = (255, 255, 255)

_DEFAULT_PALETTE = Palette()

Colors = Palette | Mapping[int, Sequence[float]] | None
"""A palette, per-class ``(r, g, b[, a])`` float overrides of the default palette, or None."""


class HasLetterbox(Protocol):
    """How a network input was cut from a frame (as :class:`~visionflow.core.geometry.Letterbox`).

    Frame pixel ``x`` maps to network pixel ``(x − roi_left) · scale_x + pad_left`` (same for y).
    """

    @property
    def net_width(self) -> int: ...
    @property
    def net_height(self) -> int: ...
    @property
    def roi_left(self) -> float: ...
    @property
    def roi_top(self) -> float: ...
    @property
    def roi_width(self) -> float: ...
    @property
    def roi_height(self) -> float: ...
    @property
    def scale_x(self) -> float: ...
    @property
    def scale_y(self) -> float: ...
    @property
    def pad_left(self) -> float: ...
    @property
    def pad_top(self) -> float: ...


# -- sizes and colours ---------------------------------------------------------------------------
def auto_border_width(image: np.ndarray) -> int:
    """Border width for an image: 2 px at 720p, 3 at 1080p, 6 at 4K, at least 1."""
    return max(1, round(min(image.shape[:2]) / 360))


def auto_text_scale(image: np.ndarray) -> float:
    """OpenCV font scale for an image: about 0.55 (13 px capitals) at 720p, at least 0.4."""
    return max(0.4, min(image.shape[:2]) / 1300)


def contrast_text_colors(background: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB backgrounds → (N, 3) uint8 text colours, dark on light and light on dark.

    Picks the text colour with the higher WCAG contrast ratio, i.e. dark text when the background's
    relative luminance exceeds 0.179.
    """
    c = np.asarray(background, np.float32).reshape(-1, 3) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return np.where((luminance > 0.179)[:, None], DARK_TEXT, LIGHT_TEXT).astype(np.uint8)


def _palette(colors: Colors) -> Palette:
    if colors is None:
        return _DEFAULT_PALETTE
    return colors if isinstance(colors, Palette) else Palette(colors)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got shape {shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got dtype {image.dtype}")
    if not image.flags.writeable:
        raise ValueError("image is read-only; draw on a copy (image.copy())")
    if image.strides[1:] != (3, 1):
        raise ValueError(
            "image rows must be packed RGB pixels; draw on np.ascontiguousarray(image)"
        )


def _paint(
    image: np.ndarray, x0: int, y0: int, x1: int, y1: int, rgba: np.ndarray | Sequence[int]
) -> None:
    """Fill ``[x0, x1) × [y0, y1)``, clipped to the image, with an RGBA colour (alpha blends)."""
    h, w = image.shape[:2]
    x0, x1 = min(max(x0, 0), w), min(max(x1, 0), w)
    y0, y1 = min(max(y0, 0), h), min(max(y1, 0), h)
    if x1 <= x0 or y1 <= y0:
        return
    region = image[y0:y1, x0:x1]
    alpha = rgba[3] / 255.0 if len(rgba) == 4 else 1.0
    if alpha >= 1.0:
        region[...] = rgba[:3]
    elif alpha > 0.0:
        tint = np.asarray(rgba[:3], np.float32) * alpha
        region[...] = (region * np.float32(1.0 - alpha) + tint + 0.5).astype(np.uint8)


# -- text ----------------------------------------------------------------------------------------
def _text_box(text: str, scale: float, thickness: int) -> tuple[int, int, int, int]:
    """(box width, box height, padding, baseline) of a text tag."""
    (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, round(th * 0.3))
    return tw + 2 * pad, th + baseline + 2 * pad, pad, baseline


def _thickness(scale: float) -> int:
    return max(1, round(scale * 1.5))


def draw_text(
    image: np.ndarray,
    text: str,
    org: tuple[int, int],
    *,
    color: Sequence[int] | None = None,
    bg_color: Sequence[int] | None = None,
    scale: float | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw anti-aliased text whose box has its top-left corner at ``org``, kept inside the image.

    Args:
        image: (H, W, 3) uint8 RGB, drawn on in place.
        text: the text (OpenCV 4's Hershey fonts draw ASCII only).
        org: ``(x, y)`` of the top-left corner of the text box (text plus padding); it is moved
            as little as needed to keep the box inside the image.
        color: RGB uint8 text colour; by default dark or light by ``bg_color``'s luminance, or
            white with a dark drop shadow when there is no background.
        bg_color: RGB or RGBA uint8 colour filling the text box (alpha blends), or None.
        scale, thickness: OpenCV font scale and stroke; by default from the image size.

    Returns:
        ``image``.
    """
    _check_image(image)
    scale = auto_text_scale(image) if scale is None else scale
    thickness = _thickness(scale) if thickness is None else thickness
    box_w, box_h, pad, baseline = _text_box(text, scale, thickness)
    h, w = image.shape[:2]
    x = int(min(max(org[0], 0), max(w - box_w, 0)))
    y = int(min(max(org[1], 0), max(h - box_h, 0)))
    baseline_at = (x + pad, y + box_h - pad - baseline)
    if bg_color is not None:
        _paint(image, x, y, x + box_w, y + box_h, bg_color)
    if color is None:
        if bg_color is not None:
            color = contrast_text_colors(np.asarray([bg_color[:3]]))[0].tolist()
        else:  # white with a dark drop shadow reads on any picture
            shadow = (baseline_at[0] + 1, baseline_at[1] + 1)
            cv2.putText(image, text, shadow, FONT, scale, DARK_TEXT, thickness, cv2.LINE_AA)
            color = LIGHT_TEXT
    rgb = tuple(int(v) for v in color)
    cv2.putText(image, text, baseline_at, FONT, scale, rgb, thickness, cv2.LINE_AA)
    return image


def display_texts(
    dets: Detections, *, confidence: bool = True, tracker_ids: bool = True
) -> list[str]:
    """Per object, the tag text: ``"label 0.87 #12: red, sedan"``.

    The detector label (or ``class N`` without one), the confidence when known (≥ 0), ``#id`` when
    tracked, then — as DeepStream appends them to the display text — the classifier labels.
    """
    texts = []
    for i in range(len(dets)):
        class_id = int(dets.class_id[i])
        label = dets.labels[i] or (f"class {class_id}" if class_id >= 0 else "")
        parts = [label]
        if confidence and dets.confidence[i] >= 0:
            parts.append(f"{dets.confidence[i]:.2f}")
        if tracker_ids and dets.tracker_id[i] != UNTRACKED:
            parts.append(f"#{dets.tracker_id[i]}")
        head = " ".join(p for p in parts if p)
        attributes = ", ".join(c.label for c in dets.classifications[i] if c.label)
        texts.append(f"{head}: {attributes}" if head and attributes else head or attributes)
    return texts


# -- detections ----------------------------------------------------------------------------------
def draw_detections(
    image: np.ndarray,
    dets: Detections,
    *,
    labels: bool = True,
    confidence: bool = True,
    tracker_ids: bool = True,
    border_width: int | None = None,
    text_scale: float | None = None,
    colors: Colors = None,
    bg_colors: Mapping[int, Sequence[float]] | None = None,
    masks: bool = True,
    mask_alpha: float = 0.45,
) -> np.ndarray:
    """Draw objects: translucent fills, instance masks, box borders, then label tags on top.

    Args:
        image: (H, W, 3) uint8 RGB, drawn on in place.
        dets: the objects, ``xyxy`` in the image's pixels.
        labels: draw a tag per object (label, confidence, ``#id``, classifier labels).
        confidence, tracker_ids: include them in the tag text.
        border_width: border thickness in pixels, inside the box; None picks one from the image
            size (:func:`auto_border_width`); 0 draws no borders.
        text_scale: OpenCV font scale; None picks one from the image size.
        colors: class colours (a :class:`Palette`, or per-class ``(r, g, b[, a])`` float
            overrides of the default palette); the border alpha blends the border.
        bg_colors: per-class ``(r, g, b[, a])`` floats filling the box (DeepStream ``bg-color``).
        masks: paint instance masks: each ``(mh, mw)`` mask is resized (bilinear) onto its box, and
            its pixels whose value exceeds ``dets.mask_threshold`` are blended in the class colour.
        mask_alpha: opacity of the mask colour.

    Returns:
        ``image``.
    """
    _check_image(image)
    if not len(dets):
        return image
    h, w = image.shape[:2]
    boxes = np.round(np.nan_to_num(dets.xyxy)).astype(np.int64)
    rgba = _palette(colors).rgba(dets.class_id)

    if bg_colors:
        fills = {
            int(c): rgba_from_floats(v, key=f"class {c} bg-color") for c, v in bg_colors.items()
        }
        for (x1, y1, x2, y2), class_id in zip(boxes, dets.class_id.tolist(), strict=True):
            if class_id in fills:
                _paint(image, x1, y1, x2, y2, fills[class_id])

    if masks and dets.masks is not None:
        for (x1, y1, x2, y2), mask, color in zip(boxes, dets.masks, rgba, strict=True):
            _blend_mask(image, (x1, y1, x2, y2), mask, dets.mask_threshold, color[:3], mask_alpha)

    width = auto_border_width(image) if border_width is None else border_width
    if width > 0:
        for (x1, y1, x2, y2), color in zip(boxes, rgba, strict=True):
            t = min(width, x2 - x1, y2 - y1)
            if t <= 0:
                continue
            _paint(image, x1, y1, x2, y1 + t, color)  # top
            _paint(image, x1, y2 - t, x2, y2, color)  # bottom
            _paint(image, x1, y1 + t, x1 + t, y2 - t, color)  # left
            _paint(image, x2 - t, y1 + t, x2, y2 - t, color)  # right

    if labels:
        scale = auto_text_scale(image) if text_scale is None else text_scale
        thickness = _thickness(scale)
        texts = display_texts(dets, confidence=confidence, tracker_ids=tracker_ids)
        text_colors = contrast_text_colors(rgba[:, :3])
        for text, (x1, y1, x2, y2), bg, fg in zip(texts, boxes, rgba, text_colors, strict=True):
            if not text or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:  # no text, or box not seen
                continue
            box_h = _text_box(text, scale, thickness)[1]
            top = y1 - box_h if y1 - box_h >= 0 else max(y1, 0)  # above the box, else inside it
            bg_rgb = (int(bg[0]), int(bg[1]), int(bg[2]))
            fg_rgb = (int(fg[0]), int(fg[1]), int(fg[2]))
            draw_text(
                image,
                text,
                (int(x1), int(top)),
                color=fg_rgb,
                bg_color=bg_rgb,
                scale=scale,
                thickness=thickness,
            )
    return image


def _blend_mask(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    mask: np.ndarray,
    threshold: float,
    color: np.ndarray,
    alpha: float,
) -> None:
    """Resize one box-relative mask onto its box and blend ``color`` where it exceeds threshold."""
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    inside = cv2.resize(mask, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR) > threshold
    inside = inside[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    region = image[cy1:cy2, cx1:cx2]
    tinted = cv2.addWeighted(region, 1.0 - alpha, np.full_like(region, color), alpha, 0.0)
    cv2.copyTo(tinted, inside.view(np.uint8), region)  # in place: region is a view of the image


# -- semantic segmentation -----------------------------------------------------------------------
def segmentation_letterbox(
    segmap: SegmentationMap,
    width: int,
    height: int,
    box: Sequence[float] | None = None,
) -> Letterbox:
    """Where ``segmap.class_map`` lies on a ``width × height`` frame, in class-map pixels.

    With a transform (any :class:`HasLetterbox`) the map is taken to span the transform's network
    input (a map at a lower resolution than the network is scaled accordingly), so letterbox
    padding is undone. Without one the map is stretched over ``box`` (``x1, y1, x2, y2``; for an
    object's map) or else the whole frame.

    Returns:
        A Letterbox whose "network" is the class map: ``net_width × net_height`` = the map's size.
    """
    mh, mw = segmap.class_map.shape
    t: HasLetterbox | None = segmap.transform
    if t is None:
        x1, y1, x2, y2 = (0.0, 0.0, float(width), float(height)) if box is None else box
        roi_w, roi_h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
        return Letterbox(
            net_width=mw,
            net_height=mh,
            roi_left=x1,
            roi_top=y1,
            roi_width=roi_w,
            roi_height=roi_h,
            scale_x=mw / roi_w,
            scale_y=mh / roi_h,
            pad_left=0.0,
            pad_top=0.0,
        )
    kx, ky = mw / t.net_width, mh / t.net_height
    return Letterbox(
        net_width=mw,
        net_height=mh,
        roi_left=t.roi_left,
        roi_top=t.roi_top,
        roi_width=t.roi_width,
        roi_height=t.roi_height,
        scale_x=t.scale_x * kx,
        scale_y=t.scale_y * ky,
        pad_left=t.pad_left * kx,
        pad_top=t.pad_top * ky,
    )


def draw_segmentation(
    image: np.ndarray,
    segmap: SegmentationMap,
    *,
    alpha: float = 0.5,
    colors: Colors = None,
    box: Sequence[float] | None = None,
) -> np.ndarray:
    """Blend a colourised class map onto the image, undoing the inference letterbox.

    Each frame pixel inside the map's region of interest takes the class of the map pixel its
    centre falls in (nearest neighbour, so class borders stay exact); class −1 is transparent.

    Args:
        image: (H, W, 3) uint8 RGB, drawn on in place.
        segmap: the map; ``class_map`` (mh, mw) int, at network resolution.
        alpha: opacity of the class colours.
        colors: class colours (see :func:`draw_detections`).
        box: for a map without a transform, the ``x1, y1, x2, y2`` region it covers (an object's
            box); default the whole image.

    Returns:
        ``image``.
    """
    _check_image(image)
    h, w = image.shape[:2]
    geo = segmentation_letterbox(segmap, w, h, box)
    x0, y0 = max(round(geo.roi_left), 0), max(round(geo.roi_top), 0)
    x1 = min(round(geo.roi_left + geo.roi_width), w)
    y1 = min(round(geo.roi_top + geo.roi_height), h)
    class_map = np.asarray(segmap.class_map)
    if x1 <= x0 or y1 <= y0 or class_map.size == 0:
        return image
    lut = _palette(colors).rgba(np.arange(-1, max(int(class_map.max()), -1) + 1))
    lut[0, 3] = 0  # class −1 (and anything below) is transparent
    rgba_map = lut[np.clip(class_map, -1, None).astype(np.int64) + 1]
    # Output pixel (i, j) of the region samples the map at the pixel containing its centre.
    sx, sy = geo.scale_x, geo.scale_y
    inverse = np.array(
        [
            [sx, 0.0, sx * (x0 + 0.5 - geo.roi_left) + geo.pad_left - 0.5],
            [0.0, sy, sy * (y0 + 0.5 - geo.roi_top) + geo.pad_top - 0.5],
        ]
    )
    warped = cv2.warpAffine(
        rgba_map,
        inverse,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    region = image[y0:y1, x0:x1]
    blended = cv2.addWeighted(region, 1.0 - alpha, warped[..., :3], alpha, 0.0)
    cv2.copyTo(blended, warped[..., 3], region)  # in place where the class is not −1
    return image
